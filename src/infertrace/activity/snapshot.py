"""Point-in-time snapshots of the activity store, in a self-checking file.

Layout: a 50-byte header, then the payload::

    magic b"ITACTSNP" | version u16 | payload length u64 | sha256 of payload (32 bytes)
    payload: per record type, name length u16 | name | section length u64 | Arrow IPC stream

Each section is one Arrow record batch with a column per record field (enums as
their values). :func:`write_snapshot` takes references to every record under one
read lock (records are immutable, so encoding happens after the lock is let go:
writers wait only for the copy of the references), writes a temp file beside
the target, fsyncs it, renames it into place and fsyncs the directory, so a
crash leaves the old file or the new one, never half of one.

:func:`restore_snapshot` checks magic, version, length and checksum, decodes and
re-validates every record (records are built through their constructors) and
builds new tables; only then does it swap them in, under the write lock. A
corrupt, truncated or foreign file raises SnapshotInvalid and leaves the live
store as it was.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
import threading
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import pyarrow as pa

from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.tables import BY_NAME, LAYOUTS, Layout
from infertrace.errors import InferTraceError, SnapshotInvalid

MAGIC = b"ITACTSNP"
VERSION = 1
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
    O(n); the read lock is held only to copy references."""
    target = Path(path)
    with store.reading() as view:
        rows = {kind: list(view.tables[kind].rows.values()) for kind in LAYOUTS}
    payload = bytearray()
    for kind, layout in LAYOUTS.items():
        section = _encode(layout, rows[kind])
        name = layout.name.encode()
        payload += _SECTION.pack(len(name)) + name + _LENGTH.pack(len(section)) + section
    digest = hashlib.sha256(payload).digest()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, VERSION, len(payload), digest))
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return SnapshotInfo(target, HEADER.size + len(payload), digest.hex(),
                        {LAYOUTS[k].name: len(r) for k, r in rows.items()})  # fmt: skip


def _encode(layout: Layout, records: list[Any]) -> bytes:
    names = layout.fields
    arrays = []
    for name in names:
        column = list(map(attrgetter(name), records))
        if column and isinstance(column[0], str) and _repeats(column):
            # text that repeats (ids a record points at, teams, enums): stored once
            arrays.append(pa.array(column, type=pa.string()).dictionary_encode())
        else:
            arrays.append(pa.array(column))
    batch = pa.record_batch(arrays, names=list(names))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _repeats(column: list[Any]) -> bool:
    """Whether a column's first 1,024 values hold at most half as many distinct ones:
    worth a dictionary (unique text, a sha or an email, is not)."""
    head = column[:1024]
    return len(set(head)) <= len(head) // 2


def restore_snapshot(store: MemoryActivityStore, path: str | os.PathLike[str]) -> SnapshotInfo:
    """Replace the store's content with the snapshot at ``path``; SnapshotInvalid
    (the store untouched) if the file is not a whole, valid snapshot. O(n)."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise SnapshotInvalid(f"snapshot {str(source)!r} cannot be read: {exc}") from exc
    payload, digest = _verified(source, data)
    tables = {}
    counts: dict[str, int] = {}
    for layout, records in _sections(source, payload):
        table = layout.table()
        problems = table.insert_many(records)
        if problems:
            raise SnapshotInvalid(f"snapshot {str(source)!r}: {layout.name} record "
                                  f"{problems[0][0]}: {problems[0][1]}")  # fmt: skip
        tables[layout.kind] = table
        counts[layout.name] = len(records)
    missing = [LAYOUTS[k].name for k in LAYOUTS if k not in tables]
    if missing:
        raise SnapshotInvalid(f"snapshot {str(source)!r} has no {', '.join(missing)} section")
    store.replace_tables(tables)
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


def _sections(source: Path, payload: memoryview) -> list[tuple[Layout, list[Any]]]:
    where = f"snapshot {str(source)!r}"
    out: list[tuple[Layout, list[Any]]] = []
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
            batch = pa.ipc.open_stream(payload[at : at + length]).read_all()
            at += length
            if tuple(batch.column_names) != layout.fields:
                raise SnapshotInvalid(f"{where}: {name} columns {batch.column_names} are not "
                                      f"{list(layout.fields)}")  # fmt: skip
            columns = [_pylist(batch.column(i)) for i in range(batch.num_columns)]
            kind = layout.kind
            out.append((layout, [kind(*values) for values in zip(*columns, strict=True)]))
    except SnapshotInvalid:
        raise
    except (InferTraceError, ValueError, TypeError, struct.error, pa.ArrowException) as exc:
        raise SnapshotInvalid(f"{where} cannot be decoded at byte {at}: {exc}") from exc
    return out


def _pylist(column: pa.ChunkedArray) -> list[Any]:
    """A column as Python values; a dictionary column decoded by its indices, so
    each distinct string is one (interned) object, and at C speed (``to_pylist``
    on a dictionary array goes value by value, ~10x slower)."""
    out: list[Any] = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            out.extend(chunk.to_pylist())
            continue
        values = [sys.intern(v) for v in chunk.dictionary.to_pylist()]
        if chunk.indices.null_count:
            out.extend(None if i is None else values[i] for i in chunk.indices.to_pylist())
        else:
            out.extend(map(values.__getitem__, chunk.indices.to_numpy().tolist()))
    return out


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
