"""A hypothesis state machine: the feed against a plain model of what it should count.

Sessions export Claude Code's ``token.usage`` and ``claude_code.api_request`` events
(https://code.claude.com/docs/en/monitoring-usage): input tokens as a delta series,
output tokens as a cumulative one that rises and sometimes restarts, and events that
carry the same usage. Points and events queue up and go out in batches the machine
chooses; any batch may be sent again. The model: each session's usage comes from
the first source that reports it (a point that adds something, or any api_request
event), the other is ignored for it. After every step the stored sessions hold the
model's totals, and the feed's and the store's invariants hold.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.activity import MemoryActivityStore, Session
from infertrace.activity.agent_feed import CodingAgentProcessor
from infertrace.model import LogRecord, MetricPoint, Temporality
from tests.activity.agent_shapes import SECOND, T0, api_request, point, standard

SESSIONS = ("s0", "s1", "s2")
Queued = tuple[str, str, int]
"""(session, "input" | "output", what the feed must add when the item is first sent)."""


class FeedMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.feed = CodingAgentProcessor(MemoryActivityStore())
        self.time = T0
        self.points: list[tuple[MetricPoint, Queued]] = []
        self.events: list[tuple[LogRecord, Queued, Queued]] = []
        self.sent_points: list[list[MetricPoint]] = []
        self.sent_events: list[list[LogRecord]] = []
        self.total = dict.fromkeys(SESSIONS, 0)  # the cumulative series' running value
        self.start = {s: T0 - (i + 1) * SECOND for i, s in enumerate(SESSIONS)}
        self.claimed: dict[str, str] = {}
        self.expected = {s: {"input": 0, "output": 0} for s in SESSIONS}
        self.sequence = 0

    def _tick(self) -> int:
        self.time += SECOND
        return self.time

    def _attrs(self, session: str, kind: str) -> dict[str, object]:
        return {**standard(session), "type": kind, "model": "claude-sonnet-4-5"}

    @rule(session=st.sampled_from(SESSIONS), value=st.integers(0, 5000))
    def delta_input(self, session: str, value: int) -> None:
        p = point("token.usage", value, self._tick(), self._attrs(session, "input"))
        self.points.append((p, (session, "input", value)))

    @rule(session=st.sampled_from(SESSIONS), rise=st.integers(0, 5000))
    def cumulative_rise(self, session: str, rise: int) -> None:
        self.total[session] += rise
        p = point("token.usage", self.total[session], self._tick(),
                  self._attrs(session, "output"), start=self.start[session],
                  temporality=Temporality.CUMULATIVE)  # fmt: skip
        self.points.append((p, (session, "output", rise)))

    @rule(session=st.sampled_from(SESSIONS), value=st.integers(0, 5000))
    def cumulative_restart(self, session: str, value: int) -> None:
        """The process restarted: a new start time, its total counted from zero."""
        self.start[session] = self._tick()
        self.total[session] = value
        p = point("token.usage", value, self._tick(), self._attrs(session, "output"),
                  start=self.start[session], temporality=Temporality.CUMULATIVE)  # fmt: skip
        self.points.append((p, (session, "output", value)))

    @rule(session=st.sampled_from(SESSIONS), tin=st.integers(0, 3000), tout=st.integers(0, 900))
    def api_request_event(self, session: str, tin: int, tout: int) -> None:
        self.sequence += 1
        e = api_request(self._tick(), session, tokens_in=tin, tokens_out=tout, cost=0.0,
                        sequence=self.sequence)  # fmt: skip
        self.events.append((e, (session, "input", tin), (session, "output", tout)))

    def _count(self, source: str, queued: Queued, claims: bool) -> None:
        session, field, value = queued
        if claims:
            self.claimed.setdefault(session, source)
        if self.claimed.get(session) == source:
            self.expected[session][field] += value

    @rule()
    def send_points(self) -> None:
        batch, self.points = self.points, []
        self.feed.on_metrics([p for p, _ in batch], [])
        self.sent_points.append([p for p, _ in batch])
        for _, queued in batch:
            self._count("metric", queued, claims=queued[2] > 0)

    @rule()
    def send_events(self) -> None:
        batch, self.events = self.events, []
        self.feed.on_logs([e for e, _, _ in batch], [])
        self.sent_events.append([e for e, _, _ in batch])
        for _, tin, tout in batch:
            self._count("event", tin, claims=True)
            self._count("event", tout, claims=True)

    @precondition(lambda self: bool(self.sent_points or self.sent_events))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """An exporter's retry: a batch already accepted, sent again."""
        if self.sent_points and (not self.sent_events or data.draw(st.booleans())):
            self.feed.on_metrics(data.draw(st.sampled_from(self.sent_points)), [])
        else:
            self.feed.on_logs(data.draw(st.sampled_from(self.sent_events)), [])

    @invariant()
    def totals_match_the_model(self) -> None:
        stored = {s.id: s for s in self.feed.store.list(Session)}
        for sid in SESSIONS:
            s = stored.get(sid)
            got = {"input": s.input_tokens, "output": s.output_tokens} if s else {
                "input": 0, "output": 0}  # fmt: skip
            assert got == self.expected[sid], sid

    @invariant()
    def invariants_hold(self) -> None:
        self.feed._check()
        self.feed.store._check()


FeedMachine.TestCase.settings = settings(max_examples=50, stateful_step_count=30,
                                         deadline=None)  # fmt: skip
test_feed_machine = FeedMachine.TestCase
