"""The accepted window of record times: every store refuses the same records.

Issue 9: spans timed between 1970 and 2262 created 2,000 PostgreSQL partitions
and sat at the top of every newest-first answer. ``TimeBounds`` refuses them,
by the same rule in every store, naming every refused record and the bound.
"""

from __future__ import annotations

from typing import Any

import pytest

from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord, MetricPoint, MetricType
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.timebounds import TimeBounds

from .conftest import START_NS, Clock
from .data import span

S = 1_000_000_000
HOUR = 3600 * S
BOUNDS = TimeBounds(past_seconds=6 * 3600, future_seconds=300)


def log(t: int) -> LogRecord:
    return LogRecord(time_unix_nano=t, observed_time_unix_nano=t, service_name="svc", body="x")


def point(t: int) -> MetricPoint:
    return MetricPoint(name="m", type=MetricType.GAUGE, service_name="svc",
                       time_unix_nano=t, value=1.0)  # fmt: skip


WRITERS: dict[str, tuple[str, Any, Any, str]] = {
    "spans": ("write_batch", lambda i, t: span(i, start_time_unix_nano=t),
              lambda s: s.list_spans(SpanFilter(limit=100)), "start time"),
    "logs": ("write_logs", lambda i, t: log(t),
             lambda s: s.list_logs(LogFilter(limit=100)), "time"),
    "metrics": ("write_metrics", lambda i, t: point(t),
                lambda s: s.list_metric_points(MetricFilter(limit=100)), "time"),
}  # fmt: skip

CASES = [
    # (offset from the clock, accepted?, words the reason must hold)
    (0, True, ""),
    (-6 * HOUR, True, ""),  # the window is inclusive on both sides
    (300 * S, True, ""),
    (-6 * HOUR - 1, False, "more than 6h in the past"),
    (300 * S + 1, False, "more than 5m in the future"),
    (-START_NS, False, "1970-01-01T00:00:00Z"),  # unix time 0
    (2**63 - 1 - START_NS, False, "2262-04-11"),  # the latest int64 time
]


@pytest.mark.parametrize("signal", sorted(WRITERS))
@pytest.mark.parametrize(("offset", "accepted", "words"), CASES)
def test_one_record(
    each_store: Any, clock: Clock, signal: str, offset: int, accepted: bool, words: str
) -> None:
    write, make, read, what = WRITERS[signal]
    each_store.time_bounds = BOUNDS
    record = make(1, clock.now + offset)
    if accepted:
        getattr(each_store, write)([record])
        assert len(read(each_store)) == 1
        return
    with pytest.raises(InvalidRecord) as info:
        getattr(each_store, write)([record])
    assert info.value.index == 0
    assert words in info.value.reason and info.value.reason.startswith(what)
    assert read(each_store) == []


@pytest.mark.parametrize(("offset", "accepted", "words"), CASES)
def test_one_span_by_the_record_path(
    each_store: Any, clock: Clock, offset: int, accepted: bool, words: str
) -> None:
    each_store.time_bounds = BOUNDS
    record = span(1, start_time_unix_nano=clock.now + offset)
    if accepted:
        each_store.write(record)
        assert each_store.list_spans(SpanFilter(limit=100)) == [record]
        return
    with pytest.raises(InvalidRecord) as info:
        each_store.write(record)
    assert info.value.index == 0
    assert words in info.value.reason and info.value.reason.startswith("start time")
    assert each_store.list_spans(SpanFilter(limit=100)) == []


@pytest.mark.parametrize("signal", sorted(WRITERS))
def test_a_mixed_batch_names_every_refused_record_and_stores_none(
    each_store: Any, clock: Clock, signal: str
) -> None:
    write, make, read, _ = WRITERS[signal]
    each_store.time_bounds = BOUNDS
    offsets = [0, -7 * HOUR, -HOUR, 3600 * HOUR, 10 * S, -START_NS]
    batch = [make(i + 1, clock.now + off) for i, off in enumerate(offsets)]
    with pytest.raises(InvalidRecord) as info:
        getattr(each_store, write)(batch)
    assert [i for i, _ in info.value.problems] == [1, 3, 5]
    assert read(each_store) == []
    getattr(each_store, write)([r for i, r in enumerate(batch) if i not in (1, 3, 5)])
    assert len(read(each_store)) == 3


def test_the_window_follows_the_clock(each_store: Any, clock: Clock) -> None:
    each_store.time_bounds = BOUNDS
    t = clock.now + 200 * S
    each_store.write_batch([span(1, start_time_unix_nano=t)])
    clock.now -= 200 * S  # the collector's clock went back: t is now 400 s ahead
    with pytest.raises(InvalidRecord, match="in the future"):
        each_store.write_batch([span(2, start_time_unix_nano=t)])
    assert len(each_store.list_spans(SpanFilter(limit=10))) == 1


@pytest.mark.parametrize(
    ("max_age", "past", "future", "expected"),
    [
        (None, None, 300.0, TimeBounds(7 * 86400.0, 300.0)),
        (6 * 3600.0, None, 300.0, TimeBounds(7 * 3600.0, 300.0)),
        (6 * 3600.0, 60.0, None, TimeBounds(60.0, None)),
    ],
)
def test_collector_defaults(
    max_age: float | None, past: float | None, future: float | None, expected: TimeBounds
) -> None:
    assert TimeBounds.for_retention(max_age, past, future) == expected


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bounds_must_be_durations(bad: float) -> None:
    with pytest.raises(ValueError, match="past_seconds"):
        TimeBounds(past_seconds=bad)
