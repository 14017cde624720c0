"""Span timings (the Jaeger Monitor tab's columns): every store, the oracle's rows.

The rows come in no order, so they are compared sorted.
"""

from __future__ import annotations

from typing import Any

import pytest

from infertrace.model import SpanKind, StatusCode

from .conftest import START_NS, Both
from .data import W0, load, span
from .test_dependencies import T0, call_graph

ALL_KINDS = list(SpanKind)


def rows(store: Any, service: str, kinds: list[SpanKind], lo: int, hi: int) -> list[Any]:
    t = store.span_timings(service, kinds, lo, hi)
    n = len(t.start_unix_nano)
    assert len(t.duration_nanos) == len(t.error) == len(t.operation) == n
    return sorted(zip(t.start_unix_nano, t.duration_nanos, t.error, t.operation, strict=True))


@pytest.mark.parametrize(
    ("service", "kinds", "lo", "hi"),
    [
        ("vllm-llama-8b", [SpanKind.SERVER], 0, 2**63 - 1),
        ("vllm-llama-8b", ALL_KINDS, W0, W0 + 200_000_000),
        ("vllm-llama-70b", [SpanKind.INTERNAL, SpanKind.CLIENT], 0, 2**63 - 1),
        ("api", ALL_KINDS, START_NS, START_NS + 5_000_000),
        ("worker", [SpanKind.SERVER], T0, T0 + 40_000_000),
        ("worker", [], 0, 2**63 - 1),
        ("nope", ALL_KINDS, 0, 2**63 - 1),
        ("gateway", ALL_KINDS, T0 + 5_000_000, T0 + 5_000_000),
    ],
)
def test_span_timings_like_the_oracle(
    both: Both, service: str, kinds: list[SpanKind], lo: int, hi: int
) -> None:
    load(both)
    for batch in call_graph():
        both.spans(batch)
    both.same(lambda s: rows(s, service, kinds, lo, hi))


def test_span_timings_by_hand(each_store: Any) -> None:
    each_store.write_batch(
        [
            span(1, service_name="s", kind=SpanKind.SERVER, status_code=StatusCode.ERROR),
            span(2, service_name="s", kind=SpanKind.CLIENT),
            span(3, service_name="s", kind=SpanKind.SERVER, operation_name="other"),
            span(4, service_name="t", kind=SpanKind.SERVER),
        ]
    )
    ms = 1_000_000
    assert rows(each_store, "s", [SpanKind.SERVER], 0, 2**63 - 1) == [
        (START_NS + 1 * ms, 2 * ms, True, "embed"),
        (START_NS + 3 * ms, 4 * ms, False, "other"),
    ]
    assert rows(each_store, "s", [SpanKind.SERVER], START_NS + 2 * ms, START_NS + 3 * ms) == []
