"""The metric table: points of series, with delta-of-delta encoded timestamps.

A series is everything a point shares with its neighbours — name, type, unit,
service, attributes, resource — interned once as a series code. Per point the
table keeps the series code, the value (float64), the start time, any
histogram payload, and the time as a *delta of deltas* in an int32: periodic
exporters produce near-constant intervals, so this is 0 or small, and rare
outliers go to a side table. Times are decoded with a segmented cumulative
sum. Each series keeps the (time, delta) of the point just before its oldest
live one, so evicting a point moves that base forward in O(1).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from infertrace.engine.ring import RingBuffer
from infertrace.engine.table import OBJECT, Column, RingTable, TableSpec
from infertrace.model import MetricPoint, MetricType, Temporality
from infertrace.telemetry.batches import MetricBatch
from infertrace.telemetry.filters import ResolvedMetricFilter, attribute_equal
from infertrace.telemetry.memory.common import CanonicalMap, canonical, owned_ring
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS
from infertrace.telemetry.validate import check_batch, metric_problem

I64 = npt.NDArray[np.int64]
ESCAPE = np.iinfo(np.int32).min
_EXACT = 2**53
"""Integers up to this size are exact in the float64 value column."""
_TYPES = {int(t): t for t in MetricType}
_TEMPORALITIES = tuple(Temporality)
# (name, type, unit, description, is_monotonic, service, attributes, resource)
_SeriesKey = tuple[str, int, str, str, bool, str, CanonicalMap, CanonicalMap, int]


SPEC = TableSpec(
    (
        Column("series", "int32", dictionary="series"),
        Column("dod", "int32"),
        Column("start", "int64"),
        Column("value", "float64", fill=np.nan),  # NaN: no value (a distribution kind)
        Column("hist", OBJECT, fill=None),
    )
)
"""The metric table's columns: a :class:`RingTable` of these plus per-series time state."""


