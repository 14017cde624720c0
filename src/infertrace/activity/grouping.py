"""Adoption metrics summed straight from the columns: NumPy group-bys, no records.

:func:`metrics_by_group` reads the commits, changes and sessions of a day range
(through the time indexes, or one developer's bucket) as arrays and sums every
metric per group with ``np.bincount``; a group is a day, a developer, a region
or team (through the developer table), or everything. Active developers are the
distinct (group, developer) pairs, found by one ``np.unique``.

The three tables each have their own dictionary of developer ids, so
:class:`DeveloperKeys` maps each table's codes onto one index per developer id,
extending the map as dictionaries grow (a table that was compacted or replaced
has a new ``uid`` and is mapped afresh). It is shared by concurrent readers and
guarded by its own mutex.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from infertrace.activity.records import DAY_NS, Change, ChangeKind, Commit, Session
from infertrace.engine.columnar import Array, ColumnTable
from infertrace.engine.planner import Between, Eq, Predicate

READS: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (Commit, "timestamp", ("developer_id", "day", "ai_assisted")),
    (Change, "timestamp", ("developer_id", "day", "kind", "accepted", "lines_added")),
    (Session, "started_at", ("developer_id", "day", "input_tokens", "output_tokens", "cost_usd")),
)
"""Per record type: its time column and the columns the metrics need."""


MAX_MAPS = 32
"""Code maps kept at most (three tables' developer ids and the developer table's
ids are four; the rest belong to tables since compacted or replaced)."""


class DeveloperKeys:
    """Developer id <-> one int per id, and each table's code -> that int."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self._maps: dict[tuple[int, str], Array] = {}
        self._mutex = threading.Lock()

    def of(self, table: ColumnTable[Any], column: str = "developer_id") -> Array:
        """Code -> developer index for ``table``'s ``column``. O(new dictionary values)."""
        values = table.dictionary(column)
        key = (table.uid, column)
        with self._mutex:
            known = self._maps.get(key)
            done = 0 if known is None else len(known)
            if known is not None and done == len(values):
                return known
            index, ids = self.index, self.ids
            fresh = np.empty(len(values) - done, dtype=np.int64)
            for i, value in enumerate(values[done:]):
                at = index.get(value)
                if at is None:
                    at = index[value] = len(ids)
                    ids.append(value)
                fresh[i] = at
            mapped = fresh if known is None else np.concatenate([known, fresh])
            if known is None and len(self._maps) >= MAX_MAPS:
                self._maps.clear()  # maps of tables compacted or replaced since: rebuilt on use
            self._maps[key] = mapped
            return mapped

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class Totals:
    """Per-group sums, each an array over the groups."""

    active: Array
    commits: Array
    ai: Array
    agent: Array
    accepted: Array
    lines: Array
    manual: Array
    sessions: Array
    tokens: Array
    cost: Array
    seen: Array
    """Whether a group has any record."""


Grouper = Callable[[Array, Array], Array]
"""(developer indexes, day numbers) of rows -> their group numbers."""


def read(
    tables: Mapping[type, ColumnTable[Any]],
    keys: DeveloperKeys,
    first_day: int,
    last_day: int,
    developer_id: str | None = None,
    developer_ids: Sequence[str] | None = None,
) -> dict[type, dict[str, Array]]:
    """The metric columns of the range's rows per type, ``developer_id`` replaced by
    developer indexes; only one developer's, or only ``developer_ids``' (read through
    the developer index: O(their rows), not the range's). O(log n + rows) vectorised."""
    low, high = first_day * DAY_NS, (last_day + 1) * DAY_NS
    out: dict[type, dict[str, Array]] = {}
    for kind, time, columns in READS:
        table = tables[kind]
        where: list[Predicate] = [Between(time, low, high)]
        if developer_id is not None:
            where.append(Eq("developer_id", developer_id))
        if developer_ids is not None:
            cols = table.select_any("developer_id", developer_ids, where, columns)
        else:
            cols = table.select(where, columns)
        cols["developer_id"] = keys.of(table)[cols["developer_id"]]
        if kind is Change:
            code = table.columns["kind"].code_of(ChangeKind.AGENT_EDIT)
            cols["kind"] = cols["kind"] == (-2 if code is None else code)
        out[kind] = cols
    return out


def totals(cols: Mapping[type, Mapping[str, Array]], group: Grouper, groups: int,
           developers: int) -> Totals:  # fmt: skip
    """Sum every metric per group (``groups`` of them). O(rows) vectorised."""
    c, ch, s = cols[Commit], cols[Change], cols[Session]
    gc, gch, gs = (group(x["developer_id"], x["day"]) for x in (c, ch, s))

    def count(g: Array, weights: Array | None = None) -> Array:
        return np.bincount(g, weights=weights, minlength=groups)[:groups]

    agent = ch["kind"]
    accepted = agent & ch["accepted"]
    pairs = np.concatenate([g * max(1, developers) + x["developer_id"]
                            for g, x in ((gc, c), (gch, ch), (gs, s))])  # fmt: skip
    distinct = np.unique(pairs)
    tokens = (s["input_tokens"] + s["output_tokens"]).astype(np.float64)
    commits = count(gc)
    changes = count(gch)
    sessions = count(gs)
    return Totals(
        active=count(distinct // max(1, developers)),
        commits=commits,
        ai=count(gc, c["ai_assisted"].astype(np.float64)),
        agent=count(gch[agent]),
        accepted=count(gch[accepted]),
        lines=count(gch[accepted], ch["lines_added"][accepted].astype(np.float64)),
        manual=count(gch[~agent]),
        sessions=sessions,
        tokens=count(gs, tokens),
        cost=count(gs, s["cost_usd"]),
        seen=(commits + changes + sessions) > 0,
    )


def metrics_args(t: Totals, i: int) -> tuple[Any, ...]:
    """The positional arguments of :class:`~infertrace.activity.aggregations.Metrics`
    for group ``i`` (ints as ints, cost as a float)."""
    return (int(t.active[i]), int(t.commits[i]), int(t.ai[i]), int(t.agent[i]),
            int(t.accepted[i]), int(t.lines[i]), int(t.manual[i]), int(t.sessions[i]),
            int(t.tokens[i]), float(t.cost[i]))  # fmt: skip


def attribute_groups(
    developers: ColumnTable[Any], keys: DeveloperKeys, column: str, unassigned: str
) -> tuple[Array, list[str], Array]:
    """Developer index -> group number by the developer's ``column`` (region, team),
    the group names (``unassigned`` for developers not stored or without one) and
    each group's headcount. O(developers) vectorised plus the column's dictionary."""
    rows = developers.live_rows()
    dev_index = keys.of(developers, "id")[developers.columns["id"].data[rows]]
    values = developers.dictionary(column)
    names = sorted({str(v) or unassigned for v in values} | {unassigned})
    number = {name: i for i, name in enumerate(names)}
    of_code = np.array([number[str(v) or unassigned] for v in values] + [number[unassigned]],
                       dtype=np.int64)  # fmt: skip
    group_of_dev = np.full(len(keys), number[unassigned], dtype=np.int64)
    group_of_dev[dev_index] = of_code[developers.columns[column].data[rows]]
    heads = np.bincount(group_of_dev[dev_index], minlength=len(names))
    return group_of_dev, names, heads
