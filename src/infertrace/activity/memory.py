"""The in-memory activity store: four column tables behind one reader–writer lock.

Readers share the lock; a writer holds it alone and briefly (a batch of 10,000
holds it for its check and insert, a few milliseconds), so a reader sees a
batch entirely or not at all: a skip or replace batch too
(:meth:`MemoryActivityStore.upsert_batch` decides, logs and applies it under one
lock). Every write checks everything before it changes anything. Listeners
(the aggregation cache) hear which days a write touched after the lock is let
go, never under it.

Durable (:class:`infertrace.engine.journal.Durable`, one table ``activity``,
records in :mod:`infertrace.activity.durable`): with a journal attached, every
write is appended inside the write lock once it is known to apply and before it
is visible, and awaited after the lock is let go; a journal that refuses it
(OSError) makes the write raise LogUnavailable with nothing applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar

import numpy as np

from infertrace.activity import durable
from infertrace.activity.records import DAY_NS, Commit, Developer, Record
from infertrace.activity.store import OnConflict, UpsertResult
from infertrace.activity.tables import LAYOUTS, Layout
from infertrace.activity.view import ActivityView, check_page, layout_of
from infertrace.engine.columnar import ColumnTable
from infertrace.engine.colupsert import RULES, Upserted
from infertrace.engine.journal import Journal, wait_for
from infertrace.engine.planner import Between
from infertrace.engine.rwlock import RWLock
from infertrace.engine.snapfile import TableState
from infertrace.errors import (
    CapacityExceeded,
    DuplicateRecord,
    InvalidParameter,
    LogUnavailable,
    RecordNotFound,
)

R = TypeVar("R", bound=Record)

Listener = Callable[[type, "frozenset[int] | None"], None]
"""Told ``(kind, days)`` after a write: the UTC days it touched, None for all days."""


@dataclass(frozen=True, slots=True)
class KindStats:
    """Measured memory of one record type: rows (records and their share of their
    values), indexes (the primary hash table and every secondary index)."""

    kind: str
    count: int
    limit: int | None
    row_bytes: int
    index_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.row_bytes + self.index_bytes

    @property
    def bytes_per_record(self) -> float:
        return self.total_bytes / self.count if self.count else 0.0


class MemoryActivityStore:
    """:class:`~infertrace.activity.store.ActivityStore` in memory; thread-safe.

    ``limits`` caps records per type (keys: record classes or their names, such
    as ``"commit"``); a write that would pass one raises CapacityExceeded and
    writes nothing. Lookups by key or unique field are O(1), indexed filters
    O(1) / O(log n) plus the rows returned (see ``tables.py`` for the indexes).
    """

    def __init__(self, *, limits: Mapping[type[Record] | str, int] | None = None) -> None:
        self._lock = RWLock()
        self._tables: dict[type, ColumnTable[Any]] = {
            kind: layout.table() for kind, layout in LAYOUTS.items()
        }
        self._view = ActivityView(self._tables)
        self._limits: dict[type, int] = {}
        for key, limit in (limits or {}).items():
            kind = key if isinstance(key, type) else _kind_named(key)
            layout_of(kind)
            if type(limit) is not int or limit < 0:
                raise InvalidParameter("limits", f"limit {limit!r} of {key!r} must be an int >= 0")
            self._limits[kind] = limit
        self._listeners: list[Listener] = []
        self._journal: Journal | None = None
        self._applied_lsn = 0

    # -- locking ---------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[ActivityView]:
        """Hold the read lock; the view sees every table at one instant."""
        self._lock.acquire_read()
        try:
            yield self._view
        finally:
            self._lock.release_read()

    @contextmanager
    def exclusive(self) -> Iterator[dict[type, ColumnTable[Any]]]:
        """Hold the write lock over the raw tables, for whole-store work in this
        package (repair, restore); every listener hears "all days" afterwards."""
        self._lock.acquire_write()
        try:
            yield self._tables
        finally:
            self._lock.release_write()
            for kind in LAYOUTS:
                self._notify(kind, None)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, days)`` after every write (outside the lock)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener``; a no-op if it was not subscribed."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, kind: type, days: frozenset[int] | None) -> None:
        for listener in tuple(self._listeners):  # a copy: (un)subscribing may race
            listener(kind, days)

    # -- durability ---------------------------------------------------------------

    def table_names(self) -> Sequence[str]:
        """The store's one table in a data directory (:data:`durable.TABLE`)."""
        return (durable.TABLE,)

    def attach(self, journal: Journal | None) -> None:
        """Log every later write through ``journal`` (None: stop logging)."""
        self._lock.acquire_write()
        try:
            self._journal = journal
        finally:
            self._lock.release_write()

    def capture(self) -> Mapping[str, TableState]:
        """Every record type's columns at one instant, with ``applied_lsn``. O(n)
        array copies under the read lock."""
        with self.reading() as view:
            return {durable.TABLE: durable.capture(view.tables, self._applied_lsn)}

    def restore(self, states: Mapping[str, TableState]) -> None:
        """Replace every table by a captured state (empty without one); ValueError if
        it is unusable, the store then unchanged. Not logged."""
        state = states.get(durable.TABLE)
        if state is None:
            tables, lsn = {kind: layout.table() for kind, layout in LAYOUTS.items()}, 0
        else:
            tables, lsn = durable.restore(state)
        with self.exclusive() as current:
            current.update(tables)
            self._applied_lsn = lsn

    def replay(self, table: str, lsn: int, payload: bytes) -> None:
        """Apply a logged write again (not logging it), unless ``lsn`` is at or below
        the applied LSN; ValueError if the record is unusable."""
        if table != durable.TABLE:
            raise ValueError(f"the activity store has no table {table!r}")
        if lsn <= self._applied_lsn:
            return
        tag, layout, body = durable.decode(payload)
        with self.exclusive() as tables:
            current = tables[layout.kind]
            if tag == b"I":
                problems = current.insert_columns(body)
                if problems:
                    raise ValueError(f"activity log record {lsn}: {problems[0][1]}")
            elif tag == b"P":
                done = current.upsert_columns(body, "replace")
                if isinstance(done, list):
                    raise ValueError(f"activity log record {lsn}: {done[0][1]}")
            elif tag == b"U":
                row = [body[name][0] for name in layout.fields]
                current.update(layout.kind(*row))
            elif tag == b"D":
                for key in body:
                    current.delete(key)
            elif tag == b"C":
                for each in tables.values():
                    each.clear()
            else:
                tables.update(body)
            self._applied_lsn = lsn

    def _log(self, payload: Callable[[], bytes]) -> tuple[Journal, int] | None:
        """Append a change (call under the write lock, before applying it); LogUnavailable
        when the journal refuses it."""
        journal = self._journal
        if journal is None:
            return None
        try:
            lsn = journal.append(durable.TABLE, payload())
        except (OSError, ValueError) as exc:
            raise LogUnavailable(f"activity write not logged, nothing stored: {exc}") from exc
        self._applied_lsn = lsn
        return journal, lsn

    @staticmethod
    def _durable(logged: tuple[Journal, int] | None) -> None:
        """Wait (outside the lock) until a logged change is durable."""
        if logged is None:
            return
        journal, lsn = logged
        try:
            wait_for(journal, lsn)  # or left to an enclosing deferral block
        except OSError as exc:
            raise LogUnavailable(f"activity write {lsn} not made durable: {exc}") from exc

    # -- writes ----------------------------------------------------------------

    def save(self, record: Record) -> None:
        """Insert one record. O(indexes), amortised."""
        layout = layout_of(type(record))
        problems, logged = self._insert(layout, (record,))
        if problems:
            raise DuplicateRecord(f"{layout.name} refused: {problems[0][1]}")
        self._durable(logged)
        self._notify(layout.kind, _days(layout, (record,)))

    def save_batch(self, records: Sequence[Record]) -> int:
        """Insert every record (all of one type) or none; how many. Readers see all
        of them or none. DuplicateRecord lists every clashing record by index.
        O(m) vectorised, amortised."""
        if not records:
            return 0
        layout = _one_kind(records)
        problems, logged = self._insert(layout, records)
        if problems:
            raise _refused(layout, problems, len(records))
        self._durable(logged)
        self._notify(layout.kind, _days(layout, records))
        return len(records)

    def upsert_batch(
        self, records: Sequence[Record], on_conflict: OnConflict = "error"
    ) -> UpsertResult:
        """Insert ``records`` (one type), skipping or replacing those whose key is
        stored, as one change (rules: :mod:`infertrace.engine.colupsert`): decided,
        checked against the limit, logged as one journal record and applied under one
        write lock, so readers see the whole batch or none of it, and a replay repeats
        it. DuplicateRecord lists every refused record by index, CapacityExceeded and
        LogUnavailable refuse it whole: nothing changes. O(m) vectorised, amortised."""
        if on_conflict not in RULES:
            raise InvalidParameter("on_conflict", f"on_conflict {on_conflict!r} is not one of "
                                   f"{', '.join(RULES)}")  # fmt: skip
        if not records:
            return UpsertResult(0, 0, 0)
        layout = _one_kind(records)
        table = self._tables[layout.kind]
        values = table.extract(records)  # reads immutable records: no lock needed
        tag = b"I" if on_conflict == "error" else b"P"
        logged: list[tuple[Journal, int] | None] = [None]

        def before(plan: Upserted[Any]) -> None:
            self._check_room(layout, plan.inserted)
            if len(plan.written):
                payload = partial(durable.values_payload, tag, layout, plan.values)
                logged[0] = self._log(payload)

        keep_old = layout.kind is not Developer  # for their days (a developer's: all days)
        self._lock.acquire_write()
        try:
            done = table.upsert_columns(values, on_conflict, before, old=keep_old)
        finally:
            self._lock.release_write()
        if isinstance(done, list):
            raise _refused(layout, done, len(records))
        self._durable(logged[0])
        if len(done.written):
            written = [records[i] for i in done.written.tolist()]
            self._notify(layout.kind, _days(layout, [*written, *done.old]))
        return UpsertResult(done.inserted, done.skipped, done.replaced)

    def _insert(
        self, layout: Layout, records: Sequence[Record]
    ) -> tuple[list[tuple[int, str]], tuple[Journal, int] | None]:
        table = self._tables[layout.kind]
        values = table.extract(records)  # reads immutable records: no lock needed
        logged: list[tuple[Journal, int] | None] = [None]

        def log() -> None:
            logged[0] = self._log(lambda: durable.values_payload(b"I", layout, values))

        self._lock.acquire_write()
        try:
            self._check_room(layout, len(records))
            problems = table.insert_columns(values, before=log)
        finally:
            self._lock.release_write()
        return problems, logged[0]

    def _check_room(self, layout: Layout, adding: int) -> None:
        limit = self._limits.get(layout.kind)
        held = len(self._tables[layout.kind])
        if limit is not None and held + adding > limit:
            raise CapacityExceeded(
                f"{layout.name} limit {limit} reached: {held} stored, {adding} more refused"
            )

    def update(self, record: R) -> R:
        """Replace the record with ``record``'s key; the old one. O(indexes)."""
        layout = layout_of(type(record))
        table = self._tables[layout.kind]
        logged: list[tuple[Journal, int] | None] = [None]

        def log() -> None:
            values = table.extract((record,))
            logged[0] = self._log(lambda: durable.values_payload(b"U", layout, values))

        self._lock.acquire_write()
        try:
            try:
                old: R = table.update(record, before=log)
            except KeyError:
                key = getattr(record, layout.key)
                raise RecordNotFound(layout.name, key) from None
            except ValueError as exc:
                raise DuplicateRecord(f"{layout.name} refused: {exc}") from None
        finally:
            self._lock.release_write()
        self._durable(logged[0])
        self._notify(layout.kind, _days(layout, (old, record)))
        return old

    def delete(self, kind: type[R], key: str) -> R:
        """Remove and return a record; RecordNotFound if none. O(indexes)."""
        layout = layout_of(kind)
        if kind is Commit and isinstance(key, str):
            key = key.lower()
        logged: list[tuple[Journal, int] | None] = [None]

        def log() -> None:
            logged[0] = self._log(lambda: durable.keys_payload(layout, [key]))

        self._lock.acquire_write()
        try:
            try:
                old: R = self._tables[kind].delete(key, before=log)
            except (KeyError, TypeError):
                raise RecordNotFound(layout.name, key) from None
        finally:
            self._lock.release_write()
        self._durable(logged[0])
        self._notify(kind, _days(layout, (old,)))
        return old

    def replace_tables(self, tables: Mapping[type, ColumnTable[Any]], *, source: str = "") -> None:
        """Swap in a whole new table for each record type (a restore builds them off
        the lock); CapacityExceeded, and nothing swapped, if one passes its limit.
        Logged whole (``source`` names where they came from, for messages)."""
        if set(tables) != set(LAYOUTS):
            raise InvalidParameter("tables", f"tables {sorted(map(str, tables))} must be "
                                   "one per record type")  # fmt: skip
        for kind, limit in self._limits.items():
            if len(tables[kind]) > limit:
                raise CapacityExceeded(f"{LAYOUTS[kind].name} limit {limit} is below the "
                                       f"{len(tables[kind])} records offered"
                                       + (f" by {source}" if source else ""))  # fmt: skip
        with self.exclusive() as current:
            logged = self._log(lambda: durable.replace_payload(tables))
            current.update(tables)
        self._durable(logged)

    def clear(self) -> None:
        """Forget every record."""
        with self.exclusive() as tables:
            logged = self._log(durable.clear_payload)
            for table in tables.values():
                table.clear()
        self._durable(logged)

    def drop(self, kind: type[R], keys: Sequence[str]) -> int:
        """Delete the records of ``kind`` under ``keys`` (absent ones ignored), as one
        logged change under one lock; how many went. O(len(keys))."""
        layout = layout_of(kind)
        with self.exclusive() as tables:
            table = tables[kind]
            present = [k for k in keys if table.get(k) is not None]
            logged = self._log(lambda: durable.keys_payload(layout, present)) if present else None
            for key in present:
                table.delete(key)
        self._durable(logged)
        return len(present)

    # -- reads -----------------------------------------------------------------

    def get(self, kind: type[R], key: str) -> R:
        """The record under ``key``; RecordNotFound if none. O(1)."""
        self._lock.acquire_read()
        try:
            found = self._view.get(kind, key)
        finally:
            self._lock.release_read()
        if found is None:
            raise RecordNotFound(layout_of(kind).name, key)
        return found

    def find_developer(self, email: str) -> Developer:
        """The developer with ``email`` (any case); RecordNotFound if none. O(1)."""
        if type(email) is not str:
            raise InvalidParameter("email", f"email {email!r} must be a string")
        self._lock.acquire_read()
        try:
            found = self._tables[Developer].find("email", email.lower())
        finally:
            self._lock.release_read()
        if found is None:
            raise RecordNotFound("developer email", email)
        return found  # type: ignore[no-any-return]

    def count(self, kind: type[Record], filters: Mapping[str, object] | None = None) -> int:
        """How many records match. O(1) or O(log n) when one index answers."""
        with self.reading() as view:
            return view.count(kind, filters)

    def get_commits_in_range(
        self, start: int, end: int, *, developer_id: str | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> list[Commit]:  # fmt: skip
        """Commits with ``start <= timestamp < end``, oldest first (ties by sha).
        O(log n + k) for k commits read."""
        for name, value in (("start", start), ("end", end)):
            if type(value) is not int or value < 0:
                raise InvalidParameter(name, f"{name} {value!r} must be unix nanoseconds")
        check_page(limit, offset)
        filters: dict[str, object] = {"timestamp": Between("timestamp", start, end)}
        if developer_id is not None:
            filters["developer_id"] = developer_id
        return self.list(Commit, filters, limit=limit, offset=offset, order_by="timestamp")

    # -- stats and invariants --------------------------------------------------

    def memory_stats(self, sample: int | None = 20_000) -> dict[str, KindStats]:
        """Per record type: count, limit, bytes measured from the structures; rows
        measured on up to ``sample`` records per type and scaled (None: all of them),
        indexes whole (see :meth:`ColumnTable.nbytes`). O(index entries + sample)."""
        out: dict[str, KindStats] = {}
        with self.reading():
            for kind, layout in LAYOUTS.items():
                b = self._tables[kind].nbytes(sample)
                index_bytes = b.primary + sum(b.indexes.values())
                out[layout.name] = KindStats(
                    layout.name, b.count, self._limits.get(kind), b.rows, index_bytes
                )
        return out

    def _check(self) -> None:
        with self.reading():
            for table in self._tables.values():
                table._check()

    def list(
        self, kind: type[R], filters: Mapping[str, object] | None = None, *,
        limit: int | None = None, offset: int = 0, order_by: str | None = None,
        reverse: bool = False,
    ) -> list[R]:  # fmt: skip
        """Matching records by key (or by ``order_by``, the type's time column),
        from ``offset``, at most ``limit``; see :meth:`ColumnTable.query`."""
        with self.reading() as view:
            return view.query(
                kind, filters, limit=limit, offset=offset, order_by=order_by, reverse=reverse
            )


def _one_kind(records: Sequence[Record]) -> Layout:
    """The layout of a batch's one record type; InvalidParameter naming the strays."""
    layout = layout_of(type(records[0]))
    if set(map(type, records)) != {layout.kind}:
        strays = [i for i, r in enumerate(records) if type(r) is not layout.kind]
        raise InvalidParameter(
            "records", f"records {strays[:10]} are not {layout.kind.__name__} like record 0 "
            "(a batch holds one type)",
        )  # fmt: skip
    return layout


def _refused(layout: Layout, problems: list[tuple[int, str]], total: int) -> DuplicateRecord:
    first = problems[0]
    return DuplicateRecord(
        f"{len(problems)} of {total} {layout.name} records refused, nothing stored; "
        f"first: record {first[0]}: {first[1]}",
        problems,
    )


def _kind_named(name: str) -> type[Record]:
    for kind, layout in LAYOUTS.items():
        if layout.name == name:
            return kind
    raise InvalidParameter("limits", f"limit for {name!r}: no such record type")


def _days(layout: Layout, records: Sequence[Record]) -> frozenset[int] | None:
    """The UTC days the records fall on; None (every day) for developers, whose
    region and team every stat of every day depends on."""
    if layout.kind is Developer:
        return None
    times = np.fromiter(map(attrgetter(layout.time), records), np.int64, len(records))
    return frozenset(np.unique(times // DAY_NS).tolist())
