"""MemoryStore: the embedded default backend, bounded, indexed and columnar.

One ring-buffer table per signal (spans, logs, metric points), each guarded by
one reader–writer lock: queries run side by side, a write is exclusive, so a
reader sees a batch entirely or not at all. Span conversion and validation
happen before the lock is taken, keeping the exclusive section short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from infertrace.engine.journal import Journal
from infertrace.engine.rwlock import RWLock
from infertrace.errors import LogUnavailable, StoreClosed, TraceNotFound
from infertrace.model import LogRecord, MetricPoint, Span, parse_id
from infertrace.telemetry.analytics import (
    AnalyticsStore,
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter, TimeBound, window
from infertrace.telemetry.memory import analytics, durable
from infertrace.telemetry.memory.journaled import Journaled
from infertrace.telemetry.memory.logs import LogTable
from infertrace.telemetry.memory.metrics import MetricTable
from infertrace.telemetry.memory.span_query import SpanRows, search, trace_slots
from infertrace.telemetry.memory.spans import SpanTable
from infertrace.telemetry.protocols import SignalStats, SpanTimings, StoreStats, TelemetryStore
from infertrace.telemetry.purger import PurgeOwner, Purger, seconds
from infertrace.telemetry.timebounds import UNBOUNDED, TimeBounds
from infertrace.telemetry.validate import log_problem, metric_problem, span_problem

log = logging.getLogger(__name__)


class MemoryStore(PurgeOwner, Journaled):
    """Bounded in-memory TelemetryStore and AnalyticsStore.

    When a signal's ring is full the oldest records are evicted, and every
    index and dictionary entry that pointed at them goes too. ``max_age``
    (seconds or timedelta) starts a background purge of records received
    longer ago than that; ``time_bounds`` refuses records timed too far from the
    clock (every time accepted by default). Thread-safe.

    Durable through a data directory (:class:`~infertrace.engine.journal.Durable`, see
    :mod:`~infertrace.telemetry.memory.journaled`): once a journal is attached, every
    write and purge is logged inside the table's write lock before it is applied and
    waited for after; LogUnavailable when the log refuses it (nothing stored).
    """

    def __init__(
        self,
        span_capacity: int = 10_000,
        log_capacity: int = 50_000,
        metric_capacity: int = 100_000,
        max_age: timedelta | float | None = None,
        clock: Callable[[], int] = time.time_ns,
        purge_interval: timedelta | float = 10.0,
        time_bounds: TimeBounds = UNBOUNDED,
    ) -> None:
        self.time_bounds = time_bounds
        self._spans = SpanTable(span_capacity)
        self._rows = SpanRows(self._spans)
        self._logs = LogTable(log_capacity)
        self._metrics = MetricTable(metric_capacity)
        self._span_lock = RWLock()
        self._log_lock = RWLock()
        self._metric_lock = RWLock()
        self._clock = clock
        self._applied = {"spans": 0, "logs": 0, "metrics": 0}
        if max_age is not None:
            self.start_purge(purge_interval, max_age)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")

    def write(self, span: Span) -> None:
        """Store one span. O(1) amortised."""
        self.write_batch((span,))

    def write_batch(self, spans: Sequence[Span]) -> None:
        """Store ``spans`` atomically, or raise InvalidRecord and store none. O(n)."""
        if not len(spans):
            return
        batch = self._spans.prepare(spans)
        self.time_bounds.check_array(batch.starts, "start time", self._clock())
        if self._journal is None:
            with self._span_lock.write():
                self._check_open()
                if self._journal is None:  # attach() takes this lock: re-read under it
                    self._spans.store(batch, spans, self._clock())
                    return
        self._write_logged(
            "spans", spans, span_problem, lambda now: self._spans.store(batch, spans, now)
        )

    def get_trace(self, trace_id: str | bytes) -> list[Span]:
        """Spans of a trace by start time; raise TraceNotFound. O(spans in trace)."""
        try:
            tid = parse_id(trace_id, 16, "trace_id")
        except ValueError:
            shown = trace_id if isinstance(trace_id, str) else trace_id.hex()
            raise TraceNotFound(shown) from None
        with self._span_lock.read():
            slots = trace_slots(self._spans, tid)
            spans = self._rows.build(slots, tid)
        if not spans:
            raise TraceNotFound(tid.hex())
        return spans

    def list_spans(self, flt: SpanFilter) -> list[Span]:
        """Matching spans, newest start first; scans only chunks that can hold results."""
        r = flt.resolve()
        with self._span_lock.read():
            return self._rows.build(search(self._spans, r))

    def services(self) -> list[str]:
        with self._span_lock.read():
            vals = self._spans.strings.values
            return sorted(vals[c] for c in self._spans.svc_live.keys())  # type: ignore[misc]  # noqa: SIM118

    def operations(self, service: str) -> list[str]:
        with self._span_lock.read():
            code = self._spans.strings.get(service)
            if code is None:
                return []
            vals = self._spans.strings.values
            return sorted(
                vals[k & 0xFFFFFFFF]  # type: ignore[misc]
                for k in self._spans.op_live.keys()  # noqa: SIM118
                if k >> 32 == code
            )

    def models(self) -> list[str]:
        """Models of stored spans and models named by stored metric points' labels."""
        with self._span_lock.read():
            vals = self._spans.strings.values
            found: set[str] = {vals[c] for c in self._spans.model_live.keys()}  # type: ignore[misc]  # noqa: SIM118
        with self._metric_lock.read():
            found |= self._metrics.models()
        return sorted(found)

    def write_logs(self, records: Sequence[LogRecord]) -> None:
        """Store log records atomically, or raise InvalidRecord and store none."""
        self.time_bounds.check_logs(records, self._clock())
        if self._journal is None:
            with self._log_lock.write():
                self._check_open()
                if self._journal is None:
                    self._logs.append(records, self._clock())
                    return
        self._write_logged(
            "logs", records, log_problem, lambda now: self._logs.append(records, now)
        )

    def list_logs(self, flt: LogFilter) -> list[LogRecord]:
        r = flt.resolve()
        with self._log_lock.read():
            return self._logs.search(r)

    def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        """Store metric points atomically, or raise InvalidRecord and store none."""
        self.time_bounds.check_metrics(points, self._clock())
        if self._journal is None:
            with self._metric_lock.write():
                self._check_open()
                if self._journal is None:
                    self._metrics.append(points, self._clock())
                    return
        self._write_logged(
            "metrics", points, metric_problem, lambda now: self._metrics.append(points, now)
        )

    def list_metric_points(self, flt: MetricFilter) -> list[MetricPoint]:
        r = flt.resolve()
        with self._metric_lock.read():
            return self._metrics.search(r)

    def metric_names(self) -> list[str]:
        with self._metric_lock.read():
            return self._metrics.names()

    def model_analytics(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        group_by: GroupBy = GroupBy.MODEL,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[GroupStats]:
        lo, hi = window(since, until)
        with self._span_lock.read():
            return analytics.model_analytics(
                self._spans, lo, hi, GroupBy(group_by), SpanScope(spans)
            )

    def timeseries(
        self,
        metric: SeriesMetric,
        step_ns: int,
        since: TimeBound = None,
        until: TimeBound = None,
        model_name: str | None = None,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[SeriesPoint]:
        lo, hi = window(since, until)
        with self._span_lock.read():
            return analytics.timeseries(
                self._spans, SeriesMetric(metric), step_ns, lo, hi, model_name, SpanScope(spans)
            )

    def leaderboard(
        self,
        by: SeriesMetric,
        since: TimeBound = None,
        until: TimeBound = None,
        limit: int = 10,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[LeaderboardEntry]:
        lo, hi = window(since, until)
        with self._span_lock.read():
            return analytics.leaderboard(
                self._spans, SeriesMetric(by), lo, hi, limit, SpanScope(spans)
            )

    def purge_older_than(self, max_age: timedelta | float) -> int:
        """Evict records received more than ``max_age`` ago; return how many. With a
        journal, each table's purge (its cutoff) is logged before it applies;
        LogUnavailable when the log refuses it (that table and the ones after it
        keep their records)."""
        cutoff = self._clock() - int(seconds(max_age, "max_age") * 1e9)
        n = 0
        waits: list[tuple[Journal, str, int]] = []
        for name in ("spans", "logs", "metrics"):
            with self._lock(name).write():
                table = self._table(name)
                if not table.table.stale(cutoff):
                    continue  # nothing received before the cutoff: nothing to log
                journal = self._journal
                if journal is not None:
                    lsn = self._log(journal, name, durable.encode_purge(cutoff))
                    waits.append((journal, name, lsn))
                n += table.purge(cutoff)
        for journal, name, lsn in waits:
            self._wait(journal, name, lsn)
        return n

    def start_purge(self, interval: timedelta | float, max_age: timedelta | float) -> None:
        """Purge every ``interval`` in the background until close(); a purge the log
        refuses (disk trouble) is skipped with a warning and tried again next time."""
        age = seconds(max_age, "max_age")
        if self._purger is not None:
            self._purger.stop()
        self._purger = Purger(lambda: self._purge_quietly(age), seconds(interval, "interval"))

    def _purge_quietly(self, max_age: float) -> int:
        try:
            return self.purge_older_than(max_age)
        except LogUnavailable as exc:
            log.warning("TTL purge skipped, to be tried again: %s", exc)
            return 0

    def stats(self) -> StoreStats:
        """Sizes measured from the live structures. O(distinct keys)."""
        with self._span_lock.read():
            t = self._spans
            spans = SignalStats(
                capacity=t.ring.capacity,
                count=len(t.ring),
                evicted=t.ring.evicted,
                index_entries=len(t.traces) + len(t.svc_live) + len(t.op_live) + len(t.model_live),
                data_bytes=t.data_bytes(),
                index_bytes=t.index_bytes(),
                distinct_traces=len(t.traces),
            )
        with self._log_lock.read():
            lt = self._logs
            logs = SignalStats(
                lt.ring.capacity, len(lt.ring), lt.ring.evicted, len(lt.traces) + len(lt.svc_live),
                lt.data_bytes(), lt.index_bytes(),
            )  # fmt: skip
        with self._metric_lock.read():
            mt = self._metrics
            metrics = SignalStats(
                mt.ring.capacity, len(mt.ring), mt.ring.evicted, len(mt.series),
                mt.data_bytes(), mt.index_bytes(),
            )  # fmt: skip
        return StoreStats(spans, logs, metrics)

    def _check(self) -> None:
        """Assert every table's invariants (tests call this after each step)."""
        with self._span_lock.read():
            self._spans._check()
        with self._log_lock.read():
            self._logs._check()
        with self._metric_lock.read():
            self._metrics._check()

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """The service call graph of spans starting in [start_ns, end_ns), vectorised
        (see :mod:`infertrace.telemetry.memory.dependencies`). O(live spans)."""
        from infertrace.telemetry.memory.dependencies import dependencies

        with self._span_lock.read():
            return dependencies(self._spans, start_ns, end_ns)

    def span_timings(
        self, service: str, kinds: Sequence[int], start_ns: int, end_ns: int
    ) -> SpanTimings:
        """Start, duration, error flag and operation of ``service``'s spans of ``kinds``
        starting in [start_ns, end_ns), vectorised over the zone map's chunks (see
        :mod:`infertrace.telemetry.memory.timings`). O(spans in the chunks scanned)."""
        from infertrace.telemetry.memory.timings import span_timings

        with self._span_lock.read():
            return span_timings(self._spans, service, kinds, start_ns, end_ns)


def _conforms(store: MemoryStore) -> tuple[TelemetryStore, AnalyticsStore]:
    """Static conformance: mypy fails here if MemoryStore drifts from a protocol."""
    return store, store
