"""The conformance data set: a synthetic workload plus hand-made edge cases."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from types import MappingProxyType

from infertrace.model import LogRecord, MetricPoint, Span, SpanEvent, SpanKind, SpanLink, StatusCode
from infertrace.telemetry.filters import SpanFilter
from infertrace.workload import Workload

from .conftest import START_NS, Both

W0 = START_NS + 10_000_000_000
"""Where the workload starts."""
TRACE_A = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ODD_ATTRIBUTES = MappingProxyType(
    {
        "text": "héllo ✓ 'quoted' \"double\" \\back",
        "empty": "",
        "yes": True,
        "no": False,
        "int": 42,
        "negative": -7,
        "big": 2**62 + 1,
        "huge": 10**30,
        "float": 0.1,
        "whole_float": 3.0,
        "exp_float": 1e20,
        "tiny": 1e-7,
        "neg_zero": -0.0,
        "inf": float("inf"),
        "ninf": float("-inf"),
        "bytes": b"\x00\x01\xff",
        "tuple": ("a", 1, 2.5, True, b"\x02"),
        "empty_tuple": (),
        "dollar": "$f",
    }
)


def span(i: int, **kw: object) -> Span:
    """A small span whose fields follow from ``i``, overridable by keyword."""
    fields: dict[str, object] = {
        "trace_id": bytes([1 + i % 7]) * 16,
        "span_id": (1000 + i).to_bytes(8, "big"),
        "service_name": ("api", "vllm", "tgi")[i % 3],
        "operation_name": ("chat", "embed")[i % 2],
        "start_time_unix_nano": START_NS + i * 1_000_000,
        "duration_nanos": 1_000_000 * (1 + i % 11),
    }
    fields.update(kw)
    return Span(**fields)  # type: ignore[arg-type]


def edge_spans() -> list[Span]:
    """Hand-made spans: every attribute kind, ties in time, events, links, resource keys."""
    return [
        span(
            0,
            trace_id=TRACE_A,
            attributes=ODD_ATTRIBUTES,
            resource_attributes={"service.name": "api", "region": "eu", "int": 5},
            kind=SpanKind.SERVER,
            status_code=StatusCode.ERROR,
            status_message="boom",
            events=(SpanEvent("retry", START_NS + 5, {"attempt": 2}),),
            links=(
                SpanLink(bytes([9]) * 16, bytes([8]) * 8, {"rel": "follows"}),
                SpanLink(bytes([7]) * 16, bytes([6]) * 8, {}, "ot=th:8;rv:9b", 0x301),
            ),
            # W3C tracestate, OTLP flags (sampled + parent is remote) and dropped counts
            trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            flags=0x301,
            dropped_attributes_count=3,
            dropped_events_count=1,
            dropped_links_count=2,
        ),
        span(1, trace_id=TRACE_A, parent_span_id=(1000).to_bytes(8, "big"), attributes={"n": 3}),
        # Three spans with the same start time, written in separate batches below.
        span(2, start_time_unix_nano=START_NS + 500, attributes={"n": 3.0}),
        span(3, start_time_unix_nano=START_NS + 500, attributes={"n": "3"}),
        span(4, start_time_unix_nano=START_NS + 500, resource_attributes={"n": 3}),
        span(5, model_name="m-small", input_tokens=10, output_tokens=None, batch_size=2),
        span(6, model_name="m-small", input_tokens=0, output_tokens=7, gpu_utilization=1),
        # flags alone (most SDKs set the has-is-remote bit on every span); every bit set
        span(7, flags=0x100, status_message="", events=()),
        span(8, flags=0xFFFFFFFF, trace_state="k=v"),
        span(9, dropped_events_count=2**31 - 1),
    ]


def span_batches(w: Workload, traces: int = 60) -> list[list[Span]]:
    """The data set's spans, in the batches ``load`` writes them: the edge cases
    (two together, then one batch each: ties in time across batches), then
    ``traces`` workload traces in batches of 97."""
    edges = edge_spans()
    batches = [edges[:2], *([s] for s in edges[2:])]
    spans = w.spans(traces * 6)
    batches += [spans[i : i + 97] for i in range(0, len(spans), 97)]
    return batches


def load(both: Both, traces: int = 60) -> Workload:
    """Write the whole data set, in several batches, to both stores."""
    w = Workload(seed=11, start_ns=W0)
    for batch in span_batches(w, traces):
        both.spans(batch)
    logs = [
        *w.logs(150),
        LogRecord(START_NS + 1, "api", "needle 50% off_sale \\o/", severity_number=13),
        LogRecord(START_NS + 1, "api", "same time, later arrival", trace_id=TRACE_A),
    ]
    both.logs(logs[:100])
    both.logs(logs[100:])
    points: list[MetricPoint] = w.metrics(120)
    both.metrics(points[:60])
    both.metrics(points[60:])
    return w


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
    SpanFilter(status=2),  # type: ignore[arg-type]
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
"""Span searches over the ``load`` data set: every filter field, edge values, limits."""
