from datetime import UTC, datetime

import pytest

from infertrace import (
    InvalidFilter,
    InvalidRecord,
    LogFilter,
    MemoryStore,
    MetricFilter,
    SpanFilter,
    StatusCode,
    TraceNotFound,
)
from infertrace.model import HistogramData, MetricType
from tests.telemetry.factories import log, point, span, tid


def test_seed_index_cleanup_scenario() -> None:
    """Seed 001: capacity 3, four spans; the first trace is gone and counts are right."""
    store = MemoryStore(span_capacity=3)
    store.write(span(1, 1, service_name="a"))
    store.write(span(2, 2, service_name="b"))
    store.write(span(3, 3, service_name="b"))
    store.write(span(4, 4, service_name="c"))
    with pytest.raises(TraceNotFound):
        store.get_trace(tid(1))
    assert store.services() == ["b", "c"]
    assert [s.span_id for s in store.list_spans(SpanFilter(service_name="b"))] == [
        span(3, 3).span_id,
        span(2, 2).span_id,
    ]
    stats = store.stats().spans
    assert (stats.count, stats.evicted, stats.distinct_traces) == (3, 1, 3)
    store._check()


@pytest.fixture
def trace_store() -> MemoryStore:
    store = MemoryStore(span_capacity=100)
    store.write_batch(
        [
            span(7, 1, start_time_unix_nano=300),
            span(7, 2, start_time_unix_nano=100, parent_span_id=span(7, 1).span_id),
            span(7, 3, start_time_unix_nano=200),
            span(8, 4),
        ]
    )
    return store


@pytest.mark.parametrize(
    ("trace_id", "expected_starts"),
    [
        (tid(7), [100, 200, 300]),
        (tid(7).hex(), [100, 200, 300]),
        (tid(7).hex().upper(), [100, 200, 300]),
        (tid(8), [1004]),
    ],
)
def test_get_trace_found(
    trace_store: MemoryStore, trace_id: str | bytes, expected_starts: list[int]
) -> None:
    spans = trace_store.get_trace(trace_id)
    assert [s.start_time_unix_nano for s in spans] == expected_starts
    assert all(s.trace_id == tid(int(expected_starts[0] == 1004) + 7) for s in spans)


@pytest.mark.parametrize("trace_id", [tid(9), tid(9).hex(), "xyz", "00" * 15, b"short", ""])
def test_get_trace_not_found_names_the_id(trace_store: MemoryStore, trace_id: str | bytes) -> None:
    with pytest.raises(TraceNotFound) as err:
        trace_store.get_trace(trace_id)
    shown = trace_id.hex() if isinstance(trace_id, bytes) else trace_id
    assert shown in str(err.value)


def test_parent_and_columns_round_trip(trace_store: MemoryStore) -> None:
    child = trace_store.get_trace(tid(7))[0]
    assert child.parent_span_id == span(7, 1).span_id
    root = trace_store.get_trace(tid(7))[2]
    assert root.parent_span_id == b""


def test_returned_records_cannot_change_the_store() -> None:
    store = MemoryStore(span_capacity=10)
    attrs = {"k": "v"}
    store.write(span(1, 1, attributes=attrs))
    attrs["k"] = "changed"  # the caller's dict, after the write
    got = store.get_trace(tid(1))[0]
    with pytest.raises(TypeError):
        got.attributes["k"] = "x"  # type: ignore[index]
    assert store.get_trace(tid(1))[0].attributes == {"k": "v"}


BAD_SPANS = [
    ({"trace_id": b"\x01" * 15}, "trace_id"),
    ({"trace_id": bytes(16)}, "all zeros"),
    ({"trace_id": "ab" * 16}, "trace_id must be bytes"),
    ({"span_id": b"\x01" * 9}, "span_id"),
    ({"parent_span_id": b"\x01"}, "parent_span_id"),
    ({"duration_nanos": -1}, "duration_nanos"),
    ({"start_time_unix_nano": 1.5}, "start_time_unix_nano"),
    ({"service_name": ""}, "service_name must not be empty"),
    ({"operation_name": None}, "operation_name"),
    ({"model_name": ""}, "model_name"),
    ({"batch_size": -3}, "batch_size"),
    ({"input_tokens": 2**40}, "input_tokens"),
    ({"output_tokens": True}, "output_tokens"),
    ({"gpu_utilization": float("nan")}, "gpu_utilization"),
    ({"kind": 9}, "kind"),
    ({"attributes": {"k": {"nested": 1}}}, "attributes"),
    ({"attributes": {"": 1}}, "attributes key"),
    ({"attributes": {"k": None}}, "unsupported value"),
    ({"resource_attributes": {"k": [1, 2]}}, "resource_attributes"),
]


@pytest.mark.parametrize(("change", "words"), BAD_SPANS)
def test_invalid_span_rejects_whole_batch(change: dict[str, object], words: str) -> None:
    store = MemoryStore(span_capacity=10)
    good = [span(1, 1), span(1, 2)]
    with pytest.raises(InvalidRecord) as err:
        store.write_batch([*good, span(2, 3, **change)])
    assert err.value.index == 2
    assert words in str(err.value)
    assert store.stats().spans.count == 0
    assert store.services() == []
    store._check()
    store.write_batch(good)  # the store still works
    assert len(store.get_trace(tid(1))) == 2


