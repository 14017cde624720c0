"""Purge by age, stats counts, close."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from infertrace.errors import StoreClosed
from infertrace.model import LogRecord, MetricPoint, MetricType
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter

from .conftest import Both, Clock
from .data import span

HOUR = 3_600 * 10**9


def _write_at(both: Both, clock: Clock, t: int, n: int, base: int) -> None:
    """Records stamped with the clock's time when written (received == record time)."""
    clock.now = t
    both.spans([span(base + i, start_time_unix_nano=t + i) for i in range(n)])
    both.logs([LogRecord(t + i, "svc", f"line {base + i}") for i in range(n)])
    both.metrics([MetricPoint("m", MetricType.GAUGE, "svc", t + i, value=i) for i in range(n)])


@pytest.mark.parametrize("max_age", [timedelta(hours=1), 1800.0, timedelta(days=3)])
def test_purge_older_than(both: Both, clock: Clock, max_age: timedelta | float) -> None:
    t0 = clock.now
    _write_at(both, clock, t0, 5, 0)
    _write_at(both, clock, t0 + 2 * HOUR, 3, 100)
    clock.now = t0 + 2 * HOUR + 10
    removed = both.same(lambda s: s.purge_older_than(max_age))
    assert removed == (15 if max_age != timedelta(days=3) else 0)
    both.same(lambda s: s.list_spans(SpanFilter(limit=100)))
    both.same(lambda s: s.list_logs(LogFilter(limit=100)))
    both.same(lambda s: s.list_metric_points(MetricFilter(limit=100)))
    both.same(lambda s: s.services())


def test_stats_counts(both: Both, clock: Clock) -> None:
    _write_at(both, clock, clock.now, 7, 0)
    got, want = both.store.stats(), both.oracle.stats()
    assert (got.spans.count, got.logs.count, got.metrics.count) == (7, 7, 7)
    assert (want.spans.count, want.logs.count, want.metrics.count) == (7, 7, 7)


def test_closed_store_refuses_writes(each_store: Any) -> None:
    each_store.close()
    each_store.close()  # twice is fine
    with pytest.raises(StoreClosed):
        each_store.write_batch([span(1)])
    with pytest.raises(StoreClosed):
        each_store.write(span(2))