class MetricTable:
    """Metric points in a ring of ``capacity`` slots: a :class:`RingTable` of
    :data:`SPEC` plus each series' rolling time base; see the module doc."""

    def __init__(self, capacity: int, table: RingTable | None = None) -> None:
        """An empty table, or one around ``table`` (a restored RingTable of :data:`SPEC`,
        whose indexes the caller then restores)."""
        self.table = owned_ring(self, SPEC, capacity, table, self._on_evict)
        cols = self.table.cols
        self.series_col: npt.NDArray[np.int32] = cols["series"]
        self.dod: npt.NDArray[np.int32] = cols["dod"]
        self.start: I64 = cols["start"]
        self.value: npt.NDArray[np.float64] = cols["value"]
        self.hist: list[Any] = cols["hist"]
        self.series = self.table.dicts["series"]
        self.escapes: dict[int, int] = {}
        self._maps: dict[int, tuple[object, Any, Any]] = {}
        n = 64
        self.last_t = np.zeros(n, np.int64)
        self.last_d = np.zeros(n, np.int64)
        self.base_t = np.zeros(n, np.int64)
        self.base_d = np.zeros(n, np.int64)

    @property
    def ring(self) -> RingBuffer:
        return self.table.ring

    def _grow(self, code: int) -> None:
        while code >= len(self.last_t):
            for name in ("last_t", "last_d", "base_t", "base_d"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros(len(arr), np.int64)]))

    def append(self, points: Sequence[MetricPoint], now: int) -> None:
        """Validate and store ``points`` atomically; the caller holds the write lock."""
        check_batch(points, metric_problem)
        n = len(points)
        if not n:
            return
        canon: dict[int, Hashable] = {}

        def c(m: Any) -> Hashable:
            k = canon.get(id(m))
            if k is None:
                k = canon[id(m)] = canonical(m)
            return k

        (names, types, svcs, times, vals, units, starts_, attrs, res, hists, monos,
         descs, temps) = MetricBatch.of(points).columns  # fmt: skip
        keys = [
            (name, int(kind), unit, desc, mono, svc, c(a), c(r), int(temp))
            for name, kind, unit, desc, mono, svc, a, r, temp in zip(
                names, types, units, descs, monos, svcs, attrs, res, temps, strict=True
            )
        ]
        series = self.series
        fresh = [series.get(k) is None for k in keys]
        codes = series.codes(keys)
        code_arr = np.array(codes, np.int32)
        self._grow(max(codes))
        # Every step below is computed into locals first and only then written
        # to the per-series state, so a failure can never leave a series'
        # rolling base half-updated (issue 9: a poisoned point used to shift
        # the next point of another series).
        dods, pending, bases = _delta_of_deltas(codes, times, fresh, self.last_t, self.last_d)
        keep = min(n, self.ring.capacity)
        cut = n - keep
        values = np.array([np.nan if v is None else v for v in vals], np.float64)
        big = [i for i, v in enumerate(vals) if v.__class__ is int and not -_EXACT <= v <= _EXACT]
        if big:  # the float column rounds these: the hist slot (None for scalars) keeps each
            hists = list(hists)
            for i in big:
                hists[i] = vals[i]
        starts = np.array(starts_, np.int64)
        small = (dods >= -(2**31) + 1) & (dods < 2**31)
        stored = np.where(small, dods, ESCAPE).astype(np.int32)
        for code, (t, d) in bases.items():
            self.base_t[code], self.base_d[code] = t, d
        for code, (t, d) in pending.items():
            self.last_t[code], self.last_d[code] = t, d
        if cut:  # a batch larger than the ring: every live point goes first, in order,
            # then the batch's own first ``cut``. The batch holds its series meanwhile:
            # a series whose last live point goes must keep its code (and state).
            self.series.retain(code_arr)
            self.table.evict_to(self.ring.head)
            self._advance_bases(code_arr[:cut].tolist(), dods[:cut].tolist())
        first = self.table.append(
            {"series": code_arr, "dod": stored, "start": starts, "value": values,
             "hist": list(hists)},  # (a copy: the table owns its column slices)
            now,
        )  # fmt: skip
        if cut:
            self.series.release(code_arr)  # the hold: series seen only in the cut points go
        for i in np.flatnonzero(~small[cut:]).tolist():
            self.escapes[first + i] = int(dods[cut + i])

    def _advance_bases(self, codes: list[int], dods: list[int]) -> None:
        """Move each series' base past its evicted points, oldest first (wrapping)."""
        base_t, base_d = self.base_t, self.base_d
        for code, dod in zip(codes, dods, strict=True):
            base_d[code] = d = wrap64(int(base_d[code]) + dod)
            base_t[code] = wrap64(int(base_t[code]) + d)

    def _on_evict(self, lo: int, hi: int) -> None:
        """Series bases move past the points about to go (their columns still readable)."""
        esc = self.escapes
        for s, e, off in self.ring.spans(lo, hi):
            dods = self.dod[s:e].tolist()
            seq = lo + off
            for i, dod in enumerate(dods):
                if dod == ESCAPE:
                    dods[i] = esc.pop(seq + i)
            self._advance_bases(self.series_col[s:e].tolist(), dods)

    def purge(self, cutoff: int) -> int:
        return self.table.purge(cutoff)

    def times(self, seqs: I64) -> I64:
        """Decoded times of live points ``seqs`` (ascending, whole series only)."""
        if not len(seqs):
            return np.zeros(0, np.int64)
        slots = seqs % self.ring.capacity
        ser = self.series_col[slots].astype(np.int64)
        dd = self.dod[slots].astype(np.int64)
        for i in np.flatnonzero(dd == ESCAPE).tolist():
            dd[i] = self.escapes[int(seqs[i])]
        order = np.argsort(ser, kind="stable")
        s_ser, s_dd = ser[order], dd[order]
        starts = np.flatnonzero(np.r_[True, s_ser[1:] != s_ser[:-1]])
        lengths = np.diff(np.r_[starts, len(s_ser)])
        delta = _segmented_cumsum(s_dd, starts, lengths) + self.base_d[s_ser]
        t = _segmented_cumsum(delta, starts, lengths) + self.base_t[s_ser]
        out = np.empty_like(t)
        out[order] = t
        return out

    def matching_series(self, r: ResolvedMetricFilter) -> list[int]:
        out: list[int] = []
        series_codes = cast("dict[_SeriesKey, int]", self.series._code)
        for key, code in series_codes.items():
            name, mtype, _, _, _, svc, attrs, _, _ = key
            if r.name is not None and name != r.name:
                continue
            if r.service_name is not None and svc != r.service_name:
                continue
            if r.type is not None and mtype != int(r.type):
                continue
            if r.attributes:
                d = {k: v for k, _, v in attrs}
                if not all(k in d and attribute_equal(d[k], v) for k, v in r.attributes.items()):
                    continue
            out.append(code)
        return out

    def search(self, r: ResolvedMetricFilter) -> list[MetricPoint]:
        ring = self.ring
        codes = self.matching_series(r)
        if not codes or not len(ring):
            return []
        seqs = np.arange(ring.tail, ring.head, dtype=np.int64)
        seqs = seqs[np.isin(self.series_col[seqs % ring.capacity], codes)]
        t = self.times(seqs)
        keep = (t >= r.since) & (t < r.until)
        seqs, t = seqs[keep], t[keep]
        order = np.lexsort((-seqs, -t))[: r.limit]
        return [self._row(int(seqs[i]), int(t[i])) for i in order.tolist()]

    def names(self) -> list[str]:
        return sorted({k[0] for k in self.series._code})  # type: ignore[index]

    def models(self) -> set[str]:
        """The models the series' labels name (:data:`semconv.METRIC_MODEL_LABELS`). O(series)."""
        return {
            v
            for key in self.series._code
            for k, _, v in key[6]  # type: ignore[index]
            if k in METRIC_MODEL_LABELS and v.__class__ is str and v
        }

    def _row(self, seq: int, time: int) -> MetricPoint:
        s = seq % self.ring.capacity
        code = int(self.series_col[s])
        key = self.series.values[code]
        hit = self._maps.get(code)
        if hit is None or hit[0] is not key:
            from types import MappingProxyType

            from infertrace.model import EMPTY_ATTRIBUTES

            a, r = key[6], key[7]  # type: ignore[index]
            hit = (
                key,
                MappingProxyType({k: v for k, _, v in a}) if a else EMPTY_ATTRIBUTES,
                MappingProxyType({k: v for k, _, v in r}) if r else EMPTY_ATTRIBUTES,
            )
            self._maps[code] = hit
        name, mtype, unit, desc, mono, svc = key[:6]  # type: ignore[index]
        temporality = _TEMPORALITIES[key[8]]  # type: ignore[index]
        v: float | int = float(self.value[s])
        hist = self.hist[s]
        if mtype < MetricType.HISTOGRAM and hist is not None:
            v, hist = hist, None  # an integer beyond 2**53, kept exact
        return MetricPoint(
            name=name,
            type=_TYPES[mtype],
            service_name=svc,
            time_unix_nano=time,
            value=None if mtype >= MetricType.HISTOGRAM else v,
            unit=unit,
            start_time_unix_nano=int(self.start[s]),
            attributes=hit[1],
            resource_attributes=hit[2],
            histogram=hist,
            is_monotonic=mono,
            description=desc,
            temporality=temporality,
        )

    def data_bytes(self) -> int:
        return self.table.data_bytes() + int(self.last_t.nbytes) * 4

    def index_bytes(self) -> int:
        return sys.getsizeof(self.escapes) + 64 * len(self.escapes)

    def _check(self) -> None:
        self.table._check()
        for seq in self.escapes:
            assert self.ring.is_live(seq)


