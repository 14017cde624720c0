"""A consistent read-only view of the activity tables, valid while a lock is held.

:meth:`MemoryActivityStore.reading` yields one under the read lock, so an
aggregation that reads three tables sees them at one instant: a batch written
meanwhile is in all of its reads or in none. Queries here take no lock (the
holder has it) and translate a filter mapping into the engine's predicates,
refusing unknown columns and bad paging with InvalidParameter naming them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from infertrace.activity.records import Commit, Record
from infertrace.activity.tables import LAYOUTS, Layout
from infertrace.engine.columnar import ColumnTable
from infertrace.engine.planner import Between, Eq, Predicate
from infertrace.errors import InvalidParameter

R = TypeVar("R", bound=Record)


def layout_of(kind: object) -> Layout:
    """The layout of a record class; InvalidParameter naming anything else."""
    layout = LAYOUTS.get(kind) if isinstance(kind, type) else None
    if layout is None:
        names = ", ".join(k.__name__ for k in LAYOUTS)
        raise InvalidParameter("kind", f"kind {kind!r} is not one of {names}")
    return layout


def check_page(limit: object, offset: object) -> None:
    """InvalidParameter unless ``limit`` is None or an int >= 0 and ``offset`` an int >= 0."""
    if limit is not None and (type(limit) is not int or limit < 0):
        raise InvalidParameter("limit", f"limit {limit!r} must be None or an int >= 0")
    if type(offset) is not int or offset < 0:
        raise InvalidParameter("offset", f"offset {offset!r} must be an int >= 0")


class ActivityView:
    """Unlocked reads of the tables; valid only inside the ``with`` that made it."""

    __slots__ = ("tables",)

    def __init__(self, tables: Mapping[type, ColumnTable[Any]]) -> None:
        self.tables = tables

    def table(self, kind: type[R]) -> ColumnTable[R]:
        layout_of(kind)
        return self.tables[kind]

    def get(self, kind: type[R], key: object) -> R | None:
        """The record of ``kind`` under ``key``, or None. O(1)."""
        if kind is Commit and isinstance(key, str):
            key = key.lower()
        return self.table(kind).get(key)

    def query(
        self, kind: type[R], filters: Mapping[str, object] | None = None, *,
        limit: int | None = None, offset: int = 0, order_by: str | None = None,
        reverse: bool = False,
    ) -> list[R]:  # fmt: skip
        """Matching records, by key (or by ``order_by``, the type's time column)."""
        check_page(limit, offset)
        layout = layout_of(kind)
        if order_by is not None and order_by != layout.time:
            raise InvalidParameter(
                "order_by", f"order_by {order_by!r} must be None or {layout.time!r}"
            )
        where = predicates(layout, filters)
        return self.tables[kind].query(
            where, order_by=order_by, reverse=reverse, limit=limit, offset=offset
        )

    def count(self, kind: type[Record], filters: Mapping[str, object] | None = None) -> int:
        """How many records match. O(1) or O(log n) when one index answers."""
        layout = layout_of(kind)
        return self.tables[kind].count(predicates(layout, filters))


def predicates(layout: Layout, filters: Mapping[str, object] | None) -> list[Predicate]:
    """The engine predicates of a filter mapping; InvalidParameter naming a bad one."""
    if not filters:
        return []
    if not isinstance(filters, Mapping):
        raise InvalidParameter("filters", f"filters {filters!r} must be a mapping")
    columns = layout.getters
    where: list[Predicate] = []
    for name, value in filters.items():
        if name not in columns:
            known = ", ".join(columns)
            raise InvalidParameter(
                name, f"filter {name!r} is not a {layout.name} column (columns: {known})"
            )
        if isinstance(value, Between):
            if value.column != name:
                raise InvalidParameter(name, f"filter {name!r} holds a range of {value.column!r}")
            where.append(value)
        else:
            if name == "email" and isinstance(value, str):
                value = value.lower()
            where.append(Eq(name, value))
    return where
