"""Span writes, trace lookup, every span filter, services/operations/models."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from infertrace.errors import InvalidFilter, TraceNotFound
from infertrace.model import StatusCode
from infertrace.telemetry.filters import SpanFilter

from .conftest import START_NS, Both
from .data import ODD_ATTRIBUTES, TRACE_A, load, span

W0 = START_NS + 10_000_000_000  # where the workload starts


def test_get_trace_returns_spans_oldest_first(both: Both) -> None:
    w = load(both)
    got = both.same(lambda s: s.get_trace(TRACE_A))
    assert [x.span_id for x in got] == [(1000).to_bytes(8, "big"), (1001).to_bytes(8, "big")]
    for t in {x.trace_id for x in both.oracle.list_spans(SpanFilter(limit=10_000))}:
        both.same(lambda s, t=t: s.get_trace(t))
        both.same(lambda s, t=t: s.get_trace(t.hex()))
    assert w.now_ns > W0


def test_odd_attributes_round_trip_exactly(both: Both) -> None:
    load(both)
    first = both.store.get_trace(TRACE_A)[0]
    assert dict(first.attributes) == dict(ODD_ATTRIBUTES)
    for key, value in ODD_ATTRIBUTES.items():
        assert type(first.attributes[key]) is type(value), key
    assert math.copysign(1.0, first.attributes["inf"]) == 1.0
    with pytest.raises(TypeError):
        first.attributes["new"] = 1  # type: ignore[index]


@pytest.mark.parametrize("trace_id", ["ff" * 16, b"\xee" * 16, "not-hex", "abc", b"\x01"])
def test_unknown_or_malformed_trace_id_is_not_found(both: Both, trace_id: Any) -> None:
    load(both)
    with pytest.raises(TraceNotFound):
        both.store.get_trace(trace_id)


SPAN_FILTERS = [
    SpanFilter(),
    SpanFilter(limit=1),
    SpanFilter(limit=7),
    SpanFilter(limit=10_000),
    SpanFilter(service_name="api", limit=10_000),
    SpanFilter(service_name="vllm-llama-8b", limit=10_000),
    SpanFilter(service_name="nope"),
    SpanFilter(model_name="m-small"),
    SpanFilter(model_name="meta-llama/Llama-3.1-70B-Instruct", limit=10_000),
    SpanFilter(operation_name="decode", limit=10_000),
    SpanFilter(service_name="tgi-mistral-7b", operation_name="prefill", limit=10_000),
    SpanFilter(since=START_NS + 500, until=START_NS + 501),
    SpanFilter(since=START_NS + 501, limit=10_000),
    SpanFilter(until=START_NS + 500),
    SpanFilter(since=W0, until=W0 + 200_000_000, limit=10_000),
    SpanFilter(since=datetime.fromtimestamp(1_700_000_010, tz=UTC), limit=10_000),
    SpanFilter(since=datetime(2023, 11, 14, 22, 13, 20), until=START_NS + 3_000_000),
    SpanFilter(since=0, until=2**70, limit=10_000),
    SpanFilter(since=-(2**70)),
    SpanFilter(since=2**64),
    SpanFilter(until=0),
    SpanFilter(since=START_NS + 5, until=START_NS + 5),
    SpanFilter(min_duration_ns=300_000_000, limit=10_000),
    SpanFilter(max_duration_ns=1_000_000, limit=10_000),
    SpanFilter(min_duration_ns=5_000_000, max_duration_ns=5_000_000, limit=10_000),
    SpanFilter(min_duration_ns=2**64),
    SpanFilter(max_duration_ns=2**64, limit=10_000),
    SpanFilter(status=StatusCode.ERROR, limit=10_000),
    SpanFilter(status=StatusCode.OK, limit=50),
    SpanFilter(status=StatusCode.UNSET, limit=10_000),
    SpanFilter(status=2),
    SpanFilter(attributes={"n": 3}),
    SpanFilter(attributes={"n": 3.0}),
    SpanFilter(attributes={"n": "3"}),
    SpanFilter(attributes={"n": True}),
    SpanFilter(attributes={"region": "eu"}),
    SpanFilter(attributes={"int": 42}),
    SpanFilter(attributes={"int": 42.0}),
    SpanFilter(attributes={"int": 5}),
    SpanFilter(attributes={"big": 2**62 + 1}),
    SpanFilter(attributes={"big": float(2**62)}),
    SpanFilter(attributes={"huge": 1e30}),
    SpanFilter(attributes={"huge": 10**30}),
    SpanFilter(attributes={"float": 0.1}),
    SpanFilter(attributes={"whole_float": 3}),
    SpanFilter(attributes={"exp_float": 10**20}),
    SpanFilter(attributes={"exp_float": 1e20}),
    SpanFilter(attributes={"tiny": 1e-7}),
    SpanFilter(attributes={"neg_zero": 0}),
    SpanFilter(attributes={"inf": math.inf}),
    SpanFilter(attributes={"ninf": -math.inf}),
    SpanFilter(attributes={"inf": math.nan}),
    SpanFilter(attributes={"yes": True}),
    SpanFilter(attributes={"yes": 1}),
    SpanFilter(attributes={"no": False}),
    SpanFilter(attributes={"no": 0}),
    SpanFilter(attributes={"empty": ""}),
    SpanFilter(attributes={"bytes": "AAH/"}),
    SpanFilter(attributes={"tuple": "a"}),
    SpanFilter(attributes={"dollar": "$f"}),
    SpanFilter(attributes={"text": "héllo ✓ 'quoted' \"double\" \\back"}),
    SpanFilter(attributes={"service.name": "api", "region": "eu"}),
    SpanFilter(attributes={"k8s.pod.name": "vllm-llama-8b-01"}, limit=10_000),
    SpanFilter(attributes={"gen_ai.request.max_tokens": 512}, limit=10_000),
    SpanFilter(attributes={"gen_ai.request.temperature": 0.7}, limit=10_000),
    SpanFilter(attributes={"engine.stage": "decode"}, service_name="vllm-qwen-14b"),
    SpanFilter(attributes={"missing": "x"}),
    SpanFilter(
        service_name="vllm-llama-70b",
        model_name="meta-llama/Llama-3.1-70B-Instruct",
        since=W0,
        until=W0 + 10**12,
        min_duration_ns=1,
        status=StatusCode.OK,
        attributes={"gen_ai.system": "vllm"},
        limit=5,
    ),
]


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
        SpanFilter(attributes={"k": b"raw"}),  # type: ignore[dict-item]
    ],
)
def test_bad_span_filters_are_refused(store: Any, flt: SpanFilter) -> None:
    with pytest.raises(InvalidFilter):
        store.list_spans(flt)


def test_services_operations_models(both: Both) -> None:
    load(both)
    assert both.same(lambda s: s.services())
    for svc in [*both.oracle.services(), "nope", "a'b"]:
        both.same(lambda s, svc=svc: s.operations(svc))
    assert "m-small" in both.same(lambda s: s.models())


def test_empty_store_answers_empty(store: Any) -> None:
    assert store.list_spans(SpanFilter()) == []
    assert store.services() == [] and store.models() == [] and store.operations("x") == []
    with pytest.raises(TraceNotFound):
        store.get_trace("ab" * 16)


def test_single_write_and_large_batch(both: Both) -> None:
    both.store.write(span(1))
    both.oracle.write(span(1))
    batch = [span(i, trace_id=bytes([i % 250 + 1]) * 16) for i in range(2, 3000)]
    both.spans(batch)
    both.same(lambda s: s.list_spans(SpanFilter(limit=10_000)))
    both.same(lambda s: s.get_trace(bytes([3]) * 16))
