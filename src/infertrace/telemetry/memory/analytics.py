"""Vectorised per-model analytics over the span table's columns.

Same definitions as :mod:`infertrace.telemetry.analytics_ref` (the oracle),
computed with NumPy over the requests of a window (see :mod:`.requests`): one
mask over the columns, the request rule, one grouping by code, then per-group
reductions (the timing columns' ``-1`` means unknown, so each percentile drops
those first).
"""

from __future__ import annotations

from collections.abc import Callable

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


def _decode(t: SpanTable, slots: I64) -> I64:
    """Each request's decode time (see :mod:`analytics`): the decode column when set,
    else its time (e2e when set, else the duration) less TTFT when set, else its time."""
    e2e = t.e2e[slots]
    elapsed = np.where(e2e >= 0, e2e, t.dur[slots])
    ttft = t.ttft[slots]
    rest = np.where(ttft >= 0, np.maximum(elapsed - ttft, 0), elapsed)
    decode = t.decode[slots]
    return np.where(decode >= 0, decode, rest)


def _tokens_per_second(t: SpanTable, slots: I64) -> float | None:
    out = t.otok[slots]
    has = out >= 0
    if not has.any():
        return None
    decode = _decode(t, slots[has])
    # An int64 sum wraps (two decodes of 2**62 ns sum negative); float64 cannot, and
    # its relative error (~1e-16 per term) is far below what a rate can show.
    total = float(decode.sum(dtype=np.float64))
    if total == 0:
        return None
    return int(out[has].sum()) / (total / 1e9)


def _tpot(t: SpanTable, slots: I64) -> F64:
    """TPOT of the requests that have one: more than one output token, and decode time
    or TTFT known; decode time / (output tokens - 1)."""
    out = t.otok[slots]
    s = slots[out >= 2]
    s = s[(t.decode[s] >= 0) | (t.ttft[s] >= 0)]
    return _decode(t, s).astype(np.float64) / (t.otok[s].astype(np.float64) - 1)


def _known(col: I64) -> F64:
    return col[col >= 0].astype(np.float64)


_MEASURES: dict[str, Callable[[SpanTable, I64], F64]] = {
    "latency": lambda t, s: t.dur[s].astype(np.float64),
    "queue": lambda t, s: _known(t.queue[s]),
    "ttft": lambda t, s: _known(t.ttft[s]),
    "tpot": _tpot,
}
"""A percentile metric's values over ``slots``, the requests without one left out."""


def _percentiles(values: F64, qs: list[int]) -> list[float | None]:
    if not len(values):
        return [None] * len(qs)
    return [float(v) for v in np.percentile(values, qs)]


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _stats(t: SpanTable, key: str, slots: I64) -> GroupStats:
    dur = t.dur[slots]
    p50, p90, p95, p99 = np.percentile(dur.astype(np.float64), [50, 90, 95, 99])
    queue = _percentiles(_MEASURES["queue"](t, slots), [50, 95])
    ttft = _percentiles(_MEASURES["ttft"](t, slots), [50, 95])
    tpot = _percentiles(_tpot(t, slots), [50, 95])
    errors = int((t.status[slots] == 2).sum())
    itok, otok, batch, gpu = t.itok[slots], t.otok[slots], t.batch[slots], t.gpu[slots]
    return GroupStats(
        key=key,
        requests=len(slots),
        errors=errors,
        error_rate=errors / len(slots),
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
        output_tokens_per_second=_tokens_per_second(t, slots),
        mean_batch_size=_mean(batch[batch >= 0].astype(np.float64)),
        mean_gpu_utilization=_mean(gpu[~np.isnan(gpu)]),
    )


def _groups(slots: I64, inverse: I64, n: int) -> list[I64]:
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(n + 1))
    return [slots[order[bounds[i] : bounds[i + 1]]] for i in range(n)]


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
    return [
        _stats(t, k, g) for k, g in zip(names, _groups(slots, inverse, len(names)), strict=True)
    ]


def _value(t: SpanTable, metric: SeriesMetric, slots: I64) -> float | None:
    if metric is SeriesMetric.REQUESTS:
        return float(len(slots))
    if metric is SeriesMetric.ERRORS:
        return float((t.status[slots] == 2).sum())
    if metric is SeriesMetric.TOKENS_OUT:
        o = t.otok[slots]
        return float(o[o >= 0].sum())
    if metric is SeriesMetric.TOKENS_PER_SECOND:
        return _tokens_per_second(t, slots)
    measure, q = QUANTILES[metric]
    return _percentiles(_MEASURES[measure](t, slots), [q])[0]


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
    groups = _groups(slots, inverse, len(buckets))
    return [
        SeriesPoint(int(b), _value(t, metric, g))
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
    for name, g in zip(names, _groups(slots, inverse, len(names)), strict=True):
        v = _value(t, by, g)
        if v is not None:
            rows.append(LeaderboardEntry(name, v))
    rows.sort(key=lambda e: (-e.value, e.model_name))
    return rows[:limit]
