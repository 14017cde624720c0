"""How each record type is laid out in an engine table: key, columns, indexes.

One :class:`Layout` per type, stated once: the store builds its tables from
them, the snapshot writes their ``fields`` in order, and filters may name any
column (a field, or ``day``, the UTC day of the record's time).

=========  ===========  ===========  ==========================================  ============
type       key          unique       hash (``+``: composite)                      range
=========  ===========  ===========  ==========================================  ============
Developer  id           email        region, division, team                      created_at
Commit     sha                       developer_id, repo, developer_id+day        timestamp
Change     id                        developer_id, commit_sha, developer_id+day  timestamp
Session    id                        developer_id, developer_id+day              started_at
=========  ===========  ===========  ==========================================  ============
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property
from operator import attrgetter
from typing import Any

from infertrace.activity.records import DAY_NS, Change, Commit, Developer, Record, Session
from infertrace.engine.indexed import IndexedTable


@dataclass(frozen=True)
class Layout:
    """One record type's table: ``name`` (used in messages and stats), ``key``,
    ``time`` (the column days are taken from), and the indexes."""

    kind: type[Record]
    name: str
    key: str
    time: str
    unique: tuple[str, ...] = ()
    hashed: tuple[str | tuple[str, ...], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The record's fields, in declaration order (the snapshot's columns)."""
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

    def table(self) -> IndexedTable[Any]:
        """An empty table with this layout's indexes."""
        return IndexedTable(
            self.key, self.columns(), unique=self.unique, hashed=self.hashed, ranged=(self.time,)
        )


LAYOUTS: dict[type, Layout] = {
    Developer: Layout(Developer, "developer", "id", "created_at", unique=("email",),
                      hashed=("region", "division", "team")),
    Commit: Layout(Commit, "commit", "sha", "timestamp",
                   hashed=("developer_id", "repo", ("developer_id", "day"))),
    Change: Layout(Change, "change", "id", "timestamp",
                   hashed=("developer_id", "commit_sha", ("developer_id", "day"))),
    Session: Layout(Session, "session", "id", "started_at",
                    hashed=("developer_id", ("developer_id", "day"))),
}  # fmt: skip
"""Every record type's layout, in the order snapshots and stats list them."""

BY_NAME: dict[str, Layout] = {layout.name: layout for layout in LAYOUTS.values()}