def wrap64(x: int) -> int:
    """``x`` modulo 2**64, as a signed int64: the arithmetic NumPy does on int64."""
    return ((x + _HALF) & _MASK) - _HALF


def _delta_of_deltas(
    codes: list[int],
    times: Sequence[int],
    fresh: list[bool],
    last_t: I64,
    last_d: I64,
) -> tuple[I64, dict[int, tuple[int, int]], dict[int, tuple[int, int]]]:
    """Per point its delta of deltas; per series its new (last time, last delta) and,
    for a series seen first in this batch, its base. Pure: nothing is modified.

    Deltas and deltas of deltas are kept modulo 2**64: times are in [0, 2**63), so
    decoding with NumPy's wrapping int64 sums gives every time back exactly, and
    no accepted time, however far from its neighbour, can overflow (issue 9).
    """
    dods = np.zeros(len(codes), np.int64)
    state: dict[int, tuple[int, int]] = {}
    bases: dict[int, tuple[int, int]] = {}
    for i, (code, t) in enumerate(zip(codes, times, strict=True)):
        prev = state.get(code)
        if prev is None:
            if fresh[i]:
                bases[code] = (t, 0)
                state[code] = (t, 0)
                continue
            prev = (int(last_t[code]), int(last_d[code]))
        d = wrap64(t - prev[0])
        dods[i] = wrap64(d - prev[1])
        state[code] = (t, d)
    return dods, state, bases


_HALF = 2**63
_MASK = 2**64 - 1


def _segmented_cumsum(x: I64, starts: I64, lengths: I64) -> I64:
    cs = np.cumsum(x)
    before = np.r_[0, cs][starts]
    return cs - np.repeat(before, lengths)  # type: ignore[no-any-return]


__all__ = ["SPEC", "MetricTable"]
