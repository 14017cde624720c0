"""Snapshot files: every table's full state in Arrow IPC, with a checksummed manifest.

A snapshot is a directory ``snap-<seq>`` (``seq`` ascending, 10 digits) in the
data directory holding one Arrow IPC file per *part* of each table (parts are
groups of equal-length columns: a ring table's rows, its receive marks, each
dictionary; see :class:`TableState`) and ``manifest.json``::

    {"format": 1, "seq": 7, "lsn": 1234, "created_unix_nano": ..., "compression": "zstd",
     "tables": {"spans": {"meta": {...}, "parts": {"rows": "spans.rows.arrow", ...}}},
     "files": {"spans.rows.arrow": {"bytes": 123, "sha256": "..."}, ...}}

``lsn`` is the last write-ahead log record the snapshot covers: start-up
replays the log after it. Writing is crash-safe: the files go to a hidden
temp directory, each fsynced, the manifest last; the directory is fsynced and
renamed into place and the data directory fsynced (:func:`save`). A snapshot
directory therefore either is complete or does not exist; :func:`load_latest`
still checks every size and sha256 before trusting one, and falls back to the
previous snapshot (with a warning naming the problem) when the newest is
damaged. :func:`save` keeps the newest ``keep`` snapshots: the log must keep
the records after the *oldest* kept one (:func:`oldest_lsn`) so that a fallback
can still replay.

A snapshot that cannot be trusted raises ValueError whose message names the
snapshot and the problem (the engine defines no exception classes; the store
maps it onto ``infertrace.errors.SnapshotInvalid``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from infertrace.engine.arrowcols import Column, from_arrow, to_arrow
from infertrace.engine.fileio import fsync_dir

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "snap-"
Meta = Mapping[str, int | float | str | bool | list[Any] | None]


@dataclass(frozen=True, slots=True)
class TableState:
    """One table's full state: JSON-able scalars (``meta``: counters, capacity) and
    ``parts``, each a mapping of equal-length columns (NumPy arrays or sequences of
    plain objects, see :mod:`infertrace.engine.arrowcols`)."""

    meta: Meta
    parts: Mapping[str, Mapping[str, Column]]

    def __post_init__(self) -> None:
        for part, cols in self.parts.items():
            lengths = {name: len(col) for name, col in cols.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"columns of part {part!r} differ in length: {lengths}")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a snapshot's manifest says, and where it is."""

    path: Path
    seq: int
    lsn: int
    created_unix_nano: int
    files: Mapping[str, Mapping[str, Any]]

    @property
    def bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.files.values())


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A verified snapshot: its manifest and every table's state."""

    info: SnapshotInfo
    tables: Mapping[str, TableState]
    skipped: tuple[str, ...] = field(default=())
    """Why each newer snapshot was refused before this one was chosen."""


