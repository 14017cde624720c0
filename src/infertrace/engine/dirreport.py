"""A read-only report of a data directory: its snapshots, its log, and what is wrong.

For the ``infertrace snapshot inspect|verify`` tools. :func:`inspect_dir`
changes nothing and takes no lock (a server may hold it; the report then says
so): it reads every snapshot's manifest, checks each file's size and sha256 and
counts its rows from the Arrow file, and scans every log segment, counting the
records of each table by their tags (:mod:`infertrace.engine.tagged`), up to a
torn tail or the first damage. :attr:`DirReport.problems` names everything
that makes the directory unsound:

- a snapshot whose manifest is missing or unreadable, or a file of it that is
  missing, of the wrong size or failing its sha256 (start-up would fall back to
  an older snapshot, but the damage is reported);
- damage in the log before its end (start-up refuses it), a record whose table
  tag is unreadable, or missing records: the log must go on from the newest
  sound snapshot's position (or from LSN 1 without one).

A torn tail is not a problem: it is what a crash leaves, and opening the
directory cuts it. O(bytes in the directory).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from infertrace.engine import snapfile
from infertrace.engine.startup import LOG_DIR
from infertrace.engine.tagged import split
from infertrace.engine.wal import LOCK_NAME
from infertrace.engine.walformat import Damage, Torn, list_segments, scan_segment, segment_lsn


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One snapshot file: its table and part, size, rows, and whether it verifies."""

    name: str
    table: str
    part: str
    bytes: int | None
    """On disk; None when missing."""
    rows: int | None
    """Rows in the Arrow file; None unless it verified and read."""
    state: str
    """``ok``, ``missing``, ``size mismatch``, ``sha256 mismatch`` or ``unreadable``."""