@pytest.mark.parametrize(
    ("records", "writer", "words"),
    [
        ([log(1), log(2, severity_number=99)], "write_logs", "severity_number"),
        ([log(1, trace_id=b"\x01" * 3)], "write_logs", "trace_id"),
        ([point(1, value=None)], "write_metrics", "numeric value"),
        ([point(1), point(2, type=MetricType.HISTOGRAM, value=None)], "write_metrics", "histogram"),
    ],
)
def test_invalid_logs_and_points_store_nothing(
    records: list[object], writer: str, words: str
) -> None:
    store = MemoryStore(span_capacity=10, log_capacity=10, metric_capacity=10)
    with pytest.raises(InvalidRecord, match=words):
        getattr(store, writer)(records)
    stats = store.stats()
    assert stats.logs.count == 0 and stats.metrics.count == 0


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (SpanFilter(service_name="a"), [2, 1]),
        (SpanFilter(model_name="m1"), [3, 1]),
        (SpanFilter(operation_name="op2"), [3]),
        (SpanFilter(since=1002), [4, 3, 2]),
        (SpanFilter(until=1002), [1]),
        (SpanFilter(since=datetime(1970, 1, 1, tzinfo=UTC)), [4, 3, 2, 1]),
        (SpanFilter(min_duration_ns=20), [4, 2]),
        (SpanFilter(max_duration_ns=20), [3, 2, 1]),
        (SpanFilter(status=StatusCode.ERROR), [4]),
        (SpanFilter(attributes={"tier": "gold"}), [3, 1]),
        (SpanFilter(attributes={"tier": "gold", "n": 1}), [1]),
        (SpanFilter(attributes={"n": 1.0}), [1]),
        (SpanFilter(attributes={"n": True}), []),
        (SpanFilter(attributes={"region": "eu"}), [2]),
        (SpanFilter(limit=2), [4, 3]),
        (SpanFilter(service_name="nope"), []),
    ],
)
def test_span_filters(flt: SpanFilter, expected: list[int]) -> None:
    store = MemoryStore(span_capacity=10)
    store.write_batch(
        [
            span(1, 1, service_name="a", model_name="m1", attributes={"tier": "gold", "n": 1}),
            span(1, 2, service_name="a", duration_nanos=20, resource_attributes={"region": "eu"}),
            span(
                2,
                3,
                service_name="b",
                model_name="m1",
                operation_name="op2",
                attributes={"tier": "gold"},
            ),
            span(3, 4, service_name="b", duration_nanos=30, status_code=StatusCode.ERROR),
        ]
    )
    got = store.list_spans(flt)
    assert [s.start_time_unix_nano - 1000 for s in got] == expected


@pytest.mark.parametrize(
    "bad", [SpanFilter(limit=0), SpanFilter(min_duration_ns=-1), SpanFilter(since=1.5)]
)  # type: ignore[arg-type]
def test_bad_filters_raise(bad: SpanFilter) -> None:
    with pytest.raises(InvalidFilter):
        MemoryStore().list_spans(bad)


def test_logs_and_metrics_round_trip() -> None:
    store = MemoryStore(log_capacity=10, metric_capacity=10)
    logs = [log(1, severity_number=9), log(2, severity_number=17, body="oom", trace_id=tid(5))]
    store.write_logs(logs)
    assert store.list_logs(LogFilter()) == logs[::-1]
    assert store.list_logs(LogFilter(min_severity=10)) == [logs[1]]
    assert store.list_logs(LogFilter(trace_id=tid(5).hex())) == [logs[1]]
    assert store.list_logs(LogFilter(body_contains="line")) == [logs[0]]
    hist = HistogramData(count=3, sum=1.5, bounds=(1.0,), bucket_counts=(2, 1))
    points = [point(i, attributes={"pod": "p1"}) for i in range(3)]
    points.append(point(9, name="h", type=MetricType.HISTOGRAM, value=None, histogram=hist))
    store.write_metrics(points)
    assert store.metric_names() == ["h", "m"]
    assert store.list_metric_points(MetricFilter(name="m")) == points[2::-1]
    assert store.list_metric_points(MetricFilter(type=MetricType.HISTOGRAM)) == [points[3]]
    assert store.list_metric_points(MetricFilter(attributes={"pod": "p1"}, limit=1)) == [points[2]]


def test_metric_times_survive_irregular_intervals_and_eviction() -> None:
    store = MemoryStore(metric_capacity=7)
    times = [0, 10, 20, 31, 10**12, 10**12 + 5, 3, 2**62, 2**62 + 1, 7]
    for t in times:
        store.write_metrics([point(0, time_unix_nano=t)])
        store._check()
    got = sorted(p.time_unix_nano for p in store.list_metric_points(MetricFilter(limit=100)))
    assert got == sorted(times[-7:])


def test_purge_evicts_by_receive_time() -> None:
    now = [0]
    store = MemoryStore(span_capacity=100, clock=lambda: now[0])
    store.write_batch([span(1, 1)])
    now[0] = 5 * 10**9
    store.write_batch([span(2, 2)])
    store.write_logs([log(1)])
    now[0] = 8 * 10**9
    assert store.purge_older_than(4.0) == 1
    assert [s.span_id for s in store.list_spans(SpanFilter())] == [span(2, 2).span_id]
    assert store.purge_older_than(1.0) == 2
    assert store.stats().spans.count == 0 and store.services() == []
    store._check()


def test_background_purge_runs_and_close_stops_it() -> None:
    store = MemoryStore(span_capacity=100, max_age=0.05, purge_interval=0.01)
    store.write(span(1, 1))
    import time

    deadline = time.time() + 5
    while store.stats().spans.count and time.time() < deadline:
        time.sleep(0.01)
    assert store.stats().spans.count == 0
    store.close()
    store.close()


def test_batch_larger_than_capacity_keeps_the_newest() -> None:
    store = MemoryStore(span_capacity=3)
    store.write_batch([span(i, i) for i in range(1, 6)])
    assert [s.start_time_unix_nano for s in store.list_spans(SpanFilter())] == [1005, 1004, 1003]
    assert store.stats().spans.evicted == 2
    store._check()
