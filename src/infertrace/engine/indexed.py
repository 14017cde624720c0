"""A general indexed table: rows by primary key, with secondary indexes kept current.

Rows are any objects (frozen records, tuples); the table reads their columns
through getters, so a stored row is the caller's own immutable object, handed
back without a copy, and a column may be derived (a day number from a time).
Indexes (:mod:`~infertrace.engine.indexes`): unique, hash (one column or a
composite of several) and range; every insert, update and delete maintains all
of them. :meth:`IndexedTable.query` asks :func:`~infertrace.engine.planner.plan`
for the cheapest index, then filters what it yields by the other predicates.

Order is stable: by primary key, or by ``(column, primary key)`` when a query
orders by a range-indexed column. A bucket is kept sorted by primary key and a
range index by (key, primary key), so a page read through either is a slice
(O(log n + offset + limit)); other plans sort their matches.

Not thread-safe: the owner guards a table with an
:class:`~infertrace.engine.rwlock.RWLock` (readers together, writers alone), as
the activity store does for its four tables. Every write checks everything
before it changes anything, so a failed write leaves the table as it was.
"""

from __future__ import annotations

import heapq
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any, Generic, TypeVar

from infertrace.engine.indexes import Index, Kind, RangeIndex, UniqueIndex, build
from infertrace.engine.planner import Between, Plan, Predicate, plan

R = TypeVar("R")
Getter = Callable[[Any], Any]
Residual = list[tuple[Getter, Callable[[Any], bool]]]
"""The predicates a plan leaves to test: (column getter, test of its value)."""
Problem = tuple[int, str]
"""``(position in the batch, reason)`` of a row a batch write refuses."""


@dataclass(frozen=True, slots=True)
class TableBytes:
    """Measured sizes: ``rows`` (the row objects and their share of their values),
    ``primary`` (the primary-key hash table) and ``indexes`` (index name -> bytes)."""

    count: int
    rows: int
    primary: int
    indexes: Mapping[str, int]

    @property
    def total(self) -> int:
        return self.rows + self.primary + sum(self.indexes.values())


