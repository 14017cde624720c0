"""Span writes, trace lookup, every span filter, services/operations/models."""

from __future__ import annotations

import math
from operator import methodcaller
from typing import Any

import pytest

from infertrace.errors import InvalidFilter, TraceNotFound
from infertrace.telemetry.filters import SpanFilter

from .conftest import START_NS, Both
from .data import ODD_ATTRIBUTES, SPAN_FILTERS, TRACE_A, W0, load, span


def test_get_trace_returns_spans_oldest_first(both: Both) -> None:
    w = load(both)
    got = both.same(lambda s: s.get_trace(TRACE_A))
    assert [x.span_id for x in got] == [(1000).to_bytes(8, "big"), (1001).to_bytes(8, "big")]
    for t in {x.trace_id for x in both.oracle.list_spans(SpanFilter(limit=10_000))}:
        both.same(methodcaller("get_trace", t))
        both.same(methodcaller("get_trace", t.hex()))
    assert w.now_ns > W0


def test_odd_attributes_round_trip_exactly(both: Both) -> None:
    load(both)
    for store in (both.store, both.oracle):
        first = store.get_trace(TRACE_A)[0]
        assert dict(first.attributes) == dict(ODD_ATTRIBUTES)
        for key, value in ODD_ATTRIBUTES.items():
            assert type(first.attributes[key]) is type(value), key
        assert math.copysign(1.0, first.attributes["inf"]) == 1.0  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            first.attributes["new"] = 1  # type: ignore[index]


@pytest.mark.parametrize("trace_id", ["ff" * 16, b"\xee" * 16, "not-hex", "abc", b"\x01"])
def test_unknown_or_malformed_trace_id_is_not_found(both: Both, trace_id: Any) -> None:
    load(both)
    for store in (both.store, both.oracle):
        with pytest.raises(TraceNotFound):
            store.get_trace(trace_id)


@pytest.mark.parametrize("flt", SPAN_FILTERS, ids=[repr(f)[11:70] for f in SPAN_FILTERS])
def test_list_spans_filters(both: Both, flt: SpanFilter) -> None:
    load(both)
    both.same(lambda s: s.list_spans(flt))


def test_ties_in_time_newest_arrival_first(both: Both) -> None:
    load(both)
    got = both.same(lambda s: s.list_spans(SpanFilter(since=START_NS + 500, until=START_NS + 501)))
    assert [x.span_id[-1] for x in got] == [(1004) % 256, (1003) % 256, (1002) % 256]


@pytest.mark.parametrize(
    "flt",
    [
        SpanFilter(limit=0),
        SpanFilter(limit=-1),
        SpanFilter(min_duration_ns=-1),
        SpanFilter(status=7),  # type: ignore[arg-type]
        SpanFilter(since="yesterday"),  # type: ignore[arg-type]
        SpanFilter(attributes={"": "x"}),
        SpanFilter(attributes={"k": b"raw"}),
    ],
)
def test_bad_span_filters_are_refused(each_store: Any, flt: SpanFilter) -> None:
    with pytest.raises(InvalidFilter):
        each_store.list_spans(flt)


def test_services_operations_models(both: Both) -> None:
    load(both)
    assert both.same(lambda s: s.services())
    for svc in [*both.oracle.services(), "nope", "a'b"]:
        both.same(methodcaller("operations", svc))
    assert "m-small" in both.same(lambda s: s.models())


def test_empty_store_answers_empty(each_store: Any) -> None:
    s = each_store
    assert s.list_spans(SpanFilter()) == []
    assert s.services() == [] and s.models() == [] and s.operations("x") == []
    with pytest.raises(TraceNotFound):
        s.get_trace("ab" * 16)


def test_single_write_and_large_batch(both: Both) -> None:
    both.store.write(span(1))
    both.oracle.write(span(1))
    batch = [span(i, trace_id=bytes([i % 250 + 1]) * 16) for i in range(2, 3000)]
    both.spans(batch)
    both.same(lambda s: s.list_spans(SpanFilter(limit=10_000)))
    both.same(lambda s: s.get_trace(bytes([3]) * 16))


@pytest.mark.parametrize("source", ["span", "resource", "pod", "config", None])
def test_model_source_round_trips(each_store: Any, source: str | None) -> None:
    model = None if source is None else "m"
    written = [span(0, model_name=model, model_source=source, input_tokens=3), span(1)]
    each_store.write_batch(written)
    got = sorted(each_store.list_spans(SpanFilter(limit=10)), key=lambda s: s.span_id)
    assert [(s.model_name, s.model_source) for s in got] == [(model, source), (None, None)]
    assert got == written


def test_model_source_round_trips_from_the_collector(each_store: Any) -> None:
    from infertrace.collector.models import ModelResolver
    from infertrace.collector.otlp.encode import encode_spans
    from infertrace.collector.pipeline import Pipeline, Signal

    resource = {"service.name": "vllm", "service.instance.id": "vllm-0"}
    sent = [
        span(0, service_name="vllm", input_tokens=5, resource_attributes=resource),
        span(1, service_name="vllm", model_name="named", resource_attributes=resource),
        span(2, service_name="vllm", resource_attributes=resource),  # no inference data
    ]
    pipeline = Pipeline(each_store, models=ModelResolver([("vllm", "configured")]))
    body = encode_spans(sent[:1]).SerializeToString()
    assert pipeline.export(Signal.TRACES, body).accepted == 1  # nothing known yet: config
    body = encode_spans(sent).SerializeToString()
    pipeline.export(Signal.TRACES, body)  # the same span again: stored once, as first
    got = sorted(each_store.list_spans(SpanFilter(limit=10)), key=lambda s: s.span_id)
    assert [(s.model_name, s.model_source) for s in got] == [
        ("configured", "config"),
        ("named", "span"),
        (None, None),
    ]
