"""Reads over a :class:`SpanTable`: rows to Span records, trace lookup, search.

The caller holds the read lock. Search walks zone-map chunks newest first and
stops as soon as no unread chunk can beat the current top ``limit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from infertrace.model import AttributeValue, Span, SpanKind, StatusCode, make_span
from infertrace.telemetry.filters import ResolvedSpanFilter, attribute_equal
from infertrace.telemetry.memory.attrs import EXACT_INT
from infertrace.telemetry.memory.spans import SpanTable

_KINDS = tuple(SpanKind)
_STATUSES = tuple(StatusCode)
_NO_MORE = ("", 0, 0, 0)
"""Trace state and dropped counts of a span whose extras slot holds only the first three."""
_EMPTY_EXTRAS = ("", (), (), *_NO_MORE)
I64 = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class SpanRows:
    """Builds Span records from slots through zero-copy memoryviews of the columns."""

    def __init__(self, t: SpanTable) -> None:
        self.t = t
        self.tid = memoryview(t.tid.reshape(-1))  # type: ignore[arg-type]
        self.sid = memoryview(t.sid.reshape(-1))  # type: ignore[arg-type]
        self.pid = memoryview(t.pid.reshape(-1))  # type: ignore[arg-type]
        self.cols = tuple(
            memoryview(c)  # type: ignore[arg-type]
            for c in (
                t.start, t.dur, t.svc, t.op, t.model, t.mver, t.kind, t.status, t.batch,
                t.itok, t.otok, t.gpu, t.ttft, t.queue, t.prefill, t.decode, t.e2e, t.rid,
                t.finish, t.msrc, t.res, t.ashape, t.aoff, t.flags,
            )
        )  # fmt: skip

    def build(self, slots: list[int], trace_id: bytes | None = None) -> list[Span]:
        t = self.t
        (start, dur, svc, op, model, mver, kind, status, batch, itok, otok, gpu, ttft, queue,
         prefill, decode_t, e2e, rid, finish, msrc, res, ashape, aoff,
         flags) = self.cols  # fmt: skip
        vals = t.strings.values
        extras = t.extras
        decode = t.codec.decode
        arena = memoryview(t.codec.arena.buf)  # type: ignore[arg-type]
        acap = len(t.codec.arena.buf)
        res_map = t.resource_map
        tid_mv, sid_mv, pid_mv = self.tid, self.sid, self.pid
        out = []
        for s in slots:
            m, v = model[s], mver[s]
            b, i, o, g, f = batch[s], itok[s], otok[s], gpu[s], ttft[s]
            qt, pt, dt, et, r, fr = queue[s], prefill[s], decode_t[s], e2e[s], rid[s], finish[s]
            ms = msrc[s]
            p = bytes(pid_mv[s * 8 : s * 8 + 8])
            x = extras[s]
            if x is None:
                msg, events, links, state, d_attrs, d_events, d_links = _EMPTY_EXTRAS
            elif len(x) == 3:
                msg, events, links = x
                state, d_attrs, d_events, d_links = _NO_MORE
            else:
                msg, events, links, state, d_attrs, d_events, d_links = x
            out.append(
                make_span(
                    trace_id if trace_id is not None else bytes(tid_mv[s * 16 : s * 16 + 16]),
                    bytes(sid_mv[s * 8 : s * 8 + 8]),
                    vals[svc[s]],
                    vals[op[s]],
                    start[s],
                    dur[s],
                    b"" if p == b"\0\0\0\0\0\0\0\0" else p,
                    _KINDS[kind[s]],
                    _STATUSES[status[s]],
                    msg,
                    None if m < 0 else vals[m],
                    None if v < 0 else vals[v],
                    None if b < 0 else b,
                    None if i < 0 else i,
                    None if o < 0 else o,
                    None if g != g else g,
                    None if f < 0 else f,
                    None if qt < 0 else qt,
                    None if pt < 0 else pt,
                    None if dt < 0 else dt,
                    None if et < 0 else et,
                    None if r < 0 else vals[r],
                    None if fr < 0 else vals[fr],
                    None if ms < 0 else vals[ms],
                    decode(ashape[s], aoff[s], arena, acap),
                    res_map(res[s]),
                    events,
                    links,
                    state,
                    flags[s],
                    d_attrs,
                    d_events,
                    d_links,
                )
            )
        return out


def trace_slots(t: SpanTable, trace_id: bytes) -> list[int]:
    """Slots of a trace's live spans ordered by (start time, arrival)."""
    seqs = t.traces.rows(trace_id, t.ring.tail)
    cap = t.ring.capacity
    start = t.start_view
    keyed = sorted((start[q % cap], q) for q in seqs)
    return [q % cap for _, q in keyed]


