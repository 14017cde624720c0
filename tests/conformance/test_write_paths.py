"""The record path and the batch path store the same thing.

A span written with ``write()`` one at a time, the same span inside a
``write_batch()`` of records, and inside a ``write_batch()`` of a column batch
(what the OTLP decoders hand the store) must be indistinguishable afterwards: every query answers
the same, exactly, on the same backend; and both answer as the oracle does.
(Logs and metric points have only batch writes: see ``telemetry/protocols.py``.)
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from operator import methodcaller
from typing import Any

import pytest

from infertrace.model import Span
from infertrace.telemetry.analytics import GroupBy, SeriesMetric
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.reference import ReferenceStore
from infertrace.workload import Workload

from .conftest import START_NS, Clock, assert_close
from .data import SPAN_FILTERS, TRACE_A, W0, span, span_batches

HOUR = 3_600 * 10**9


class Paths:
    """One backend filled three times, by ``write``, by ``write_batch`` of record lists
    and by ``write_batch`` of column batches (the decoders' path), plus the oracle."""

    def __init__(self, new_store: Callable[[], Any], oracle: ReferenceStore) -> None:
        self.records = new_store()
        self.batches = new_store()
        self.columns = new_store()
        self.oracle = oracle

    def write(self, batches: list[list[Span]]) -> None:
        for s in chain.from_iterable(batches):
            self.records.write(s)
        for batch in batches:
            self.batches.write_batch(batch)
            self.columns.write_batch(SpanBatch.of(batch))
            self.oracle.write_batch(batch)

    def same(self, ask: Callable[[Any], Any]) -> Any:
        """Every path answers ``ask`` identically, and as the oracle does."""
        by_record, by_batch, by_columns = ask(self.records), ask(self.batches), ask(self.columns)
        assert by_record == by_batch == by_columns
        assert_close(by_batch, ask(self.oracle))
        return by_record


@pytest.fixture
def paths(new_store: Callable[[], Any], oracle: ReferenceStore) -> Paths:
    return Paths(new_store, oracle)


def test_span_queries_answer_the_same(paths: Paths) -> None:
    paths.write(span_batches(Workload(seed=11, start_ns=W0)))
    for flt in SPAN_FILTERS:
        paths.same(methodcaller("list_spans", flt))
    # Ties in start time: the newest arrival first, whichever path it came by.
    tied = SpanFilter(since=START_NS + 500, until=START_NS + 501)
    ties = paths.same(lambda s: s.list_spans(tied))
    assert [x.span_id[-1] for x in ties] == [1004 % 256, 1003 % 256, 1002 % 256]
    traces = {x.trace_id for x in paths.oracle.list_spans(SpanFilter(limit=10_000))}
    assert TRACE_A in traces and len(traces) > 50
    for t in sorted(traces):
        paths.same(methodcaller("get_trace", t))
    paths.same(lambda s: s.services())
    for svc in paths.oracle.services():
        paths.same(methodcaller("operations", svc))
    paths.same(lambda s: s.models())
    counts = paths.same(lambda s: (s.stats().spans.count, s.stats().spans.evicted))
    assert counts == (sum(len(b) for b in span_batches(Workload(seed=11, start_ns=W0))), 0)


def test_analytics_answer_the_same(paths: Paths) -> None:
    paths.write(span_batches(Workload(seed=11, start_ns=W0), traces=120))
    for group_by in GroupBy:
        rows = paths.same(methodcaller("model_analytics", group_by=group_by))
        assert rows
        paths.same(methodcaller("model_analytics", W0, W0 + 150_000_000, group_by))
    for metric in SeriesMetric:
        paths.same(methodcaller("timeseries", metric, 50_000_000))
        paths.same(methodcaller("leaderboard", metric, limit=10))


def test_purge_sees_the_same_times(paths: Paths, clock: Clock) -> None:
    """Records stamped with the clock's time when written (received == record time),
    as in ``test_maintenance``: the two paths keep and drop the same spans."""
    t0 = clock.now
    paths.write([[span(i, start_time_unix_nano=t0 + i) for i in range(b, b + 3)] for b in (0, 3)])
    clock.now = t0 + 2 * HOUR
    paths.write([[span(i, start_time_unix_nano=clock.now + i)] for i in range(10, 14)])
    clock.now += HOUR
    assert paths.same(lambda s: s.purge_older_than(2.5 * 3600)) == 6
    kept = paths.same(lambda s: s.list_spans(SpanFilter(limit=100)))
    assert [x.span_id for x in kept] == [span(i).span_id for i in (13, 12, 11, 10)]
