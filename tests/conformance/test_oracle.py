"""The oracle checked on its own: answers worked out by hand from tiny data sets.

Every other conformance test trusts ``ReferenceStore``; these tests say, for a
few records each, what the answer must be (order, half-open windows, the
attribute equality rule, percentiles by linear interpolation, eviction, purge)
and check the oracle gives exactly that.
"""

from __future__ import annotations

from typing import Any

import pytest

from infertrace.errors import TraceNotFound
from infertrace.model import LogRecord, MetricPoint, MetricType, Span, StatusCode
from infertrace.telemetry.analytics import GroupBy, GroupStats, LeaderboardEntry, SeriesMetric
from infertrace.telemetry.analytics import SeriesPoint as P
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.reference import ReferenceStore

from .conftest import START_NS as T
from .conftest import Clock, assert_close

S = 10**9


@pytest.fixture
def ref(clock: Clock) -> ReferenceStore:
    return ReferenceStore(clock=clock)


def sp(n: int, t: int, dur: int = 10, **kw: Any) -> Span:
    """Span number ``n`` (its span id is ``n`` repeated), starting at ``T + t``."""
    fields: dict[str, Any] = {
        "trace_id": bytes([1]) * 16,
        "span_id": bytes([n]) * 8,
        "service_name": "api",
        "operation_name": "chat",
        "start_time_unix_nano": T + t,
        "duration_nanos": dur,
    }
    fields.update(kw)
    return Span(**fields)


def ids(spans: list[Span]) -> list[int]:
    return [s.span_id[0] for s in spans]


def test_spans_newest_first_ties_newest_arrival_first(ref: ReferenceStore) -> None:
    ref.write_batch([sp(1, 30), sp(2, 10), sp(3, 20)])
    ref.write(sp(4, 20))  # same start as 3, arrived later
    assert ids(ref.list_spans(SpanFilter())) == [1, 4, 3, 2]
    assert ids(ref.list_spans(SpanFilter(limit=2))) == [1, 4]


def test_span_windows_are_half_open(ref: ReferenceStore) -> None:
    ref.write_batch([sp(1, 30), sp(2, 10), sp(3, 20), sp(4, 20)])
    assert ids(ref.list_spans(SpanFilter(since=T + 10, until=T + 20))) == [2]
    assert ids(ref.list_spans(SpanFilter(since=T + 20, until=T + 30))) == [4, 3]
    assert ids(ref.list_spans(SpanFilter(since=T + 20))) == [1, 4, 3]
    assert ids(ref.list_spans(SpanFilter(until=T + 10))) == []
    assert ids(ref.list_spans(SpanFilter(since=T + 30, until=T + 30))) == []


def test_span_field_filters(ref: ReferenceStore) -> None:
    ref.write_batch(
        [
            sp(1, 1, dur=10, service_name="a", model_name="m"),
            sp(2, 2, dur=20, service_name="b", operation_name="embed"),
            sp(3, 3, dur=20, service_name="a", status_code=StatusCode.ERROR),
            sp(4, 4, dur=30, service_name="b", model_name="m", status_code=StatusCode.OK),
        ]
    )
    assert ids(ref.list_spans(SpanFilter(service_name="a"))) == [3, 1]
    assert ids(ref.list_spans(SpanFilter(operation_name="embed"))) == [2]
    assert ids(ref.list_spans(SpanFilter(model_name="m"))) == [4, 1]
    assert ids(ref.list_spans(SpanFilter(status=StatusCode.UNSET))) == [2, 1]
    assert ids(ref.list_spans(SpanFilter(status=StatusCode.ERROR))) == [3]
    # Duration bounds are inclusive on both sides.
    assert ids(ref.list_spans(SpanFilter(min_duration_ns=20, max_duration_ns=20))) == [3, 2]
    assert ids(ref.list_spans(SpanFilter(min_duration_ns=21))) == [4]
    assert ids(ref.list_spans(SpanFilter(service_name="b", model_name="m"))) == [4]
    assert ref.services() == ["a", "b"]
    assert ref.operations("b") == ["chat", "embed"] and ref.operations("c") == []
    assert ref.models() == ["m"]


