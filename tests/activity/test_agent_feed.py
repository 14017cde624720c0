"""CodingAgentProcessor on Claude Code-shaped metrics and events.

Shapes from https://code.claude.com/docs/en/monitoring-usage (see agent_shapes.py).
Every expected number is computed here from what the test sends.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

import pytest

from infertrace.activity import (
    ActivityAnalytics,
    Change,
    Developer,
    MemoryActivityStore,
    Region,
    Session,
    day_of,
)
from infertrace.activity.agent_feed import AgentFeedSettings, CodingAgentProcessor
from infertrace.activity.identity import account_email, developer_id_for
from infertrace.activity.records import Record
from infertrace.errors import CapacityExceeded, InvalidParameter
from infertrace.model import MetricPoint, Temporality
from infertrace.telemetry.batches import LogBatch, MetricBatch
from tests.activity.agent_shapes import (
    RESOURCE,
    SECOND,
    T0,
    api_request,
    point,
    standard,
    tool_decision,
)

CUMULATIVE, DELTA = Temporality.CUMULATIVE, Temporality.DELTA
ADA = "ada@example.com"


@pytest.fixture
def feed() -> CodingAgentProcessor:
    return CodingAgentProcessor(MemoryActivityStore())


def tokens(metric_type: str, value: float, t: int, session: str = "sess-1", *,
           temporality: Temporality = DELTA, start: int = T0,
           model: str = "claude-sonnet-4-5") -> MetricPoint:  # fmt: skip
    attrs = {**standard(session), "type": metric_type, "model": model}
    return point("token.usage", value, t, attrs, temporality=temporality, start=start)


def cost(value: float, t: int, session: str = "sess-1", *,
         temporality: Temporality = DELTA) -> MetricPoint:  # fmt: skip
    attrs = {**standard(session), "model": "claude-sonnet-4-5"}
    return point("cost.usage", value, t, attrs, temporality=temporality)


def decision(value: int, t: int, verdict: str, *, session: str = "sess-1",
             tool: str = "Edit", language: str = "Python",
             temporality: Temporality = DELTA) -> MetricPoint:  # fmt: skip
    attrs = {**standard(session), "tool_name": tool, "decision": verdict,
             "source": "user_temporary", "language": language}  # fmt: skip
    return point("code_edit_tool.decision", value, t, attrs, temporality=temporality)


def lines(kind: str, value: int, t: int, session: str = "sess-1") -> MetricPoint:
    attrs = {**standard(session), "type": kind, "model": "claude-sonnet-4-5"}
    return point("lines_of_code.count", value, t, attrs)


def everything(store: MemoryActivityStore) -> tuple[list[Developer], list[Session], list[Change]]:
    return (store.list(Developer), store.list(Session), store.list(Change))


# -- settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefixes", "mappings", "expect"),
    [
        ([], [], {"prefixes": ("claude_code",), "department": "division"}),
        (["claude_code", "opencode"], ["cost_center=division"],
         {"prefixes": ("claude_code", "opencode"), "cost_center": "division"}),
        ([" opencode "], ["team.id=region"], {"prefixes": ("opencode",), "team.id": "region"}),
    ],
)  # fmt: skip
def test_settings_parse(
    prefixes: list[str], mappings: list[str], expect: dict[str, object]
) -> None:
    s = AgentFeedSettings.parse(prefixes, mappings)
    assert s.prefixes == expect.pop("prefixes")
    for key, target in expect.items():
        assert s.attribute_map[key] == target


@pytest.mark.parametrize(
    ("prefixes", "mappings", "named"),
    [
        (["claude_code"], ["department"], "department"),
        (["claude_code"], ["department=manager"], "manager"),
        (["claude_code"], ["=team"], "=team"),
        (["bad prefix"], [], "bad prefix"),
        (["claude_code."], [], "claude_code."),
    ],
)
def test_settings_parse_names_bad_values(
    prefixes: list[str], mappings: list[str], named: str
) -> None:
    with pytest.raises(InvalidParameter, match=named):
        AgentFeedSettings.parse(prefixes, mappings)


# -- sessions: tokens and cost ----------------------------------------------------


def test_delta_counters_add_up_in_the_session(feed: CodingAgentProcessor) -> None:
    sent_in, sent_out, sent_cost = [1200, 800, 40], [300, 150, 10], [0.012, 0.0075, 0.0004]
    for i in range(3):
        t = T0 + (i + 1) * 60 * SECOND
        feed.on_metrics([tokens("input", sent_in[i], t), tokens("output", sent_out[i], t),
                         tokens("cacheRead", 50_000, t), cost(sent_cost[i], t)], [])  # fmt: skip
    s = feed.store.get(Session, "sess-1")
    assert (s.input_tokens, s.output_tokens) == (sum(sent_in), sum(sent_out))
    assert s.cost_usd == pytest.approx(sum(sent_cost))
    assert (s.started_at, s.ended_at) == (T0 + 60 * SECOND, T0 + 180 * SECOND)
    assert s.tool == "claude-code" and s.developer_id == developer_id_for(ADA)


@pytest.mark.parametrize(
    ("runs", "start_known"),
    [
        ([[10, 25, 40]], True),  # one run from a known start: all of it counts
        ([[10, 25, 40]], False),  # start unknown: the first point is the baseline
        ([[10, 25, 40], [5, 12]], True),  # a restart (new start time) in between
        ([[10, 25, 40], [3, 3, 9]], False),
    ],
)
def test_cumulative_counters_with_resets(
    feed: CodingAgentProcessor, runs: list[list[int]], start_known: bool
) -> None:
    t, sent = T0, []
    for r, run in enumerate(runs):
        start = (T0 + r * 1000 * SECOND) if (start_known or r) else 0
        for value in run:
            t += 10 * SECOND
            sent.append(tokens("input", value, t, temporality=CUMULATIVE, start=start))
    for p in sent:
        feed.on_metrics([p], [])
    # Expected: each run's last value, less the first run's first when its start is unknown.
    expected = sum(run[-1] for run in runs) - (0 if start_known else runs[0][0])
    assert feed.store.get(Session, "sess-1").input_tokens == expected


def test_a_restart_over_stored_sessions_does_not_count_running_totals_again() -> None:
    """Cumulative totals since the start: the first feed counts them; a restarted feed
    over the same (durable) store takes a stored session's series as baselines, while
    a session new to the store still counts from its start."""
    store = MemoryActivityStore()
    first = CodingAgentProcessor(store)
    first.on_metrics([tokens("input", 400, T0 + SECOND, temporality=CUMULATIVE)], [])
    first.on_metrics([tokens("input", 900, T0 + 2 * SECOND, temporality=CUMULATIVE)], [])
    assert store.get(Session, "sess-1").input_tokens == 900
    again = CodingAgentProcessor(store)  # the collector restarted
    again.on_metrics([tokens("input", 1000, T0 + 3 * SECOND, temporality=CUMULATIVE),
                      tokens("input", 50, T0 + 3 * SECOND, "sess-2", temporality=CUMULATIVE),
                      ], [])  # fmt: skip
    again.on_metrics([tokens("input", 1200, T0 + 4 * SECOND, temporality=CUMULATIVE),
                      tokens("output", 30, T0 + 4 * SECOND, "sess-2", temporality=CUMULATIVE),
                      ], [])  # fmt: skip
    assert store.get(Session, "sess-1").input_tokens == 900 + (1200 - 1000)
    s2 = store.get(Session, "sess-2")  # new: every series counts from its start
    assert (s2.input_tokens, s2.output_tokens) == (50, 30)
    again._check()


def test_a_value_drop_with_the_same_start_is_a_reset(feed: CodingAgentProcessor) -> None:
    values = [100, 160, 30, 70]  # the drop to 30 starts a new run
    for i, v in enumerate(values):
        feed.on_metrics([tokens("output", v, T0 + (i + 1) * SECOND, temporality=CUMULATIVE)], [])
    assert feed.store.get(Session, "sess-1").output_tokens == 160 + 70


@pytest.mark.parametrize("temporality", [DELTA, CUMULATIVE])
def test_a_resent_batch_stores_nothing_new(
    feed: CodingAgentProcessor, temporality: Temporality
) -> None:
    t = T0 + 60 * SECOND
    batch = [tokens("input", 500, t, temporality=temporality), cost(0.5, t),
             decision(2, t, "accept", temporality=temporality), lines("added", 12, t)]  # fmt: skip
    events = [api_request(t, "sess-2", tokens_in=10, tokens_out=5, cost=0.01, sequence=1),
              tool_decision(t, "sess-2", "Write", "reject", sequence=2)]  # fmt: skip
    feed.on_metrics(batch, [])
    feed.on_logs(events, [])
    before = everything(feed.store)
    feed.on_metrics(batch, [])
    feed.on_logs(events, [])
    assert everything(feed.store) == before
    assert len(before[2]) == 3  # two accepted edits (lines on the first), one rejected


def test_changes_are_idempotent_even_when_the_counter_state_is_lost() -> None:
    store = MemoryActivityStore()
    batch = [decision(3, T0 + SECOND, "accept"), decision(1, T0 + SECOND, "reject")]
    CodingAgentProcessor(store).on_metrics(batch, [])
    first = store.list(Change)
    CodingAgentProcessor(store).on_metrics(batch, [])  # a restarted feed, same batch again
    assert store.list(Change) == first and len(first) == 4


def test_events_alone_feed_the_session(feed: CodingAgentProcessor) -> None:
    sent = [(1000, 200, 0.02), (3000, 100, 0.03), (500, 50, 0.004)]
    feed.on_logs([api_request(T0 + i * SECOND, "s-ev", tokens_in=a, tokens_out=b, cost=c,
                              sequence=i) for i, (a, b, c) in enumerate(sent)], [])  # fmt: skip
    s = feed.store.get(Session, "s-ev")
    assert s.input_tokens == sum(a for a, _, _ in sent)
    assert s.output_tokens == sum(b for _, b, _ in sent)
    assert s.cost_usd == pytest.approx(sum(c for _, _, c in sent))


@pytest.mark.parametrize("events_first", [True, False])
def test_metrics_and_events_of_one_session_are_counted_once(
    feed: CodingAgentProcessor, events_first: bool
) -> None:
    """Both sources describe the same requests; the first to arrive feeds the session."""
    events = [api_request(T0 + i * SECOND, "sess-1", tokens_in=100 * (i + 1), tokens_out=10,
                          cost=0.001, sequence=i) for i in range(4)]  # fmt: skip
    metrics = [tokens("input", 1000, T0 + 5 * SECOND), tokens("output", 40, T0 + 5 * SECOND),
               cost(0.004, T0 + 5 * SECOND)]  # fmt: skip
    calls = [(feed.on_logs, events), (feed.on_metrics, metrics)]
    for fn, data in calls if events_first else calls[::-1]:
        fn(data, [])  # type: ignore[operator]
    s = feed.store.get(Session, "sess-1")
    assert (s.input_tokens, s.output_tokens) == (1000, 40)  # the same totals either way
    assert s.cost_usd == pytest.approx(0.004)


# -- changes ---------------------------------------------------------------------


def test_edit_decisions_and_lines_become_changes(feed: CodingAgentProcessor) -> None:
    t = T0 + 60 * SECOND
    feed.on_metrics([decision(3, t, "accept"), decision(1, t, "reject", tool="Write"),
                     lines("added", 42, t), lines("removed", 7, t)], [])  # fmt: skip
    changes = feed.store.list(Change)
    assert len(changes) == 4
    assert sum(c.accepted for c in changes) == 3
    assert sum(c.lines_added for c in changes) == 42
    assert sum(c.lines_removed for c in changes) == 7
    assert {c.tool for c in changes} == {"claude-code"}
    assert {c.language for c in changes} == {"Python"}
    day = day_of(t)
    m = ActivityAnalytics(feed.store).daily_metrics(day).metrics
    assert (m.agent_edits, m.accepted_edits, m.agent_lines_added) == (4, 3, 42)


def test_lines_without_an_accepted_edit_are_a_change_of_their_own(
    feed: CodingAgentProcessor,
) -> None:
    feed.on_metrics([lines("added", 9, T0 + SECOND), lines("removed", 2, T0 + SECOND)], [])
    (c,) = feed.store.list(Change)
    assert (c.lines_added, c.lines_removed, c.accepted) == (9, 2, True)


@pytest.mark.parametrize(
    ("tool", "counted"), [("Edit", True), ("Write", True), ("NotebookEdit", True),
                          ("Read", False), ("Bash", False)],
)  # fmt: skip
def test_tool_decision_events_count_edit_tools_only(
    feed: CodingAgentProcessor, tool: str, counted: bool
) -> None:
    feed.on_logs([tool_decision(T0, "s", tool, "accept", sequence=1),
                  tool_decision(T0 + 1, "s", tool, "reject", sequence=2)], [])  # fmt: skip
    changes = feed.store.list(Change)
    assert [c.accepted for c in sorted(changes, key=lambda c: c.timestamp)] == (
        [True, False] if counted else []
    )
    assert feed.store.count(Session) == 1  # the session is active either way


def test_commit_and_pull_request_counts_mark_the_session_only(
    feed: CodingAgentProcessor,
) -> None:
    attrs = standard("s-c")
    feed.on_metrics([point("commit.count", 2, T0 + SECOND, attrs),
                     point("pull_request.count", 1, T0 + 2 * SECOND, attrs)], [])  # fmt: skip
    assert feed.store.count(Change) == 0
    s = feed.store.get(Session, "s-c")
    assert (s.started_at, s.ended_at) == (T0 + SECOND, T0 + 2 * SECOND)


# -- developers ------------------------------------------------------------------


def test_a_developer_known_only_by_account_id(feed: CodingAgentProcessor) -> None:
    account = "9a8b7c6d-0000-4000-8000-000000000042"
    attrs = {**standard("s-acc", email=None, account=account), "type": "input"}
    feed.on_metrics([point("token.usage", 10, T0 + SECOND, attrs)], [])
    (d,) = feed.store.list(Developer)
    assert d.email == account_email(account)
    assert d.id == developer_id_for(account_email(account))
    assert feed.store.get(Session, "s-acc").developer_id == d.id


def test_a_bad_email_does_not_hide_an_account_of_the_same_text(
    feed: CodingAgentProcessor,
) -> None:
    bad = {"session.id": "s-bad", "user.email": "not-an-address", "type": "input"}
    account = {"session.id": "s-acc", "user.account_uuid": "not-an-address", "type": "input"}
    feed.on_metrics([point("token.usage", 3, T0 + SECOND, bad),
                     point("token.usage", 4, T0 + SECOND, account)], [])  # fmt: skip
    assert feed.stats["unattributed"] == 1
    assert feed.store.get(Session, "s-acc").developer_id == developer_id_for(
        account_email("not-an-address"))  # fmt: skip


def test_records_without_a_user_are_counted_not_stored(feed: CodingAgentProcessor) -> None:
    attrs = {"session.id": "anon", "type": "input"}
    feed.on_metrics([point("token.usage", 10, T0 + SECOND, attrs)], [])
    assert feed.store.count(Developer) == 0 and feed.store.count(Session) == 0
    assert feed.stats["unattributed"] == 1


@pytest.mark.parametrize(
    ("resource", "record", "expect"),
    [
        (RESOURCE, {}, (Region.EU, "engineering", "platform")),
        ({**RESOURCE, "region": "APAC"}, {"team.id": "mobile"}, (Region.APAC, "engineering",
                                                                   "mobile")),
        ({**RESOURCE, "region": "Mars"}, {}, (Region.OTHER, "engineering", "platform")),
        ({"service.name": "claude-code"}, {"region": "us"}, (Region.US, "", "")),
    ],
)  # fmt: skip
def test_attribute_mapping(
    feed: CodingAgentProcessor, resource: dict[str, str], record: dict[str, str],
    expect: tuple[Region, str, str],
) -> None:  # fmt: skip
    attrs = {**standard(), **record, "type": "input"}
    feed.on_metrics([point("token.usage", 1, T0 + SECOND, attrs, resource=resource)], [])
    d = feed.store.get(Developer, developer_id_for(ADA))
    assert (d.region, d.division, d.team) == expect


def test_a_configured_mapping(feed: CodingAgentProcessor) -> None:
    settings = AgentFeedSettings.parse([], ["cost_center=division"])
    feed = CodingAgentProcessor(MemoryActivityStore(), settings)
    attrs = {**standard(), "type": "input"}
    feed.on_metrics([point("token.usage", 1, T0 + SECOND, attrs)], [])
    assert feed.store.get(Developer, developer_id_for(ADA)).division == RESOURCE["cost_center"]


def test_a_roster_name_is_kept_and_unchanged_fields_write_nothing() -> None:
    store = MemoryActivityStore()
    dev_id = developer_id_for(ADA)
    store.save(Developer(dev_id, ADA, "Ada Lovelace", Region.US, "research", "old-team", 5))
    feed = CodingAgentProcessor(store)
    attrs = {**standard(), "type": "input"}
    feed.on_metrics([point("token.usage", 1, T0 + SECOND, attrs)], [])
    d = store.get(Developer, dev_id)
    assert (d.name, d.region, d.division, d.team, d.created_at) == (
        "Ada Lovelace", Region.EU, RESOURCE["department"], RESOURCE["team.id"], 5)  # fmt: skip
    assert feed.stats["developers_updated"] == 1
    feed.on_metrics([point("token.usage", 1, T0 + 2 * SECOND, attrs)], [])
    assert feed.stats["developers_updated"] == 1 and store.get(Developer, dev_id) == d


def test_a_developer_stored_under_another_id_is_found_by_email() -> None:
    store = MemoryActivityStore()
    store.save(Developer("d-rest", ADA, "Ada", Region.EU, "engineering", "platform"))
    feed = CodingAgentProcessor(store)
    feed.on_metrics([decision(1, T0 + SECOND, "accept")], [])
    assert [c.developer_id for c in store.list(Change)] == ["d-rest"]
    assert store.count(Developer) == 1


# -- prefixes and batches ----------------------------------------------------------


def test_another_prefix_is_read_alike_and_unknown_ones_are_not() -> None:
    feed = CodingAgentProcessor(MemoryActivityStore(), AgentFeedSettings(("claude_code",
                                                                          "opencode")))  # fmt: skip
    t = T0 + SECOND
    attrs = {**standard("oc-1"), "type": "input"}
    feed.on_metrics([point("token.usage", 70, t, attrs, prefix="opencode"),
                     point("token.usage", 90, t, {**attrs, "session.id": "x-1"}, prefix="other"),
                     point("token.usage", 5, t, {**attrs, "session.id": "cc-1"})], [])  # fmt: skip
    assert {(s.id, s.tool, s.input_tokens) for s in feed.store.list(Session)} == {
        ("oc-1", "opencode", 70), ("cc-1", "claude-code", 5)}  # fmt: skip


def test_column_batches_are_read_like_lists(feed: CodingAgentProcessor) -> None:
    t = T0 + SECOND
    noise = [point("vllm:num_requests_running", 3, t, {"model_name": "m"}, prefix="x")]
    feed.on_metrics(MetricBatch.of([*noise, decision(2, t, "accept")]), [])
    feed.on_logs(LogBatch.of([api_request(t, "sess-1", tokens_in=7, tokens_out=3, cost=0.1)]), [])
    assert feed.store.count(Change) == 2
    assert feed.store.get(Session, "sess-1").input_tokens == 7


# -- threads -----------------------------------------------------------------------


def test_threads_hammering_one_session_lose_nothing(feed: CodingAgentProcessor) -> None:
    """Eight requests at once feed one session (a series per model, as a session that
    switches models exports) and a session each."""
    threads, per_thread, n_threads = [], 50, 8
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(per_thread):
                t = T0 + (k * per_thread + i + 1) * SECOND
                feed.on_metrics([tokens("input", k + 1, t, session="shared", model=f"m{k}"),
                                 decision(1, t, "accept", session=f"s{k}")], [])  # fmt: skip
        except BaseException as exc:  # reported below
            errors.append(exc)

    for k in range(n_threads):
        threads.append(threading.Thread(target=work, args=(k,)))
        threads[-1].start()
    for th in threads:
        th.join(30)
        assert not th.is_alive()
    assert not errors
    s = feed.store.get(Session, "shared")
    assert s.input_tokens == sum((k + 1) * per_thread for k in range(n_threads))
    assert feed.store.count(Change) == per_thread * n_threads
    feed._check()
    feed.store._check()


# -- writes ------------------------------------------------------------------------


class CountingStore(MemoryActivityStore):
    """Counts batch inserts and single-record updates per record type."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: dict[str, int] = {}

    def save_batch(self, records: Sequence[Record]) -> int:
        name = type(records[0]).__name__ if records else "-"
        self.batches[name] = self.batches.get(name, 0) + 1
        return super().save_batch(records)


