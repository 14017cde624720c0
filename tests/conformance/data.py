"""The conformance data set: a synthetic workload plus hand-made edge cases."""

from __future__ import annotations

from types import MappingProxyType

from infertrace.model import LogRecord, MetricPoint, Span, SpanEvent, SpanKind, SpanLink, StatusCode
from infertrace.workload import Workload

from .conftest import START_NS, Both

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
            links=(SpanLink(bytes([9]) * 16, bytes([8]) * 8, {"rel": "follows"}),),
        ),
        span(1, trace_id=TRACE_A, parent_span_id=(1000).to_bytes(8, "big"), attributes={"n": 3}),
        # Three spans with the same start time, written in separate batches below.
        span(2, start_time_unix_nano=START_NS + 500, attributes={"n": 3.0}),
        span(3, start_time_unix_nano=START_NS + 500, attributes={"n": "3"}),
        span(4, start_time_unix_nano=START_NS + 500, resource_attributes={"n": 3}),
        span(5, model_name="m-small", input_tokens=10, output_tokens=None, batch_size=2),
        span(6, model_name="m-small", input_tokens=0, output_tokens=7, gpu_utilization=1),
    ]


def load(both: Both, traces: int = 60) -> Workload:
    """Write the whole data set, in several batches, to both stores."""
    edges = edge_spans()
    both.spans(edges[:2])
    for s in edges[2:]:
        both.spans([s])
    w = Workload(seed=11, start_ns=START_NS + 10_000_000_000)
    spans = w.spans(traces * 6)
    for i in range(0, len(spans), 97):
        both.spans(spans[i : i + 97])
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