def test_attribute_equality_rule(ref: ReferenceStore) -> None:
    """Numbers match numbers by value, strings strings, bools bools; a span's own
    attribute hides a resource attribute of the same key."""
    ref.write_batch(
        [
            sp(1, 1, attributes={"n": 3}),
            sp(2, 2, attributes={"n": 3.0}),
            sp(3, 3, attributes={"n": "3"}),
            sp(4, 4, attributes={"n": True}),
            sp(5, 5, resource_attributes={"n": 3}),
            sp(6, 6, attributes={"n": "x"}, resource_attributes={"n": 3}),
            sp(7, 7, attributes={"n": 1}),
        ]
    )
    assert ids(ref.list_spans(SpanFilter(attributes={"n": 3}))) == [5, 2, 1]
    assert ids(ref.list_spans(SpanFilter(attributes={"n": 3.0}))) == [5, 2, 1]
    assert ids(ref.list_spans(SpanFilter(attributes={"n": "3"}))) == [3]
    assert ids(ref.list_spans(SpanFilter(attributes={"n": True}))) == [4]
    assert ids(ref.list_spans(SpanFilter(attributes={"n": 1}))) == [7]
    assert ids(ref.list_spans(SpanFilter(attributes={"n": "x"}))) == [6]


def test_get_trace_oldest_first_ties_by_arrival(ref: ReferenceStore) -> None:
    other = bytes([2]) * 16
    ref.write_batch([sp(1, 30), sp(2, 10), sp(3, 20, trace_id=other)])
    ref.write(sp(4, 10))
    assert ids(ref.get_trace(bytes([1]) * 16)) == [2, 4, 1]
    assert ids(ref.get_trace("01" * 16)) == [2, 4, 1]
    assert ids(ref.get_trace(other)) == [3]
    for missing in ("03" * 16, "xyz", b"\x01"):
        with pytest.raises(TraceNotFound):
            ref.get_trace(missing)


def test_logs(ref: ReferenceStore) -> None:
    tid = bytes([7]) * 16
    ref.write_logs(
        [
            LogRecord(T + 1, "a", "GPU out of memory", severity_number=17, trace_id=tid),
            LogRecord(T + 3, "b", "50% done_ok", severity_number=9),
            LogRecord(T + 2, "a", "gpu ok", severity_number=13),
        ]
    )
    ref.write_logs([LogRecord(T + 2, "b", "later arrival", severity_number=5)])

    def bodies(flt: LogFilter) -> list[str]:
        return [r.body for r in ref.list_logs(flt)]

    assert bodies(LogFilter()) == ["50% done_ok", "later arrival", "gpu ok", "GPU out of memory"]
    assert bodies(LogFilter(min_severity=13)) == ["gpu ok", "GPU out of memory"]
    assert bodies(LogFilter(body_contains="gpu")) == ["gpu ok"]  # case-sensitive
    assert bodies(LogFilter(body_contains="%")) == ["50% done_ok"]  # literal, not a wildcard
    assert bodies(LogFilter(body_contains="e_o")) == ["50% done_ok"]
    assert bodies(LogFilter(trace_id=tid.hex())) == ["GPU out of memory"]
    assert bodies(LogFilter(service_name="a", since=T + 1, until=T + 2)) == ["GPU out of memory"]
    assert bodies(LogFilter(limit=1)) == ["50% done_ok"]