def test_one_batch_insert_per_record_type_per_call() -> None:
    store = CountingStore()
    feed = CodingAgentProcessor(store)
    t = T0 + SECOND
    batch = [p for s in range(20) for p in (
        tokens("input", 10, t, session=f"s{s}"), decision(2, t, "accept", session=f"s{s}"),
        lines("added", 5, t, session=f"s{s}"))]  # fmt: skip
    feed.on_metrics(batch, [])
    assert store.batches == {"Developer": 1, "Session": 1, "Change": 1}
    assert store.count(Session) == 20 and store.count(Change) == 40


def test_shutdown_forgets_the_state_and_can_be_called_twice(feed: CodingAgentProcessor) -> None:
    feed.on_metrics([tokens("input", 5, T0 + SECOND)], [])
    feed.shutdown()
    feed.shutdown()
    feed._check()
    feed.on_metrics([tokens("input", 5, T0 + 2 * SECOND)], [])  # still works
    assert feed.store.get(Session, "sess-1").input_tokens == 10


def test_writes_by_others_are_seen_by_the_next_call(feed: CodingAgentProcessor) -> None:
    """The feed keeps what it wrote to skip reading it back; another writer's change to
    a session or a developer (REST, a roster import) must not be overwritten by it."""
    feed.on_metrics([tokens("input", 100, T0 + SECOND)], [])
    s = feed.store.get(Session, "sess-1")
    feed.store.update(dataclasses.replace(s, input_tokens=7))  # an edit over REST
    dev = feed.store.get(Developer, developer_id_for(ADA))
    feed.store.update(dataclasses.replace(dev, name="Ada L."))
    feed.on_metrics([tokens("input", 5, T0 + 2 * SECOND)], [])
    assert feed.store.get(Session, "sess-1").input_tokens == 7 + 5
    assert feed.store.get(Developer, dev.id).name == "Ada L."
    feed.store.delete(Developer, dev.id)  # deleted: the feed stores it again
    feed.on_metrics([tokens("input", 1, T0 + 3 * SECOND)], [])
    assert feed.store.get(Developer, dev.id).email == ADA