class IndexedTable(Generic[R]):
    """Rows keyed by ``key``, with unique, hash, composite and range indexes.

    ``columns`` maps each column name to a getter (``operator.attrgetter``,
    ``itemgetter`` or any function of the row). ``unique`` and ``ranged`` name
    columns; ``hashed`` names columns or tuples of columns (composite). An index
    is named by its columns joined with ``+``.
    """

    def __init__(
        self,
        key: str,
        columns: Mapping[str, Getter],
        *,
        unique: Sequence[str] = (),
        hashed: Sequence[str | tuple[str, ...]] = (),
        ranged: Sequence[str] = (),
    ) -> None:
        if key not in columns:
            raise ValueError(f"primary key {key!r} is not a column")
        self.key = key
        self.columns = dict(columns)
        self.pk_of = self.columns[key]
        self.rows: dict[Any, R] = {}
        self.indexes: dict[str, Index] = {}
        specs: list[tuple[Kind, tuple[str, ...]]] = [("unique", (c,)) for c in unique]
        specs += [("hash", (c,) if isinstance(c, str) else tuple(c)) for c in hashed]
        specs += [("range", (c,)) for c in ranged]
        for kind, cols in specs:
            for c in cols:
                if c not in self.columns:
                    raise ValueError(f"index column {c!r} is not a column")
            name = "+".join(cols)
            if name in self.indexes:
                raise ValueError(f"two indexes on {name!r}")
            self.indexes[name] = build(kind, name, cols, self._key_reader(cols))
        self._all = tuple(self.indexes.values())
        self._unique = tuple(i for i in self._all if isinstance(i, UniqueIndex))

    def _key_reader(self, cols: tuple[str, ...]) -> Getter:
        getters = [self.columns[c] for c in cols]
        if len(getters) == 1:
            return getters[0]
        if len(getters) == 2:  # the common composite, without a generator per row
            first, second = getters
            return lambda row: (first(row), second(row))
        return lambda row: tuple(g(row) for g in getters)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[R]:
        """Every row, in insertion order (not the stable query order). O(n)."""
        return iter(self.rows.values())

    def get(self, pk: Any) -> R | None:
        """The row with primary key ``pk``, or None. O(1)."""
        try:
            return self.rows.get(pk)
        except TypeError:  # unhashable: no such row
            return None

    def find(self, column: str, value: Any) -> R | None:
        """The row whose unique ``column`` is ``value``, or None. O(1)."""
        index = self.indexes[column]
        if not isinstance(index, UniqueIndex):
            raise ValueError(f"{column!r} has no unique index")
        try:
            pk = index.owner(value)
        except TypeError:
            return None
        return None if pk is None else self.rows[pk]

    def check(self, rows: Sequence[R]) -> list[Problem]:
        """Why each of ``rows`` could not be inserted together: a primary or unique key
        already stored or repeated in the batch. [] if all can. O(m)."""
        pks = list(map(self.pk_of, rows))
        if len(set(pks)) == len(pks) and self.rows.keys().isdisjoint(pks):
            values = [list(map(index.key_of, rows)) for index in self._unique]
            if all(_fresh(index.entries, v) for index, v in zip(self._unique, values, strict=True)):
                return []  # the common case, at C speed
        problems: list[Problem] = []
        pk_of, stored = self.pk_of, self.rows
        seen_pk: dict[Any, int] = {}
        seen: list[dict[Any, int]] = [{} for _ in self._unique]
        for i, row in enumerate(rows):
            pk = pk_of(row)
            if pk in stored:
                problems.append((i, f"{self.key} {pk!r} already exists"))
                continue
            if pk in seen_pk:
                problems.append((i, f"{self.key} {pk!r} repeats record {seen_pk[pk]}"))
                continue
            seen_pk[pk] = i
            for index, batch in zip(self._unique, seen, strict=True):
                value = index.key_of(row)
                if value is None:
                    continue
                if value in index.entries:
                    problems.append((i, f"{index.name} {value!r} already exists"))
                elif value in batch:
                    problems.append((i, f"{index.name} {value!r} repeats record {batch[value]}"))
                else:
                    batch[value] = i
        return problems

    def insert(self, row: R) -> None:
        """Add one row; ValueError naming the clash with a stored key. O(indexes)."""
        problems = self.check((row,))
        if problems:
            raise ValueError(problems[0][1])
        pk = self.pk_of(row)
        self.rows[pk] = row
        for index in self._all:
            index.add(index.key_of(row), pk)

    def insert_many(self, rows: Sequence[R]) -> list[Problem]:
        """Add every row, or none: returns the problems of :meth:`check` and stores
        nothing when there are any. O(m (indexes + log n))."""
        problems = self.check(rows)
        if problems:
            return problems
        pks = list(map(self.pk_of, rows))
        self.rows.update(zip(pks, rows, strict=True))
        for index in self._all:
            index.add_many(list(map(index.key_of, rows)), pks)
        return []

    def update(self, row: R) -> R:
        """Replace the row with ``row``'s primary key; the old row. KeyError if there is
        none, ValueError if a unique key would clash; indexes whose key changed move.
        O(indexes + log n)."""
        pk = self.pk_of(row)
        old = self.rows[pk]
        for unique in self._unique:
            value = unique.key_of(row)
            owner = unique.entries.get(value) if value is not None else None
            if owner is not None and owner != pk:
                raise ValueError(f"{unique.name} {value!r} already exists")
        for index in self._all:
            before, after = index.key_of(old), index.key_of(row)
            if before != after:
                index.remove(before, pk)
                index.add(after, pk)
        self.rows[pk] = row
        return old

    def delete(self, pk: Any) -> R:
        """Remove and return the row ``pk``; KeyError if none. O(indexes + log n)."""
        row = self.rows.pop(pk)
        for index in self._all:
            index.remove(index.key_of(row), pk)
        return row

    def clear(self) -> None:
        """Forget every row and index entry. O(1) amortised."""
        self.rows.clear()
        for index in self._all:
            index.clear()

    def explain(self, where: Sequence[Predicate]) -> Plan:
        """The plan :meth:`query` would follow for ``where``. O(indexes + log n)."""
        self._check_columns(where)
        return plan(where, self._all, len(self.rows))

    def query(
        self,
        where: Sequence[Predicate] = (),
        *,
        order_by: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[R]:
        """Rows matching every predicate, in the stable order (see the module), from
        ``offset``, at most ``limit``. ``order_by`` names a range-indexed column;
        ``reverse`` flips the order. O(log n + read) when the plan's order is the
        query's, else O(read + k log k) for k matches. Ordering by a column keeps
        only the rows where it is set (not None)."""
        if order_by is not None:
            if not isinstance(self.indexes.get(order_by), RangeIndex):
                raise ValueError(f"order_by {order_by!r} is not a range-indexed column")
            if not any(isinstance(q, Between) and q.column == order_by for q in where):
                where = [*where, Between(order_by)]
        p = self.explain(where)
        residual = self._residual(p)
        in_order = (order_by is None and p.access in ("unique", "hash", "composite")) or (
            order_by is not None and p.index is self.indexes[order_by]
        )
        if in_order and not residual and p.index is not None:
            return self._page(p, reverse, limit, offset)
        if in_order:  # the plan yields rows in the query's order: stop at the page's end
            found = self._matching(p, residual, reverse)
            stop = None if limit is None else offset + limit
            return list(islice(found, offset, stop))
        matches = list(self._matching(p, residual, False))
        sort_key = self._sort_key(order_by)
        if limit is not None and offset + limit < len(matches) // 4:
            pick = heapq.nlargest if reverse else heapq.nsmallest
            matches = pick(offset + limit, matches, key=sort_key)
        else:
            matches.sort(key=sort_key, reverse=reverse)
        return matches[offset:] if limit is None else matches[offset : offset + limit]

    def _page(self, p: Plan, reverse: bool, limit: int | None, offset: int) -> list[R]:
        """A page straight from one index: a slice of a bucket, or a range read from
        its ``offset``-th pair. O(log n + offset / load + limit)."""
        rows = self.rows
        if isinstance(p.index, RangeIndex):
            low, high = p.key
            pks = p.index.scan(low, high, reverse, offset)
            return [rows[pk] for pk in islice(pks, limit)]
        assert p.index is not None
        try:
            bucket = p.index.lookup(p.key)
        except TypeError:  # an unhashable value matches no key
            return []
        n = len(bucket)
        stop = n if limit is None else min(n, offset + limit)
        if reverse:
            return [rows[pk] for pk in reversed(bucket[max(0, n - stop) : max(0, n - offset)])]
        return [rows[pk] for pk in bucket[offset:stop]]

    def count(self, where: Sequence[Predicate] = ()) -> int:
        """How many rows match: O(1) / O(log n + blocks) when one index answers it
        whole, else the cost of reading its candidates."""
        p = self.explain(where)
        if not p.residual and p.access != "scan":
            return p.estimate
        residual = self._residual(p)
        return sum(1 for _ in self._matching(p, residual, False))

    def _residual(self, p: Plan) -> Residual:
        return [(self.columns[q.column], q.test) for q in p.residual]

    def _sort_key(self, order_by: str | None) -> Callable[[R], Any]:
        pk_of = self.pk_of
        if order_by is None:
            return pk_of
        column = self.columns[order_by]
        return lambda row: (column(row), pk_of(row))

    def _matching(self, p: Plan, residual: Residual, reverse: bool) -> Iterator[R]:
        rows = self.rows
        source: Iterable[R]
        if p.index is None:
            source = rows.values()
        elif isinstance(p.index, RangeIndex):
            low, high = p.key
            source = (rows[pk] for pk in p.index.scan(low, high, reverse))
        else:
            try:
                pks = p.index.lookup(p.key)
            except TypeError:  # an unhashable value matches no key
                return
            source = (rows[pk] for pk in (reversed(pks) if reverse else pks))
        if not residual:
            yield from source
            return
        for row in source:
            if all(test(get(row)) for get, test in residual):
                yield row

    def _check_columns(self, where: Sequence[Predicate]) -> None:
        for q in where:
            if q.column not in self.columns:
                raise ValueError(f"no column {q.column!r} (columns: {', '.join(self.columns)})")

    def drift(self) -> list[str]:
        """How the indexes disagree with the rows (missing, extra or wrong entries, a
        key under the wrong row, repeated unique keys); [] when they agree. O(n log n)."""
        problems: list[str] = []
        for pk, row in self.rows.items():
            if self.pk_of(row) != pk:
                problems.append(f"row stored under {pk!r} has {self.key} {self.pk_of(row)!r}")
        for index in self._all:
            expected: dict[Any, list[Any]] = {}
            for pk, row in self.rows.items():
                value = index.key_of(row)
                if value is None:
                    continue
                expected.setdefault(value, []).append(pk)
            actual: dict[Any, list[Any]] = {}
            for value, pk in index.pairs():
                actual.setdefault(value, []).append(pk)
            for value in expected.keys() | actual.keys():
                want, have = sorted(expected.get(value, [])), sorted(actual.get(value, []))
                if isinstance(index, UniqueIndex) and len(want) > 1:
                    problems.append(f"unique {index.name} {value!r} is held by rows {want}")
                    if len(have) == 1 and have[0] in want:
                        continue
                if want != have:
                    problems.append(f"index {index.name} {value!r}: rows {want}, entries {have}")
        return problems

    def rebuild_indexes(self) -> None:
        """Rebuild every index from the rows (repairs drift; a repeated unique key keeps
        the last row holding it). O(n log n)."""
        for index in self._all:
            index.clear()
            index.add_many(list(map(index.key_of, self.rows.values())), list(self.rows))

    def nbytes(self, sample: int | None = None) -> TableBytes:
        """Sizes measured from the structures (see :class:`TableBytes`).

        A row is charged its own size plus, for each value it holds, the value's
        size divided by the references to it: a string interned across 25,000
        rows costs each almost nothing, a unique one is charged to its row. With
        ``sample``, rows are measured on a seeded random sample of that many
        and scaled up: O(sample) instead of O(n) Python steps for rows;
        indexes are always measured whole, O(entries).
        """
        getsizeof, getrefcount = sys.getsizeof, sys.getrefcount
        stored = list(self.rows.values())
        measured = stored
        if sample and len(stored) > sample:  # seeded, not strided: data can be periodic
            measured = random.Random(len(stored)).sample(stored, sample)
        rows = 0
        for row in measured:
            rows += getsizeof(row)
            for value in _values(row):
                # getrefcount counts its own argument and the loop variable
                rows += getsizeof(value) // max(1, getrefcount(value) - 2)
        del stored
        if measured:
            rows = rows * len(self.rows) // len(measured)
        indexes = {name: index.nbytes() for name, index in self.indexes.items()}
        return TableBytes(len(self.rows), rows, getsizeof(self.rows), indexes)

    def _check(self) -> None:
        """Assert every index agrees with the rows and is well formed."""
        for index in self._all:
            index._check()
        problems = self.drift()
        assert not problems, problems


def _fresh(entries: dict[Any, Any], values: list[Any]) -> bool:
    """Whether ``values`` (None aside) are distinct and none is in ``entries``."""
    present = [v for v in values if v is not None]
    return len(set(present)) == len(present) and entries.keys().isdisjoint(present)


_SLOTS: dict[type, tuple[str, ...]] = {}


def _values(row: Any) -> Iterator[Any]:
    """The objects a row holds: a tuple's items or a slotted object's slots. A
    generator, so it holds no reference to a value once it has yielded it."""
    if isinstance(row, tuple):
        yield from row
        return
    cls = type(row)
    slots = _SLOTS.get(cls)
    if slots is None:
        names = [s for c in cls.__mro__ for s in getattr(c, "__slots__", ())]
        slots = _SLOTS[cls] = tuple(s for s in names if s != "__weakref__")
    for name in slots:
        yield getattr(row, name, None)


def tuple_columns(names: Sequence[str]) -> dict[str, Getter]:
    """Getters for rows that are tuples with ``names`` in order."""
    return {name: itemgetter(i) for i, name in enumerate(names)}
