"""Is the activity store coherent, and can it be made so?

:func:`verify_consistency` reads every table under one read lock and reports:
orphans (a commit, change or session whose developer is not stored), changes
naming a commit that is not stored, records stored under a key that is not
their own or repeating another's key, emails held by two developers, and index
drift (an index that disagrees with the rows). Orphans are normal while feeds
arrive out of order (git history before the roster), so writes allow them; this
report is where they show.

:func:`repair` fixes what it can without guessing: it re-keys misplaced records
whose own key is free and rebuilds every index from the rows. It deletes orphans
only when asked (``drop_orphans=True``), and never merges developers. It says
what it did and what it left.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Change, Commit, Developer, Session
from infertrace.activity.tables import LAYOUTS
from infertrace.engine.indexed import IndexedTable


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


def _verify(tables: dict[type, IndexedTable[Any]]) -> ConsistencyReport:
    developers = tables[Developer].rows
    commits = tables[Commit].rows
    orphans = [
        Orphan(LAYOUTS[kind].name, key, record.developer_id)
        for kind in (Commit, Change, Session)
        for key, record in tables[kind].rows.items()
        if record.developer_id not in developers
    ]
    missing = [
        (key, change.commit_sha)
        for key, change in tables[Change].rows.items()
        if change.commit_sha is not None and change.commit_sha not in commits
    ]
    misplaced: list[str] = []
    drift: list[str] = []
    for kind, table in tables.items():
        name = LAYOUTS[kind].name
        own = Counter(table.pk_of(r) for r in table.rows.values())
        misplaced += [f"{name} {k!r} is held by {n} records" for k, n in own.items() if n > 1]
        misplaced += [f"{name} {table.pk_of(r)!r} is stored under {k!r}"
                      for k, r in table.rows.items() if table.pk_of(r) != k]  # fmt: skip
        drift += [f"{name}: {p}" for p in table.drift() if not p.startswith("row stored under")]
    emails = Counter(d.email for d in developers.values())
    return ConsistencyReport(
        counts={LAYOUTS[k].name: len(t) for k, t in tables.items()},
        orphans=tuple(orphans),
        missing_commits=tuple(missing),
        misplaced=tuple(misplaced),
        duplicate_emails=tuple(sorted(e for e, n in emails.items() if n > 1)),
        index_drift=tuple(drift),
    )


def repair(store: MemoryActivityStore, *, drop_orphans: bool = False) -> RepairReport:
    """Fix what is safely fixable (see the module); O(n log n) under the write lock."""
    actions: list[str] = []
    with store.exclusive() as tables:
        found = _verify(tables)
        for kind, table in tables.items():
            name = LAYOUTS[kind].name
            for key, record in list(table.rows.items()):
                own = table.pk_of(record)
                if own != key and own not in table.rows:
                    del table.rows[key]
                    table.rows[own] = record
                    actions.append(f"re-keyed {name} {own!r} (was under {key!r})")
        if drop_orphans and found.orphans:
            by_kind = {LAYOUTS[k].name: k for k in LAYOUTS}
            for orphan in found.orphans:
                tables[by_kind[orphan.kind]].rows.pop(orphan.key, None)
            actions.append(f"deleted {len(found.orphans)} orphan records")
        if found.index_drift or found.misplaced or actions:
            for table in tables.values():
                table.rebuild_indexes()
            actions.append(f"rebuilt every index ({len(found.index_drift)} disagreements)")
        after = _verify(tables)
    return RepairReport(tuple(actions), after)
