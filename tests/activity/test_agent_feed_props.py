"""Property: however cumulative series are interleaved, split into batches and resent,
the feed records each series' increase once (the runs' rises, resets included).

Points are shaped like Claude Code's ``claude_code.token.usage`` with cumulative
temporality (https://code.claude.com/docs/en/monitoring-usage), one series per
session so each session's input tokens are that series' total.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infertrace.activity import MemoryActivityStore, Session
from infertrace.activity.agent_feed import CodingAgentProcessor
from infertrace.model import MetricPoint, Temporality
from tests.activity.agent_shapes import SECOND, T0, point, standard

Run = tuple[bool, list[int]]
"""(same start as the run before, rises within the run); the first rise is the
run's first value."""

runs_st = st.lists(
    st.tuples(st.booleans(), st.lists(st.integers(0, 1000), min_size=1, max_size=6)),
    min_size=1, max_size=4,
)  # fmt: skip


def series_points(session: str, runs: list[Run], start_known: bool) -> tuple[list[MetricPoint],
                                                                                  int]:  # fmt: skip
    """The series' points in time order, and the increase the feed must record."""
    points: list[MetricPoint] = []
    expected, start, last = 0, T0 if start_known else 0, None
    attrs = {**standard(session), "type": "input", "model": "claude-sonnet-4-5"}
    t = T0
    for r, (same_start, rises) in enumerate(runs):
        values = [sum(rises[: i + 1]) for i in range(len(rises))]
        # A run continues with the start of the one before only when its first value
        # drops below that run's last (else the feed could not see the reset).
        if r and not (same_start and last is not None and values[0] < last):
            start = T0 + r * 1000 * SECOND
        for v in values:
            t += SECOND
            points.append(point("token.usage", v, t, attrs, start=start,
                                temporality=Temporality.CUMULATIVE))  # fmt: skip
        counted_from = values[0] if (r == 0 and not start_known) else 0
        expected += values[-1] - counted_from
        last = values[-1]
    return points, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    series=st.lists(st.tuples(runs_st, st.booleans()), min_size=1, max_size=3),
    data=st.data(),
)
def test_any_split_and_resend_records_each_increase_once(
    series: list[tuple[list[Run], bool]], data: st.DataObject
) -> None:
    queues, expected = [], {}
    for i, (runs, start_known) in enumerate(series):
        pts, exp = series_points(f"s{i}", runs, start_known)
        queues.append(pts)
        expected[f"s{i}"] = exp
    # Interleave: repeatedly take the next point of a series hypothesis picks.
    order: list[MetricPoint] = []
    while any(queues):
        live = [q for q in queues if q]
        q = live[data.draw(st.integers(0, len(live) - 1))]
        order.append(q.pop(0))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=6)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    resend = data.draw(st.lists(st.integers(0, len(batches) - 1), max_size=4))
    feed = CodingAgentProcessor(MemoryActivityStore())
    for i, batch in enumerate(batches):
        feed.on_metrics(batch, [])
        if i in resend:  # a retried export: the same batch again, right away or later
            feed.on_metrics(batch, [])
    for i in resend:
        feed.on_metrics(batches[i], [])
    recorded = {s.id: s.input_tokens for s in feed.store.list(Session)}
    # A series that never rose past its baseline makes no session: it holds 0.
    assert {k: recorded.get(k, 0) for k in expected} == expected
    feed._check()
