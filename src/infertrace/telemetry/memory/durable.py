"""The logged form of a memory-store change: one write-ahead log record per batch or purge.

A record is a 16-byte header and a body::

    version u8 (1) | kind u8 (b"W" write, b"P" purge) | checked u8 | pad u8 |
    capacity u32 | time i64

``time`` is the receive time of a write (the table's TTL reads it) or the
cutoff of a purge, so a replay never reads the clock. ``capacity`` is the
table's ring capacity when a write was applied (0: not recorded, in a purge or
past u32): a replay into a store started with another capacity takes it before
the write, so it evicts as the store did. A write's body is the
batch's columns (schema order, :mod:`infertrace.telemetry.schema`) in
``marshal`` form, after turning what marshal cannot hold into plain data:
enums into ints, attribute maps into dicts (one dict per distinct map
object, so the sharing the decoders set up survives and replay's attribute
encoding takes its fast path), events, links and histograms into tuples.
``checked`` carries :attr:`ColumnBatch.checked`, so a replay skips the
per-record checks exactly when the original write did. A purge has no body.

Why marshal: measured on 16,384 Workload spans in batches of 1,024 (CPU time, best
of 3, this 2-core VM shared and loaded), per span:

==========================================  =========  =========  ==========
candidate                                   encode µs  decode µs  bytes/span
==========================================  =========  =========  ==========
this module (conversion + marshal)            1.3        1.4        154
marshal of the plain columns alone            0.7        1.0        154
pickle (protocol 5) of the same               0.6        0.9        119
engine ``plain`` encoding of the same         11.6       28.6       498
Arrow IPC (arrowcols; maps as plain cells)    21         24         719
==========================================  =========  =========  ==========

(``benchmarks/durability.py`` re-measures marshal and plain.) The original OTLP
bytes are not an option here: the store is below the collector and receives
decoded batches, and the OTLP decoders would have to run again on replay.
marshal and pickle are C-speed; marshal builds only plain values and runs no
code on load (pickle can call any importable callable), and a replayed batch
goes through the same validation as a live one unless ``checked`` says the
producer validated it. marshal's format is Python's own (version 4 since 3.4,
read by every later release); a clean shutdown writes a snapshot (Arrow), so
the log holds records only from the last snapshot on.

Encoding runs before the table's write lock; only the receive time and the
capacity are stamped into the header under the lock (:func:`stamp`).
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from infertrace.model import (
    EMPTY_ATTRIBUTES,
    HistogramData,
    LogRecord,
    MetricPoint,
    Span,
    SpanEvent,
    SpanLink,
)
from infertrace.telemetry.batches import ColumnBatch, LogBatch, MetricBatch, SpanBatch
from infertrace.telemetry.memory.common import per_object
from infertrace.telemetry.schema import FieldType, RecordSchema

VERSION = 1
WRITE = ord("W")
PURGE = ord("P")
HEADER = struct.Struct("<BBBxIq")
"""version, kind, checked, -, ring capacity at the write (0: not known), time."""
MARSHAL_VERSION = 4

_HIST = attrgetter(
    "count", "sum", "min", "max", "bounds", "bucket_counts", "scale", "zero_count",
    "positive_offset", "positive_bucket_counts", "negative_offset", "negative_bucket_counts",
    "quantiles",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Logged:
    """A decoded record: ``kind`` (:data:`WRITE` or :data:`PURGE`), the receive time or
    purge cutoff, and the batch of a write (None for a purge)."""

    kind: int
    time: int
    batch: ColumnBatch[Any] | None
    capacity: int = 0
    """The table's ring capacity when the write was applied (0 in a purge)."""


def _maps(col: Sequence[Any]) -> list[dict[str, Any]]:
    """One dict per distinct map object, shared by its rows."""
    return per_object(_plain, col)


def _plain(m: Any) -> dict[str, Any]:
    return dict(m) if m else {}


def _frozen(d: dict[str, Any]) -> Any:
    return MappingProxyType(d) if d else EMPTY_ATTRIBUTES


def _unmaps(col: Sequence[dict[str, Any]]) -> list[Any]:
    """One read-only map per distinct dict (the sharing :func:`_maps` logged)."""
    return per_object(_frozen, col)


