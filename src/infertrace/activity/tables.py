"""How each record type is laid out in a column table: key, columns, indexes.

One :class:`Layout` per type, stated once: the store builds its tables from
them, snapshots and the journal write their ``fields`` in order, and filters
may name any column (a field, or ``day``, the UTC day of the record's time,
stored as a derived column).

=========  ===========  ===========  ==========================================  ============
type       key          unique       hash (``+``: composite)                      range
=========  ===========  ===========  ==========================================  ============
Developer  id           email        region, division, team                      created_at
Commit     sha                       developer_id, repo, developer_id+day        timestamp
Change     id                        developer_id, commit_sha, developer_id+day  timestamp
Session    id                        developer_id, developer_id+day              started_at
=========  ===========  ===========  ==========================================  ============

Text columns are dictionary-encoded; region and change kind come back as their
enum members (``convert``). Records are built on read without re-validation
(:func:`builder`, :func:`bulk_builder`): every stored value passed validation
when its record was made.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property
from itertools import repeat
from operator import attrgetter
from typing import Any

from infertrace.activity.records import (
    DAY_NS,
    Change,
    ChangeKind,
    Commit,
    Developer,
    Record,
    Region,
    Session,
)
from infertrace.engine.coldata import ColumnSpec
from infertrace.engine.columnar import Array, ColumnTable


def _day(times: Array) -> Array:
    return times // DAY_NS


def builder(kind: type[Record]) -> Callable[..., Any]:
    """A function of the field values (in order) returning a ``kind`` record without
    running its validation: for values read back from a table, which were valid."""
    names = [f.name for f in fields(kind)]
    # the setters and the class bound as defaults: local lookups, not global ones
    args = ", ".join([*names, *(f"set_{n}=set_{n}" for n in names), "new=new", "cls=cls"])
    body = "".join(f"    set_{n}(o, {n})\n" for n in names)
    scope: dict[str, Any] = {f"set_{n}": getattr(kind, n).__set__ for n in names}
    scope["new"], scope["cls"] = object.__new__, kind
    exec(f"def make({args}):\n    o = new(cls)\n{body}    return o\n", scope)
    make: Callable[..., Any] = scope["make"]
    return make


def bulk_builder(kind: type[Record]) -> Callable[[list[list[Any]]], list[Any]]:
    """A function of the field columns (in order) returning one ``kind`` record per
    row, without validation: blank records, then each field set on all of them by a
    C-level ``map`` (no Python frame per record: ~30% faster than :func:`builder`
    per record for a few thousand)."""
    setters = [getattr(kind, f.name).__set__ for f in fields(kind)]
    new = object.__new__

    def make_many(columns: list[list[Any]]) -> list[Any]:
        records = list(map(new, repeat(kind, len(columns[0]))))
        for setter, column in zip(setters, columns, strict=True):
            deque(map(setter, records, column), maxlen=0)
        return records

    return make_many


@dataclass(frozen=True)
class Layout:
    """One record type's table: ``name`` (used in messages and stats), ``key``,
    ``time`` (the column days are taken from), column ``specs`` and the indexes."""

    kind: type[Record]
    name: str
    key: str
    time: str
    specs: tuple[ColumnSpec, ...]
    unique: tuple[str, ...] = ()
    hashed: tuple[str | tuple[str, ...], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The record's fields, in declaration order (the stored columns)."""
        return tuple(f.name for f in fields(self.kind))

    @cached_property
    def getters(self) -> dict[str, Callable[[Any], Any]]:
        """:meth:`columns`, made once (a query's filters are checked against it)."""
        return self.columns()

    def columns(self) -> dict[str, Callable[[Any], Any]]:
        """A getter per field, plus ``day`` (the UTC day of ``time``)."""
        getters: dict[str, Callable[[Any], Any]] = {f: attrgetter(f) for f in self.fields}
        time = attrgetter(self.time)
        getters["day"] = lambda record: time(record) // DAY_NS
        return getters

    @cached_property
    def make(self) -> Callable[..., Any]:
        return builder(self.kind)

    def table(self) -> ColumnTable[Any]:
        """An empty table with this layout's columns and indexes."""
        getters = {f: attrgetter(f) for f in self.fields}
        return ColumnTable(
            self.key, self.specs, getters, self.make, derived={"day": (self.time, _day)},
            make_many=bulk_builder(self.kind),
            unique=self.unique, hashed=self.hashed, ranged=(self.time,),
        )  # fmt: skip


def _specs(record: type[Record], **special: ColumnSpec) -> tuple[ColumnSpec, ...]:
    """A str column per field unless ``special`` says otherwise."""
    return tuple(special.get(f.name, ColumnSpec(f.name)) for f in fields(record))


def _ints(*names: str) -> dict[str, ColumnSpec]:
    return {n: ColumnSpec(n, "int") for n in names}


LAYOUTS: dict[type, Layout] = {
    Developer: Layout(Developer, "developer", "id", "created_at",
                      _specs(Developer, region=ColumnSpec("region", convert=Region),
                             **_ints("created_at")),
                      unique=("email",), hashed=("region", "division", "team")),
    Commit: Layout(Commit, "commit", "sha", "timestamp",
                   _specs(Commit, ai_assisted=ColumnSpec("ai_assisted", "bool"),
                          ai_tool=ColumnSpec("ai_tool", optional=True),
                          **_ints("timestamp", "additions", "deletions")),
                   hashed=("developer_id", "repo", ("developer_id", "day"))),
    Change: Layout(Change, "change", "id", "timestamp",
                   _specs(Change, kind=ColumnSpec("kind", convert=ChangeKind),
                          accepted=ColumnSpec("accepted", "bool"),
                          commit_sha=ColumnSpec("commit_sha", optional=True),
                          **_ints("timestamp", "lines_added", "lines_removed")),
                   hashed=("developer_id", "commit_sha", ("developer_id", "day"))),
    Session: Layout(Session, "session", "id", "started_at",
                    _specs(Session, cost_usd=ColumnSpec("cost_usd", "float"),
                           **_ints("started_at", "ended_at", "input_tokens", "output_tokens")),
                    hashed=("developer_id", ("developer_id", "day"))),
}  # fmt: skip
"""Every record type's layout, in the order snapshots and stats list them."""

BY_NAME: dict[str, Layout] = {layout.name: layout for layout in LAYOUTS.values()}
