"""The service call graph (Jaeger's dependency links): every store, the same answers.

The graph counts, per (parent service, child service), the spans starting in
the window whose parent span is stored and belongs to another service. The
data below has the shapes that make finding a parent hard: children written
before their parents, a parent outside the window, orphans whose parent was
never stored, same-service calls (not counted), and a fan-out wider than the
memory store's chain walk (``MAX_STEPS``) in both directions.
"""

from __future__ import annotations

from typing import Any

import pytest

from infertrace.model import Span, SpanKind

from .conftest import START_NS, Both
from .data import load

MS = 1_000_000
T0 = START_NS + 3_600 * 1_000_000_000
"""Where the call-graph traces start (after the rest of the data set)."""


def _span(
    trace: int, n: int, parent: int | None, service: str, at_ms: int, op: str = "call"
) -> Span:
    return Span(
        trace_id=(0xC0DE0000 + trace).to_bytes(16, "big"),
        span_id=(trace * 10_000 + n).to_bytes(8, "big"),
        parent_span_id=b"" if parent is None else (trace * 10_000 + parent).to_bytes(8, "big"),
        service_name=service,
        operation_name=op,
        start_time_unix_nano=T0 + at_ms * MS,
        duration_nanos=MS,
        kind=SpanKind.SERVER,
    )


def request(trace: int, at_ms: int) -> list[Span]:
    """gateway -> gateway (client) -> vllm -> vllm x2 -> redis; newest child first."""
    spans = [
        _span(trace, 1, None, "gateway", at_ms, "POST /chat"),
        _span(trace, 2, 1, "gateway", at_ms + 1, "call vllm"),
        _span(trace, 3, 2, "vllm", at_ms + 2, "chat"),
        _span(trace, 4, 3, "vllm", at_ms + 3, "prefill"),
        _span(trace, 5, 3, "vllm", at_ms + 4, "decode"),
        _span(trace, 6, 5, "redis", at_ms + 5, "GET"),
    ]
    return spans[::-1]  # as OTLP exporters send them: a span when it ends


FAN_OUT = 150
"""Children of one span: more than twice the memory store's chain walk."""


def call_graph() -> list[list[Span]]:
    """The batches to write, in order."""
    batches = [request(t, t * 10) for t in range(1, 9)]
    # A parent one minute before the window below, its child inside.
    batches.append([_span(20, 1, None, "cron", -60_000), _span(20, 2, 1, "etl", 5)])
    # Orphans: the parent was never stored (sampled out, or still running).
    batches.append([_span(21, 2, 1, "etl", 7), _span(22, 5, 4, "vllm", 8)])
    # Fan-out: half the children before the parent, half after, in small batches.
    kids = [_span(30, n, 1, "worker", 20 + n % 50) for n in range(2, 2 + FAN_OUT)]
    half = FAN_OUT // 2
    batches += [kids[i : min(i + 10, half)] for i in range(0, half, 10)]
    batches.append([_span(30, 1, None, "scheduler", 19)])
    batches += [kids[i : i + 10] for i in range(half, FAN_OUT, 10)]
    return batches


EXPECTED_ALL = [
    ("cron", "etl", 1),
    ("gateway", "vllm", 8),
    ("scheduler", "worker", FAN_OUT),
    ("vllm", "redis", 8),
]
"""Worked out by hand from :func:`call_graph` over the whole time line."""


def write(store: Any) -> None:
    for batch in call_graph():
        store.write_batch(batch)


WINDOWS = [
    (0, 2**63 - 1),
    (T0, T0 + 100 * MS),
    (T0 + 12 * MS, T0 + 45 * MS),  # from trace 1's vllm span to trace 4's
    (T0 + 13 * MS, T0 + 13 * MS),  # empty
    (T0 + 15 * MS, T0 + 14 * MS),  # reversed: empty
    (T0 - 61_000 * MS, T0),  # only the cron parent starts here: no call
    (START_NS, T0),  # the rest of the data set only
]


@pytest.mark.parametrize(("lo", "hi"), WINDOWS)
def test_dependencies_like_the_oracle(both: Both, lo: int, hi: int) -> None:
    load(both)
    for batch in call_graph():
        both.spans(batch)
    both.same(lambda s: s.dependencies(lo, hi))


def test_dependencies_by_hand(each_store: Any) -> None:
    write(each_store)
    assert each_store.dependencies(0, 2**63 - 1) == EXPECTED_ALL


@pytest.mark.parametrize(
    ("lo_ms", "hi_ms", "expected"),
    [
        # trace 1: gateway->vllm at 12 ms, vllm->redis at 15 ms (child start times)
        (12, 13, [("gateway", "vllm", 1)]),
        (13, 15, []),
        (15, 16, [("vllm", "redis", 1)]),
        # the etl child at 5 ms counts although its cron parent starts a minute earlier
        (5, 6, [("cron", "etl", 1)]),
        (-60_000, 5, []),
    ],
)
def test_window_holds_the_child_start(
    each_store: Any, lo_ms: int, hi_ms: int, expected: list[tuple[str, str, int]]
) -> None:
    write(each_store)
    assert each_store.dependencies(T0 + lo_ms * MS, T0 + hi_ms * MS) == expected


def test_empty_store_has_no_dependencies(each_store: Any) -> None:
    assert each_store.dependencies(0, 2**63 - 1) == []