@dataclass(frozen=True, slots=True)
class SnapshotCheck:
    """A snapshot directory: what its manifest says and how its files check out."""

    path: Path
    seq: int
    lsn: int | None
    created_unix_nano: int | None
    files: tuple[FileCheck, ...]
    problem: str | None = None
    """Why it cannot be trusted (the first problem), None when sound."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def tables(self) -> dict[str, tuple[int | None, int]]:
        """Table -> (rows, bytes of its files). A table's rows are those of its parts
        named ``rows`` or ``<kind>.rows`` (a ring table, the activity kinds), else
        of its first part (the registry's services); None if one did not read."""
        size: dict[str, int] = {}
        parts: dict[str, list[FileCheck]] = {}
        for f in self.files:
            size[f.table] = size.get(f.table, 0) + (f.bytes or 0)
            parts.setdefault(f.table, []).append(f)
        out: dict[str, tuple[int | None, int]] = {}
        for table, found in parts.items():
            counted = [f for f in found if f.part == "rows" or f.part.endswith(".rows")]
            counted = counted or found[:1]
            rows = [f.rows for f in counted]
            out[table] = (None if None in rows else sum(r or 0 for r in rows), size[table])
        return out


@dataclass(frozen=True, slots=True)
class LogCheck:
    """The log: segments, bytes, LSN range, records per table, a torn tail, damage."""

    directory: Path
    segments: int
    bytes: int
    first_lsn: int | None
    last_lsn: int | None
    records: Counter[str]
    torn: Torn | None
    problem: str | None
    first_segment_lsn: int | None = None
    """The LSN the first segment is named by (where the log begins)."""


@dataclass(frozen=True, slots=True)
class DirReport:
    """Everything :func:`inspect_dir` found."""

    root: Path
    snapshots: tuple[SnapshotCheck, ...]
    log: LogCheck
    lock_holder: str | None
    """The pid in the lock file while a process holds the lock, else None."""
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def lock_holder(root: Path) -> str | None:
    """The pid written in ``root/LOCK`` if a process holds its flock now, else None.

    Read from ``/proc/locks`` (Linux), which lists every flock by device and inode,
    so asking never takes the lock: a server starting at that instant must not
    find it taken. Where ``/proc/locks`` cannot be read, the lock is tried for an
    instant (shared, non-blocking) instead.
    """
    path = root / LOCK_NAME
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        held = _probe(path)
    else:
        inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        held = any(
            "FLOCK" in fields and "->" not in fields and inode in fields
            for fields in map(str.split, table.splitlines())
        )
    if not held:
        return None
    with open(path, "rb") as f:
        return f.read(32).decode(errors="replace").strip() or "unknown"


def _probe(path: Path) -> bool:
    """Whether another open file holds the flock of ``path`` (tried for an instant)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _rows(path: Path) -> int:
    with ipc.open_file(pa.memory_map(str(path))) as reader:
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))


def check_snapshot(path: Path) -> SnapshotCheck:
    """Check one snapshot directory (manifest, every file's size and sha256, rows)."""
    seq = int(path.name[len(snapfile.PREFIX) :])
    try:
        manifest = snapfile._manifest(path)  # the checks snapfile.load makes
    except ValueError as exc:
        return SnapshotCheck(path, seq, None, None, (), str(exc))
    owner = {
        fname: (tname, pname)
        for tname, table in manifest["tables"].items()
        for pname, fname in table["parts"].items()
    }
    files: list[FileCheck] = []
    problem: str | None = None
    listed: dict[str, Any] = manifest["files"]
    order = [f for f in owner if f in listed] + sorted(set(listed) - set(owner))
    for fname in order:
        expect = listed[fname]
        tname, pname = owner.get(fname, ("?", "?"))
        fpath = path / fname
        size, rows = None, None
        try:  # a server may delete an old snapshot meanwhile: then it reads as missing
            size = fpath.stat().st_size
            if size != expect["bytes"]:
                state = "size mismatch"
            elif snapfile._sha256(fpath) != expect["sha256"]:
                state = "sha256 mismatch"
            else:
                rows, state = _rows(fpath), "ok"
        except FileNotFoundError:
            state = "missing"
        except (pa.ArrowException, OSError) as exc:
            state = f"unreadable ({exc})"
        if state != "ok" and problem is None:
            problem = f"snapshot {path}: {fname} {state}"
            if state == "size mismatch":
                problem += f" ({size} bytes, manifest says {expect['bytes']})"
        files.append(FileCheck(fname, tname, pname, size, rows, state))
    for fname, (tname, _) in owner.items():
        if fname not in manifest["files"] and problem is None:
            problem = f"snapshot {path}: table {tname!r} names unlisted {fname}"
    return SnapshotCheck(
        path,
        seq,
        int(manifest["lsn"]),
        int(manifest["created_unix_nano"]),
        tuple(files),
        problem,
    )


def check_log(directory: Path) -> LogCheck:
    """Scan every segment of a log directory; count records per table by their tags."""
    segments = list_segments(directory) if directory.is_dir() else []
    size = 0
    first = last = None
    records: Counter[str] = Counter()
    torn: Torn | None = None
    problem: str | None = None
    expect: int | None = None
    for i, path in enumerate(segments):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            problem = f"log segment {path} vanished while reading (a server compacted it?)"
            break
        size += len(data)
        start = segment_lsn(path)
        if expect is not None and start != expect:
            problem = str(Damage(path, 0, f"segment starts at lsn {start}, expected {expect}"))
            break
        scan = scan_segment(path, final=i == len(segments) - 1, data=data)
        for lsn, payload in scan.records:
            try:
                name, _ = split(payload)
            except ValueError as exc:
                problem = str(Damage(path, 0, f"record {lsn}: {exc}"))
                break
            records[name] += 1
            first = lsn if first is None else first
            last = lsn
        torn, expect = scan.torn, scan.next_lsn
        if problem is None and scan.damage is not None:
            problem = str(scan.damage)
        if problem is not None:
            break
    first_segment = segment_lsn(segments[0]) if segments else None
    return LogCheck(
        directory, len(segments), size, first, last, records, torn, problem, first_segment
    )


def inspect_dir(root: str | os.PathLike[str]) -> DirReport:
    """Report on the data directory ``root``; see the module doc. Changes nothing.
    ValueError when ``root`` is not a directory."""
    base = Path(root)
    if not base.is_dir():
        raise ValueError(f"data directory {base} does not exist or is not a directory")
    snaps = tuple(check_snapshot(p) for p in snapfile.list_snapshots(base))
    log = check_log(base / LOG_DIR)
    problems = [s.problem for s in snaps if s.problem is not None]
    if log.problem is not None:
        problems.append(log.problem)
    sound = [s for s in snaps if s.ok and s.lsn is not None]
    covered = sound[-1].lsn if sound else 0
    assert covered is not None
    if snaps and not sound:
        problems.append(
            f"data directory {base}: no snapshot verifies, and the log no longer "
            "holds what they covered"
        )
    if log.first_segment_lsn is None:
        if sound:
            problems.append(
                f"data directory {base}: snapshot {sound[-1].path.name} covers the log up to "
                f"lsn {covered} but {log.directory} holds no log segments"
            )
    elif log.first_segment_lsn > covered + 1:
        problems.append(
            f"log {log.directory}: records {covered + 1}..{log.first_segment_lsn - 1} are "
            f"missing (the log starts at lsn {log.first_segment_lsn}, the newest sound "
            f"snapshot covers up to {covered})"
        )
    if not snaps and log.first_segment_lsn is None:
        problems.append(f"data directory {base} holds no snapshot and no log: nothing to read")
    return DirReport(base, snaps, log, lock_holder(base), tuple(problems))


__all__ = [
    "DirReport",
    "FileCheck",
    "LogCheck",
    "SnapshotCheck",
    "check_log",
    "check_snapshot",
    "inspect_dir",
    "lock_holder",
]