def list_snapshots(directory: Path) -> list[Path]:
    """Snapshot directories under ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX) :].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def _safe(name: str) -> str:
    if not name or name[0] == "." or not all(c.isalnum() or c in "_-." for c in name):
        raise ValueError(f"table and part names must be [A-Za-z0-9_.-]+, no leading dot: {name!r}")
    return name


def _write_file(path: Path, part: Mapping[str, Column], compression: str | None) -> None:
    fields, arrays = zip(*(to_arrow(n, c) for n, c in part.items()), strict=True)
    batch = pa.RecordBatch.from_arrays(list(arrays), schema=pa.schema(list(fields)))
    options = ipc.IpcWriteOptions(compression=compression)
    with open(path, "wb") as f:
        with ipc.new_file(f, batch.schema, options=options) as writer:
            writer.write_batch(batch)
        f.flush()
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def save(
    directory: str | os.PathLike[str],
    tables: Mapping[str, TableState],
    lsn: int,
    keep: int = 2,
    compression: str | None = "zstd",
) -> SnapshotInfo:
    """Write a snapshot of ``tables`` covering the log up to ``lsn``; keep the newest
    ``keep`` snapshots. Returns the new snapshot's manifest. O(total state);
    the caller holds whatever lock makes ``tables`` consistent with ``lsn``, and
    saves one snapshot at a time per directory (the sequence number is the next
    after the newest on disk)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1: {keep}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    existing = list_snapshots(root)
    seq = int(existing[-1].name[len(PREFIX) :]) + 1 if existing else 1
    final = root / f"{PREFIX}{seq:010d}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files: dict[str, dict[str, Any]] = {}
    manifest_tables: dict[str, Any] = {}
    try:
        for tname, state in tables.items():
            parts: dict[str, str] = {}
            for pname, part in state.parts.items():
                fname = f"{_safe(tname)}.{_safe(pname)}.arrow"
                _write_file(tmp / fname, part, compression)
                files[fname] = {
                    "bytes": (tmp / fname).stat().st_size,
                    "sha256": _sha256(tmp / fname),
                }
                parts[pname] = fname
            manifest_tables[tname] = {"meta": dict(state.meta), "parts": parts}
        created = time.time_ns()
        manifest = {
            "format": FORMAT,
            "seq": seq,
            "lsn": lsn,
            "created_unix_nano": created,
            "compression": compression,
            "tables": manifest_tables,
            "files": files,
        }
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        os.rename(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_snapshots(root)[:-keep]:
        shutil.rmtree(old)
    if len(existing) >= keep:
        fsync_dir(root)
    return SnapshotInfo(final, seq, lsn, created, files)


def _manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"snapshot {path}: {MANIFEST} is missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"snapshot {path}: {MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ValueError(f"snapshot {path}: format {found!r}, expected {FORMAT}")
    for key in ("seq", "lsn", "created_unix_nano", "tables", "files"):
        if key not in manifest:
            raise ValueError(f"snapshot {path}: {MANIFEST} has no {key!r}")
    return manifest


def verify(path: str | os.PathLike[str]) -> SnapshotInfo:
    """Check a snapshot's manifest and every file's size and sha256; raise
    ValueError naming the snapshot and its first problem. O(bytes)."""
    snap = Path(path)
    manifest = _manifest(snap)
    files: dict[str, Any] = manifest["files"]
    for tname, table in manifest["tables"].items():
        for fname in table["parts"].values():
            if fname not in files:
                raise ValueError(f"snapshot {snap}: table {tname!r} names unlisted {fname}")
    for fname, expect in files.items():
        fpath = snap / fname
        if not fpath.is_file():
            raise ValueError(f"snapshot {snap}: {fname} is missing")
        size = fpath.stat().st_size
        if size != expect["bytes"]:
            raise ValueError(
                f"snapshot {snap}: {fname} has {size} bytes, manifest says {expect['bytes']}"
            )
        if _sha256(fpath) != expect["sha256"]:
            raise ValueError(f"snapshot {snap}: {fname} fails its sha256 checksum")
    return SnapshotInfo(
        snap, int(manifest["seq"]), int(manifest["lsn"]), int(manifest["created_unix_nano"]), files
    )


def load(path: str | os.PathLike[str]) -> Snapshot:
    """Verify and read one snapshot; ValueError naming it if it cannot be trusted."""
    info = verify(path)
    manifest = _manifest(info.path)
    tables: dict[str, TableState] = {}
    for tname, table in manifest["tables"].items():
        parts: dict[str, dict[str, Column]] = {}
        for pname, fname in table["parts"].items():
            try:
                with ipc.open_file(pa.memory_map(str(info.path / fname))) as reader:
                    data = reader.read_all()
                parts[pname] = {
                    f.name: from_arrow(f, data.column(i)) for i, f in enumerate(data.schema)
                }
            except (pa.ArrowException, ValueError) as exc:
                raise ValueError(f"snapshot {info.path}: {fname} unreadable: {exc}") from exc
        tables[tname] = TableState(table["meta"], parts)
    return Snapshot(info, tables)


def load_latest(directory: str | os.PathLike[str]) -> Snapshot | None:
    """The newest snapshot that verifies, or None when there is none at all.

    A damaged newer one is skipped with a warning (listed in ``skipped``); when
    every snapshot is damaged ValueError is raised rather than starting
    empty, since the log no longer holds what they covered. O(bytes read).
    """
    skipped: list[str] = []
    for path in reversed(list_snapshots(Path(directory))):
        try:
            snap = load(path)
        except ValueError as exc:
            log.warning("refusing snapshot: %s", exc)
            skipped.append(str(exc))
            continue
        return Snapshot(snap.info, snap.tables, tuple(skipped))
    if skipped:
        raise ValueError("no valid snapshot: " + "; ".join(skipped))
    return None


def oldest_lsn(directory: str | os.PathLike[str]) -> int | None:
    """The log position of the oldest kept snapshot (the log may drop records up to
    it and no further), or None without snapshots. Unreadable manifests are ignored."""
    for path in list_snapshots(Path(directory)):
        try:
            return int(_manifest(path)["lsn"])
        except ValueError:
            continue
    return None


__all__ = [
    "Snapshot",
    "SnapshotInfo",
    "TableState",
    "list_snapshots",
    "load",
    "load_latest",
    "oldest_lsn",
    "save",
    "verify",
]
