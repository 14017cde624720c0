"""PostgresStore: the durable backend behind the same protocols as the memory store.

Writes are validated and encoded in the caller's thread (so a bad record is an
InvalidRecord and nothing of its batch is stored), then queued for the writer
threads' binary COPY (see ``writer``). Reads first wait for writes submitted
before them (read-your-writes), then run one parameterised query each.

Ordering matches the reference store: newest time first, ties newest arrival
first (``seq``); traces oldest first. Retention is by record time (the span's
start time, the log's or point's time), which is the received time the memory
store uses whenever the senders' clocks are right.

Threading: every public method may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from infertrace.errors import (
    InferTraceError,
    InvalidFilter,
    StoreClosed,
    StoreOverloaded,
    TraceNotFound,
)
from infertrace.model import LogRecord, MetricPoint, Span, parse_id
from infertrace.telemetry.analytics import (
    AnalyticsStore,
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
)
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter, TimeBound, window
from infertrace.telemetry.postgres import analytics, copy, queries
from infertrace.telemetry.postgres.connect import connect, where
from infertrace.telemetry.postgres.migrate import (
    MigrationError,
    layout_note,
    migrate,
    schema_state,
)
from infertrace.telemetry.postgres.partitions import Partitions
from infertrace.telemetry.postgres.rows import (
    LOG_SELECT,
    METRIC_SELECT,
    SPAN_SELECT,
    encode_all,
    log_from_row,
    log_row,
    metric_from_row,
    metric_row,
    span_from_row,
    span_row,
)
from infertrace.telemetry.postgres.schema import LATEST
from infertrace.telemetry.postgres.stats import store_stats
from infertrace.telemetry.postgres.writer import LOGS, METRICS, SPANS, Writer
from infertrace.telemetry.protocols import StoreStats, TelemetryStore
from infertrace.telemetry.purger import Purger, seconds
from infertrace.telemetry.timebounds import UNBOUNDED, TimeBounds
from infertrace.telemetry.validate import check_batch, log_problem, metric_problem, span_problem

log = logging.getLogger("infertrace.postgres")
_TRANSIENT = (psycopg.OperationalError, PoolTimeout)
_DISTINCT = (
    "WITH RECURSIVE d AS ((SELECT {c} AS v FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} LIMIT 1)"
    " UNION ALL SELECT (SELECT {c} FROM {t} WHERE {c} > d.v ORDER BY {c} LIMIT 1)"
    " FROM d WHERE d.v IS NOT NULL) SELECT v FROM d WHERE v IS NOT NULL"
)
"""Distinct values by skipping through an index: one probe per value, not a full scan."""


class PostgresStore:
    """A TelemetryStore and AnalyticsStore on PostgreSQL (TimescaleDB when available).

    ``pool_size`` bounds the connections (writers plus concurrent readers);
    ``run_migrations=False`` refuses to start on an out-of-date schema instead
    of migrating it; ``use_timescale`` None detects the extension.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 4,
        writers: int = 1,
        max_queued_rows: int = 200_000,
        group_rows: int = 20_000,
        run_migrations: bool = True,
        use_timescale: bool | None = None,
        connect_timeout: float = 10.0,
        read_your_writes: bool = True,
        clock: Callable[[], int] = time.time_ns,
        time_bounds: TimeBounds = UNBOUNDED,
    ) -> None:
        self._clock = clock
        self.time_bounds = time_bounds
        self._ryw = read_your_writes
        self._closed = False
        self._lock = threading.Lock()
        self._purger: Purger | None = None
        self._evicted = {"spans": 0, "logs": 0, "metric_points": 0}
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(pool_size, writers + 1),
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
            open=False,
            name="infertrace-pg",
        )
        try:
            # One direct connection first: a bad DSN (no such database, wrong password)
            # fails here at once with psycopg's message, as `db migrate` does, instead
            # of the pool retrying it for connect_timeout and logging every attempt.
            with connect(dsn, connect_timeout) as conn:
                self.server = where(conn)  # for banners: never the password
                self.layout, self.layout_note = self._schema(conn, run_migrations, use_timescale)
                self._partitions = Partitions(self.layout)
                self._partitions.load(conn)
                self._partitions.ensure_ahead(conn, clock())
            self._pool.open(wait=True, timeout=connect_timeout)
        except (PoolTimeout, psycopg.Error, MigrationError) as exc:
            self._pool.close()
            if isinstance(exc, MigrationError):
                raise
            raise StoreOverloaded(f"cannot use PostgreSQL: {exc}", 5.0) from exc
        self._writer = Writer(
            self._pool,
            self._sink,
            copy.committed,
            _probe,
            max_queued_rows=max_queued_rows,
            group_rows=group_rows,
            threads=writers,
        )

    @staticmethod
    def _schema(
        conn: psycopg.Connection[Any], run: bool, use_timescale: bool | None
    ) -> tuple[str, str]:
        """(layout, the line saying why it was chosen)."""
        if run:
            result = migrate(conn, use_timescale)
            return result.layout, result.note
        state = schema_state(conn)
        if state is None or state[1] < LATEST:
            raise MigrationError(
                f"database schema is at version {state[1] if state else 0}, need {LATEST}:"
                " run `infertrace db migrate`"
            )
        return state[0], layout_note(conn) or f"layout {state[0]} (recorded without a reason)"

    def _sink(
        self, conn: psycopg.Connection[Any], spans: Any, logs: Any, metrics: Any, bid: Any
    ) -> None:
        try:
            copy.write_group(conn, self._partitions, spans, logs, metrics, bid)
        except errors.CheckViolation:
            self._partitions.forget()  # a partition was dropped under us: re-read and retry
            self._partitions.load(conn)
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._check_open()
        if self._ryw:
            self._writer.flush()
        try:
            with self._pool.connection() as conn:
                rows: list[tuple[Any, ...]] = conn.execute(sql, params, binary=True).fetchall()
                return rows
        except _TRANSIENT as exc:
            raise StoreOverloaded(f"database unavailable: {exc}", 2.0) from exc

    # -- writes ---------------------------------------------------------------------------

    def write(self, span: Span) -> None:
        self.write_batch([span])

    def write_batch(self, spans: Sequence[Span]) -> None:
        """Validate, encode and queue spans; all or nothing. O(n) in this thread."""
        self._check_open()
        check_batch(spans, span_problem)
        self.time_bounds.check_spans(spans, self._clock())
        self._writer.submit(SPANS, encode_all(spans, span_row))

    def write_logs(self, records: Sequence[LogRecord]) -> None:
        self._check_open()
        check_batch(records, log_problem)
        self.time_bounds.check_logs(records, self._clock())
        self._writer.submit(LOGS, encode_all(records, log_row))

    def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        self._check_open()
        check_batch(points, metric_problem)
        self.time_bounds.check_metrics(points, self._clock())
        self._writer.submit(METRICS, encode_all(points, metric_row))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every write acknowledged so far is committed."""
        self._writer.flush(timeout)

    # -- reads ----------------------------------------------------------------------------

    def get_trace(self, trace_id: str | bytes) -> list[Span]:
        """Spans of one trace, oldest first; bounded by its recorded first/last start."""
        try:
            tid = parse_id(trace_id, 16, "trace_id")
        except ValueError:
            raise TraceNotFound(
                str(trace_id) if isinstance(trace_id, str) else trace_id.hex()
            ) from None
        rows = self._query(
            f"SELECT {SPAN_SELECT} FROM spans WHERE trace_id = %s"
            " AND start_time_unix_nano >="
            " (SELECT first_start FROM trace_bounds WHERE trace_id = %s)"
            " AND start_time_unix_nano <="
            " (SELECT last_start FROM trace_bounds WHERE trace_id = %s)"
            " ORDER BY start_time_unix_nano, seq",
            (tid, tid, tid),
        )
        if not rows:
            raise TraceNotFound(tid.hex())
        return [span_from_row(r) for r in rows]

    def list_spans(self, flt: SpanFilter) -> list[Span]:
        r = flt.resolve()
        try:
            w = queries.span_where(r)
        except queries.NoMatch:
            return []
        rows = self._query(
            f"SELECT {SPAN_SELECT} FROM spans WHERE {w.sql()}"
            " ORDER BY start_time_unix_nano DESC, seq DESC LIMIT %s",
            [*w.params, r.limit],
        )
        return [span_from_row(x) for x in rows]

    def _distinct(self, table: str, column: str) -> list[str]:
        return sorted(r[0] for r in self._query(_DISTINCT.format(c=column, t=table), ()))

    def services(self) -> list[str]:
        return self._distinct("spans", "service_name")

    def operations(self, service: str) -> list[str]:
        w = queries.Where()
        try:
            w.text("service_name", service)
        except queries.NoMatch:
            return []
        rows = self._query(f"SELECT DISTINCT operation_name FROM spans WHERE {w.sql()}", w.params)
        return sorted(r[0] for r in rows)

    def models(self) -> list[str]:
        return self._distinct("spans", "model_name")

    def list_logs(self, flt: LogFilter) -> list[LogRecord]:
        r = flt.resolve()
        try:
            w = queries.log_where(r)
        except queries.NoMatch:
            return []
        rows = self._query(
            f"SELECT {LOG_SELECT} FROM logs WHERE {w.sql()}"
            " ORDER BY time_unix_nano DESC, seq DESC LIMIT %s",
            [*w.params, r.limit],
        )
        return [log_from_row(x) for x in rows]

    def list_metric_points(self, flt: MetricFilter) -> list[MetricPoint]:
        r = flt.resolve()
        try:
            w = queries.metric_where(r)
        except queries.NoMatch:
            return []
        rows = self._query(
            f"SELECT {METRIC_SELECT} FROM metric_points WHERE {w.sql()}"
            " ORDER BY time_unix_nano DESC, seq DESC LIMIT %s",
            [*w.params, r.limit],
        )
        return [metric_from_row(x) for x in rows]

    def metric_names(self) -> list[str]:
        return self._distinct("metric_points", "name")

    # -- analytics ------------------------------------------------------------------------

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._query(sql, params)

    def model_analytics(
        self, since: TimeBound = None, until: TimeBound = None, group_by: GroupBy = GroupBy.MODEL
    ) -> list[GroupStats]:
        lo, hi = window(since, until)
        return analytics.model_analytics(self._rows, lo, hi, GroupBy(group_by))

    def timeseries(
        self,
        metric: SeriesMetric,
        step_ns: int,
        since: TimeBound = None,
        until: TimeBound = None,
        model_name: str | None = None,
    ) -> list[SeriesPoint]:
        if isinstance(step_ns, bool) or not isinstance(step_ns, int) or not 0 < step_ns < 2**63:
            raise InvalidFilter(
                f"step_ns must be a positive integer of nanoseconds, got {step_ns!r}"
            )
        lo, hi = window(since, until)
        return analytics.timeseries(self._rows, SeriesMetric(metric), step_ns, lo, hi, model_name)

    def leaderboard(
        self, by: SeriesMetric, since: TimeBound = None, until: TimeBound = None, limit: int = 10
    ) -> list[LeaderboardEntry]:
        lo, hi = window(since, until)
        return analytics.leaderboard(self._rows, SeriesMetric(by), lo, hi, limit)

    # -- maintenance ----------------------------------------------------------------------

    def purge_older_than(self, max_age: timedelta | float) -> int:
        """Delete records older than ``max_age`` (by record time); how many were removed."""
        cutoff = self._clock() - int(seconds(max_age, "max_age") * 1e9)
        self._check_open()
        self._writer.flush()
        try:
            with self._pool.connection() as conn:
                removed = self._partitions.purge(conn, cutoff)
                self._partitions.ensure_ahead(conn, self._clock())
        except _TRANSIENT as exc:
            raise StoreOverloaded(f"database unavailable: {exc}", 2.0) from exc
        with self._lock:
            for table, n in removed.items():
                self._evicted[table] += n
        return sum(removed.values())

    def _scheduled_purge(self, max_age: float) -> None:
        try:
            self.purge_older_than(max_age)
        except (InferTraceError, psycopg.Error) as exc:
            log.warning("scheduled purge failed: %s", exc)

    def start_purge(self, interval: timedelta | float, max_age: timedelta | float) -> None:
        """Purge every ``interval`` on a daemon thread (our scheduler, any license)."""
        age = seconds(max_age, "max_age")
        every = seconds(interval, "interval")
        with self._lock:
            if self._purger is not None:
                self._purger.stop()
            self._purger = Purger(lambda: self._scheduled_purge(age), every, "infertrace-pg-purge")

    def stats(self) -> StoreStats:
        self._check_open()
        self._writer.flush()
        try:
            with self._pool.connection() as conn:
                return store_stats(conn, self.layout, dict(self._evicted))
        except _TRANSIENT as exc:
            raise StoreOverloaded(f"database unavailable: {exc}", 2.0) from exc

    def close(self, timeout: float = 30.0) -> None:
        """Flush queued writes (up to ``timeout``), stop threads, close the pool. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            purger, self._purger = self._purger, None
        if purger is not None:
            purger.stop()
        self._writer.close(timeout)
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _probe(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT 1")


def _conforms(store: PostgresStore) -> tuple[TelemetryStore, AnalyticsStore]:
    """Static conformance check (mypy): PostgresStore implements both protocols."""
    return store, store
