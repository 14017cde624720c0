"""Idempotent span ingest: a span delivered again (an OTLP retry, a re-run demo) is stored once.

The first delivery is kept. Every store agrees with the reference, and the
expected count is computed here from the distinct (trace id, span id) pairs.
"""

from __future__ import annotations

import dataclasses

import pytest

from infertrace.model import Span
from infertrace.telemetry.filters import SpanFilter

from .conftest import Both
from .data import span

TRACE = b"\x42" * 16


def _trace(n: int, first: int = 0) -> list[Span]:
    return [span(i, trace_id=TRACE) for i in range(first, first + n)]


def _changed(s: Span) -> Span:
    """The same ids and start, other content: a second delivery that must not win."""
    return dataclasses.replace(s, operation_name="changed", attributes={"late": True})


DELIVERIES: dict[str, list[list[Span]]] = {
    "whole request retried": [_trace(6), _trace(6)],
    "repeated inside one request": [_trace(3) + _trace(3) + _trace(1)],
    "part retried with new spans": [_trace(6), _trace(2, 2) + _trace(2, 6)],
    "trace spread over requests, each retried": [_trace(2), _trace(2), _trace(2, 2), _trace(2, 2)],
    "changed content, same ids": [_trace(4), [_changed(s) for s in _trace(4)]],
    "other traces untouched": [_trace(3), [span(40), span(41)], _trace(3), [span(40)]],
}


@pytest.mark.parametrize("batches", list(DELIVERIES.values()), ids=list(DELIVERIES))
def test_a_span_delivered_again_is_stored_once(both: Both, batches: list[list[Span]]) -> None:
    for batch in batches:
        both.spans(batch)
    first: dict[tuple[bytes, bytes], Span] = {}
    for s in (s for batch in batches for s in batch):
        first.setdefault((s.trace_id, s.span_id), s)
    got = both.same(lambda s: s.list_spans(SpanFilter(limit=10_000)))
    assert len(got) == len(first)
    assert {(s.trace_id, s.span_id): s.operation_name for s in got} == {
        k: s.operation_name for k, s in first.items()
    }
    trace = both.same(lambda s: s.get_trace(TRACE))
    assert len(trace) == len({k for k in first if k[0] == TRACE})
    assert both.store.stats().spans.count == len(first)