def test_metric_points(ref: ReferenceStore) -> None:
    g = MetricType.GAUGE
    ref.write_metrics(
        [
            MetricPoint("x", g, "a", T + 1, value=1.0, attributes={"pod": "p1"}),
            MetricPoint("x", g, "a", T + 2, value=2.0, attributes={"pod": "p2", "n": 1}),
            MetricPoint("y", MetricType.SUM, "b", T + 3, value=3.0),
        ]
    )

    def values(flt: MetricFilter) -> list[float | None]:
        return [p.value for p in ref.list_metric_points(flt)]

    assert values(MetricFilter()) == [3.0, 2.0, 1.0]
    assert values(MetricFilter(name="x")) == [2.0, 1.0]
    assert values(MetricFilter(type=MetricType.SUM)) == [3.0]
    assert values(MetricFilter(attributes={"pod": "p1"})) == [1.0]
    assert values(MetricFilter(attributes={"n": 1.0})) == [2.0]
    assert values(MetricFilter(attributes={"n": True})) == []
    assert values(MetricFilter(since=T + 2, until=T + 3)) == [2.0]
    assert ref.metric_names() == ["x", "y"]


def _analytics_data() -> list[Span]:
    """Model ``m``: four root spans of 10, 20, 30 and 40 ns; ``n`` one of 100 ns."""
    return [
        sp(1, 5, dur=10, model_name="m", output_tokens=5, input_tokens=1, batch_size=2,
           gpu_utilization=0.5),
        sp(2, 50, dur=20, model_name="m", input_tokens=2, status_code=StatusCode.ERROR),
        sp(3, 150, dur=30, model_name="m", output_tokens=15, time_to_first_token_nanos=10,
           batch_size=4, resource_attributes={"k8s.pod.name": "p1"}),
        sp(4, 160, dur=40, model_name="m", output_tokens=0, input_tokens=3,
           time_to_first_token_nanos=50),
        sp(5, 170, dur=100, model_name="n", service_name="b"),
        sp(6, 20, dur=999),  # no model: not a model span, in no figure
    ]  # fmt: skip


def test_model_analytics_by_hand(ref: ReferenceStore) -> None:
    ref.write_batch(_analytics_data())
    # Percentiles interpolate linearly between closest ranks: rank = q * (n - 1),
    # so over 10, 20, 30, 40: p50 at rank 1.5 = 25, p90 at 2.7 = 37, p95 at 2.85 = 38.5,
    # p99 at 2.97 = 39.7. Decode time is duration less TTFT (never below 0):
    # 10 + (30 - 10) + 0 ns for 5 + 15 + 0 output tokens; span 2 has no output count.
    # TTFT over 10 and 50: p50 = 30, p95 = 10 + 0.95 * 40 = 48. No queue time. TPOT only
    # for span 3 (more than one token and a TTFT): (30 - 10) / (15 - 1).
    m = GroupStats(
        key="m", requests=4, errors=1, error_rate=0.25,
        latency_p50_ns=25.0, latency_p90_ns=37.0, latency_p95_ns=38.5, latency_p99_ns=39.7,
        latency_max_ns=40, queue_p50_ns=None, queue_p95_ns=None, ttft_p50_ns=30.0,
        ttft_p95_ns=48.0, tpot_p50_ns=20 / 14, tpot_p95_ns=20 / 14,
        input_tokens=6, output_tokens=20,
        output_tokens_per_second=20 / 30e-9, mean_batch_size=3.0, mean_gpu_utilization=0.5,
    )  # fmt: skip
    n = GroupStats(
        key="n", requests=1, errors=0, error_rate=0.0,
        latency_p50_ns=100.0, latency_p90_ns=100.0, latency_p95_ns=100.0, latency_p99_ns=100.0,
        latency_max_ns=100, queue_p50_ns=None, queue_p95_ns=None, ttft_p50_ns=None,
        ttft_p95_ns=None, tpot_p50_ns=None, tpot_p95_ns=None,
        input_tokens=0, output_tokens=0, output_tokens_per_second=None,
        mean_batch_size=None, mean_gpu_utilization=None,
    )  # fmt: skip
    assert_close(ref.model_analytics(), [m, n])
    # Half-open window [T + 50, T + 170): spans 2, 3 and 4 of m, not n.
    window = ref.model_analytics(T + 50, T + 170)
    assert [(r.key, r.requests, r.latency_p50_ns, r.latency_max_ns) for r in window] == [
        ("m", 3, 30.0, 40)
    ]
    by_service = ref.model_analytics(group_by=GroupBy.SERVICE)
    assert [(r.key, r.requests) for r in by_service] == [("api", 4), ("b", 1)]
    by_pod = ref.model_analytics(group_by=GroupBy.POD)
    assert [(r.key, r.requests) for r in by_pod] == [("p1", 1), ("unknown", 4)]


