"""Memory stays bounded: no index, dictionary or arena outgrows the live data."""

from __future__ import annotations

import threading
import time

import pytest

from infertrace import LogFilter, MemoryStore, SpanFilter, TraceNotFound
from infertrace.model import LogRecord, MetricPoint, MetricType, Span

CAP = 200


def _unique_span(i: int) -> Span:
    return Span(
        trace_id=(i + 1).to_bytes(16, "big"),
        span_id=(i + 1).to_bytes(8, "big"),
        service_name=f"service-{i}",
        operation_name=f"op-{i}",
        start_time_unix_nano=i,
        duration_nanos=1,
        model_name=f"model-{i}",
        attributes={"request.id": f"req-{i}", "n": i, "shape": "x" * (i % 3)},
        resource_attributes={"k8s.pod.name": f"pod-{i}"},
    )


def test_no_leak_after_100x_capacity_unique_spans() -> None:
    store = MemoryStore(span_capacity=CAP, log_capacity=CAP, metric_capacity=CAP)
    t = store._spans
    for start in range(0, 100 * CAP, 50):
        store.write_batch([_unique_span(i) for i in range(start, start + 50)])
        store.write_logs(
            [
                LogRecord(
                    time_unix_nano=i,
                    service_name=f"s{i}",
                    body=f"b{i}",
                    trace_id=(i + 1).to_bytes(16, "big"),
                )
                for i in range(start, start + 50)
            ]
        )
        store.write_metrics(
            [
                MetricPoint(
                    name=f"m{i}",
                    type=MetricType.GAUGE,
                    service_name="s",
                    time_unix_nano=i,
                    value=1.0,
                )
                for i in range(start, start + 50)
            ]
        )
    store._check()
    assert len(t.traces) == CAP
    assert len(t.svc_live) == CAP and len(t.op_live) == CAP and len(t.model_live) == CAP
    # each live span holds: service, operation, model, request.id and the "shape" string
    assert len(t.strings) <= 5 * CAP
    assert len(t.resources) <= CAP
    assert len(t.codec.shapes) <= 4
    assert len(t.codec.arena) == 3 * CAP
    assert len(t.codec.arena.buf) <= 8 * CAP
    assert len(store._logs.traces) <= CAP + 1 and len(store._logs.strings) <= CAP + 1
    assert len(store._metrics.series) == CAP
    stats = store.stats()
    assert stats.spans.count == CAP and stats.spans.evicted == 99 * CAP
    assert stats.spans.distinct_traces == CAP
    assert stats.spans.index_entries == 4 * CAP
    assert stats.logs.count == CAP and stats.metrics.count == CAP
    assert stats.metrics.index_entries == CAP
    with pytest.raises(TraceNotFound):
        store.get_trace((1).to_bytes(16, "big"))
    assert store.services() == sorted(f"service-{i}" for i in range(99 * CAP, 100 * CAP))


def test_stats_bytes_track_the_data() -> None:
    small = MemoryStore(span_capacity=1000)
    small.write_batch([_unique_span(i) for i in range(10)])
    before = small.stats().spans
    small.write_batch([_unique_span(i) for i in range(10, 900)])
    after = small.stats().spans
    assert after.data_bytes > before.data_bytes
    assert after.index_bytes > before.index_bytes
    assert after.total_bytes == after.data_bytes + after.index_bytes


def test_concurrent_writers_and_readers_never_see_half_a_batch() -> None:
    """8 writers write whole traces as one batch; 8 readers must see each trace whole."""
    store = MemoryStore(span_capacity=50_000, log_capacity=10_000)
    per_trace = 7
    stop = time.monotonic() + 2.0
    errors: list[BaseException] = []
    written = [0] * 8
    reads = [0] * 8

    def writer(w: int) -> None:
        try:
            i = 0
            while time.monotonic() < stop:
                tid = (w << 64 | i | 1 << 100).to_bytes(16, "big")
                batch = [
                    Span(
                        trace_id=tid, span_id=(j + 1).to_bytes(8, "big"), service_name=f"w{w}",
                        operation_name="op", start_time_unix_nano=i * 10 + j, duration_nanos=1,
                    )
                    for j in range(per_trace)
                ]  # fmt: skip
                store.write_batch(batch)
                store.write_logs([LogRecord(time_unix_nano=i, service_name=f"w{w}", trace_id=tid)])
                written[w] += 1
                i += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader(r: int) -> None:
        try:
            while time.monotonic() < stop:
                for s in store.list_spans(SpanFilter(service_name=f"w{r}", limit=20)):
                    spans = store.get_trace(s.trace_id)
                    assert len(spans) == per_trace, len(spans)
                    reads[r] += 1
                store.list_logs(LogFilter(service_name=f"w{r}", limit=5))
                store.stats()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    threads += [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    total = sum(written)
    stats = store.stats()
    assert stats.spans.count == min(total * per_trace, 50_000)
    assert stats.spans.count + stats.spans.evicted == total * per_trace
    assert stats.logs.count + stats.logs.evicted == total
    assert sum(reads) > 0
    store._check()
