"""Point-in-time snapshots of the activity store, in a self-checking file.

Layout: a 50-byte header, then the payload::

    magic b"ITACTSNP" | version u16 | payload length u64 | sha256 of payload (32 bytes)
    payload: per record type, name length u16 | name | section length u64 | Arrow IPC stream

Each section is one Arrow record batch with a column per record field, taken
from the table's columns as they are (:mod:`infertrace.engine.colarrow`: text
as dictionary arrays, enums as their values). :func:`write_snapshot` copies
the live rows' arrays and the dictionaries under one read lock (NumPy copies:
writers wait tens of milliseconds at two million records), encodes after the
lock is let go, writes a temp file beside the target, fsyncs it, renames it
into place and fsyncs the directory, so a crash leaves the old file or the new
one, never half of one.

:func:`restore_snapshot` checks magic, version, length and checksum, decodes
every section into new tables (types, codes within their dictionaries, counts
and times not negative, keys and emails unique) and only then swaps them in,
under the write lock. A corrupt, truncated or foreign file raises
SnapshotInvalid and leaves the live store as it was.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from infertrace.activity.durable import table_from
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.tables import BY_NAME, LAYOUTS, Layout
from infertrace.engine.colarrow import from_batch, to_batch
from infertrace.engine.columnar import Array, ColumnTable
from infertrace.errors import InferTraceError, SnapshotInvalid

MAGIC = b"ITACTSNP"
VERSION = 2
"""2: sections are the table's columns (text dictionary-encoded as stored)."""
HEADER = struct.Struct(">8sHQ32s")
_SECTION = struct.Struct(">H")
_LENGTH = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What a snapshot holds: its path, bytes, checksum and records per type."""

    path: Path
    bytes: int
    sha256: str
    counts: dict[str, int]


def write_snapshot(store: MemoryActivityStore, path: str | os.PathLike[str]) -> SnapshotInfo:
    """Write the store's records at one instant to ``path`` (atomically replaced).
    O(n) vectorised; the read lock is held only to copy the arrays."""
    target = Path(path)
    with store.reading() as view:
        states = {kind: view.tables[kind].export() for kind in LAYOUTS}
    counts = {LAYOUTS[k].name: len(arrays[LAYOUTS[k].key]) for k, (arrays, _) in states.items()}
    pieces: list[bytes | pa.Buffer] = []
    for kind, layout in LAYOUTS.items():
        section = _encode(layout, *states[kind])
        name = layout.name.encode()
        pieces += [_SECTION.pack(len(name)) + name + _LENGTH.pack(section.size), section]
    del states
    hasher = hashlib.sha256()
    for piece in pieces:
        hasher.update(piece)
    digest = hasher.digest()
    length = sum(len(p) if isinstance(p, bytes) else p.size for p in pieces)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, length, digest))
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return SnapshotInfo(target, HEADER.size + length, digest.hex(), counts)


def _encode(
    layout: Layout, arrays: dict[str, Array], dictionaries: dict[str, list[Any]]
) -> pa.Buffer:
    batch = to_batch(layout.specs, arrays, dictionaries)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def restore_snapshot(store: MemoryActivityStore, path: str | os.PathLike[str]) -> SnapshotInfo:
    """Replace the store's content with the snapshot at ``path``; SnapshotInvalid
    (the store untouched) if the file is not a whole, valid snapshot. O(n)."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise SnapshotInvalid(f"snapshot {str(source)!r} cannot be read: {exc}") from exc
    payload, digest = _verified(source, data)
    tables = _sections(source, payload)
    missing = [LAYOUTS[k].name for k in LAYOUTS if k not in tables]
    if missing:
        raise SnapshotInvalid(f"snapshot {str(source)!r} has no {', '.join(missing)} section")
    store.replace_tables(tables, source=f"snapshot {source.name}")
    counts = {LAYOUTS[k].name: len(t) for k, t in tables.items()}
    return SnapshotInfo(source, len(data), digest, counts)


def _verified(source: Path, data: bytes) -> tuple[memoryview, str]:
    where = f"snapshot {str(source)!r}"
    if len(data) < HEADER.size:
        raise SnapshotInvalid(f"{where} is truncated: {len(data)} bytes, header {HEADER.size}")
    magic, version, length, digest = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotInvalid(f"{where} is not an activity snapshot (magic {magic!r})")
    if version != VERSION:
        raise SnapshotInvalid(f"{where} has format version {version}; this reads {VERSION}")
    payload = memoryview(data)[HEADER.size :]
    if len(payload) != length:
        state = "truncated" if len(payload) < length else "longer than its header says"
        raise SnapshotInvalid(f"{where} is {state}: payload {len(payload)} bytes, header {length}")
    actual = hashlib.sha256(payload).digest()
    if actual != digest:
        raise SnapshotInvalid(
            f"{where} is corrupt: sha256 {actual.hex()} differs from the header's {digest.hex()}"
        )
    return payload, digest.hex()


def _sections(source: Path, payload: memoryview) -> dict[type, ColumnTable[Any]]:
    where = f"snapshot {str(source)!r}"
    out: dict[type, ColumnTable[Any]] = {}
    at = 0
    try:
        while at < len(payload):
            (size,) = _SECTION.unpack_from(payload, at)
            name = bytes(payload[at + 2 : at + 2 + size]).decode()
            at += 2 + size
            (length,) = _LENGTH.unpack_from(payload, at)
            at += 8
            layout = BY_NAME.get(name)
            if layout is None:
                raise SnapshotInvalid(f"{where} has an unknown section {name!r}")
            if length > len(payload) - at:
                raise SnapshotInvalid(f"{where}: section {name} runs past the end")
            batch = pa.ipc.open_stream(payload[at : at + length]).read_all()
            at += length
            out[layout.kind] = table_from(layout, *from_batch(layout.specs, batch))
    except SnapshotInvalid:
        raise
    except (InferTraceError, ValueError, TypeError, struct.error, pa.ArrowException) as exc:
        raise SnapshotInvalid(f"{where} cannot be decoded at byte {at}: {exc}") from exc
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
