"""The memory store's side of a data directory: :class:`~infertrace.engine.journal.Durable`.

:class:`Journaled` is mixed into :class:`~infertrace.telemetry.memory.store.MemoryStore`.
It owns the journal, each table's applied LSN and the protocol methods; the
store's write paths call :meth:`Journaled._log` inside a table's write lock (just
before applying) and :meth:`Journaled._wait` after releasing it, following the
rules of :mod:`infertrace.engine.journal`. Without a journal (the default) a
write path pays one attribute read.

Tables: ``spans``, ``logs``, ``metrics``. Records are
:mod:`~infertrace.telemetry.memory.durable`'s; states are
:mod:`~infertrace.telemetry.memory.capture`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from infertrace.engine.gcpause import gc_paused
from infertrace.engine.journal import Journal, wait_for
from infertrace.engine.rwlock import RWLock
from infertrace.engine.snapfile import TableState
from infertrace.errors import InvalidRecord, LogUnavailable
from infertrace.telemetry.memory import capture, durable
from infertrace.telemetry.memory.logs import LogTable
from infertrace.telemetry.memory.metrics import MetricTable
from infertrace.telemetry.memory.span_query import SpanRows
from infertrace.telemetry.memory.spans import SpanTable
from infertrace.telemetry.validate import check_batch

TABLES = ("spans", "logs", "metrics")


class Journaled:
    """Durable participation for the memory store; see the module doc."""

    _spans: SpanTable
    _rows: SpanRows
    _logs: LogTable
    _metrics: MetricTable
    _span_lock: RWLock
    _log_lock: RWLock
    _metric_lock: RWLock
    _journal: Journal | None = None
    _clock: Callable[[], int]
    _check_open: Callable[[], None]
    _applied: dict[str, int]

    writes_block = False
    """False with a journal attached too: a write's wait for the log goes through
    :func:`~infertrace.engine.journal.wait_for`, which the receivers defer and settle
    without blocking their loop, so they run writes inline as without one."""

    def table_names(self) -> Sequence[str]:
        """``("spans", "logs", "metrics")``."""
        return TABLES

    def attach(self, journal: Journal | None) -> None:
        """Log every later change through ``journal`` (None: stop logging). Takes each
        table's write lock, so no write is half logged across the switch."""
        with self._span_lock.write(), self._log_lock.write(), self._metric_lock.write():
            self._journal = journal

    def _lock(self, table: str) -> RWLock:
        if table == "spans":
            return self._span_lock
        if table == "logs":
            return self._log_lock
        if table == "metrics":
            return self._metric_lock
        raise ValueError(f"the memory store has no table {table!r}; it has {', '.join(TABLES)}")

    def capture(self) -> Mapping[str, TableState]:
        """Each table's full state with its ``applied_lsn``, each under its read lock
        (tables one after the other: writes to the others go on). O(capacity)."""
        out: dict[str, TableState] = {}
        with gc_paused(), self._span_lock.read():
            out["spans"] = capture.capture_spans(self._spans, self._applied["spans"])
        with gc_paused(), self._log_lock.read():
            out["logs"] = capture.capture_logs(self._logs, self._applied["logs"])
        with gc_paused(), self._metric_lock.read():
            out["metrics"] = capture.capture_metrics(self._metrics, self._applied["metrics"])
        return out

    def restore(self, states: Mapping[str, TableState]) -> None:
        """Replace the tables by captured states, capacities included (see :meth:`resize`
        to apply other ones); a table missing from ``states`` starts empty at this
        store's capacity. ValueError naming the table if a state is unusable (every
        table is then left as it was). O(capacity)."""
        unknown = set(states) - set(TABLES)
        if unknown:
            raise ValueError(f"no memory-store table is named {sorted(unknown)}")
        built: dict[str, Any] = {}
        for name, restore, empty in (
            ("spans", capture.restore_spans, SpanTable),
            ("logs", capture.restore_logs, LogTable),
            ("metrics", capture.restore_metrics, MetricTable),
        ):
            ts = states.get(name)
            if ts is None:
                built[name] = (empty(self._table(name).table.capacity), 0)
                continue
            try:
                with gc_paused():
                    built[name] = (restore(ts), capture.applied_lsn(ts))
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                raise ValueError(f"the {name} table's state is unusable: {exc!r}") from exc
        with self._span_lock.write(), self._log_lock.write(), self._metric_lock.write():
            self._set_tables(built["spans"][0], built["logs"][0], built["metrics"][0])
            self._applied = {name: lsn for name, (_, lsn) in built.items()}

    def resize(
        self,
        span_capacity: int | None = None,
        log_capacity: int | None = None,
        metric_capacity: int | None = None,
    ) -> None:
        """Give tables new capacities (None: unchanged), e.g. the configured ones after a
        restore from a snapshot taken with others. A smaller ring evicts its oldest
        rows through the table's own eviction; rows keep their sequence numbers and
        answer every query as before (:func:`capture.resized`). Call it before
        attaching a journal. Each logged write carries its table's capacity, and a
        replay takes it before applying the write. O(capacity)."""
        wanted = (("spans", span_capacity), ("logs", log_capacity),
                  ("metrics", metric_capacity))  # fmt: skip
        for name, capacity in wanted:
            if capacity is not None and capacity < 1:
                raise ValueError(f"{name} capacity must be at least 1, got {capacity}")
        for name, capacity in wanted:
            if capacity is not None:
                with self._lock(name).write(), gc_paused():
                    self._resize_locked(name, capacity)

    def _resize_locked(self, table: str, capacity: int) -> None:
        """Give ``table`` a ring of ``capacity`` (the caller holds its write lock)."""
        if capacity == self._table(table).table.capacity:
            return
        applied = self._applied[table]
        if table == "spans":
            state = capture.resized(self._spans, capacity, applied)
            self._set_tables(capture.restore_spans(state), self._logs, self._metrics)
        elif table == "logs":
            self._logs = capture.restore_logs(capture.resized(self._logs, capacity, applied))
        else:
            state = capture.resized(self._metrics, capacity, applied)
            self._metrics = capture.restore_metrics(state)

    def _set_tables(self, spans: SpanTable, logs: LogTable, metrics: MetricTable) -> None:
        self._spans, self._rows = spans, SpanRows(spans)
        self._logs, self._metrics = logs, metrics

    def replay(self, table: str, lsn: int, payload: bytes) -> None:
        """Apply a logged change again, without logging it; a record at or below the
        table's applied LSN is already in it and is skipped. A write the store refused
        when it was first made (InvalidRecord) is refused again and stores nothing, as
        then. ValueError for a record that is not one of this store's."""
        lock = self._lock(table)
        logged = durable.decode(table, payload)
        with lock.write():
            if lsn <= self._applied[table]:
                return
            if logged.kind == durable.PURGE:
                self._table(table).purge(logged.time)
            else:
                assert logged.batch is not None
                if logged.capacity:  # the ring the write went into (0: not recorded)
                    with gc_paused():
                        self._resize_locked(table, logged.capacity)
                with contextlib.suppress(InvalidRecord):  # refused then too: stores nothing
                    self._apply(table, logged.batch, logged.time)
            self._applied[table] = lsn

    def _table(self, table: str) -> SpanTable | LogTable | MetricTable:
        if table == "spans":
            return self._spans
        return self._logs if table == "logs" else self._metrics

    def _apply(self, table: str, records: Sequence[Any], now: int) -> None:
        """Store a replayed batch as its write did (the caller holds the write lock)."""
        if table == "spans":
            self._spans.store(self._spans.prepare(records), records, now)
        elif table == "logs":
            self._logs.append(records, now)
        else:
            self._metrics.append(records, now)

    def _write_logged(
        self, table: str, records: Sequence[Any], problem: Any, apply: Callable[[int], None]
    ) -> None:
        """A write with a journal attached: encode before the lock; under it stamp the
        receive time, log, then ``apply(now)``; wait for durability after it. The
        journal is read under the lock (attach takes it), so a write racing attach or
        detach is logged exactly when it is applied with a journal in place."""
        record = self._encode(table, records, problem)
        with self._lock(table).write():
            self._check_open()
            now = self._clock()
            journal = self._journal
            lsn = 0
            if journal is not None:
                capacity = self._table(table).table.capacity
                lsn = self._log(journal, table, durable.stamp(record, now, capacity))
            apply(now)
        if journal is not None:
            self._wait(journal, table, lsn)

    def _encode(self, table: str, records: Sequence[Any], problem: Any) -> bytearray:
        """The record of a write (before the lock); InvalidRecord naming the bad record
        when the batch holds values that are not plain data."""
        try:
            return durable.encode_write(table, records)
        except (TypeError, ValueError, AttributeError, OverflowError):
            check_batch(records, problem)
            raise InvalidRecord(0, f"a {table} batch holds values that cannot be logged") from None

    def _log(self, journal: Journal, table: str, payload: bytes | bytearray) -> int:
        """Append one record (inside the table's write lock); LogUnavailable if the disk
        refuses it, and then nothing may be applied."""
        try:
            lsn = journal.append(table, memoryview(payload))
        except OSError as exc:
            raise LogUnavailable(
                f"cannot log a {table} write: {exc.strerror or exc} "
                f"({exc.filename or 'write-ahead log'}); nothing was stored"
            ) from exc
        except ValueError as exc:  # the journal was closed
            raise LogUnavailable(f"cannot log a {table} write: {exc}") from exc
        self._applied[table] = lsn
        return lsn

    @staticmethod
    def _wait(journal: Journal, table: str, lsn: int) -> None:
        """Wait until record ``lsn`` is durable (outside the lock), or leave it to an
        enclosing deferral (:func:`~infertrace.engine.journal.wait_for`); LogUnavailable
        if the fsync covering it failed (the write is stored but must not be acknowledged)."""
        try:
            wait_for(journal, lsn)
        except OSError as exc:
            raise LogUnavailable(
                f"a {table} write could not be made durable: {exc.strerror or exc} "
                f"({exc.filename or 'write-ahead log'})"
            ) from exc


__all__ = ["TABLES", "Journaled"]
