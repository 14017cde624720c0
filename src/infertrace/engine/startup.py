"""What opening a data directory does before it takes writes: snapshot, then log replay.

Layout of a data directory ``DIR``::

    DIR/LOCK            flock held by the process that has it open (its pid inside)
    DIR/snap-<seq>/     snapshots (engine.snapfile), the newest ``keep``
    DIR/wal/            the write-ahead log's segments (engine.wal), tagged records
    DIR/damaged-<time>/ log segments moved aside at an explicit request

Start-up (:func:`restore`), for participants that hold no data yet:

1. The newest snapshot that verifies and that every participant accepts
   (:meth:`~infertrace.engine.journal.Durable.restore`) is restored; a damaged
   or refused one is skipped with a warning naming the problem, and the one
   before it tried. Every snapshot failing is an error: the log no longer holds
   what they covered. A snapshot holding a table no participant keeps is refused
   outright (the wrong directory, or a part of the server missing).
2. The log after the snapshot's position is replayed in LSN order, each record
   to the owner of its table and only above that table's ``applied_lsn``. A
   record of a table nobody keeps stops start-up. A torn final record ends the
   replay (the log cuts it when opened for writing, with a warning).
3. A corrupt record in the middle of the log (or a missing segment) stops
   start-up with a message naming segment and byte offset, since acknowledged
   records may follow it. With ``move_damaged_aside`` the damaged segment and
   every later one are moved into ``DIR/damaged-<time>/`` instead and start-up
   goes on from the records before the damage (already replayed).

Errors are builtins with messages that name the directory, file and value
(ValueError for content, OSError for the file system). After a failure the
participants are half restored: discard them.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infertrace.engine import snapfile
from infertrace.engine.fileio import fsync_dir
from infertrace.engine.journal import APPLIED_LSN, Durable
from infertrace.engine.tagged import split
from infertrace.engine.walformat import Damage, list_segments, read_records

log = logging.getLogger(__name__)

LOG_DIR = "wal"
DAMAGED_PREFIX = "damaged-"
MOVE_HINT = "move_damaged_aside (infertrace serve --move-damaged-aside)"
"""How a caller asks for the damaged part of a log to be moved aside."""


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What start-up restored: the snapshot used, records replayed per table, time."""

    directory: Path
    snapshot: Path | None
    snapshot_lsn: int
    replayed: Mapping[str, int]
    """Records replayed per table (tables with none are absent)."""
    seconds: float
    skipped: tuple[str, ...] = ()
    """Why each newer snapshot was refused before this one."""
    moved_aside: Path | None = None
    """Where damaged log segments were moved, when asked to."""
    torn: str | None = None
    """The torn final record cut from the log, if any."""

    @property
    def records_replayed(self) -> int:
        return sum(self.replayed.values())

    def __str__(self) -> str:
        snap = (
            f"snapshot {self.snapshot.name} (lsn {self.snapshot_lsn})"
            if self.snapshot
            else ("no snapshot")
        )
        return f"{snap}, {self.records_replayed:,} log records replayed in {self.seconds:.2f} s"


@dataclass(slots=True)
class Restored:
    """:func:`restore`'s result: the report and where the log must go on."""

    report: RestoreReport
    next_lsn: int
    """The lowest LSN the log may give its next record (above every applied one)."""
    applied: dict[str, int] = field(default_factory=dict)


def owners(participants: Sequence[Durable]) -> dict[str, Durable]:
    """Table name -> the participant keeping it; ValueError naming a name kept twice."""
    found: dict[str, Durable] = {}
    for participant in participants:
        if not isinstance(participant, Durable):
            raise ValueError(f"{participant!r} does not implement the Durable protocol")
        for name in participant.table_names():
            if name in found:
                raise ValueError(f"table {name!r} is kept by two participants")
            found[name] = participant
    return found


def restore(
    root: Path, participants: Sequence[Durable], move_damaged_aside: bool = False
) -> Restored:
    """Restore ``participants`` from the data directory ``root``; see the module doc.

    The caller holds the directory's lock. O(snapshot + log after it).
    """
    started = time.perf_counter()
    tables = owners(participants)
    snap, skipped = _restore_snapshot(root, tables, participants)
    after = snap.info.lsn if snap else 0
    applied = {name: after for name in tables}
    if snap:
        for name, state in snap.tables.items():
            applied[name] = _applied_lsn(snap.info.path, name, state, after)
    logdir = root / LOG_DIR
    segments = list_segments(logdir) if logdir.is_dir() else []
    if snap and not segments and not move_damaged_aside:
        raise ValueError(
            f"data directory {root}: snapshot {snap.info.path.name} covers the log up to"
            f" lsn {after} but {logdir} holds no log segments, so what was logged after it"
            f" is gone; to start from the snapshot alone, reopen with {MOVE_HINT}"
        )
    replayed, last, moved = _replay(root, segments, after, tables, applied, move_damaged_aside)
    next_lsn = max([last, after, *applied.values()]) + 1
    report = RestoreReport(
        root,
        snap.info.path if snap else None,
        after,
        dict(replayed),
        time.perf_counter() - started,
        skipped,
        moved,
    )
    return Restored(report, next_lsn, applied)


