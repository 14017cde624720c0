"""PostgresStore: the durable backend behind the same protocols as the memory store.

Writes are validated and encoded in the caller's thread (so a bad record is an
InvalidRecord and nothing of its batch is stored), then queued for the writer
threads' binary COPY (see ``writer``); a write returns once its group has
committed, so a write that returned is stored and a later read sees it
(read-your-writes). Writes block on the database: ``writes_block`` tells the
receivers to run them on worker threads. Reads run one parameterised query
each.

Outages: a :class:`~infertrace.telemetry.postgres.health.HealthMonitor` pings
the database every second; ``health()`` and ``cached_stats()`` answer from its
cache, and while the database is known down reads and writes fail at once with
StoreOverloaded (503 + Retry-After) instead of waiting on connection timeouts.

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
    SpanScope,
)
from infertrace.telemetry.batches import LogBatch, MetricBatch, SpanBatch
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter, TimeBound, window
from infertrace.telemetry.postgres import analytics, copy, queries
from infertrace.telemetry.postgres.connect import connect, where
from infertrace.telemetry.postgres.health import HealthMonitor
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
from infertrace.telemetry.protocols import (
    Drains,
    Health,
    Monitored,
    SpanTimings,
    StoreStats,
    TelemetryStore,
)
from infertrace.telemetry.purger import Purger, seconds
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS
from infertrace.telemetry.timebounds import UNBOUNDED, TimeBounds
from infertrace.telemetry.validate import check_batch, log_problem, metric_problem, span_problem

log = logging.getLogger("infertrace.postgres")
_TRANSIENT = (psycopg.OperationalError, PoolTimeout)
_CONNECT_TIMEOUT = 2
"""Seconds a new connection may take (libpq's minimum): an outage is found fast."""
RETRY_AFTER_DOWN = 2.0
"""Retry-After (seconds) while the database is known down."""
_DISTINCT = (
    "WITH RECURSIVE d AS ((SELECT {c} AS v FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} LIMIT 1)"
    " UNION ALL SELECT (SELECT {c} FROM {t} WHERE {c} > d.v ORDER BY {c} LIMIT 1)"
    " FROM d WHERE d.v IS NOT NULL) SELECT v FROM d WHERE v IS NOT NULL"
)
"""Distinct values by skipping through an index: one probe per value, not a full scan."""

_METRIC_MODELS = (
    "SELECT DISTINCT attributes ->> k FROM metric_points, unnest(%s::text[]) AS k"
    " WHERE jsonb_typeof(attributes -> k) = 'string' AND attributes ->> k <> ''"
)
"""Models named by metric point labels (see semconv.METRIC_MODEL_LABELS)."""


class PostgresStore:
    """A TelemetryStore and AnalyticsStore on PostgreSQL (TimescaleDB when available).

    ``pool_size`` bounds the connections (writers plus concurrent readers);
    ``run_migrations=False`` refuses to start on an out-of-date schema instead
    of migrating it; ``use_timescale`` None detects the extension.
    ``write_timeout`` bounds how long a write waits for its commit,
    ``query_timeout`` how long a read waits for a pooled connection, and
    ``health_interval`` is how often the database is pinged.
    """

    writes_block = True
    """Writes wait for their commit: receivers run them on worker threads."""

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
        write_timeout: float = 5.0,
        query_timeout: float = 5.0,
        health_interval: float = 1.0,
        clock: Callable[[], int] = time.time_ns,
        time_bounds: TimeBounds = UNBOUNDED,
    ) -> None:
        self._clock = clock
        self.time_bounds = time_bounds
        self._dsn = dsn
        self._write_timeout = write_timeout
        self._shutdown_report: str | None = None
        self._ping_conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._purger: Purger | None = None
        self._evicted = {"spans": 0, "logs": 0, "metric_points": 0}
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(pool_size, writers + 1),
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT},
            timeout=query_timeout,
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
            self._writer_connection,
            self._sink,
            copy.committed,
            _probe,
            max_queued_rows=max_queued_rows,
            group_rows=group_rows,
            threads=writers,
        )
        self._monitor = HealthMonitor(
            self._ping,
            self._fresh_stats,
            interval=health_interval,
            initial=Health(True, "", time.time()),
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
        self,
        conn: psycopg.Connection[Any],
        spans: Any,
        logs: Any,
        metrics: Any,
        bid: Any,
        before_commit: Callable[[], None],
    ) -> None:
        try:
            copy.write_group(conn, self._partitions, spans, logs, metrics, bid, before_commit)
        except errors.CheckViolation:
            self._partitions.forget()  # a partition was dropped under us: re-read and retry
            self._partitions.load(conn)
            raise

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")

    def _check_available(self) -> None:
        """Raise at once while the store is closed or the database known down."""
        self._check_open()
        health = self.health()
        if not health.ok:
            raise StoreOverloaded(health.reason, RETRY_AFTER_DOWN)

    def _unavailable(self, exc: BaseException) -> StoreOverloaded:
        self._monitor.check_now()
        return StoreOverloaded(f"database unavailable: {exc}", RETRY_AFTER_DOWN)

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._check_available()
        try:
            with self._pool.connection() as conn:
                rows: list[tuple[Any, ...]] = conn.execute(sql, params, binary=True).fetchall()
                return rows
        except _TRANSIENT as exc:
            raise self._unavailable(exc) from exc

    # -- health ---------------------------------------------------------------------------

    def health(self) -> Health:
        """Whether the database takes reads and writes, from cache. O(1), never blocks."""
        if self._closed:
            return Health(False, "store is closed", time.time())
        health = self._monitor.state()
        down = self._writer.down
        if health.ok and down is not None:
            return Health(False, f"database unavailable: {down}", health.checked_unix)
        return health

    def cached_stats(self) -> StoreStats | None:
        """The stats of the last background snapshot (every few seconds). O(1)."""
        return self._monitor.stats()

    def _ping(self) -> None:
        conn = self._ping_conn
        if conn is None or conn.closed:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT)
            conn.execute("SET statement_timeout = 2000")
            self._ping_conn = conn
        try:
            conn.execute("SELECT 1")
        except psycopg.Error:
            conn.close()
            raise

    def _writer_connection(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT)

    def _fresh_stats(self) -> StoreStats:
        with self._pool.connection() as conn:
            return store_stats(conn, self.layout, dict(self._evicted))

    # -- writes ---------------------------------------------------------------------------

    def write(self, span: Span) -> None:
        self.write_batch([span])

    def write_batch(self, spans: Sequence[Span]) -> None:
        """Validate, encode and store spans; returns once committed. All or nothing.

        O(n) in this thread, then a wait for the group commit (at most
        ``write_timeout``). Raises InvalidRecord, StoreOverloaded (database
        down, queue full, no commit in time: nothing acknowledged), StoreClosed.
        """
        self._check_available()
        check_batch(spans, span_problem)
        self.time_bounds.check_spans(spans, self._clock())
        self._writer.write(SPANS, encode_all(SpanBatch.of(spans), span_row), self._write_timeout)

    def write_logs(self, records: Sequence[LogRecord]) -> None:
        self._check_available()
        check_batch(records, log_problem)
        self.time_bounds.check_logs(records, self._clock())
        self._writer.write(LOGS, encode_all(LogBatch.of(records), log_row), self._write_timeout)

    def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        self._check_available()
        check_batch(points, metric_problem)
        self.time_bounds.check_metrics(points, self._clock())
        self._writer.write(
            METRICS, encode_all(MetricBatch.of(points), metric_row), self._write_timeout
        )

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every write in progress is settled (writes that returned are stored)."""
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
        """Models of stored spans (an index skip scan) and the models stored metric
        points' labels name (a scan of ``metric_points``)."""
        rows = self._query(_METRIC_MODELS, (list(METRIC_MODEL_LABELS),))
        return sorted(set(self._distinct("spans", "model_name")) | {r[0] for r in rows})

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
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        group_by: GroupBy = GroupBy.MODEL,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[GroupStats]:
        lo, hi = window(since, until)
        return analytics.model_analytics(self._rows, lo, hi, GroupBy(group_by), SpanScope(spans))

    def timeseries(
        self,
        metric: SeriesMetric,
        step_ns: int,
        since: TimeBound = None,
        until: TimeBound = None,
        model_name: str | None = None,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[SeriesPoint]:
        if isinstance(step_ns, bool) or not isinstance(step_ns, int) or not 0 < step_ns < 2**63:
            raise InvalidFilter(
                f"step_ns must be a positive integer of nanoseconds, got {step_ns!r}"
            )
        lo, hi = window(since, until)
        return analytics.timeseries(
            self._rows, SeriesMetric(metric), step_ns, lo, hi, model_name, SpanScope(spans)
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
        return analytics.leaderboard(self._rows, SeriesMetric(by), lo, hi, limit, SpanScope(spans))

    # -- maintenance ----------------------------------------------------------------------

    def purge_older_than(self, max_age: timedelta | float) -> int:
        """Delete records older than ``max_age`` (by record time); how many were removed."""
        cutoff = self._clock() - int(seconds(max_age, "max_age") * 1e9)
        self._check_available()
        try:
            with self._pool.connection() as conn:
                removed = self._partitions.purge(conn, cutoff)
                self._partitions.ensure_ahead(conn, self._clock())
        except _TRANSIENT as exc:
            raise self._unavailable(exc) from exc
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
        """Exact counts and sizes, queried now (``cached_stats`` never waits)."""
        self._check_available()
        try:
            return self._fresh_stats()
        except _TRANSIENT as exc:
            raise self._unavailable(exc) from exc

    def shutdown(self, timeout: float = 30.0) -> str | None:
        """Close: refuse new writes, give writes in progress up to ``timeout`` s to commit.

        Writes still uncommitted then fail (their callers get StoreClosed, so
        their requests are answered 503); nothing that was acknowledged is
        lost. Returns None when everything accepted was committed, else a
        message naming what was left unacknowledged. Idempotent.
        """
        with self._lock:
            if self._closed:
                return self._shutdown_report
            self._closed = True
            purger, self._purger = self._purger, None
        if purger is not None:
            purger.stop()
        report = self._writer.close(timeout)
        self._monitor.close()
        self._pool.close()
        if self._ping_conn is not None:
            self._ping_conn.close()
        self._shutdown_report = None if report.clean else str(report)
        return self._shutdown_report

    def close(self, timeout: float = 30.0) -> None:
        """:meth:`shutdown` without the report (it is logged). Idempotent."""
        self.shutdown(timeout)

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """The service call graph of spans starting in [start_ns, end_ns): one join in SQL
        (see :mod:`infertrace.telemetry.postgres.dependencies`)."""
        from infertrace.telemetry.postgres.dependencies import DEPENDENCIES_SQL

        rows = self._query(DEPENDENCIES_SQL, [start_ns, end_ns])
        return sorted((str(p), str(c), int(n)) for p, c, n in rows)

    def span_timings(
        self, service: str, kinds: Sequence[int], start_ns: int, end_ns: int
    ) -> SpanTimings:
        """Start, duration, error flag and operation of ``service``'s spans of ``kinds``
        starting in [start_ns, end_ns): one range scan in SQL."""
        from infertrace.telemetry.postgres.timings import SPAN_TIMINGS_SQL

        rows = self._query(SPAN_TIMINGS_SQL, [service, [int(k) for k in kinds], start_ns, end_ns])
        return SpanTimings(
            [int(r[0]) for r in rows],
            [int(r[1]) for r in rows],
            [bool(r[2]) for r in rows],
            [str(r[3]) for r in rows],
        )


def _probe(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SELECT 1")


def _conforms(
    store: PostgresStore,
) -> tuple[TelemetryStore, AnalyticsStore, Monitored, Drains]:
    """Static conformance check (mypy): PostgresStore implements the protocols."""
    return store, store, store, store
