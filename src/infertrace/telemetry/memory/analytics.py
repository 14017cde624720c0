"""Vectorised per-model analytics over the span table's columns.

Same definitions as :mod:`infertrace.telemetry.analytics_ref` (the oracle),
computed with NumPy over the requests of a window (see :mod:`.requests`): one
mask over the columns, the request rule, one grouping by code, then per-group
reductions (the timing columns' ``-1`` means unknown, so each percentile drops
those first).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from infertrace.telemetry.analytics import (
    POD_ATTRIBUTES,
    QUANTILES,
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)
from infertrace.telemetry.analytics_ref import UNKNOWN, check_step
from infertrace.telemetry.memory.requests import requests
from infertrace.telemetry.memory.spans import SpanTable

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _model_slots(t: SpanTable, since: int, until: int, scope: SpanScope) -> I64:
    """The slots analytics count in ``[since, until)``, ascending."""
    cap = t.ring.capacity
    n = len(t.ring)
    if not n:
        return np.zeros(0, np.int64)
    with_model = t.model >= 0
    if n < cap:
        with_model &= t.table.live_mask(0, cap)
    counted = with_model & (t.start >= since) & (t.start < until)
    if scope is SpanScope.REQUESTS:
        counted = requests(t, counted, with_model)
    return np.flatnonzero(counted)


def _pod_names(t: SpanTable, res_codes: npt.NDArray[np.int32]) -> list[str]:
    names = []
    for code in res_codes.tolist():
        m = t.resource_map(code)
        name = UNKNOWN
        for key in POD_ATTRIBUTES:
            v = m.get(key)
            if isinstance(v, str) and v:
                name = v
                break
        names.append(name)
    return names


def _group_keys(t: SpanTable, slots: I64, group_by: GroupBy) -> tuple[list[str], I64]:
    """Distinct group names and each row's group number."""
    col = {
        GroupBy.MODEL: t.model,
        GroupBy.SERVICE: t.svc,
        GroupBy.OPERATION: t.op,
        GroupBy.POD: t.res,
    }[group_by]
    codes, inverse = np.unique(col[slots], return_inverse=True)
    if group_by is GroupBy.POD:
        names = _pod_names(t, codes)
    else:
        vals = t.strings.values
        names = [vals[c] for c in codes.tolist()]
    # several codes may share a name (pods without a pod attribute): merge them
    uniq, remap = np.unique(np.array(names, dtype=object), return_inverse=True)
    return [str(u) for u in uniq], remap[inverse]


class _Requests:
    """The columns analytics read for some slots, gathered once (O(n) per column), with
    each request's decode time and TPOT derived (see :mod:`analytics`); ``part`` is a
    contiguous run of them (views, no copy)."""

    __slots__ = ("batch", "decode", "dur", "gpu", "itok", "otok", "queue", "status", "tpot", "ttft")
    batch: npt.NDArray[np.int32]
    decode: I64
    dur: I64
    gpu: F64
    itok: npt.NDArray[np.int32]
    otok: npt.NDArray[np.int32]
    queue: I64
    status: npt.NDArray[np.int8]
    tpot: F64
    ttft: I64

    def __init__(self, t: SpanTable | None = None, slots: I64 | None = None) -> None:
        if t is None or slots is None:
            return  # ``part`` fills the fields
        dur, ttft, otok = t.dur[slots], t.ttft[slots], t.otok[slots]
        e2e, decode = t.e2e[slots], t.decode[slots]
        self.dur, self.ttft, self.otok, self.queue = dur, ttft, otok, t.queue[slots]
        self.status, self.itok, self.batch, self.gpu = (
            t.status[slots],
            t.itok[slots],
            t.batch[slots],
            t.gpu[slots],
        )
        # decode time: the decode column, else time (e2e, else duration) less TTFT, else time
        elapsed = np.where(e2e >= 0, e2e, dur)
        rest = np.where(ttft >= 0, np.maximum(elapsed - ttft, 0), elapsed)
        self.decode = np.where(decode >= 0, decode, rest)
        has = (otok >= 2) & ((decode >= 0) | (ttft >= 0))
        self.tpot = np.divide(self.decode, otok - 1.0, out=np.full(len(slots), np.nan), where=has)

    def __len__(self) -> int:
        return len(self.dur)

    def part(self, lo: int, hi: int) -> _Requests:
        run = _Requests()
        for name in _Requests.__slots__:
            setattr(run, name, getattr(self, name)[lo:hi])
        return run

    def tokens_per_second(self) -> float | None:
        has = self.otok >= 0
        if not has.any():
            return None
        # An int64 sum wraps (two decodes of 2**62 ns sum negative); float64 cannot, and
        # its relative error (~1e-16 per term) is far below what a rate can show.
        total = float(self.decode[has].sum(dtype=np.float64))
        if total == 0:
            return None
        return int(self.otok[has].sum()) / (total / 1e9)

    def values(self, measure: str) -> F64 | I64:
        """A percentile measure's values (see ``QUANTILES``), unknown ones left out.
        Times stay int64: numpy's percentile of integers below 2**53 equals that of
        their float64 copies, and partitions them faster."""
        if measure == "latency":
            return self.dur
        if measure == "tpot":
            return self.tpot[~np.isnan(self.tpot)]
        col: I64 = self.queue if measure == "queue" else self.ttft
        return col[col >= 0]