def _restore_snapshot(
    root: Path, tables: Mapping[str, Durable], participants: Sequence[Durable]
) -> tuple[snapfile.Snapshot | None, tuple[str, ...]]:
    skipped: list[str] = []
    for path in reversed(snapfile.list_snapshots(root)):
        try:
            snap = snapfile.load(path)
        except ValueError as exc:
            log.warning("refusing snapshot: %s", exc)
            skipped.append(str(exc))
            continue
        unknown = sorted(set(snap.tables) - set(tables))
        if unknown:
            raise ValueError(
                f"snapshot {path} holds table(s) {', '.join(map(repr, unknown))} that nothing"
                f" here keeps (kept: {', '.join(map(repr, sorted(tables)))}): is this the"
                " right data directory?"
            )
        try:
            for participant in participants:
                names = participant.table_names()
                participant.restore({n: snap.tables[n] for n in names if n in snap.tables})
        except ValueError as exc:
            problem = f"snapshot {path}: cannot be restored: {exc}"
            log.warning("refusing snapshot: %s", problem)
            skipped.append(problem)
            continue
        return snap, tuple(skipped)
    if skipped:
        raise ValueError(f"data directory {root}: no usable snapshot: " + "; ".join(skipped))
    return None, ()


def _applied_lsn(path: Path, name: str, state: snapfile.TableState, default: int) -> int:
    value = state.meta.get(APPLIED_LSN, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"snapshot {path}: table {name!r} has {APPLIED_LSN} {value!r}")
    return value


def _replay(
    root: Path,
    segments: list[Path],
    after: int,
    tables: Mapping[str, Durable],
    applied: Mapping[str, int],
    move_damaged_aside: bool,
) -> tuple[Counter[str], int, Path | None]:
    """Replay the records above ``after``; (per-table counts, last LSN read, moved-to)."""
    replayed: Counter[str] = Counter()
    last = after
    damage: list[Damage] = []
    try:
        for lsn, record in read_records(segments, after, on_damage=damage.append):
            last = lsn
            _apply(lsn, record, tables, applied, replayed)
    except ValueError as exc:
        if not damage:
            raise
        where = damage[0]
        later = segments[segments.index(where.segment) :]
        if not move_damaged_aside:
            raise ValueError(
                f"{exc}. Replay stopped there after {sum(replayed.values()):,} records, and"
                " acknowledged records may follow it, so the data directory is not opened."
                f" To start from the records before the damage, reopen with {MOVE_HINT}:"
                f" {len(later)} log segment(s) from {where.segment.name} on go to"
                f" {root}/{DAMAGED_PREFIX}<time>/ for inspection; or put back an intact copy"
                " of the segment."
            ) from None
        moved = move_aside(root, later)
        log.warning(
            "%s; moved %d log segment(s) from %s on to %s and started from the %d records"
            " before it",
            exc,
            len(later),
            where.segment.name,
            moved,
            sum(replayed.values()),
        )
        return replayed, last, moved
    return replayed, last, None


def _apply(
    lsn: int,
    record: memoryview,
    tables: Mapping[str, Durable],
    applied: Mapping[str, int],
    replayed: Counter[str],
) -> None:
    try:
        name, payload = split(record)
    except ValueError as exc:
        raise ValueError(f"log record {lsn}: {exc}") from None
    owner = tables.get(name)
    if owner is None:
        raise ValueError(
            f"log record {lsn} changes table {name!r}, which nothing here keeps"
            f" (kept: {', '.join(map(repr, sorted(tables)))}): is this the right data directory?"
        )
    if lsn <= applied[name]:
        return
    try:
        owner.replay(name, lsn, bytes(payload))
    except ValueError as exc:
        raise ValueError(f"log record {lsn} of table {name!r} cannot be replayed: {exc}") from exc
    replayed[name] += 1


def move_aside(root: Path, segments: Sequence[Path]) -> Path:
    """Move ``segments`` into a new ``root/damaged-<time>/``; its path. O(files)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = root / f"{DAMAGED_PREFIX}{stamp}"
    n = 1
    while target.exists():
        n += 1
        target = root / f"{DAMAGED_PREFIX}{stamp}-{n}"
    target.mkdir()
    sources = {path.parent for path in segments}
    for path in segments:
        os.rename(path, target / path.name)
    fsync_dir(target)
    for directory in sources:
        fsync_dir(directory)
    return target


__all__ = [
    "DAMAGED_PREFIX",
    "LOG_DIR",
    "RestoreReport",
    "Restored",
    "move_aside",
    "owners",
    "restore",
]