def test_a_store_limit_is_raised_to_the_pipeline_and_stores_no_change() -> None:
    store = MemoryActivityStore(limits={"change": 2})
    feed = CodingAgentProcessor(store)
    with pytest.raises(CapacityExceeded, match="change limit 2"):
        feed.on_metrics([decision(3, T0 + SECOND, "accept")], [])
    assert store.count(Change) == 0 and store.count(Developer) == 1
    feed.on_metrics([decision(2, T0 + 2 * SECOND, "reject")], [])  # under the limit: stored
    assert store.count(Change) == 2
    feed._check()


@pytest.mark.parametrize("first", ["event", "delta point"])
def test_a_session_begun_in_this_run_counts_a_later_cumulative_series_whole(
    feed: CodingAgentProcessor, first: str
) -> None:
    """The session is stored by the first call; a series that appears later (the first
    edit of the session) still counts from its start, as this run saw the session new."""
    if first == "event":
        feed.on_logs([api_request(T0 + SECOND, "sess-1", tokens_in=5, tokens_out=1, cost=0.1)], [])
    else:
        feed.on_metrics([tokens("input", 5, T0 + SECOND)], [])
    attrs = {**standard(), "type": "added", "model": "claude-sonnet-4-5"}
    feed.on_metrics([point("lines_of_code.count", 30, T0 + 9 * SECOND, attrs,
                           temporality=CUMULATIVE)], [])  # fmt: skip
    assert sum(c.lines_added for c in feed.store.list(Change)) == 30


@pytest.mark.parametrize(
    ("body", "event_name", "counted"),
    [
        ("opencode.api_request", "api_request", True),  # Claude Code's shape, mirrored
        ("", "opencode.api_request", True),  # the name only in event.name, prefixed
        ("an api request", "api_request", False),  # no prefix anywhere: not the feed's
        ("other.api_request", "other.api_request", False),
    ],
)
def test_events_are_found_by_body_or_event_name(body: str, event_name: str, counted: bool) -> None:
    feed = CodingAgentProcessor(MemoryActivityStore(), AgentFeedSettings(("opencode",)))
    e = api_request(T0 + SECOND, "oc-ev", tokens_in=11, tokens_out=2, cost=0.5)
    attrs = {**e.attributes, "event.name": event_name}
    feed.on_logs([dataclasses.replace(e, body=body, attributes=attrs)], [])
    sessions = feed.store.list(Session)
    assert [(s.tool, s.input_tokens) for s in sessions] == ([("opencode", 11)] if counted else [])
