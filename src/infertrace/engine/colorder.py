"""Predicates and orders for :class:`~infertrace.engine.columnar.ColumnTable` queries.

:func:`predicate_mask` tests a predicate on a column's rows as one vector
operation. :class:`KeyOrder` puts rows in primary-key order: a small set by
sorting the keys, a big one through each key's rank among the key dictionary
(computed once per dictionary size, so repeated pages of a big bucket are an
``argpartition`` around the page and a sort of the page). :func:`by_column`
orders by a column, ties by key.
"""

from __future__ import annotations

import numpy as np

from infertrace.engine.coldata import Array, Column
from infertrace.engine.planner import Eq, Predicate

SMALL_SORT = 2048
"""Up to this many matches are ordered by key in Python; more go through key ranks."""


def predicate_mask(column: Column, q: Predicate, rows: Array) -> Array:
    """Which of ``rows`` satisfy ``q`` on ``column`` (text compared by code, a text
    range by one test per dictionary value). O(len(rows)) vectorised."""
    data = column.data[rows]
    kind = column.spec.kind
    if isinstance(q, Eq):
        if kind == "str":
            code = column.code_of(q.value)
            return data == code if code is not None else np.zeros(len(rows), dtype=bool)
        if kind == "bool":
            ok = type(q.value) is bool or q.value in (0, 1)
        else:
            ok = type(q.value) in (int, float, bool)
        return data == q.value if ok else np.zeros(len(rows), dtype=bool)
    if kind == "str":
        allowed = np.array([v is not None and q.test(v) for v in column.values] + [False])
        return allowed[data]  # NULL (-1) reads the trailing False
    mask = np.ones(len(rows), dtype=bool)
    for bound, above in ((q.low, True), (q.high, False)):
        if bound is None:
            continue
        if type(bound) not in (int, float):
            return np.zeros(len(rows), dtype=bool)
        mask &= (data >= bound) if above else (data < bound)
    return mask


class KeyOrder:
    """Orders rows by one (primary key) column; the rank cache is shared by readers
    (a tuple swapped whole) and reset when codes are renumbered."""

    def __init__(self, column: Column) -> None:
        self.column = column
        self._rank: tuple[int, Array] | None = None

    def reset(self) -> None:
        self._rank = None

    def sort(self, rows: Array, stop: int | None, reverse: bool, offset: int = 0) -> Array:
        """``rows`` ordered by primary key; with ``stop``, only positions ``offset`` to
        ``stop`` are sure to be in place (a page: O(k) selection, then its sort)."""
        if len(rows) < 2:
            return rows
        pk = self.column
        data = pk.data[rows]
        if pk.spec.kind != "str":
            order = np.argsort(data, kind="stable")
        elif len(rows) <= SMALL_SORT:
            values = pk.values
            texts = [values[c] for c in data.tolist()]
            order = np.array(sorted(range(len(rows)), key=texts.__getitem__), dtype=np.int64)
        else:
            ranks = self.ranks()[data]
            if stop is not None and offset < stop < len(rows):
                if reverse:
                    ranks = -ranks
                part = np.argpartition(ranks, [offset, stop - 1])
                middle = part[offset:stop]
                part[offset:stop] = middle[np.argsort(ranks[middle])]
                return rows[part]
            order = np.argsort(ranks)
        ordered = rows[order]
        return ordered[::-1] if reverse else ordered

    def ranks(self) -> Array:
        """Code -> rank of its value among the primary key's dictionary, cached until
        the dictionary grows. O(d log d) to build."""
        values = self.column.values
        if self._rank is None or self._rank[0] != len(values):
            order = sorted(range(len(values)), key=values.__getitem__)
            rank = np.empty(len(values), dtype=np.int64)
            rank[np.array(order, dtype=np.int64)] = np.arange(len(values))
            self._rank = (len(values), rank)
        return self._rank[1]


def by_column(rows: Array, data: Array, presorted: bool, key_order: KeyOrder) -> Array:
    """``rows`` (whose column values are ``data``) ordered by that column, then by
    primary key: one stable sort, then each run of equal values by key."""
    if not presorted:
        order = np.argsort(data, kind="stable")
        rows, data = rows[order], data[order]
    ties = np.flatnonzero(data[1:] == data[:-1])
    if not len(ties):
        return rows
    rows = rows.copy()
    starts = ties[np.r_[True, ties[1:] != ties[:-1] + 1]]
    for start in starts.tolist():
        end = start + 1
        while end < len(data) and data[end] == data[start]:
            end += 1
        rows[start:end] = key_order.sort(rows[start:end], None, False)
    return rows
