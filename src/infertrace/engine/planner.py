"""Predicates on a table's columns, and the planner that picks an index for them.

A query is a conjunction of predicates: :class:`Eq` (column == value) and
:class:`Between` (low <= column < high, either end open). :func:`plan` looks at
every index the predicates can use and picks the one that reads the fewest
rows; the other predicates are applied to the rows it yields:

1. a unique index whose columns all have an Eq (at most one row);
2. a composite hash index whose columns all have an Eq;
3. a single-column hash index with an Eq;
4. a range index with a Between on its column;
5. otherwise a scan of every row (as for ``Eq(column, None)``: None is in no index).

Candidates are compared by the exact number of entries they would read (a
bucket's length, a range's count), ties going to the earlier kind above, so a
one-row bucket beats a one-day range and a 25,000-row region bucket loses to it.
Planning costs O(indexes + log n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Index(Protocol):
    """What the planner asks of an index (the column table's, :mod:`.colindex`)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def columns(self) -> tuple[str, ...]: ...


def _sized(index: Index) -> Any:
    """The index as what its kind promises: ``size(key)`` (unique, hash) or
    ``count(low, high, stop)`` (range)."""
    return index


@dataclass(frozen=True, slots=True)
class Eq:
    """``column == value``."""

    column: str
    value: Any

    def test(self, value: Any) -> bool:
        return bool(value == self.value)


@dataclass(frozen=True, slots=True)
class Between:
    """``low <= column < high``; None leaves that end open. A None value never matches."""

    column: str
    low: Any = None
    high: Any = None

    def test(self, value: Any) -> bool:
        if value is None:
            return False
        return (self.low is None or self.low <= value) and (self.high is None or value < self.high)


Predicate = Eq | Between

RANK = {"unique": 0, "composite": 1, "hash": 2, "range": 3, "scan": 4}
"""Tie-break between equal estimates: the order of the module docstring."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How a query reads the table: ``access`` names the path (``unique``,
    ``composite``, ``hash``, ``range`` or ``scan``), ``index`` the index (None for a
    scan), ``estimate`` how many entries it reads, ``residual`` the predicates left
    to test on each row it yields."""

    access: str
    index: Index | None
    estimate: int
    residual: tuple[Predicate, ...]
    key: Any = None
    """The lookup key (hash, unique) or the (low, high) bounds (range)."""

    def describe(self) -> str:
        """One line for logs and tests: ``hash:region ~25000 rows, 1 residual``."""
        where = f"{self.access}:{self.index.name}" if self.index is not None else "scan"
        return f"{where} ~{self.estimate} rows, {len(self.residual)} residual"


def plan(predicates: Sequence[Predicate], indexes: Sequence[Index], rows: int) -> Plan:
    """The cheapest way to find the rows matching every predicate. See the module."""
    eqs: dict[str, Eq] = {}
    ranges: dict[str, Between] = {}
    for p in predicates:
        if isinstance(p, Eq):
            eqs.setdefault(p.column, p)
        else:
            ranges.setdefault(p.column, p)
    best = Plan("scan", None, rows, tuple(predicates))
    # equality candidates first: they cost O(1) to size, and bound the range counts
    for index in sorted(indexes, key=lambda i: i.kind == "range"):
        candidate = _candidate(index, eqs, ranges, predicates, best.estimate)
        if candidate is not None and (candidate.estimate, RANK[candidate.access]) < (
            best.estimate,
            RANK[best.access],
        ):
            best = candidate
    return best


def _candidate(
    index: Index,
    eqs: dict[str, Eq],
    ranges: dict[str, Between],
    predicates: Sequence[Predicate],
    bound: int,
) -> Plan | None:
    if index.kind == "range":
        between = ranges.get(index.columns[0])
        if between is None:
            return None
        rest = tuple(p for p in predicates if p is not between)
        bounds = (between.low, between.high)
        return Plan("range", index, _sized(index).count(*bounds, stop=bound), rest, bounds)
    if not all(c in eqs for c in index.columns):
        return None
    used = [eqs[c] for c in index.columns]
    key = used[0].value if len(used) == 1 else tuple(e.value for e in used)
    if key is None:
        return None  # None is in no index: a scan finds it
    rest = tuple(p for p in predicates if not any(p is u for u in used))
    if index.kind == "unique":
        access = "unique"
    else:
        access = "composite" if len(index.columns) > 1 else "hash"
    try:
        size = _sized(index).size(key)
    except TypeError:  # an unhashable value matches no key
        return Plan(access, index, 0, rest, key)
    return Plan(access, index, size, rest, key)
