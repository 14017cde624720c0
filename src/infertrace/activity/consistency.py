"""Is the activity store coherent, and can it be made so?

:func:`verify_consistency` reads every table under one read lock and reports:
orphans (a commit, change or session whose developer is not stored), changes
naming a commit that is not stored, records stored under a key that is not
their own or repeating another's key, emails held by two developers, and index
drift (an index that disagrees with the rows). Orphans are normal while feeds
arrive out of order (git history before the roster), so writes allow them; this
report is where they show.

:func:`repair` fixes what it can without guessing: it rebuilds every index from
the rows (a key held by two rows goes to the later). It deletes orphans
only when asked (``drop_orphans=True``), and never merges developers. It says
what it did and what it left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Change, Commit, Developer, Session
from infertrace.activity.tables import LAYOUTS
from infertrace.engine.columnar import Array, ColumnTable


@dataclass(frozen=True, slots=True)
class Orphan:
    """A record whose developer is not stored."""

    kind: str
    key: str
    developer_id: str


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    """What :func:`verify_consistency` found; :attr:`ok` when it found nothing."""

    counts: dict[str, int]
    orphans: tuple[Orphan, ...]
    missing_commits: tuple[tuple[str, str], ...]
    """(change id, commit sha) of changes naming a commit that is not stored."""
    misplaced: tuple[str, ...]
    """Records stored under a key other than their own, or repeating another's."""
    duplicate_emails: tuple[str, ...]
    index_drift: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.orphans or self.missing_commits or self.misplaced
                    or self.duplicate_emails or self.index_drift)  # fmt: skip

    def lines(self) -> list[str]:
        """The findings as sentences, one per kind of problem (examples capped at 5)."""
        out: list[str] = []
        if self.orphans:
            by_kind = Counter(o.kind for o in self.orphans)
            first = ", ".join(f"{o.kind} {o.key!r} -> {o.developer_id!r}" for o in self.orphans[:5])
            counts = ", ".join(f"{n} {k}s" for k, n in sorted(by_kind.items()))
            out.append(f"orphans (developer not stored): {counts}; e.g. {first}")
        if self.missing_commits:
            first = ", ".join(f"change {c!r} -> {s!r}" for c, s in self.missing_commits[:5])
            out.append(f"{len(self.missing_commits)} changes name a commit not stored: {first}")
        if self.misplaced:
            out.append(f"{len(self.misplaced)} misplaced or repeated keys: "
                       + "; ".join(self.misplaced[:5]))  # fmt: skip
        if self.duplicate_emails:
            out.append(f"{len(self.duplicate_emails)} emails held by several developers: "
                       + ", ".join(self.duplicate_emails[:5]))  # fmt: skip
        if self.index_drift:
            out.append(f"{len(self.index_drift)} index disagreements: "
                       + "; ".join(self.index_drift[:5]))  # fmt: skip
        return out or ["consistent: " + ", ".join(f"{n} {k}s" for k, n in self.counts.items())]


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :func:`repair` did, and what the store looks like afterwards."""

    actions: tuple[str, ...]
    after: ConsistencyReport


def verify_consistency(store: MemoryActivityStore) -> ConsistencyReport:
    """Check every record and index; O(n log n) under the read lock."""
    with store.reading() as view:
        return _verify(dict(view.tables))


def _verify(tables: Mapping[type, ColumnTable[Any]]) -> ConsistencyReport:
    developers = tables[Developer]
    dev_ids = set(_live_values(developers, "id"))
    orphans: list[Orphan] = []
    kinds: tuple[type, ...] = (Commit, Change, Session)
    for kind in kinds:
        table = tables[kind]
        rows = _rows_not_in(table, "developer_id", dev_ids)
        keys = _values(table, table.key, rows)
        owners = _values(table, "developer_id", rows)
        orphans += [Orphan(LAYOUTS[kind].name, k, d) for k, d in zip(keys, owners, strict=True)]
    changes = tables[Change]
    shas = set(_live_values(tables[Commit], "sha"))
    linked = _rows_not_in(changes, "commit_sha", shas)
    missing = list(zip(_values(changes, "id", linked), _values(changes, "commit_sha", linked),
                       strict=True))  # fmt: skip
    misplaced: list[str] = []
    drift: list[str] = []
    for kind, table in tables.items():
        name = LAYOUTS[kind].name
        for problem in table.drift():
            primary = problem.startswith((f"index {table.key} ", f"unique {table.key} "))
            (misplaced if primary else drift).append(f"{name}: {problem}")
    emails = developers.columns["email"].data[developers.live_rows()]
    codes, counts = np.unique(emails, return_counts=True)
    values = developers.dictionary("email")
    return ConsistencyReport(
        counts={LAYOUTS[k].name: len(t) for k, t in tables.items()},
        orphans=tuple(orphans),
        missing_commits=tuple(missing),
        misplaced=tuple(misplaced),
        duplicate_emails=tuple(sorted(values[c] for c in codes[counts > 1].tolist())),
        index_drift=tuple(drift),
    )


def _live_values(table: ColumnTable[Any], column: str) -> list[Any]:
    return _values(table, column, table.live_rows())


def _values(table: ColumnTable[Any], column: str, rows: Array) -> list[Any]:
    col = table.columns[column]
    return col.decode(col.data[rows])


def _rows_not_in(table: ColumnTable[Any], column: str, known: set[Any]) -> Array:
    """Live rows whose text ``column`` is set and not in ``known`` (one test per
    distinct value, then a vector lookup). O(n + dictionary)."""
    col = table.columns[column]
    absent = np.array([v not in known for v in col.values] + [False], dtype=bool)
    rows = table.live_rows()
    found: Array = rows[absent[col.data[rows]]]
    return found  # NULL (-1) reads the trailing False


def repair(store: MemoryActivityStore, *, drop_orphans: bool = False) -> RepairReport:
    """Fix what is safely fixable (see the module); O(n log n) under the write lock.
    Orphans go through :meth:`MemoryActivityStore.drop`, so a data directory logs them."""
    actions: list[str] = []
    with store.exclusive() as tables:
        found = _verify(tables)
        if found.index_drift or found.misplaced:
            for table in tables.values():
                table.rebuild_indexes()
            actions.append(f"rebuilt every index ({len(found.index_drift) + len(found.misplaced)} "
                           "disagreements)")  # fmt: skip
    if drop_orphans and found.orphans:
        by_name = {LAYOUTS[k].name: k for k in LAYOUTS}
        dropped = sum(
            store.drop(by_name[name], [o.key for o in found.orphans if o.kind == name])
            for name in sorted({o.kind for o in found.orphans})
        )
        actions.append(f"deleted {dropped} orphan records")
    return RepairReport(tuple(actions), verify_consistency(store))
