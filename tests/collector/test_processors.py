"""The pipeline's processors: they see what was stored, and cannot fail a request."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from infertrace.collector.body import Format
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.otlp_json import dumps
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.collector.processors import BaseProcessor, Processor
from infertrace.errors import InvalidRecord
from infertrace.model import Attributes, LogRecord, MetricPoint, Span
from infertrace.telemetry.reference import ReferenceStore
from infertrace.workload import Workload


class Recorder(BaseProcessor):
    """Keeps every batch it is handed."""

    def __init__(self) -> None:
        self.spans: list[list[Span]] = []
        self.logs: list[list[LogRecord]] = []
        self.points: list[list[MetricPoint]] = []
        self.resources: list[list[Attributes]] = []
        self.shutdowns = 0

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        self.spans.append(list(spans))
        self.resources.append(list(resources))

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        self.logs.append(list(records))
        self.resources.append(list(resources))

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        self.points.append(list(points))
        self.resources.append(list(resources))

    def shutdown(self) -> None:
        self.shutdowns += 1


class Broken(BaseProcessor):
    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        raise RuntimeError("processor bug")

    def shutdown(self) -> None:
        raise RuntimeError("shutdown bug")


class CountingStore(ReferenceStore):
    """Counts write calls; refuses (all at once, naming each) spans of operation 'decode'."""

    def __init__(self, refuse: str | None = None) -> None:
        super().__init__()
        self.writes = 0
        self.refuse = refuse

    def write_batch(self, spans: Sequence[Span]) -> None:
        self.writes += 1
        bad = [(i, "refused") for i, s in enumerate(spans) if s.operation_name == self.refuse]
        if bad:
            raise InvalidRecord(bad[0][0], bad[0][1], bad)
        super().write_batch(spans)


def _with_bad_spans(spans: list[Span], every: int) -> tuple[bytes, int]:
    """The request of ``spans`` with every ``every``-th span's name emptied, and how many."""
    request = encode_spans(spans)
    bad = 0
    n = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if n % every == 0:
                    span.name = ""
                    bad += 1
                n += 1
    return request.SerializeToString(), bad


def test_a_processor_satisfies_the_protocol() -> None:
    assert isinstance(Recorder(), Processor)
    assert isinstance(BaseProcessor(), Processor)


def test_processors_see_every_stored_batch_with_its_resources() -> None:
    store, recorder = ReferenceStore(), Recorder()
    pipeline = Pipeline(store, processors=[recorder])
    workload = Workload(seed=4)
    spans, logs, points = workload.spans(40), workload.logs(30), workload.metrics(20)
    pipeline.export(Signal.TRACES, encode_spans(spans).SerializeToString())
    pipeline.export(Signal.LOGS, encode_logs(logs).SerializeToString())
    pipeline.export(Signal.METRICS, encode_metrics(points).SerializeToString())
    assert [len(b) for b in recorder.spans] == [40]
    assert [len(b) for b in recorder.logs] == [30]
    assert [len(b) for b in recorder.points] == [20]
    batches: list[Sequence[Span | LogRecord | MetricPoint]] = [
        *recorder.spans,
        *recorder.logs,
        *recorder.points,
    ]
    for batch, resources in zip(batches, recorder.resources, strict=True):
        maps = {id(r.resource_attributes): r.resource_attributes for r in batch}
        assert sorted(map(id, resources)) == sorted(maps)  # the very maps the records share
        assert len(resources) > 1  # the workload has several pods


def test_processors_never_see_a_rejected_record() -> None:
    store, recorder = CountingStore(refuse="decode"), Recorder()
    spans = Workload(seed=5).spans(36)
    body, bad = _with_bad_spans(spans, every=5)
    outcome = Pipeline(store, processors=[recorder]).export(Signal.TRACES, body)
    assert outcome.rejected > bad  # the decoder's rejections, then the store's
    assert store.writes == 2  # the store named all its refusals at once
    (seen,) = recorder.spans
    assert len(seen) == outcome.accepted == store.stats().spans.count
    assert all(s.operation_name and s.operation_name != "decode" for s in seen)
    kept = {id(s.resource_attributes) for s in seen}
    assert {id(r) for r in recorder.resources[0]} == kept


def test_k_bad_records_cost_one_write() -> None:
    store = CountingStore()
    body, bad = _with_bad_spans(Workload(seed=6).spans(50), every=3)
    outcome = Pipeline(store).export(Signal.TRACES, body)
    assert bad == 17 and outcome.rejected == bad and outcome.accepted == 50 - bad
    assert store.writes == 1


def test_records_the_store_refuses_cost_one_more_write_not_one_each() -> None:
    store = CountingStore(refuse="decode")
    spans = Workload(seed=2).spans(18)
    outcome = Pipeline(store).export(Signal.TRACES, encode_spans(spans).SerializeToString())
    assert outcome.rejected == 3 and store.writes == 2


def test_nothing_stored_calls_no_processor() -> None:
    recorder = Recorder()
    body, _ = _with_bad_spans(Workload(seed=7).spans(4), every=1)
    outcome = Pipeline(ReferenceStore(), processors=[recorder]).export(Signal.TRACES, body)
    assert outcome.accepted == 0 and recorder.spans == []


def test_a_failing_processor_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    store, recorder = ReferenceStore(), Recorder()
    pipeline = Pipeline(store, processors=[Broken(), recorder])
    w = Workload(seed=8)  # three requests of distinct spans (a resent span is stored once)
    bodies = [encode_spans(w.spans(10)).SerializeToString() for _ in range(3)]
    with caplog.at_level(logging.ERROR, "infertrace.collector.pipeline"):
        for body in bodies:
            assert pipeline.export(Signal.TRACES, body).accepted == 10
    assert len(recorder.spans) == 3  # the processors after the broken one still run
    assert store.stats().spans.count == 30
    registry = pipeline.metrics.registry
    errors = registry.get_sample_value("infertrace_processor_errors_total", {"processor": "Broken"})
    assert errors == 3
    assert len(caplog.records) == 2  # failures 1 and 2 logged, then 4, 8, ...: no flood
    assert "processor bug" in caplog.text


def test_shutdown_reaches_every_processor_once() -> None:
    recorder = Recorder()
    pipeline = Pipeline(ReferenceStore(), processors=[Broken(), recorder])
    pipeline.shutdown()
    pipeline.shutdown()
    assert recorder.shutdowns == 1


def test_json_requests_reach_the_processors_too() -> None:
    recorder = Recorder()
    request = encode_spans(Workload(seed=9).spans(12))
    Pipeline(ReferenceStore(), processors=[recorder]).export(
        Signal.TRACES, dumps(request), Format.JSON
    )
    assert [len(b) for b in recorder.spans] == [12]
