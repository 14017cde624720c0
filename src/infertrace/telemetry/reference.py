"""ReferenceStore: the obviously-correct store every backend is checked against.

Plain lists, linear scans, one lock. Slow by design and small enough to read
in one sitting: it *defines* the answers (ordering, filters, eviction, purge)
that the memory and PostgreSQL stores must reproduce. Ships in the package as
a test double for users of the store protocols.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType
from typing import Generic, TypeVar

from infertrace.errors import StoreClosed, TraceNotFound
from infertrace.model import (
    AttributeValue,
    LogRecord,
    MetricPoint,
    Span,
    StatusCode,
    parse_id,
)
from infertrace.telemetry import analytics_ref
from infertrace.telemetry.analytics import (
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)
from infertrace.telemetry.filters import (
    LogFilter,
    MetricFilter,
    ResolvedSpanFilter,
    SpanFilter,
    TimeBound,
    attribute_equal,
    window,
)
from infertrace.telemetry.protocols import SignalStats, SpanTimings, StoreStats
from infertrace.telemetry.purger import PurgeOwner, seconds
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS
from infertrace.telemetry.timebounds import UNBOUNDED, TimeBounds
from infertrace.telemetry.validate import check_batch, log_problem, metric_problem, span_problem

R = TypeVar("R")


def _frozen(attrs: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    return MappingProxyType(dict(attrs)) if attrs else attrs


class _Ring(Generic[R]):
    """The last ``capacity`` records with their arrival number and receive time."""

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self.rows: deque[tuple[int, int, R]] = deque()
        self.seq = 0
        self.evicted = 0

    def add(self, records: Sequence[R], now: int) -> list[R]:
        """Append ``records``; return those evicted to make room, oldest first."""
        for r in records:
            self.rows.append((self.seq, now, r))
            self.seq += 1
        gone = []
        while self.capacity is not None and len(self.rows) > self.capacity:
            gone.append(self.rows.popleft()[2])
            self.evicted += 1
        return gone

    def purge(self, cutoff: int) -> int:
        n = 0
        while self.rows and self.rows[0][1] < cutoff:
            self.rows.popleft()
            n += 1
        self.evicted += n
        return n

    def stats(self) -> SignalStats:
        return SignalStats(self.capacity or 0, len(self.rows), self.evicted, 0, 0, 0)


def span_matches(s: Span, r: ResolvedSpanFilter) -> bool:
    """Whether ``s`` passes the checked filter ``r``."""
    if r.service_name is not None and s.service_name != r.service_name:
        return False
    if r.model_name is not None and s.model_name != r.model_name:
        return False
    if r.operation_name is not None and s.operation_name != r.operation_name:
        return False
    if not r.since <= s.start_time_unix_nano < r.until:
        return False
    if not r.min_duration <= s.duration_nanos <= r.max_duration:
        return False
    if r.status is not None and s.status_code != r.status:
        return False
    for key, wanted in r.attributes.items():
        if key in s.attributes:
            got: object = s.attributes[key]
        elif key in s.resource_attributes:
            got = s.resource_attributes[key]
        else:
            return False
        if not attribute_equal(got, wanted):
            return False
    return True


class ReferenceStore(PurgeOwner):
    """A list-based TelemetryStore + AnalyticsStore; capacities of None mean unbounded."""

    def __init__(
        self,
        span_capacity: int | None = None,
        log_capacity: int | None = None,
        metric_capacity: int | None = None,
        clock: Callable[[], int] = time.time_ns,
        time_bounds: TimeBounds = UNBOUNDED,
    ) -> None:
        self.time_bounds = time_bounds
        self._spans: _Ring[Span] = _Ring(span_capacity)
        self._logs: _Ring[LogRecord] = _Ring(log_capacity)
        self._metrics: _Ring[MetricPoint] = _Ring(metric_capacity)
        self._clock = clock
        self._lock = threading.Lock()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store is closed")

    def write(self, span: Span) -> None:
        self.write_batch([span])

    def write_batch(self, spans: Sequence[Span]) -> None:
        check_batch(spans, span_problem)
        self.time_bounds.check_spans(spans, self._clock())
        frozen = [
            replace(
                s,
                attributes=_frozen(s.attributes),
                resource_attributes=_frozen(s.resource_attributes),
            )
            for s in spans
        ]
        with self._lock:
            self._check_open()
            # One span at a time: a span whose (trace id, span id) is live when it
            # arrives (stored, or earlier in the batch and not evicted since) is a
            # redelivery, and the first delivery stays.
            now = self._clock()
            live = {(s.trace_id, s.span_id) for _, _, s in self._spans.rows}
            for s in frozen:
                key = (s.trace_id, s.span_id)
                if key not in live:
                    live.add(key)
                    for gone in self._spans.add([s], now):
                        live.discard((gone.trace_id, gone.span_id))

    def get_trace(self, trace_id: str | bytes) -> list[Span]:
        try:
            tid = parse_id(trace_id, 16, "trace_id")
        except ValueError:
            raise TraceNotFound(
                str(trace_id) if isinstance(trace_id, str) else trace_id.hex()
            ) from None
        with self._lock:
            rows = [
                (s.start_time_unix_nano, q, s) for q, _, s in self._spans.rows if s.trace_id == tid
            ]
        if not rows:
            raise TraceNotFound(tid.hex())
        rows.sort(key=lambda r: (r[0], r[1]))
        return [r[2] for r in rows]

    def list_spans(self, flt: SpanFilter) -> list[Span]:
        r = flt.resolve()
        with self._lock:
            rows = [
                (s.start_time_unix_nano, q, s) for q, _, s in self._spans.rows if span_matches(s, r)
            ]
        rows.sort(key=lambda x: (x[0], x[1]), reverse=True)
        return [x[2] for x in rows[: r.limit]]

    def services(self) -> list[str]:
        with self._lock:
            return sorted({s.service_name for _, _, s in self._spans.rows})

    def operations(self, service: str) -> list[str]:
        with self._lock:
            return sorted(
                {s.operation_name for _, _, s in self._spans.rows if s.service_name == service}
            )

    def models(self) -> list[str]:
        """Models of stored spans, and the models stored metric points' labels name."""
        with self._lock:
            found = {s.model_name for _, _, s in self._spans.rows if s.model_name is not None}
            for _, _, p in self._metrics.rows:
                for label in METRIC_MODEL_LABELS:
                    value = p.attributes.get(label)
                    if isinstance(value, str) and value:
                        found.add(value)
            return sorted(found)

    def write_logs(self, records: Sequence[LogRecord]) -> None:
        check_batch(records, log_problem)
        self.time_bounds.check_logs(records, self._clock())
        frozen = [
            replace(
                r,
                attributes=_frozen(r.attributes),
                resource_attributes=_frozen(r.resource_attributes),
            )
            for r in records
        ]
        with self._lock:
            self._check_open()
            self._logs.add(frozen, self._clock())

    def list_logs(self, flt: LogFilter) -> list[LogRecord]:
        r = flt.resolve()
        with self._lock:
            rows = [
                (x.time_unix_nano, q, x)
                for q, _, x in self._logs.rows
                if (r.service_name is None or x.service_name == r.service_name)
                and x.severity_number >= r.min_severity
                and (r.trace_id is None or x.trace_id == r.trace_id)
                and (r.body_contains is None or r.body_contains in x.body)
                and r.since <= x.time_unix_nano < r.until
            ]
        rows.sort(key=lambda x: (x[0], x[1]), reverse=True)
        return [x[2] for x in rows[: r.limit]]

    def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        check_batch(points, metric_problem)
        self.time_bounds.check_metrics(points, self._clock())
        frozen = [
            replace(
                p,
                attributes=_frozen(p.attributes),
                resource_attributes=_frozen(p.resource_attributes),
            )
            for p in points
        ]
        with self._lock:
            self._check_open()
            self._metrics.add(frozen, self._clock())

    def list_metric_points(self, flt: MetricFilter) -> list[MetricPoint]:
        r = flt.resolve()
        with self._lock:
            rows = [
                (p.time_unix_nano, q, p)
                for q, _, p in self._metrics.rows
                if (r.name is None or p.name == r.name)
                and (r.service_name is None or p.service_name == r.service_name)
                and (r.type is None or p.type == r.type)
                and r.since <= p.time_unix_nano < r.until
                and all(
                    k in p.attributes and attribute_equal(p.attributes[k], v)
                    for k, v in r.attributes.items()
                )
            ]
        rows.sort(key=lambda x: (x[0], x[1]), reverse=True)
        return [x[2] for x in rows[: r.limit]]

    def metric_names(self) -> list[str]:
        with self._lock:
            return sorted({p.name for _, _, p in self._metrics.rows})

    def _span_list(self) -> list[Span]:
        with self._lock:
            return [s for _, _, s in self._spans.rows]

    def model_analytics(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        group_by: GroupBy = GroupBy.MODEL,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[GroupStats]:
        lo, hi = window(since, until)
        return analytics_ref.model_analytics(self._span_list(), lo, hi, group_by, spans)

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
        return analytics_ref.timeseries(
            self._span_list(), metric, step_ns, lo, hi, model_name, spans
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
        return analytics_ref.leaderboard(self._span_list(), by, lo, hi, limit, spans)

    def purge_older_than(self, max_age: timedelta | float) -> int:
        cutoff = self._clock() - int(seconds(max_age, "max_age") * 1e9)
        with self._lock:
            return (
                self._spans.purge(cutoff) + self._logs.purge(cutoff) + self._metrics.purge(cutoff)
            )

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(self._spans.stats(), self._logs.stats(), self._metrics.stats())

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """The service call graph: (parent service, child service, calls), sorted.

        A call is a stored span starting in [start_ns, end_ns) whose parent (the
        stored span of its trace whose span id is its parent span id) belongs to
        another service; the parent may start anywhere. Jaeger's dependency links.
        """
        spans = self._span_list()
        service_of: dict[tuple[bytes, bytes], str] = {}
        for s in spans:
            service_of.setdefault((s.trace_id, s.span_id), s.service_name)
        calls: dict[tuple[str, str], int] = {}
        for s in spans:
            if not s.parent_span_id or not start_ns <= s.start_time_unix_nano < end_ns:
                continue
            parent = service_of.get((s.trace_id, s.parent_span_id))
            if parent is not None and parent != s.service_name:
                calls[(parent, s.service_name)] = calls.get((parent, s.service_name), 0) + 1
        return sorted((p, c, n) for (p, c), n in calls.items())

    def span_timings(
        self, service: str, kinds: Sequence[int], start_ns: int, end_ns: int
    ) -> SpanTimings:
        """Start, duration, error flag and operation of ``service``'s spans of ``kinds``
        starting in [start_ns, end_ns), in arrival order."""
        wanted = {int(k) for k in kinds}
        rows = [
            s
            for s in self._span_list()
            if s.service_name == service
            and int(s.kind) in wanted
            and start_ns <= s.start_time_unix_nano < end_ns
        ]
        return SpanTimings(
            [s.start_time_unix_nano for s in rows],
            [s.duration_nanos for s in rows],
            [s.status_code == StatusCode.ERROR for s in rows],
            [s.operation_name for s in rows],
        )