def test_timeseries_by_hand(ref: ReferenceStore) -> None:
    ref.write_batch(_analytics_data())
    assert T % 100 == 0  # buckets start at multiples of the step
    assert ref.timeseries(SeriesMetric.REQUESTS, 100) == [P(T, 2.0), P(T + 100, 3.0)]
    assert ref.timeseries(SeriesMetric.ERRORS, 100) == [P(T, 1.0), P(T + 100, 0.0)]
    assert ref.timeseries(SeriesMetric.TOKENS_OUT, 100, model_name="m") == [
        P(T, 5.0),
        P(T + 100, 15.0),
    ]
    # Bucket T + 100 of m: 30 and 40 ns, p50 = 35.
    assert ref.timeseries(SeriesMetric.LATENCY_P50, 100, T + 100, None, "m") == [P(T + 100, 35.0)]
    # Bucket T: 5 tokens in 10 ns of decode, span 2 has no output count.
    assert_close(ref.timeseries(SeriesMetric.TOKENS_PER_SECOND, 100, until=T + 100), [P(T, 5e8)])


def test_leaderboard_by_hand(ref: ReferenceStore) -> None:
    ref.write_batch([*_analytics_data(), sp(7, 180, dur=1, model_name="a")])
    req = SeriesMetric.REQUESTS
    assert ref.leaderboard(req) == [
        LeaderboardEntry("m", 4.0),
        LeaderboardEntry("a", 1.0),  # a tie with n: by name
        LeaderboardEntry("n", 1.0),
    ]
    assert ref.leaderboard(req, limit=2) == [LeaderboardEntry("m", 4.0), LeaderboardEntry("a", 1.0)]
    # Models without a figure (no output tokens) are left out.
    assert_close(
        ref.leaderboard(SeriesMetric.TOKENS_PER_SECOND), [LeaderboardEntry("m", 20 / 30e-9)]
    )
    assert ref.leaderboard(req, since=T + 160, until=T + 180) == [
        LeaderboardEntry("m", 1.0),
        LeaderboardEntry("n", 1.0),
    ]


def test_capacity_evicts_the_oldest(clock: Clock) -> None:
    ref = ReferenceStore(span_capacity=3, log_capacity=2, clock=clock)
    ref.write_batch([sp(n, n) for n in range(1, 5)])
    ref.write(sp(5, 0))  # arrival order, not start time, decides eviction
    assert ids(ref.list_spans(SpanFilter())) == [4, 3, 5]
    ref.write_logs([LogRecord(T + i, "a", str(i)) for i in range(3)])
    assert [r.body for r in ref.list_logs(LogFilter())] == ["2", "1"]
    stats = ref.stats()
    assert (stats.spans.count, stats.spans.evicted) == (3, 2)
    assert (stats.logs.count, stats.logs.evicted) == (2, 1)


def test_purge_by_receive_time(ref: ReferenceStore, clock: Clock) -> None:
    ref.write_batch([sp(1, 0)])
    ref.write_logs([LogRecord(T, "a", "old")])
    clock.now = T + 10 * S
    ref.write_batch([sp(2, 0)])  # same record time, received 10 s later
    clock.now = T + 20 * S
    assert ref.purge_older_than(10) == 2  # cutoff T + 10 s: received before it goes
    assert ids(ref.list_spans(SpanFilter())) == [2]
    assert ref.list_logs(LogFilter()) == []
    assert ref.purge_older_than(10) == 0
    clock.now += 1
    assert ref.purge_older_than(10) == 1
