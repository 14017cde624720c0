from __future__ import annotations

from collections.abc import Sequence

import pytest

from infertrace.collector.body import BodyError, Format
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.otlp_json import dumps
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.errors import InvalidRecord, StoreOverloaded
from infertrace.model import Span
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.reference import ReferenceStore
from infertrace.workload import Workload
from tests.collector.helpers import OverloadedStore


class PickyStore(ReferenceStore):
    """Refuses (atomically) any batch holding a span of operation 'decode'."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write_batch(self, spans: Sequence[Span]) -> None:
        self.writes += 1
        for i, span in enumerate(spans):
            if span.operation_name == "decode":
                raise InvalidRecord(i, "decode spans are not welcome here")
        super().write_batch(spans)


@pytest.mark.parametrize("store_type", [MemoryStore, ReferenceStore])
def test_one_atomic_write_per_request(store_type: type) -> None:
    store = store_type()
    spans = Workload(seed=1).spans(60)
    outcome = Pipeline(store).export(Signal.TRACES, encode_spans(spans).SerializeToString())
    assert (outcome.accepted, outcome.rejected, outcome.message) == (60, 0, "")
    assert store.stats().spans.count == 60
    assert outcome.response(Signal.TRACES).HasField("partial_success") is False


def test_records_the_store_refuses_are_dropped_and_the_rest_written() -> None:
    store = PickyStore()
    spans = Workload(seed=2).spans(18)  # three traces, one decode span each
    pipeline = Pipeline(store)
    outcome = pipeline.export(Signal.TRACES, encode_spans(spans).SerializeToString())
    assert (outcome.accepted, outcome.rejected) == (15, 3)
    assert "decode spans are not welcome here" in outcome.message
    assert store.stats().spans.count == 15 and store.writes == 4
    response = outcome.response(Signal.TRACES)
    assert response.partial_success.rejected_spans == 3  # type: ignore[attr-defined]


def test_store_overloaded_propagates_and_nothing_is_counted() -> None:
    pipeline = Pipeline(OverloadedStore(retry_after=3))
    with pytest.raises(StoreOverloaded) as info:
        pipeline.export(Signal.TRACES, encode_spans(Workload().spans(6)).SerializeToString())
    assert info.value.retry_after == 3


@pytest.mark.parametrize(
    ("body", "fmt", "message"),
    [
        (b"\x0a\x05\x01", Format.PROTOBUF, "not a valid protobuf ExportTraceServiceRequest"),
        (b"{", Format.JSON, "not valid JSON"),
    ],
)
def test_malformed_bodies_raise_body_error(body: bytes, fmt: Format, message: str) -> None:
    with pytest.raises(BodyError, match=message):
        Pipeline(MemoryStore()).export(Signal.TRACES, body, fmt)


def test_json_and_protobuf_give_the_same_records() -> None:
    request = encode_spans(Workload(seed=3).spans(30))
    a, b = ReferenceStore(), ReferenceStore()
    Pipeline(a).export(Signal.TRACES, request.SerializeToString())
    Pipeline(b).export(Signal.TRACES, dumps(request), Format.JSON)
    everything = SpanFilter(limit=1000)
    assert a.list_spans(everything) == b.list_spans(everything)
    assert len(a.list_spans(everything)) == 30


def test_metrics_count_accepted_and_rejected() -> None:
    pipeline = Pipeline(PickyStore())
    pipeline.export(Signal.TRACES, encode_spans(Workload(seed=2).spans(12)).SerializeToString())
    registry = pipeline.metrics.registry
    assert registry.get_sample_value("infertrace_accepted_items_total", {"signal": "spans"}) == 10
    assert registry.get_sample_value("infertrace_rejected_items_total", {"signal": "spans"}) == 2
    assert registry.get_sample_value("infertrace_store_records", {"signal": "spans"}) == 10


def test_json_and_protobuf_give_the_same_logs_and_metric_points() -> None:
    workload = Workload(seed=5)
    logs, points = encode_logs(workload.logs(40)), encode_metrics(workload.metrics(40))
    a, b = ReferenceStore(), ReferenceStore()
    for store, fmt in ((a, Format.PROTOBUF), (b, Format.JSON)):
        pipeline = Pipeline(store)
        for signal, request in ((Signal.LOGS, logs), (Signal.METRICS, points)):
            body = dumps(request) if fmt is Format.JSON else request.SerializeToString()
            assert pipeline.export(signal, body, fmt).accepted == 40
    assert a.list_logs(LogFilter(limit=1000)) == b.list_logs(LogFilter(limit=1000))
    everything = MetricFilter(limit=1000)
    assert a.list_metric_points(everything) == b.list_metric_points(everything)
    assert len(b.list_metric_points(everything)) == 40
