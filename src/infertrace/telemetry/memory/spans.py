"""The span table: columnar span storage in a ring, with its indexes.

Columns are NumPy arrays of ``capacity`` slots (ids as fixed-width bytes,
strings as dictionary codes, optional numbers with sentinels), attributes go
through :class:`AttributeCodec`, and rare variable-size parts (status message,
events, links) sit in one Python list. Indexes: trace id -> rows
(:class:`ChainIndex`); live counts per service, (service, operation) and model.
Service, operation and model *filters* are vectorised scans over int32 codes
rather than per-value row lists: at 1M rows a scan of one 64K-slot chunk takes
~0.1 ms and a zone map of start times picks the few chunks worth scanning,
which measured faster than intersecting per-key index lists.

Not thread-safe by itself: :class:`MemoryStore` holds the reader–writer lock.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from operator import attrgetter
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from infertrace.engine.chain import ChainIndex
from infertrace.engine.ring import RingBuffer
from infertrace.engine.strings import ValueDict
from infertrace.engine.table import OBJECT, Column, RingTable, TableSpec
from infertrace.engine.zonemap import ZoneMap
from infertrace.errors import InferTraceError, InvalidRecord
from infertrace.model import Span, SpanEvent, SpanKind, SpanLink, StatusCode
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.memory.attrs import AttributeCodec
from infertrace.telemetry.memory.common import BadMap, MapDict, owned_ring
from infertrace.telemetry.memory.counts import LiveCounts, pair
from infertrace.telemetry.schema import SPAN
from infertrace.telemetry.validate import check_batch, span_problem

_FIELDS = attrgetter(*SPAN.names)  # record order
_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_Z8 = bytes(8)
_NONE = type(None)
_INT32 = 2**31
_NO_DROPS = (0, 0, 0)
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]


class _Rejected(InferTraceError):
    """The fast checks found a problem; the per-record check will name it."""


def _ids(values: Sequence[Any], width: int) -> npt.NDArray[np.uint8]:
    try:
        raw = b"".join(values)
    except TypeError:
        raise _Rejected from None
    if len(raw) != width * len(values):
        raise _Rejected
    # An all-zero id is invalid. Test it on 8-byte words: 30x faster than viewing
    # each id as one void scalar, which numpy converts to bool element by element.
    words = np.frombuffer(raw, dtype=np.uint64).reshape(-1, width // 8)
    nonzero = words[:, 0]
    for j in range(1, width // 8):
        nonzero = nonzero | words[:, j]
    if not nonzero.all():
        raise _Rejected
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)


def _ints(values: Sequence[Any], allowed: set[type], lo: int, hi: int, none: int = 0) -> I64:
    """int64 array of ``values``; None (when allowed) becomes the ``none`` sentinel."""
    if not set(map(type, values)) <= allowed:
        raise _Rejected
    nones = values.count(None) if _NONE in allowed else 0
    if nones:
        values = [none if v is None else v for v in values]
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:
        raise _Rejected from None
    bad = (arr < lo) | (arr >= hi)
    if bad.any() and (int(bad.sum()) != nones or int((arr == none).sum()) != nones):
        raise _Rejected
    return arr


def _strings(values: Sequence[Any], optional: bool) -> None:
    kinds = set(map(type, values))
    if not kinds <= ({str, _NONE} if optional else {str}) or "" in set(values):
        raise _Rejected


def _frozen_attrs(a: Mapping[str, Any]) -> Mapping[str, Any]:
    return a if not a or isinstance(a, MappingProxyType) else MappingProxyType(dict(a))


def _freeze_extras(
    msg: str,
    events: tuple[SpanEvent, ...],
    links: tuple[SpanLink, ...],
    state: str,
    dropped: tuple[int, int, int],
) -> Any:
    """The extras slot of a span: None, or (message, events, links) with the trace
    state and dropped counts appended when any is set (rare: most spans carry none)."""
    if not (msg or events or links or state or dropped != _NO_DROPS):
        return None
    if type(events) is not tuple or type(links) is not tuple or type(state) is not str:
        raise _Rejected
    ev = tuple(
        e if not e.attributes or isinstance(e.attributes, MappingProxyType)
        else SpanEvent(e.name, e.time_unix_nano, _frozen_attrs(e.attributes))
        for e in events
    )  # fmt: skip
    lk = tuple(
        x if not x.attributes or isinstance(x.attributes, MappingProxyType)
        else SpanLink(x.trace_id, x.span_id, _frozen_attrs(x.attributes), x.trace_state, x.flags)
        for x in links
    )  # fmt: skip
    if state or dropped != _NO_DROPS:
        for d in dropped:
            if type(d) is not int or not 0 <= d < _INT32:
                raise _Rejected
        return (msg, ev, lk, state, *dropped)
    return (msg, ev, lk)


class _Batch:
    """A validated batch, converted to arrays, ready to append."""

    __slots__ = (
        "attrs", "batch", "durs", "extras", "finish", "flags", "gpu", "itok", "kinds",
        "models", "msrc", "mvers", "n", "ops", "otok", "pids", "res", "rids", "sid_keys", "sids",
        "starts", "statuses", "svcs", "tid_keys", "tids", "timings", "ttft",
    )  # fmt: skip

    def __init__(self, spans: Sequence[Span]) -> None:
        if isinstance(spans, SpanBatch):  # the decoders' batches: columns already
            cols: Sequence[Sequence[Any]] = spans.columns
        else:
            try:
                cols = list(zip(*map(_FIELDS, spans), strict=True))
            except AttributeError:
                raise _Rejected from None
        (tids, sids, svcs, ops, starts, durs, pids, kinds, statuses, msgs, models, mvers,
         batch, itok, otok, gpu, ttft, queue, prefill, decode, e2e, rids, finish, msrc, attrs,
         res, events, links, states, flags, dattrs, devents, dlinks) = cols  # fmt: skip
        self.n = len(spans)
        self.tid_keys = tids
        self.sid_keys = sids
        self.tids = _ids(tids, 16)
        self.sids = _ids(sids, 8)
        if b"" in set(pids):
            pids = tuple(p or _Z8 for p in pids)
        try:
            raw = b"".join(pids)
        except TypeError:
            raise _Rejected from None
        if len(raw) != 8 * self.n:
            raise _Rejected
        self.pids = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 8)
        _strings(svcs, False)
        _strings(ops, False)
        _strings(models, True)
        _strings(mvers, True)
        _strings(rids, True)
        _strings(finish, True)
        _strings(msrc, True)
        self.rids, self.finish, self.msrc = rids, finish, msrc
        if not set(map(type, msgs)) <= {str}:
            raise _Rejected
        self.svcs, self.ops, self.models, self.mvers = svcs, ops, models, mvers
        big = 2**63
        self.starts = _ints(starts, {int}, 0, big, 0)
        self.durs = _ints(durs, {int}, 0, big, 0)
        self.kinds = _ints(kinds, {int, SpanKind}, 0, 6, 0).astype(np.int8)
        self.statuses = _ints(statuses, {int, StatusCode}, 0, 3, 0).astype(np.int8)
        self.batch = _ints(batch, {int, _NONE}, 0, _INT32, -1).astype(np.int32)
        self.itok = _ints(itok, {int, _NONE}, 0, _INT32, -1).astype(np.int32)
        self.otok = _ints(otok, {int, _NONE}, 0, _INT32, -1).astype(np.int32)
        self.ttft = _ints(ttft, {int, _NONE}, 0, big, -1)
        self.timings = [_ints(c, {int, _NONE}, 0, big, -1) for c in (queue, prefill, decode, e2e)]
        if not set(map(type, gpu)) <= {int, float, _NONE}:
            raise _Rejected
        self.gpu = np.array(gpu, dtype=np.float64)
        if int(np.isnan(self.gpu).sum()) != gpu.count(None):
            raise _Rejected  # a NaN utilisation is not a number
        self.flags = _ints(flags, {int}, 0, 2**32, 0).astype(np.uint32)
        if not (isinstance(spans, SpanBatch) and spans.checked):
            if not set(map(type, states)) <= {str}:
                raise _Rejected
            for counts in (dattrs, devents, dlinks):
                if not set(map(type, counts)) <= {int}:
                    raise _Rejected
        if any(states) or any(dattrs) or any(devents) or any(dlinks):
            self.extras = [
                _freeze_extras(m, e, k, ts, (da, de, dl))
                for m, e, k, ts, da, de, dl in zip(
                    msgs, events, links, states, dattrs, devents, dlinks, strict=True
                )
            ]
        else:
            self.extras = [
                None if not (m or e or k) else _freeze_extras(m, e, k, "", _NO_DROPS)
                for m, e, k in zip(msgs, events, links, strict=True)  # most spans: no call
            ]
        self.attrs = attrs
        self.res = res


SPEC = TableSpec(
    (
        Column("tid", "uint8", (16,)),
        Column("sid", "uint8", (8,)),
        Column("pid", "uint8", (8,)),
        Column("start", "int64"),
        Column("dur", "int64"),
        Column("svc", "int32", dictionary="strings"),
        Column("op", "int32", dictionary="strings"),
        Column("model", "int32", dictionary="strings"),
        Column("mver", "int32", dictionary="strings"),
        Column("kind", "int8"),
        Column("status", "int8"),
        Column("flags", "uint32"),
        Column("batch", "int32", fill=-1),
        Column("itok", "int32", fill=-1),
        Column("otok", "int32", fill=-1),
        Column("gpu", "float64", fill=np.nan),
        Column("ttft", "int64", fill=-1),
        Column("queue", "int64", fill=-1),
        Column("prefill", "int64", fill=-1),
        Column("decode", "int64", fill=-1),
        Column("e2e", "int64", fill=-1),
        Column("rid", "int32", dictionary="strings"),
        Column("finish", "int32", dictionary="strings"),
        Column("msrc", "int32", dictionary="strings"),
        Column("res", "int32", dictionary="resources"),
        Column("ashape", "int32"),
        Column("aoff", "int64"),
        Column("extras", OBJECT, fill=None),
    )
)
"""The span table's columns (optional numbers with -1 / NaN sentinels)."""


