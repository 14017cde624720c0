"""The memory store's tables <-> snapshot :class:`TableState` s, exactly.

Each table's state is its :class:`RingTable` state (:mod:`infertrace.engine.ringsnap`:
rows, receive marks, dictionaries with their refcount-free codes and hand-out
order) plus what the table keeps beside it:

- ``attr.arena`` / ``attr.values`` / ``attr.shapes`` (spans, logs): the attribute
  codec's live arena window and its two dictionaries with refcounts and ranks,
  so the arena releases, and the dictionaries code, as the original would;
- ``traces`` and ``chain`` (spans, logs): the trace index, its newest row per trace
  id and the back-links of the live rows;
- ``zone`` (spans, logs): the zone map's bounds, as they were (they may be
  wider than the live rows, never narrower);
- ``extras``, ``events``, ``links`` (spans): the status messages, events, links, trace
  states and dropped counts, flattened into columns (:mod:`.extras`);
- ``series`` and ``escapes`` (metrics): each series' rolling time state and the
  delta-of-deltas too large for the int32 column.

Live counts per service, operation and model are rebuilt from the rows, and the
caches (decoded maps, attribute plans) fill again on use. ``meta`` holds the ring's
counters, the codec's arena bounds and ``applied_lsn``. Everything is arrays
and Arrow-native strings except the few irregular values (non-empty event and
link attributes, histograms, canonical maps, attribute shapes), which go through
the engine's plain encoding. :func:`resized` re-targets a state to another
capacity. O(rows) in vectorised copies, plus Python work per object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np

from infertrace.engine.arena import ValueArena
from infertrace.engine.chain import ChainIndex
from infertrace.engine.journal import APPLIED_LSN
from infertrace.engine.ringsnap import ObjectCodec, from_table_state, to_table_state
from infertrace.engine.snapfile import TableState
from infertrace.engine.strings import ValueDict
from infertrace.engine.table import RingTable
from infertrace.engine.zonemap import ZoneMap
from infertrace.model import HistogramData
from infertrace.telemetry.memory import extras, logs, metrics, spans
from infertrace.telemetry.memory.attrs import AttributeCodec
from infertrace.telemetry.memory.counts import pair
from infertrace.telemetry.memory.durable import _HIST

_Z16 = bytes(16)


def _encode_hist(h: Any) -> Any:
    return _HIST(h) if isinstance(h, HistogramData) else h  # else an exact big int


def _decode_hist(h: Any) -> Any:
    return HistogramData(*h) if isinstance(h, tuple) else h


METRIC_OBJECTS = {"hist": ObjectCodec(_encode_hist, _decode_hist)}


def _dict_part(d: ValueDict, split: bool) -> dict[str, Any]:
    """A dictionary with its counts and ranks; ``split`` puts str values in an Arrow
    string column and the rest (typed keys of numbers, bytes, tuples) in another."""
    part: dict[str, Any] = {"refs": d.refcounts(), "rank": d.ranks()}
    if split:
        part["str"] = [v if v.__class__ is str else None for v in d.values]
        part["other"] = [None if v.__class__ is str else v for v in d.values]
    else:
        part["value"] = list(d.values)
    return part


def _dict_from(part: Mapping[str, Any]) -> ValueDict:
    if "value" in part:
        values = list(part["value"])
    else:
        values = [o if s is None else s for s, o in zip(part["str"], part["other"], strict=True)]
    return ValueDict.from_values(
        values, np.asarray(part["refs"], np.int64), np.asarray(part["rank"], np.int64)
    )


def _codec_parts(codec: AttributeCodec) -> tuple[dict[str, Any], dict[str, Any]]:
    arena = codec.arena
    size, lo = len(arena.buf), arena.tail % len(arena.buf)
    first = min(len(arena), size - lo)  # the live window wraps at most once
    live = np.concatenate([arena.buf[lo : lo + first], arena.buf[: len(arena) - first]])
    meta = {"attr_floor": codec.floor, "attr_tail": arena.tail, "attr_head": arena.head,
            "attr_size": len(arena.buf)}  # fmt: skip
    parts = {
        "attr.arena": {"value": live},
        "attr.values": _dict_part(codec.values, split=True),
        "attr.shapes": _dict_part(codec.shapes, split=False),
    }
    return meta, parts


def _codec_from(ts: TableState) -> AttributeCodec:
    codec = AttributeCodec(_dict_from(ts.parts["attr.values"]))
    codec.shapes = _dict_from(ts.parts["attr.shapes"])
    tail, head, size = (int(ts.meta[k]) for k in ("attr_tail", "attr_head", "attr_size"))  # type: ignore[arg-type]
    values = np.asarray(ts.parts["attr.arena"]["value"], np.float64)
    if len(values) != head - tail or size < len(values):
        raise ValueError(f"attribute arena holds {len(values)} values for [{tail}, {head})")
    arena = ValueArena(size)
    arena.buf = np.zeros(size, np.float64)
    first = min(len(values), size - tail % size)  # the window wraps at most once
    arena.buf[tail % size : tail % size + first] = values[:first]
    arena.buf[: len(values) - first] = values[first:]
    arena.tail, arena.head = tail, head
    codec.arena = arena
    codec.floor = int(ts.meta["attr_floor"])  # type: ignore[arg-type]
    return codec


def _index_parts(
    table: RingTable, traces: ChainIndex, zone: ZoneMap
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trace index as its newest row per trace id (b"" as 16 zero bytes: a log
    without trace context) in the index's own order, plus every live row's
    back-link; the zone map as it is."""
    ring = table.ring
    ids = cast("dict[bytes, int]", traces.newest)
    keys = b"".join(ids if b"" not in ids else (k or _Z16 for k in ids))
    return {"zone_chunk": zone.chunk}, {
        "chain": {"back": traces.links(ring.tail, ring.head)},
        "traces": {
            "trace_id": np.frombuffer(keys, np.uint8).reshape(-1, 16),
            "newest": np.fromiter(traces.newest.values(), np.int64, len(traces.newest)),
        },
        "zone": {"lo": zone.lo.copy(), "hi": zone.hi.copy()},
    }


