"""The store protocols the collector and the API depend on.

Every backend (memory, PostgreSQL) implements all of them; the collector and the
query layer only ever see these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter


@dataclass(frozen=True, slots=True)
class SignalStats:
    """Measured size of one signal's storage.

    ``capacity`` is the number of records the store can hold, or None when it is
    unbounded (PostgreSQL: bounded by retention and disk, not by a row count).
    """

    capacity: int | None
    count: int
    evicted: int
    index_entries: int
    data_bytes: int
    index_bytes: int
    distinct_traces: int = 0

    @property
    def total_bytes(self) -> int:
        return self.data_bytes + self.index_bytes


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Per-signal stats of a whole store."""

    spans: SignalStats
    logs: SignalStats
    metrics: SignalStats

    @property
    def total_bytes(self) -> int:
        return self.spans.total_bytes + self.logs.total_bytes + self.metrics.total_bytes


@runtime_checkable
class SpanWriter(Protocol):
    """Accepts spans; a batch is all stored or, on InvalidRecord, none of it."""

    def write(self, span: Span) -> None: ...

    def write_batch(self, spans: Sequence[Span]) -> None: ...


@runtime_checkable
class SpanReader(Protocol):
    """Trace lookup and span search."""

    def get_trace(self, trace_id: str | bytes) -> list[Span]: ...

    def list_spans(self, flt: SpanFilter) -> list[Span]: ...

    def services(self) -> list[str]: ...

    def operations(self, service: str) -> list[str]: ...

    def models(self) -> list[str]: ...

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        """(parent service, child service, calls) for spans starting in [start_ns,
        end_ns) whose parent span is another service's, sorted (Jaeger's links)."""
        ...

    def span_timings(
        self, service: str, kinds: Sequence[int], start_ns: int, end_ns: int
    ) -> SpanTimings:
        """Start, duration, error and operation of ``service``'s spans of ``kinds``
        (``SpanKind`` values) starting in [start_ns, end_ns), in no order (Jaeger's
        Monitor tab)."""
        ...


@runtime_checkable
class LogWriter(Protocol):
    """Accepts log records; a batch is all stored or, on InvalidRecord, none of it."""

    def write_logs(self, records: Sequence[LogRecord]) -> None: ...


@runtime_checkable
class MetricWriter(Protocol):
    """Accepts metric points; a batch is all stored or, on InvalidRecord, none of it."""

    def write_metrics(self, points: Sequence[MetricPoint]) -> None: ...


@runtime_checkable
class TelemetryWriter(SpanWriter, LogWriter, MetricWriter, Protocol):
    """The write side of every signal: all the collector's pipeline needs of a store."""


@runtime_checkable
class LogStore(LogWriter, Protocol):
    """Log records: atomic batch writes and filtered reads."""

    def list_logs(self, flt: LogFilter) -> list[LogRecord]: ...


@runtime_checkable
class MetricStore(MetricWriter, Protocol):
    """Metric points: atomic batch writes and filtered reads."""

    def list_metric_points(self, flt: MetricFilter) -> list[MetricPoint]: ...

    def metric_names(self) -> list[str]: ...


@runtime_checkable
class Maintenance(Protocol):
    """Retention, measurement and shutdown."""

    def purge_older_than(self, max_age: timedelta | float) -> int: ...

    def start_purge(self, interval: timedelta | float, max_age: timedelta | float) -> None: ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...


@runtime_checkable
class TelemetryStore(SpanWriter, SpanReader, LogStore, MetricStore, Maintenance, Protocol):
    """Everything a backend offers: what ``--store`` selects."""


@dataclass(frozen=True, slots=True)
class Health:
    """A store's availability as last checked: ``reason`` says why when not ``ok``."""

    ok: bool
    reason: str = ""
    checked_unix: float = 0.0
    """When the check ran (``time.time()``); 0 when never."""


@runtime_checkable
class Monitored(Protocol):
    """A store watched in the background, whose health and stats come from a cache.

    Both methods answer at once, never touching the backend: health probes,
    /metrics and the query API's fail-fast check call them on the event loop.
    """

    def health(self) -> Health: ...

    def cached_stats(self) -> StoreStats | None: ...


def writes_block(store: object) -> bool:
    """Whether the store's writes wait on I/O (a database commit).

    Such writes must not run on an event loop: the receivers hand them to worker
    threads, enough of them at once for the store to group their commits. A
    store says so with a true ``writes_block`` attribute; the memory store does not,
    with a data directory either: its waits for the write-ahead log go through
    :func:`~infertrace.engine.journal.wait_for`, which the receivers defer.
    """
    return bool(getattr(store, "writes_block", False))


@runtime_checkable
class Drains(Protocol):
    """A store that may hold accepted writes not yet stored when it is shut down."""

    def shutdown(self, timeout: float) -> str | None:
        """Close, waiting up to ``timeout`` s; None when nothing accepted was left
        unstored, else a message naming what was left (and refused to its senders)."""
        ...


@dataclass(frozen=True, slots=True)
class SpanTimings:
    """Columns of the spans a metrics query reads: entry ``i`` of each is span ``i``."""

    start_unix_nano: Sequence[int]
    duration_nanos: Sequence[int]
    error: Sequence[bool]
    """Whether the span's status is ERROR."""
    operation: Sequence[str]
