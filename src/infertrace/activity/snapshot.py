"""Point-in-time snapshots of the activity store, in a self-checking file.

Layout: a 50-byte header, then the payload::

    magic b"ITACTSNP" | version u16 | payload length u64 | sha256 of payload (32 bytes)
    payload: sections, each name length u16 | name | section length u64 | Arrow IPC stream

A section named for a record type (``commit``) is one Arrow record batch with a
column per record field; one named ``commit.index.<index>`` holds that sorted
index's order (row positions, int32), which restore checks in O(n) instead of
sorting. Columns are taken
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

import numpy as np
import pyarrow as pa

from infertrace.activity.durable import table_from
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.tables import BY_NAME, LAYOUTS, Layout
from infertrace.engine.colarrow import from_batch, to_batch
from infertrace.engine.columnar import Array, ColumnTable
from infertrace.errors import InferTraceError, SnapshotInvalid

_ORDER = ".index."
"""Marks a section holding a sorted index's order: ``<type>.index.<index name>``."""
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
        orders = {kind: view.tables[kind].index_orders() for kind in LAYOUTS}
    counts = {LAYOUTS[k].name: len(arrays[LAYOUTS[k].key]) for k, (arrays, _) in states.items()}
    pieces: list[bytes | pa.Buffer] = []
    for kind, layout in LAYOUTS.items():
        section = _encode(layout, *states[kind])
        name = layout.name.encode()
        pieces += [_SECTION.pack(len(name)) + name + _LENGTH.pack(section.size), section]
        for index, order in orders[kind].items():
            section = _ipc(pa.record_batch([pa.array(order)], names=["rows"]))
            name = f"{layout.name}{_ORDER}{index}".encode()
            pieces += [_SECTION.pack(len(name)) + name + _LENGTH.pack(section.size), section]
    del states, orders
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
    return _ipc(to_batch(layout.specs, arrays, dictionaries))


def _ipc(batch: pa.RecordBatch) -> pa.Buffer:
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
    columns: dict[type, tuple[dict[str, Array], dict[str, list[Any]]]] = {}
    orders: dict[type, dict[str, Array]] = {}
    at = 0
    try:
        while at < len(payload):
            (size,) = _SECTION.unpack_from(payload, at)
            name = bytes(payload[at + 2 : at + 2 + size]).decode()
            at += 2 + size
            (length,) = _LENGTH.unpack_from(payload, at)
            at += 8
            kind_name, _, index = name.partition(_ORDER)
            layout = BY_NAME.get(kind_name)
            if layout is None:
                raise SnapshotInvalid(f"{where} has an unknown section {name!r}")
            if length > len(payload) - at:
                raise SnapshotInvalid(f"{where}: section {name} runs past the end")
            batch = pa.ipc.open_stream(payload[at : at + length]).read_all()
            at += length
            if index:
                rows = batch.column(0).to_numpy() if batch.num_columns == 1 else None
                if rows is None or rows.dtype != np.int32:
                    raise SnapshotInvalid(f"{where}: section {name} is not one int32 column")
                orders.setdefault(layout.kind, {})[index] = rows
            else:
                columns[layout.kind] = from_batch(layout.specs, batch)
        out = {kind: table_from(LAYOUTS[kind], *cols, orders.get(kind))
               for kind, cols in columns.items()}  # fmt: skip
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