def _indexes_from(
    ts: TableState, table: RingTable, times: np.ndarray
) -> tuple[ChainIndex, ZoneMap]:
    ring = table.ring
    traces = ChainIndex(table.capacity)
    back = np.asarray(ts.parts["chain"]["back"], np.uint32)
    if len(back) != ring.head - ring.tail:
        raise ValueError(f"trace index has {len(back)} links for {ring.head - ring.tail} rows")
    for s, e, off in ring.spans(ring.tail, ring.head):
        traces.back[s:e] = back[off : off + e - s]
    raw = np.ascontiguousarray(ts.parts["traces"]["trace_id"], np.uint8).tobytes()
    keys = [raw[i : i + 16] for i in range(0, len(raw), 16)]
    newest = np.asarray(ts.parts["traces"]["newest"], np.int64)
    if len(newest) and (int(newest.min()) < ring.tail or int(newest.max()) >= ring.head):
        raise ValueError("trace index points at rows that are not live")
    traces.newest = dict(zip([k if k != _Z16 else b"" for k in keys], newest.tolist(), strict=True))
    zone = ZoneMap(table.capacity, int(ts.meta["zone_chunk"]))  # type: ignore[arg-type]
    if "zone" not in ts.parts:  # resized (see :func:`resized`): bounds of the live rows
        for s, e, _ in ring.spans(ring.tail, ring.head):
            zone.update(s, times[s:e], times)
        return traces, zone
    lo, hi = (np.asarray(ts.parts["zone"][k], np.int64) for k in ("lo", "hi"))
    if len(lo) != len(zone.lo):
        raise ValueError(f"zone map of {len(lo)} chunks for {len(zone.lo)}")
    zone.lo[:], zone.hi[:] = lo, hi
    return traces, zone


def _with(ts: TableState, meta: Mapping[str, Any], parts: Mapping[str, Any]) -> TableState:
    return TableState({**ts.meta, **meta}, {**ts.parts, **parts})


def capture_spans(t: spans.SpanTable, lsn: int) -> TableState:
    """The span table's full state; the caller holds its lock. O(capacity)."""
    state = t.table.state()
    xparts = extras.to_parts(state["columns"].pop("extras"))
    base = to_table_state(state)
    cmeta, cparts = _codec_parts(t.codec)
    imeta, iparts = _index_parts(t.table, t.traces, t.zone)
    return _with(base, {**cmeta, **imeta, APPLIED_LSN: lsn}, {**cparts, **iparts, **xparts})