def _percentiles(values: F64 | I64, qs: list[int]) -> list[float | None]:
    if not len(values):
        return [None] * len(qs)
    return [float(v) for v in np.percentile(values, qs)]


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _stats(r: _Requests, key: str) -> GroupStats:
    dur = r.dur
    p50, p90, p95, p99 = np.percentile(dur.astype(np.float64), [50, 90, 95, 99])
    queue = _percentiles(r.values("queue"), [50, 95])
    ttft = _percentiles(r.values("ttft"), [50, 95])
    tpot = _percentiles(r.values("tpot"), [50, 95])
    errors = int((r.status == 2).sum())
    itok, otok, batch, gpu = r.itok, r.otok, r.batch, r.gpu
    return GroupStats(
        key=key,
        requests=len(r),
        errors=errors,
        error_rate=errors / len(r),
        latency_p50_ns=float(p50),
        latency_p90_ns=float(p90),
        latency_p95_ns=float(p95),
        latency_p99_ns=float(p99),
        latency_max_ns=int(dur.max()),
        queue_p50_ns=queue[0],
        queue_p95_ns=queue[1],
        ttft_p50_ns=ttft[0],
        ttft_p95_ns=ttft[1],
        tpot_p50_ns=tpot[0],
        tpot_p95_ns=tpot[1],
        input_tokens=int(itok[itok >= 0].sum()),
        output_tokens=int(otok[otok >= 0].sum()),
        output_tokens_per_second=r.tokens_per_second(),
        mean_batch_size=_mean(batch[batch >= 0].astype(np.float64)),
        mean_gpu_utilization=_mean(gpu[~np.isnan(gpu)]),
    )


def _groups(t: SpanTable, slots: I64, inverse: I64, n: int) -> list[_Requests]:
    """The requests of each of ``n`` groups: one gather per column in group order."""
    # a stable sort of 16-bit keys is a radix sort, O(len): ~2x faster than on int64
    keys = inverse.astype(np.int16) if n <= np.iinfo(np.int16).max else inverse
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(n + 1)).tolist()
    every = _Requests(t, slots[order])
    return [every.part(bounds[i], bounds[i + 1]) for i in range(n)]


def model_analytics(
    t: SpanTable,
    since: int,
    until: int,
    group_by: GroupBy,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[GroupStats]:
    slots = _model_slots(t, since, until, scope)
    if not len(slots):
        return []
    names, inverse = _group_keys(t, slots, group_by)
    groups = _groups(t, slots, inverse, len(names))
    return [_stats(g, k) for k, g in zip(names, groups, strict=True)]


def _value(r: _Requests, metric: SeriesMetric) -> float | None:
    if metric is SeriesMetric.REQUESTS:
        return float(len(r))
    if metric is SeriesMetric.ERRORS:
        return float((r.status == 2).sum())
    if metric is SeriesMetric.TOKENS_OUT:
        return float(r.otok[r.otok >= 0].sum())
    if metric is SeriesMetric.TOKENS_PER_SECOND:
        return r.tokens_per_second()
    measure, q = QUANTILES[metric]
    return _percentiles(r.values(measure), [q])[0]


def timeseries(
    t: SpanTable,
    metric: SeriesMetric,
    step: int,
    since: int,
    until: int,
    model: str | None,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[SeriesPoint]:
    check_step(step)
    slots = _model_slots(t, since, until, scope)
    if model is not None:
        code = t.strings.get(model)
        slots = slots[t.model[slots] == code] if code is not None else slots[:0]
    if not len(slots):
        return []
    start = t.start[slots]
    buckets, inverse = np.unique(start - start % step, return_inverse=True)
    groups = _groups(t, slots, inverse, len(buckets))
    return [
        SeriesPoint(int(b), _value(g, metric))
        for b, g in zip(buckets.tolist(), groups, strict=True)
    ]


def leaderboard(
    t: SpanTable,
    by: SeriesMetric,
    since: int,
    until: int,
    limit: int,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[LeaderboardEntry]:
    slots = _model_slots(t, since, until, scope)
    if not len(slots):
        return []
    names, inverse = _group_keys(t, slots, GroupBy.MODEL)
    rows = []
    for name, g in zip(names, _groups(t, slots, inverse, len(names)), strict=True):
        v = _value(g, by)
        if v is not None:
            rows.append(LeaderboardEntry(name, v))
    rows.sort(key=lambda e: (-e.value, e.model_name))
    return rows[:limit]
