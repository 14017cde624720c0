"""A hypothesis state machine: the feed against a plain model of what it should count.

Sessions export Claude Code's ``token.usage`` (https://code.claude.com/docs/en/monitoring-usage):
input tokens as a delta series, output tokens as a cumulative one that rises and
sometimes restarts. Points queue up and go out in batches the machine chooses, and
any batch may be sent again. After every step the stored sessions hold exactly the
model's totals, and the feed's and the store's invariants hold.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.activity import MemoryActivityStore, Session
from infertrace.activity.agent_feed import CodingAgentProcessor
from infertrace.model import MetricPoint, Temporality
from tests.activity.agent_shapes import SECOND, T0, point, standard

SESSIONS = ("s0", "s1", "s2")


class FeedMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.feed = CodingAgentProcessor(MemoryActivityStore())
        self.time = T0
        self.pending: list[MetricPoint] = []
        self.sent: list[list[MetricPoint]] = []
        self.input = dict.fromkeys(SESSIONS, 0)
        self.output = dict.fromkeys(SESSIONS, 0)
        self.total = dict.fromkeys(SESSIONS, 0)  # the cumulative series' running value
        self.start = {s: T0 - (i + 1) * SECOND for i, s in enumerate(SESSIONS)}
        self.expected_in = dict.fromkeys(SESSIONS, 0)  # counted once sent
        self.expected_out = dict.fromkeys(SESSIONS, 0)
        self.queued_in = dict.fromkeys(SESSIONS, 0)
        self.queued_out = dict.fromkeys(SESSIONS, 0)

    def _tick(self) -> int:
        self.time += SECOND
        return self.time

    def _attrs(self, session: str, kind: str) -> dict[str, object]:
        return {**standard(session), "type": kind, "model": "claude-sonnet-4-5"}

    @rule(session=st.sampled_from(SESSIONS), value=st.integers(0, 5000))
    def delta_input(self, session: str, value: int) -> None:
        self.pending.append(point("token.usage", value, self._tick(),
                                  self._attrs(session, "input")))  # fmt: skip
        self.queued_in[session] += value

    @rule(session=st.sampled_from(SESSIONS), rise=st.integers(0, 5000))
    def cumulative_rise(self, session: str, rise: int) -> None:
        self.total[session] += rise
        self.pending.append(point("token.usage", self.total[session], self._tick(),
                                  self._attrs(session, "output"), start=self.start[session],
                                  temporality=Temporality.CUMULATIVE))  # fmt: skip
        self.queued_out[session] += rise

    @rule(session=st.sampled_from(SESSIONS), value=st.integers(0, 5000))
    def cumulative_restart(self, session: str, value: int) -> None:
        """The process restarted: a new start time, its total counted from zero."""
        self.start[session] = self._tick()
        self.total[session] = value
        self.pending.append(point("token.usage", value, self._tick(),
                                  self._attrs(session, "output"), start=self.start[session],
                                  temporality=Temporality.CUMULATIVE))  # fmt: skip
        self.queued_out[session] += value

    @rule()
    def send(self) -> None:
        batch, self.pending = self.pending, []
        self.feed.on_metrics(batch, [])
        self.sent.append(batch)
        for s in SESSIONS:
            self.expected_in[s] += self.queued_in[s]
            self.expected_out[s] += self.queued_out[s]
        self.queued_in = dict.fromkeys(SESSIONS, 0)
        self.queued_out = dict.fromkeys(SESSIONS, 0)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        """An exporter's retry: a batch already accepted, sent again."""
        batch = data.draw(st.sampled_from(self.sent))
        self.feed.on_metrics(batch, [])

    @invariant()
    def totals_match_the_model(self) -> None:
        stored = {s.id: s for s in self.feed.store.list(Session)}
        for sid in SESSIONS:
            s = stored.get(sid)
            got = (s.input_tokens, s.output_tokens) if s is not None else (0, 0)
            assert got == (self.expected_in[sid], self.expected_out[sid]), sid

    @invariant()
    def invariants_hold(self) -> None:
        self.feed._check()
        self.feed.store._check()


FeedMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30,
                                         deadline=None)  # fmt: skip
test_feed_machine = FeedMachine.TestCase