def restore_spans(ts: TableState) -> spans.SpanTable:
    """The span table :func:`capture_spans` described. O(capacity)."""
    state = from_table_state(ts)
    n = int(state["head"]) - int(state["tail"])
    state["columns"]["extras"] = extras.from_parts(ts.parts, n)
    ring = RingTable.from_state(spans.SPEC, state)
    t = spans.SpanTable(ring.capacity, ring)
    t.codec = _codec_from(ts)
    t.traces, t.zone = _indexes_from(ts, ring, t.start)
    live = ring.slots(ring.live())
    svc, op, model = t.svc[live], t.op[live], t.model[live]
    t.svc_live.add(svc.astype(np.int64))
    t.op_live.add(pair(svc, op))
    t.model_live.add(model[model >= 0].astype(np.int64))
    return t


def capture_logs(t: logs.LogTable, lsn: int) -> TableState:
    """The log table's full state; the caller holds its lock. O(capacity)."""
    base = to_table_state(t.table.state())
    cmeta, cparts = _codec_parts(t.codec)
    imeta, iparts = _index_parts(t.table, t.traces, t.zone)
    return _with(base, {**cmeta, **imeta, APPLIED_LSN: lsn}, {**cparts, **iparts})


def restore_logs(ts: TableState) -> logs.LogTable:
    """The log table :func:`capture_logs` described. O(capacity)."""
    ring = RingTable.from_state(logs.SPEC, from_table_state(ts))
    t = logs.LogTable(ring.capacity, ring)
    t.codec = _codec_from(ts)
    t.traces, t.zone = _indexes_from(ts, ring, t.time)
    t.svc_live.add(t.svc[ring.slots(ring.live())].astype(np.int64))
    return t


_SERIES_STATE = ("last_t", "last_d", "base_t", "base_d")


def capture_metrics(t: metrics.MetricTable, lsn: int) -> TableState:
    """The metric table's full state; the caller holds its lock. O(capacity)."""
    base = to_table_state(t.table.state(), METRIC_OBJECTS)
    esc = sorted(t.escapes.items())
    parts = {
        "series": {name: getattr(t, name).copy() for name in _SERIES_STATE},
        "escapes": {
            "seq": np.array([s for s, _ in esc], np.int64),
            "dod": np.array([d for _, d in esc], np.int64),
        },
    }
    return _with(base, {APPLIED_LSN: lsn}, parts)


def restore_metrics(ts: TableState) -> metrics.MetricTable:
    """The metric table :func:`capture_metrics` described. O(capacity)."""
    ring = RingTable.from_state(metrics.SPEC, from_table_state(ts, METRIC_OBJECTS))
    t = metrics.MetricTable(ring.capacity, ring)
    for name in _SERIES_STATE:
        setattr(t, name, np.asarray(ts.parts["series"][name], np.int64).copy())
    if len(t.last_t) < len(t.series.values):
        raise ValueError(f"series state of {len(t.last_t)} for {len(t.series.values)} series")
    esc = ts.parts["escapes"]
    t.escapes = dict(
        zip(np.asarray(esc["seq"]).tolist(), np.asarray(esc["dod"]).tolist(), strict=True)
    )
    return t


Table = spans.SpanTable | logs.LogTable | metrics.MetricTable


def resized(table: Table, capacity: int, lsn: int) -> TableState:
    """The state of ``table`` (a restored one) for a ring of ``capacity`` slots: when
    it shrinks, the oldest rows are evicted first as the table evicts (indexes,
    attribute values and series bases follow, the eviction count grows); rows
    keep their sequence numbers, and the zone map is rebuilt from the rows. What a
    store configured with another capacity than its snapshot's restores. O(rows)."""
    ring = table.table.ring
    if len(ring) > capacity:
        table.table.evict_to(ring.head - capacity)
    if isinstance(table, spans.SpanTable):
        ts = capture_spans(table, lsn)
    elif isinstance(table, logs.LogTable):
        ts = capture_logs(table, lsn)
    else:
        ts = capture_metrics(table, lsn)
    parts = {name: cols for name, cols in ts.parts.items() if name != "zone"}
    return TableState({**ts.meta, "capacity": capacity}, parts)


def applied_lsn(ts: TableState) -> int:
    """The ``applied_lsn`` of a captured state (0 when absent)."""
    return int(ts.meta.get(APPLIED_LSN) or 0)  # type: ignore[arg-type]


__all__ = [
    "applied_lsn",
    "capture_logs",
    "capture_metrics",
    "capture_spans",
    "resized",
    "restore_logs",
    "restore_metrics",
    "restore_spans",
]