def _attr_match(t: SpanTable, slots: I64, key: str, wanted: AttributeValue) -> Mask:
    """Rows among ``slots`` whose attribute (else resource attribute) ``key`` equals ``wanted``."""
    out = np.zeros(len(slots), dtype=np.bool_)
    shapes = t.ashape[slots]
    has_key = np.zeros(len(slots), dtype=np.bool_)
    for code in np.unique(shapes).tolist():
        keys, tags = t.codec.shapes.values[code]
        if key not in keys:
            continue
        pos = keys.index(key)
        tag = tags[pos]
        rows = np.flatnonzero(shapes == code)
        has_key[rows] = True
        raw = t.codec.arena.take(t.aoff[slots[rows]] + pos)
        out[rows] = _compare(t, raw, tag, wanted)
    rest = np.flatnonzero(~has_key)
    if len(rest):
        res = t.res[slots[rest]]
        for code in np.unique(res).tolist():
            m: Mapping[str, Any] = t.resource_map(code)
            if key in m and attribute_equal(m[key], wanted):
                out[rest[res == code]] = True
    return out


def _compare(t: SpanTable, raw: npt.NDArray[np.float64], tag: str, wanted: AttributeValue) -> Mask:
    no = np.zeros(len(raw), dtype=np.bool_)
    if isinstance(wanted, bool):
        return raw == (1.0 if wanted else 0.0) if tag == "b" else no
    if isinstance(wanted, str):
        code = t.codec.values.get(wanted)
        return raw == code if tag == "s" and code is not None else no
    if isinstance(wanted, int | float):
        if tag in "if":
            if isinstance(wanted, int) and abs(wanted) > EXACT_INT:
                return np.array([float(x) == wanted for x in raw.tolist()], dtype=np.bool_)
            return cast(Mask, raw == float(wanted))
        if tag == "o":
            vals = t.codec.values.values
            return np.array(
                [attribute_equal(vals[int(x)][2], wanted) for x in raw.tolist()],  # type: ignore[index]
                dtype=np.bool_,
            )
    return no


def search(t: SpanTable, r: ResolvedSpanFilter) -> list[int]:
    """Slots of the newest ``r.limit`` matching spans, newest start first."""
    if not len(t.ring):
        return []
    codes = {}
    for name, value in (("svc", r.service_name), ("op", r.operation_name), ("model", r.model_name)):
        if value is not None:
            code = t.strings.get(value)
            if code is None:
                return []
            codes[name] = code
    zone = t.zone
    chunks = zone.chunks(r.since, r.until)
    chunks = chunks[np.argsort(-zone.hi[chunks], kind="stable")]
    found_start: list[I64] = []
    found_seq: list[I64] = []
    total = 0
    kth = None
    cap = t.ring.capacity
    for c in chunks.tolist():
        if kth is not None and zone.hi[c] < kth:
            break
        lo, hi = c * zone.chunk, min(cap, (c + 1) * zone.chunk)
        start = t.start[lo:hi]
        mask = (start >= r.since) & (start < r.until)
        if "svc" in codes:
            mask &= t.svc[lo:hi] == codes["svc"]
        if "model" in codes:
            mask &= t.model[lo:hi] == codes["model"]
        if "op" in codes:
            mask &= t.op[lo:hi] == codes["op"]
        if r.min_duration > 0 or r.max_duration < 2**63 - 1:
            d = t.dur[lo:hi]
            mask &= (d >= r.min_duration) & (d <= r.max_duration)
        if r.status is not None:
            mask &= t.status[lo:hi] == int(r.status)
        mask &= t.table.live_mask(lo, hi)
        idx = np.flatnonzero(mask)
        if len(idx) and r.attributes:
            slots = idx + lo
            for key, wanted in r.attributes.items():
                keep = _attr_match(t, slots, key, wanted)
                slots, idx = slots[keep], idx[keep]
        if not len(idx):
            continue
        found_start.append(start[idx])
        found_seq.append(t.table.seq_of(idx.astype(np.int64) + lo))
        total += len(idx)
        if total >= r.limit:
            all_start = np.concatenate(found_start)
            kth = int(np.partition(all_start, total - r.limit)[total - r.limit])
    if not total:
        return []
    starts = np.concatenate(found_start)
    seqs = np.concatenate(found_seq)
    order = np.lexsort((-seqs, -starts))[: r.limit]
    return (seqs[order] % cap).tolist()  # type: ignore[no-any-return]