class SpanTable:
    """Spans in a ring of ``capacity`` slots: a :class:`RingTable` of :data:`SPEC`, the
    attribute codec, and the indexes; see the module doc."""

    def __init__(self, capacity: int, table: RingTable | None = None) -> None:
        """An empty table, or one around ``table`` (a restored RingTable of :data:`SPEC`,
        whose indexes the caller then restores)."""
        self.table = owned_ring(self, SPEC, capacity, table, self._on_evict)
        cols = self.table.cols
        self.tid: U8 = cols["tid"]
        self.sid: U8 = cols["sid"]
        self.pid: U8 = cols["pid"]
        self.start: I64 = cols["start"]
        self.dur: I64 = cols["dur"]
        self.start_view = memoryview(self.start)  # fast scalar reads
        self.svc: I32 = cols["svc"]
        self.op: I32 = cols["op"]
        self.model: I32 = cols["model"]
        self.mver: I32 = cols["mver"]
        self.kind: I8 = cols["kind"]
        self.status: I8 = cols["status"]
        self.flags: npt.NDArray[np.uint32] = cols["flags"]
        self.batch: I32 = cols["batch"]
        self.itok: I32 = cols["itok"]
        self.otok: I32 = cols["otok"]
        self.gpu: F64 = cols["gpu"]
        self.ttft: I64 = cols["ttft"]
        self.queue: I64 = cols["queue"]
        self.prefill: I64 = cols["prefill"]
        self.decode: I64 = cols["decode"]
        self.e2e: I64 = cols["e2e"]
        self.rid: I32 = cols["rid"]
        self.finish: I32 = cols["finish"]
        self.msrc: I32 = cols["msrc"]
        self.res: I32 = cols["res"]
        self.ashape: I32 = cols["ashape"]
        self.aoff: I64 = cols["aoff"]
        self.extras: list[Any] = cols["extras"]
        self.strings = self.table.dicts["strings"]
        self.resources = MapDict(self.table.dicts["resources"])
        self.codec = AttributeCodec(ValueDict())  # its own: the table checks its counts
        self.traces = ChainIndex(capacity)
        self.svc_live = LiveCounts()
        self.op_live = LiveCounts()
        self.model_live = LiveCounts()
        self.zone = ZoneMap(capacity)

    @property
    def ring(self) -> RingBuffer:
        return self.table.ring

    @property
    def columns(self) -> tuple[np.ndarray[Any, Any], ...]:
        return (
            self.tid, self.sid, self.pid, self.start, self.dur, self.svc, self.op, self.model,
            self.mver, self.kind, self.status, self.batch, self.itok, self.otok, self.gpu,
            self.ttft, self.queue, self.prefill, self.decode, self.e2e, self.rid, self.finish,
            self.msrc, self.res, self.ashape, self.aoff,
        )  # fmt: skip

    def prepare(self, spans: Sequence[Span]) -> _Batch:
        """Validate and convert ``spans`` (no lock needed); raise InvalidRecord."""
        try:
            return _Batch(spans)
        except _Rejected:
            check_batch(spans, span_problem)
            raise InvalidRecord(0, "batch failed validation") from None

    def duplicates(self, b: _Batch) -> list[int]:
        """Positions of the batch's redelivered spans; the caller holds the write lock.

        A span is redelivered when a copy with its (trace id, span id) is live at
        the moment it arrives: a stored row, or an earlier span of the batch,
        that the ring has not evicted by then. The first delivery is kept, as
        PostgreSQL's ``ON CONFLICT DO NOTHING`` keeps it, and a batch stores
        exactly what writing its spans one at a time would. No extra memory per
        span: stored span ids are read through the trace index, for the traces
        the batch shares with the store (usually none: a trace's spans mostly
        arrive together). O(n + rows of those traces).
        """
        tids = b.tid_keys
        keys = list(map(bytes.__add__, tids, b.sid_keys))
        known = self.traces.newest.keys() & set(tids)
        if not known and len(set(keys)) == len(keys):
            return []
        ring = self.ring
        tail, head, cap, sid = ring.tail, ring.head, ring.capacity, self.sid
        live: dict[bytes, int] = {}  # key -> sequence of its newest copy
        for t in known:
            for seq in self.traces.rows(t, tail):
                live.setdefault(t + sid[seq % cap].tobytes(), seq)  # rows come newest first
        dup = []
        kept = 0
        for i, k in enumerate(keys):
            q = live.get(k)
            if q is not None and q >= max(tail, head + kept - cap):  # still live now
                dup.append(i)
                continue
            live[k] = head + kept
            kept += 1
        return dup

    def store(self, b: _Batch, spans: Sequence[Span], now: int) -> None:
        """Store a prepared batch less its redelivered spans (:meth:`duplicates`); the
        caller holds the write lock. Raise InvalidRecord and store none."""
        dup = self.duplicates(b)
        if dup:  # redelivered spans: the first delivery stays stored
            gone = set(dup)
            spans = [spans[i] for i in range(len(spans)) if i not in gone]
            if not spans:
                return
            b = self.prepare(spans)
        self.append(b, spans, now)

    def append(self, b: _Batch, spans: Sequence[Span], now: int) -> None:
        """Store a prepared batch; the caller holds the write lock."""
        try:
            res = np.array(self.resources.codes(b.res), dtype=np.int32)
        except BadMap:
            check_batch(spans, span_problem)
            raise InvalidRecord(0, "batch failed validation") from None
        encoded = self.codec.encode(b.attrs)
        if encoded is None:
            self.resources.dict.drop_unused(res.tolist())
            check_batch(spans, span_problem)
            raise InvalidRecord(0, "batch failed validation")
        shapes, offsets = encoded
        keep = min(b.n, self.ring.capacity)
        cut = b.n - keep
        if cut:  # a batch larger than the ring: its oldest rows go at once
            self.codec.release(shapes[:cut], offsets[:cut])
        self.codec.floor = int(offsets[cut]) if keep else self.codec.arena.head
        try:
            first = self.table.append(
                {
                    "tid": b.tids, "sid": b.sids, "pid": b.pids, "start": b.starts,
                    "dur": b.durs, "svc": b.svcs, "op": b.ops, "model": b.models,
                    "mver": b.mvers, "kind": b.kinds, "status": b.statuses, "flags": b.flags,
                    "batch": b.batch,
                    "itok": b.itok, "otok": b.otok, "gpu": b.gpu, "ttft": b.ttft,
                    "queue": b.timings[0], "prefill": b.timings[1], "decode": b.timings[2],
                    "e2e": b.timings[3], "rid": b.rids, "finish": b.finish, "msrc": b.msrc,
                    "res": res, "ashape": shapes, "aoff": offsets, "extras": b.extras,
                },
                now,
            )  # fmt: skip
        except Exception:  # nothing was stored: give back what encoding took
            self.codec.release(shapes[cut:], offsets[cut:])
            self.resources.dict.drop_unused(res.tolist())
            raise
        if cut:
            self.resources.dict.drop_unused(res[:cut].tolist())  # maps only cut rows had
        slots = self.table.slots(np.arange(first, first + keep, dtype=np.int64))
        for s, e, _ in self.ring.spans(first, first + keep):
            self.zone.update(s, self.start[s:e], self.start)
        self.traces.add(b.tid_keys[cut:], first)
        svc, op, model = self.svc[slots], self.op[slots], self.model[slots]
        self.svc_live.add(svc.astype(np.int64))
        self.op_live.add(pair(svc, op))
        self.model_live.add(model[model >= 0].astype(np.int64))

    def _on_evict(self, lo: int, hi: int) -> None:
        """Index upkeep for rows about to go (their columns still readable)."""
        for s, e, off in self.ring.spans(lo, hi):
            raw = self.tid[s:e].tobytes()
            self.traces.evict([raw[i : i + 16] for i in range(0, len(raw), 16)], lo + off)
            svc, op, model = self.svc[s:e], self.op[s:e], self.model[s:e]
            self.svc_live.remove(svc.astype(np.int64))
            self.op_live.remove(pair(svc, op))
            self.model_live.remove(model[model >= 0].astype(np.int64))
            self.codec.release(self.ashape[s:e], self.aoff[s:e])
        self.codec.release_arena_after(self.aoff, self.ring, hi)

    def purge(self, cutoff: int) -> int:
        """Evict every batch received before ``cutoff``; return how many rows went."""
        self.codec.floor = self.codec.arena.head
        return self.table.purge(cutoff)

    def resource_map(self, code: int) -> Mapping[str, Any]:
        """The (shared, read-only) resource attribute map of a resource code."""
        return self.resources.map(code)

    def data_bytes(self) -> int:
        extras = sys.getsizeof(self.extras) + sum(
            sys.getsizeof(x) + sum(sys.getsizeof(e) for e in x[1]) + sys.getsizeof(x[1])
            for x in self.extras
            if x is not None
        )
        return (
            sum(int(c.nbytes) for c in self.columns)
            + extras
            + sum(d.nbytes() for d in self.table.dicts.values())
            + self.codec.nbytes()
            + self.codec.values.nbytes()
        )

    def index_bytes(self) -> int:
        return (
            self.traces.nbytes()
            + self.svc_live.nbytes()
            + self.op_live.nbytes()
            + self.model_live.nbytes()
            + self.zone.nbytes()
        )

    def _check(self) -> None:
        self.table._check()
        self.codec.values._check()
        self.codec.shapes._check()
        self.codec.arena._check()
        self.traces._check(self.ring.tail, self.ring.head)
        n = len(self.ring)
        assert sum(self.svc_live.counts.values()) == n
        assert sum(self.op_live.counts.values()) == n
        assert sum(self.model_live.counts.values()) <= n
        assert len(self.traces) <= n