def _sparse(col: Sequence[tuple[Any, ...]], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert`` applied to the non-empty cells only (most spans carry no events or
    links), the empty ones left as ``()``; the scan for them runs in C."""
    out: list[Any] = [()] * len(col)
    for i in compress(range(len(col)), col):
        out[i] = convert(col[i])
    return out


def _event_rows(x: tuple[SpanEvent, ...]) -> tuple[Any, ...]:
    return tuple((e.name, e.time_unix_nano, _plain(e.attributes)) for e in x)


def _link_rows(x: tuple[SpanLink, ...]) -> tuple[Any, ...]:
    return tuple((k.trace_id, k.span_id, _plain(k.attributes), k.trace_state, k.flags) for k in x)


def _events_back(x: Any) -> tuple[SpanEvent, ...]:
    return tuple(SpanEvent(n, t, _frozen(a)) for n, t, a in x)


def _links_back(x: Any) -> tuple[SpanLink, ...]:
    return tuple(SpanLink(t, s, _frozen(a), st, f) for t, s, a, st, f in x)


def _events(col: Sequence[tuple[SpanEvent, ...]]) -> list[Any]:
    return _sparse(col, _event_rows)


def _unevents(col: Sequence[Any]) -> list[tuple[SpanEvent, ...]]:
    return _sparse(col, _events_back)


def _links(col: Sequence[tuple[SpanLink, ...]]) -> list[Any]:
    return _sparse(col, _link_rows)


def _unlinks(col: Sequence[Any]) -> list[tuple[SpanLink, ...]]:
    return _sparse(col, _links_back)


def _hists(col: Sequence[HistogramData | None]) -> list[Any]:
    return [None if h is None else _HIST(h) for h in col]


def _unhists(col: Sequence[Any]) -> list[HistogramData | None]:
    return [None if h is None else HistogramData(*h) for h in col]


def _ints(col: Sequence[Any]) -> list[int]:
    return list(map(int, col))


_ENCODE: dict[FieldType, Callable[[Sequence[Any]], Any]] = {
    FieldType.ENUM: _ints,
    FieldType.ATTRIBUTES: _maps,
    FieldType.EVENTS: _events,
    FieldType.LINKS: _links,
    FieldType.HISTOGRAM: _hists,
}
_DECODE: dict[FieldType, Callable[[Sequence[Any]], Any]] = {
    FieldType.ATTRIBUTES: _unmaps,
    FieldType.EVENTS: _unevents,
    FieldType.LINKS: _unlinks,
    FieldType.HISTOGRAM: _unhists,
}
_BATCHES: dict[str, type[ColumnBatch[Any]]] = {
    "spans": SpanBatch,
    "logs": LogBatch,
    "metrics": MetricBatch,
}


def _plan(schema: RecordSchema, table: dict[FieldType, Any]) -> list[Any]:
    return [table.get(f.type) for f in schema.fields]


_ENCODERS = {name: _plan(b.schema, _ENCODE) for name, b in _BATCHES.items()}
_DECODERS = {name: _plan(b.schema, _DECODE) for name, b in _BATCHES.items()}


def encode_write(
    table: str, records: Sequence[Span] | Sequence[LogRecord] | Sequence[MetricPoint]
) -> bytearray:
    """The record of a write of ``records`` to ``table`` ("spans", "logs", "metrics"),
    its receive time still 0 (see :func:`stamp`). TypeError or ValueError when a value
    is not plain data (the batch is then invalid: the caller validates to name it).
    O(n x fields), C-level loops mostly: ~2.3 µs a Workload span."""
    batch = _BATCHES[table].of(records)
    cols = tuple(
        c if enc is None else enc(c) for enc, c in zip(_ENCODERS[table], batch.columns, strict=True)
    )
    body = marshal.dumps(cols, MARSHAL_VERSION)  # type: ignore[arg-type]  # plain by now
    out = bytearray(HEADER.size + len(body))
    HEADER.pack_into(out, 0, VERSION, WRITE, int(batch.checked), 0, 0)
    out[HEADER.size :] = body
    return out


def stamp(record: bytearray, now: int, capacity: int) -> bytearray:
    """Set the receive time of a write record and the table's ring capacity (under the
    table's lock): a replay into a store started with another capacity first takes
    this one, so it evicts as the store did. O(1)."""
    known = capacity if capacity <= 0xFFFF_FFFF else 0  # past u32: not recorded
    struct.pack_into("<Iq", record, HEADER.size - 12, known, now)
    return record


def encode_purge(cutoff: int) -> bytes:
    """The record of a TTL purge of every batch received before ``cutoff``."""
    return HEADER.pack(VERSION, PURGE, 0, 0, cutoff)


def decode(table: str, payload: bytes | bytearray | memoryview) -> Logged:
    """The change a record of ``table`` holds; ValueError naming what is wrong. O(size)."""
    raw = bytes(payload)
    if table not in _BATCHES:
        raise ValueError(f"no memory-store table is named {table!r}")
    if len(raw) < HEADER.size:
        raise ValueError(f"a {table} record of {len(raw)} bytes is shorter than its header")
    version, kind, checked, capacity, when = HEADER.unpack_from(raw)
    if version != VERSION:
        raise ValueError(f"{table} record has format version {version}, not {VERSION}")
    if kind == PURGE:
        return Logged(PURGE, when, None)

    if kind != WRITE:
        raise ValueError(f"{table} record has unknown kind {kind:#x}")
    try:
        cols = marshal.loads(raw[HEADER.size :])
    except (EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"{table} record body is not a batch: {exc}") from None
    decoders = _DECODERS[table]
    if type(cols) is not tuple or len(cols) != len(decoders):
        raise ValueError(f"{table} record body is not {len(decoders)} columns")
    try:
        cols = tuple(c if dec is None else dec(c) for dec, c in zip(decoders, cols, strict=True))
        batch = _BATCHES[table](cols, bool(checked))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{table} record body is not a batch: {exc}") from None
    return Logged(WRITE, when, batch, capacity)


__all__ = ["PURGE", "WRITE", "Logged", "decode", "encode_purge", "encode_write", "stamp"]
