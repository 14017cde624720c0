"""A general indexed table stored by column: rows in NumPy arrays, records built on read.

Columns come from :class:`~infertrace.engine.coldata.ColumnSpec` (ints, floats
and bools native, text dictionary-encoded) plus *derived* int columns computed
vectorised from another (a day number from a time). The caller's records go in
through ``getters`` (one per stored column) and come out through ``make`` (the
stored values in column order), so a stored row costs a few bytes a column
instead of a Python object, and a batch is encoded column by column at C speed.

Rows are numbered in the order they arrive and never change: an update appends
the new version and retires the old one (a ``live`` mask), a delete retires.
Once retired rows outnumber live ones the table compacts (copies the live rows,
re-encodes the dictionaries, rebuilds the indexes): amortised O(1) per write.

Indexes (:mod:`~infertrace.engine.colindex`): the primary key and other unique
columns, hash indexes on one column or a composite of two, range indexes on
int or float columns. A batch is checked for every clash at once (vectorised)
and stored whole or not at all; problems list every refused record by position.
:meth:`ColumnTable.query` asks :func:`~infertrace.engine.planner.plan` for the
most selective index, then filters its rows by the other predicates as vector
operations over the columns, orders, pages, and builds records for the page only.

Order is stable: by primary key, or by ``(column, primary key)`` when a query
orders by a range-indexed column. :meth:`ColumnTable.select` hands aggregations
the matching rows' columns as arrays (codes for text: see :meth:`dictionary`).

Not thread-safe: the owner guards a table with a reader–writer lock. Every write
checks everything before it changes anything, so a failed write leaves the table
as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import count as _counter
from typing import Any, Generic, TypeVar

import numpy as np

from infertrace.engine.colcheck import drift, repeats
from infertrace.engine.coldata import NULL, Array, Column, ColumnSpec
from infertrace.engine.colindex import Index, IndexKind, SortedIndex, UniqueIndex
from infertrace.engine.colorder import KeyOrder, by_column, predicate_mask
from infertrace.engine.colupsert import OnConflict, Upserted, upsert
from infertrace.engine.planner import Between, Plan, Predicate, plan

R = TypeVar("R")

Problem = tuple[int, str]
"""``(position in the batch, reason)`` of a row a batch write refuses."""


@dataclass(frozen=True, slots=True)
class TableBytes:
    """Measured sizes: ``rows`` (the column arrays and their dictionaries' share),
    ``primary`` (the primary-key index) and ``indexes`` (index name -> bytes)."""

    count: int
    rows: int
    primary: int
    indexes: Mapping[str, int]

    @property
    def total(self) -> int:
        return self.rows + self.primary + sum(self.indexes.values())


__all__ = ["Array", "ColumnSpec", "ColumnTable", "Derived"]
Derived = tuple[str, Callable[[Array], Array]]
"""A derived int column: (the column it is computed from, the vectorised function)."""
MIN_DEAD = 1024
"""Fewer retired rows than this never trigger a compaction."""
_UIDS = _counter(1)


class ColumnTable(Generic[R]):
    """Records stored by column, keyed by ``key``, with unique, hash, composite and
    range indexes (an index is named by its columns joined with ``+``)."""

    def __init__(
        self,
        key: str,
        specs: Sequence[ColumnSpec],
        getters: Mapping[str, Callable[[Any], Any]],
        make: Callable[..., R],
        *,
        derived: Mapping[str, Derived] | None = None,
        make_many: Callable[[list[list[Any]]], list[R]] | None = None,
        unique: Sequence[str] = (),
        hashed: Sequence[str | tuple[str, ...]] = (),
        ranged: Sequence[str] = (),
    ) -> None:
        self.specs = tuple(specs)
        self.stored = tuple(s.name for s in self.specs)
        if key not in self.stored:
            raise ValueError(f"primary key {key!r} is not a column")
        missing = [n for n in self.stored if n not in getters]
        if missing:
            raise ValueError(f"no getter for columns {missing}")
        self.key = key
        self.getters = [getters[n] for n in self.stored]
        self.make = make
        self.make_many = make_many
        """Builds many records from their columns at once (faster than ``make`` per
        record when it can set one field of every record in a C-level loop)."""
        self.derived = dict(derived or {})
        self.columns: dict[str, Column] = {s.name: Column(s) for s in self.specs}
        for name, (source, _) in self.derived.items():
            if source not in self.columns or self.columns[source].spec.kind != "int":
                raise ValueError(f"derived column {name!r}: {source!r} is not an int column")
            self.columns[name] = Column(ColumnSpec(name, "int"))
        self.live: Array = np.zeros(16, dtype=bool)
        self.n = 0
        self.dead = 0
        self.uid = next(_UIDS)
        """Changes whenever codes are renumbered (compaction, clear, load): a cache
        keyed by codes is valid while it stays the same."""
        self.key_order = KeyOrder(self.columns[key])
        self.indexes: dict[str, Index] = {}
        self._add_index("unique", (key,))
        primary = self.indexes[key]
        assert isinstance(primary, UniqueIndex)
        self.primary = primary
        for c in unique:
            self._add_index("unique", (c,))
        for h in hashed:
            self._add_index("hash", (h,) if isinstance(h, str) else tuple(h))
        for r in ranged:
            if r in self.columns and self.columns[r].spec.kind not in ("int", "float"):
                raise ValueError(f"range index {r!r}: the column must hold ints or floats")
            self._add_index("range", (r,))
        self._unique = [i for i in self.indexes.values() if isinstance(i, UniqueIndex)]
        self._sorted = [i for i in self.indexes.values() if isinstance(i, SortedIndex)]

    def _add_index(self, kind: str, cols: tuple[str, ...]) -> None:
        for c in cols:
            if c not in self.columns:
                raise ValueError(f"index column {c!r} is not a column")
        name = "+".join(cols)
        if name in self.indexes:
            raise ValueError(f"two indexes on {name!r}")
        sources = [self.columns[c] for c in cols]
        if kind == "unique":
            self.indexes[name] = UniqueIndex(name, cols, sources)
        else:
            sorted_kind: IndexKind = "hash" if kind == "hash" else "range"
            self.indexes[name] = SortedIndex(name, cols, sources, sorted_kind)

    # -- reading rows ------------------------------------------------------------

    def __len__(self) -> int:
        return self.n - self.dead

    def __iter__(self) -> Iterator[R]:
        """Every record, in arrival order. O(n), built 4,096 at a time."""
        rows = self.live_rows()
        for start in range(0, len(rows), 4096):
            yield from self.records(rows[start : start + 4096])

    def live_rows(self) -> Array:
        """The numbers of the stored rows, ascending. O(n) vectorised."""
        return np.flatnonzero(self.live[: self.n])

    def records(self, rows: Array) -> list[R]:
        """The records of ``rows``, in that order. O(len(rows))."""
        if not len(rows):
            return []
        cols = [self.columns[n].decode(self.columns[n].data[rows]) for n in self.stored]
        if self.make_many is not None and len(rows) > 8:
            return self.make_many(cols)
        return list(map(self.make, *cols))

    def dictionary(self, column: str) -> list[Any]:
        """Code -> value of a str column (valid until the next write)."""
        return self.columns[column].values

    def record(self, row: int) -> R:
        """The record of one row (a lookup's path: no array is built). O(columns)."""
        columns = self.columns
        return self.make(*[columns[n].value_at(row) for n in self.stored])

    def get(self, pk: Any) -> R | None:
        """The record with primary key ``pk``, or None. O(1)."""
        row = self.primary.owner(self.primary.key_of(pk))
        return None if row < 0 else self.record(row)

    def find(self, column: str, value: Any) -> R | None:
        """The record whose unique ``column`` is ``value``, or None. O(1)."""
        index = self.indexes.get(column)
        if not isinstance(index, UniqueIndex):
            raise ValueError(f"{column!r} has no unique index")
        row = index.owner(index.key_of(value))
        return None if row < 0 else self.record(row)

    # -- writing -----------------------------------------------------------------

    def extract(self, records: Sequence[R]) -> dict[str, list[Any]]:
        """Each stored column's Python values for ``records``. O(m columns)."""
        return {n: list(map(g, records)) for n, g in zip(self.stored, self.getters, strict=True)}

    def check(self, records: Sequence[R]) -> list[Problem]:
        """Why each of ``records`` could not be inserted together: a primary or unique
        key stored already or repeated in the batch. [] if all can. O(m)."""
        values = self.extract(records)
        marks = self._marks()
        try:
            return self._problems(values, self._encode(values))
        finally:
            self._forget(marks)

    def insert(self, record: R) -> None:
        """Add one record; ValueError naming the clash with a stored key."""
        problems = self.insert_many((record,))
        if problems:
            raise ValueError(problems[0][1])

    def insert_many(self, records: Sequence[R]) -> list[Problem]:
        """Add every record, or none: returns the problems of :meth:`check` and stores
        nothing when there are any. O(m) NumPy and dict work, amortised."""
        return self.insert_columns(self.extract(records))

    def insert_columns(
        self,
        values: Mapping[str, Sequence[Any] | Array],
        before: Callable[[], object] | None = None,
    ) -> list[Problem]:
        """:meth:`insert_many` for a batch given by column (Python values); ValueError
        naming a column of the wrong length or type. ``before`` runs once the batch
        is known to fit, just before it is stored (a write-ahead log's append); if it
        raises, nothing is stored."""
        lengths = {len(values[n]) for n in self.stored}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")
        marks = self._marks()
        try:
            arrays = self._encode(values)
            problems = self._problems(values, arrays)
        except BaseException:
            self._forget(marks)
            raise
        if problems:
            self._forget(marks)
            return problems
        if before is not None:
            try:
                before()
            except BaseException:
                self._forget(marks)
                raise
        self._append(arrays)
        return []

    def _marks(self) -> dict[str, int]:
        return {n: len(c.values) for n, c in self.columns.items() if c.spec.kind == "str"}

    def _forget(self, marks: Mapping[str, int]) -> None:
        for name, count in marks.items():
            self.columns[name].forget(count)

    def _encode(self, values: Mapping[str, Sequence[Any] | Array]) -> dict[str, Array]:
        arrays = {n: self.columns[n].encode(values[n]) for n in self.stored}  # type: ignore[arg-type]
        for name, (source, fn) in self.derived.items():
            arrays[name] = np.asarray(fn(arrays[source]), dtype=np.int64)
        return arrays

    def _problems(self, values: Mapping[str, Any], arrays: Mapping[str, Array]) -> list[Problem]:
        m = len(arrays[self.key])
        clean = True
        for index in self._unique:
            keys = index.combine([arrays[c] for c in index.columns])
            if (index.owners(keys) >= 0).any() or repeats(index, keys):
                clean = False
                break
        if clean:
            return []
        problems: list[Problem] = []
        seen: list[dict[Any, int]] = [{} for _ in self._unique]
        pk_index = self._unique[0]
        owners = [i.owners(i.combine([arrays[c] for c in i.columns])) for i in self._unique]
        for i in range(m):
            pk = values[self.key][i]
            if owners[0][i] >= 0:
                problems.append((i, f"{self.key} {pk!r} already exists"))
                continue
            if pk in seen[0]:
                problems.append((i, f"{self.key} {pk!r} repeats record {seen[0][pk]}"))
                continue
            seen[0][pk] = i
            for k, index in enumerate(self._unique[1:], 1):
                value = values[index.columns[0]][i]
                if value is None:
                    continue
                if owners[k][i] >= 0:
                    problems.append((i, f"{index.name} {value!r} already exists"))
                elif value in seen[k]:
                    problems.append((i, f"{index.name} {value!r} repeats record {seen[k][value]}"))
                else:
                    seen[k][value] = i
        assert pk_index is self.primary
        return problems

    def _append(self, arrays: Mapping[str, Array]) -> None:
        m = len(arrays[self.key])
        start, end = self.n, self.n + m
        for name, column in self.columns.items():
            column.append(arrays[name])
        if end > len(self.live):
            grown = np.zeros(max(end, 2 * len(self.live)), dtype=bool)
            grown[:start] = self.live[:start]
            self.live = grown
        self.live[start:end] = True
        self.n = end
        rows = np.arange(start, end, dtype=np.int64)
        for unique in self._unique:
            unique.claim(unique.combine([arrays[c] for c in unique.columns]), rows)
        for index in self._sorted:
            index.after_append(end, self.live)

    def update(self, record: R, before: Callable[[], object] | None = None) -> R:
        """Replace the record with ``record``'s primary key; the old one. KeyError if
        there is none, ValueError if a unique key would clash; ``before`` as for
        :meth:`insert_columns`. O(indexes)."""
        values = self.extract((record,))
        pk = values[self.key][0]
        row = self.primary.owner(self.primary.key_of(pk))
        if row < 0:
            raise KeyError(pk)
        marks = self._marks()
        arrays = self._encode(values)
        for unique in self._unique[1:]:
            key = unique.combine([arrays[c] for c in unique.columns])
            owner = int(unique.owners(key)[0])
            if owner >= 0 and owner != row:
                self._forget(marks)
                value = values[unique.columns[0]][0]
                raise ValueError(f"{unique.name} {value!r} already exists")
        if before is not None:
            try:
                before()
            except BaseException:
                self._forget(marks)
                raise
        old = self.record(row)
        self._retire(row)
        self._append(arrays)
        self._maybe_compact()
        return old

    def delete(self, pk: Any, before: Callable[[], object] | None = None) -> R:
        """Remove and return the record ``pk``; KeyError if none; ``before`` as for
        :meth:`insert_columns`. O(indexes)."""
        row = self.primary.owner(self.primary.key_of(pk))
        if row < 0:
            raise KeyError(pk)
        if before is not None:
            before()
        old = self.record(row)
        self._retire(row)
        self._maybe_compact()
        return old

    def delete_rows(self, rows: Array) -> int:
        """Retire ``rows`` (live ones; repeated or retired ones are ignored); how many."""
        rows = np.unique(rows[self.live[rows]])
        for row in rows.tolist():
            self._retire(row)
        self._maybe_compact()
        return len(rows)

    def upsert_columns(
        self,
        values: Mapping[str, Sequence[Any]],
        on_conflict: OnConflict,
        before: Callable[[Upserted[R]], object] | None = None,
        old: bool = False,
    ) -> Upserted[R] | list[Problem]:
        """Insert a batch given by column, skipping or replacing stored keys, as one
        change: see :func:`~infertrace.engine.colupsert.upsert`. O(m) amortised."""
        return upsert(self, values, on_conflict, before, old)

    def retire_rows(self, rows: Array) -> None:
        """Retire distinct live ``rows`` at once (vectorised); no compaction. O(m)."""
        self.live[rows] = False
        self.dead += len(rows)
        for unique in self._unique:
            keys = unique.combine([self.columns[c].data[rows] for c in unique.columns])
            unique.release_many(keys, rows)

    def _retire(self, row: int) -> None:
        self.live[row] = False
        self.dead += 1
        for unique in self._unique:
            key = unique.combine([self.columns[c].data[row : row + 1] for c in unique.columns])
            unique.release(int(key[0]), row)

    def _maybe_compact(self) -> None:
        if self.dead > max(MIN_DEAD, self.n - self.dead):
            self.compact()

    def compact(self) -> None:
        """Keep only live rows, renumbered, with dictionaries of the values they use;
        rebuild every index. O(n)."""
        rows = self.live_rows()
        for column in self.columns.values():
            data = column.data[rows]
            if column.spec.kind != "str":
                column.reset(data)
                continue
            used = np.unique(data[data >= 0])
            remap = np.full(len(column.values) + 1, NULL, dtype=np.int32)
            remap[used] = np.arange(len(used), dtype=np.int32)
            codes = np.where(data >= 0, remap[data], NULL).astype(np.int32)
            column.reset(codes, [column.values[c] for c in used.tolist()])
        self.live = np.zeros(max(16, len(rows)), dtype=bool)
        self.live[: len(rows)] = True
        self.n, self.dead, self.uid = len(rows), 0, next(_UIDS)
        self.key_order.reset()
        self.rebuild_indexes()

    def clear(self) -> None:
        """Forget every row, dictionary value and index entry. O(1) amortised."""
        for column in self.columns.values():
            column.reset(column.data[:0], [])
        self.live = np.zeros(16, dtype=bool)
        self.n, self.dead, self.uid = 0, 0, next(_UIDS)
        self.key_order.reset()
        self.rebuild_indexes()

    def rebuild_indexes(self) -> None:
        """Rebuild every index from the rows (repairs drift; a unique key held by two
        rows goes to the later). O(n log n)."""
        for index in self.indexes.values():
            index.rebuild(self.n, self.live)

    # -- whole state ---------------------------------------------------------------

    def export(self) -> tuple[dict[str, Array], dict[str, list[Any]]]:
        """The live rows' stored columns (copies; text as codes) and each str column's
        dictionary: a consistent state to write while a read lock is held. O(n)."""
        rows = self.live_rows()
        arrays = {n: self.columns[n].data[rows] for n in self.stored}
        dictionaries = {n: list(c.values) for n, c in self.columns.items()
                        if c.spec.kind == "str" and n in self.stored}  # fmt: skip
        return arrays, dictionaries

    def index_orders(self) -> dict[str, Array]:
        """Each sorted index's entries as positions in :meth:`export`'s rows (int32), so
        :meth:`load` can take them instead of sorting. O(n) per index, read-only."""
        position = np.cumsum(self.live[: self.n], dtype=np.int64) - 1
        return {
            index.name: position[index.order(self.n, self.live)].astype(np.int32)
            for index in self._sorted
        }

    def load(
        self,
        arrays: Mapping[str, Array],
        dictionaries: Mapping[str, Sequence[Any]],
        orders: Mapping[str, Array] | None = None,
    ) -> None:
        """Replace the content by :meth:`export`'s output (dictionary text is passed
        through each column's ``convert``), taking the sorted indexes from
        :meth:`index_orders`' output when given (checked: O(n) each) instead of
        sorting (O(n log n) each); ValueError naming the first problem, the table
        then empty."""
        lengths = {n: len(arrays[n]) for n in self.stored if n in arrays}
        if len(lengths) != len(self.stored) or len(set(lengths.values())) > 1:
            raise ValueError(f"columns {sorted(lengths)} (lengths {sorted(set(lengths.values()))})"
                             f" are not the {len(self.stored)} columns {list(self.stored)} of one "
                             "length")  # fmt: skip
        try:
            for name in self.stored:
                self._load_column(self.columns[name], arrays[name], dictionaries.get(name))
            n = len(arrays[self.key])
            for name, (source, fn) in self.derived.items():
                self.columns[name].reset(np.asarray(fn(self.columns[source].view), dtype=np.int64))
            self.live = np.ones(max(16, n), dtype=bool)
            self.live[n:] = False
            self.n, self.dead, self.uid = n, 0, next(_UIDS)
            self.key_order.reset()
            given = orders or {}
            for index in self.indexes.values():
                order = given.get(index.name)
                if isinstance(index, SortedIndex) and order is not None:
                    index.install(n, np.asarray(order))
                else:
                    index.rebuild(n, self.live)
            for unique in self._unique:
                if repeats(unique, unique.keys(0, n)):
                    raise ValueError(f"unique column {unique.name!r} repeats a value")
        except BaseException:
            self.clear()
            raise

    def _load_column(self, column: Column, data: Array, values: Sequence[Any] | None) -> None:
        spec = column.spec
        want = column.data.dtype
        if data.dtype != want and not (data.dtype.kind == want.kind == "i"):
            raise ValueError(f"column {spec.name!r} holds {data.dtype}, not {want}")
        if spec.kind != "str":
            column.reset(data)
            return
        if values is None:
            raise ValueError(f"column {spec.name!r} has no dictionary")
        low = NULL if spec.optional else 0
        if len(data) and (int(data.min()) < low or int(data.max()) >= len(values)):
            raise ValueError(f"column {spec.name!r} has codes outside its dictionary of "
                             f"{len(values)}")  # fmt: skip
        if not set(map(type, values)) <= {str}:
            raise ValueError(f"column {spec.name!r} has a dictionary value that is not text")
        convert = spec.convert
        column.reset(data, list(map(convert, values)) if convert else list(values))

    # -- queries -----------------------------------------------------------------

    def explain(self, where: Sequence[Predicate]) -> Plan:
        """The plan :meth:`query` would follow for ``where``. O(indexes + log n)."""
        for q in where:
            if q.column not in self.columns:
                known = ", ".join(self.columns)
                raise ValueError(f"no column {q.column!r} (columns: {known})")
        return plan(where, list(self.indexes.values()), len(self))

    def matching(self, where: Sequence[Predicate] = ()) -> tuple[Array, bool]:
        """Rows matching every predicate, and whether they are in the order of the
        range index the plan read (else ascending row number)."""
        p = self.explain(where)
        index = p.index
        if index is None:
            rows = self.live_rows()
        elif isinstance(index, SortedIndex) and index.kind == "range":
            rows = index.scan(p.key[0], p.key[1], self.live, self.n)
        else:
            assert isinstance(index, (UniqueIndex, SortedIndex))
            rows = index.lookup(p.key, self.live, self.n)
        for q in p.residual:
            if not len(rows):
                break
            rows = rows[predicate_mask(self.columns[q.column], q, rows)]
        return rows, isinstance(index, SortedIndex) and index.kind == "range"

    def query(
        self,
        where: Sequence[Predicate] = (),
        *,
        order_by: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[R]:
        """Records matching every predicate, in the stable order (see the module), from
        ``offset``, at most ``limit``. ``order_by`` names a range-indexed column.
        O(log n + k log k) for k matches (vectorised), plus the page's records."""
        return self.records(self.page(where, order_by, reverse, limit, offset))

    def page(
        self,
        where: Sequence[Predicate] = (),
        order_by: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> Array:
        """The row numbers :meth:`query` would build records of."""
        if order_by is not None:
            index = self.indexes.get(order_by)
            if not (isinstance(index, SortedIndex) and index.kind == "range"):
                raise ValueError(f"order_by {order_by!r} is not a range-indexed column")
            if not any(isinstance(q, Between) and q.column == order_by for q in where):
                where = [*where, Between(order_by)]
        rows, by_range = self.matching(where)
        stop = None if limit is None else offset + limit
        if order_by is None:
            ordered = self.key_order.sort(rows, stop, reverse, offset)
        else:
            ordered = by_column(rows, self.columns[order_by].data[rows], by_range, self.key_order)
            if reverse:
                ordered = ordered[::-1]
        return ordered[offset:stop]

    def count(self, where: Sequence[Predicate] = ()) -> int:
        """How many records match. O(log n + candidates) vectorised."""
        if not where:
            return len(self)
        return len(self.matching(where)[0])

    def select(self, where: Sequence[Predicate], columns: Sequence[str]) -> dict[str, Array]:
        """The matching rows' columns as arrays (text as codes into :meth:`dictionary`),
        in no particular order: what aggregations group by. O(log n + k) vectorised."""
        rows, _ = self.matching(where)
        return {c: self.columns[c].data[rows] for c in columns}

    def select_any(
        self, column: str, values: Sequence[Any], where: Sequence[Predicate], columns: Sequence[str]
    ) -> dict[str, Array]:
        """:meth:`select` for the rows whose hash-indexed ``column`` is any of ``values``
        and that match ``where`` (tested vectorised on those rows only). O(m log n +
        their rows)."""
        index = self.indexes.get(column)
        if not (isinstance(index, SortedIndex) and index.kind == "hash"):
            raise ValueError(f"{column!r} has no hash index")
        self.explain(where)  # names an unknown column
        rows = index.lookup_many(values, self.live, self.n)
        for q in where:
            if not len(rows):
                break
            rows = rows[predicate_mask(self.columns[q.column], q, rows)]
        return {c: self.columns[c].data[rows] for c in columns}

    # -- invariants and sizes ------------------------------------------------------

    def drift(self) -> list[str]:
        """How the indexes disagree with the rows (missing, extra or wrong entries,
        a unique key held by two rows); [] when they agree. O(n log n)."""
        return drift(self)

    def nbytes(self, sample: int | None = None) -> TableBytes:
        """Sizes measured from the arrays and dictionaries: ``rows`` (every column and
        the live mask), ``primary`` (the primary key's index) and ``indexes``. O(columns
        + dictionary values), or O(columns + sample) with ``sample`` (dictionary
        strings measured on a sample of that many per column and scaled)."""
        rows = sum(c.nbytes(sample) for c in self.columns.values()) + self.n  # live: a byte a row
        indexes = {n: i.nbytes() for n, i in self.indexes.items() if i is not self.primary}
        return TableBytes(len(self), rows, self.primary.nbytes(), indexes)

    def _check(self) -> None:
        """Assert the columns line up and every index agrees with the rows."""
        for column in self.columns.values():
            assert column.size == self.n, (column.spec.name, column.size, self.n)
            if column.spec.kind == "str":
                data = column.view
                assert not len(data) or int(data.max()) < len(column.values), column.spec.name
                assert not len(data) or int(data.min()) >= (NULL if column.spec.optional else 0)
                assert len(column.codes) == len(column.values) + column.spec.optional
        assert int(np.count_nonzero(self.live[: self.n])) == self.n - self.dead
        assert not self.live[self.n :].any()
        for index in self._sorted:
            index._check(self.n)
        problems = self.drift()
        assert not problems, problems
