"""One metric series over a time window: counter increase, histogram increase, quantiles.

The rules (the README's "Analytics from metrics" states them for users):

- A *series* is a name with one set of attributes and one resource; its points in
  the window are taken oldest first.
- DELTA temporality: each point is the change since the previous one, so the
  increase is the sum of the window's points.
- CUMULATIVE (and a sum or histogram of unspecified temporality): the points form
  *runs*; a value (a histogram's count) lower than the one before, or a start time
  different from the one before, starts a new run (the producer restarted). A run's
  increase is its last value less its first, plus the first value itself when the
  run began inside the window: a run started by a reset seen in the window, or the
  window's first run when its start time is known (non-zero) and not before the
  window's start. The series' increase is the sum over its runs.
- A histogram's bucket counts and sum follow the same runs as its count; a change
  of bucket bounds also starts a new run.
- A gauge's value is its latest point in the window.

Quantiles of merged bucket counts follow Prometheus's ``histogram_quantile``: the
rank is ``q * count``; the answer lies in the first bucket whose cumulative count
reaches the rank, by linear interpolation between the bucket's lower and upper
bounds; the first bucket's lower bound is 0 when its upper bound is positive (else
the answer is that upper bound); a rank in the ``+Inf`` bucket answers the highest
finite bound. No observations, or no finite bound: no answer.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from infertrace.model import AttributeValue, HistogramData, MetricType, Temporality
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bounds = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Series:
    """The points of one series inside a window, oldest first, as columns.

    ``values`` holds sums' and gauges' values (NaN for distribution kinds);
    ``histograms`` holds each point's histogram (empty for sums and gauges).
    """

    name: str
    type: MetricType
    temporality: Temporality
    unit: str
    service_name: str
    attributes: Mapping[str, AttributeValue]
    resource_attributes: Mapping[str, AttributeValue]
    times: I64
    starts: I64
    values: F64
    histograms: Sequence[HistogramData | None] = ()

    def _check(self) -> None:
        n = len(self.times)
        assert len(self.starts) == n and len(self.values) == n
        assert not self.histograms or len(self.histograms) == n
        assert bool(np.all(self.times[1:] >= self.times[:-1])), "oldest first"


def model_of(s: Series) -> str | None:
    """The model a series' labels name (:data:`semconv.METRIC_MODEL_LABELS`, in that
    order), or None. O(labels)."""
    for label in METRIC_MODEL_LABELS:
        v = s.attributes.get(label)
        if isinstance(v, str) and v:
            return v
    return None


@dataclass(frozen=True, slots=True)
class Increase:
    """A histogram's increase over a window, for one set of bucket bounds."""

    bounds: Bounds
    count: int
    sum: float
    buckets: I64
    """``len(bounds) + 1`` counts; the last is the ``+Inf`` bucket."""


def _began_inside(start: int, since: int) -> bool:
    return start != 0 and start >= since


def _breaks(values: F64, starts: I64) -> npt.NDArray[np.bool_]:
    """Where a new run begins (index 0 excluded): a drop, or another start time."""
    out = np.zeros(len(values), np.bool_)
    out[1:] = (values[1:] < values[:-1]) | (starts[1:] != starts[:-1])
    return out


def counter_steps(s: Series, since: int) -> F64:
    """Per point, what the counter gained since the point before it: a delta point's
    value; at a reset, the value; at the first point, its value when its run began
    inside the window, else 0. They add up to :func:`counter_increase`, so a time
    series gives each bucket the steps of the points in it. O(points)."""
    v = s.values
    if not len(v):
        return np.zeros(0, np.float64)
    if s.temporality is Temporality.DELTA:
        return np.nan_to_num(v)
    brk = _breaks(v, s.starts)
    steps = np.diff(v, prepend=v[0])
    steps[brk] = v[brk]
    if _began_inside(int(s.starts[0]), since):
        steps[0] = v[0]
    return steps


def counter_increase(s: Series, since: int) -> float:
    """The series' increase over the window (the module's counter rules). O(points)."""
    return float(counter_steps(s, since).sum())


def latest(s: Series) -> float | None:
    """A gauge's latest value in the window. O(1)."""
    if not len(s.values):
        return None
    v = float(s.values[-1])
    return None if math.isnan(v) else v


def histogram_increase(s: Series, since: int) -> list[Increase]:
    """The histogram's increase over the window, one entry per set of bucket bounds
    (one, unless the producer changed them). O(points) in C-level passes; whole bucket
    rows are read only at run boundaries for cumulative series. Points without a
    histogram, or without buckets, carry nothing."""
    hists = s.histograms
    if not hists:
        return []
    try:
        counts = np.fromiter(map(_COUNT, hists), np.float64, len(hists))
        bounds = list(map(_BOUNDS, hists))
    except AttributeError:  # a point without a histogram: leave it out
        keep = [i for i, h in enumerate(hists) if h is not None]
        if not keep:
            return []
        kept = [hists[i] for i in keep]
        s = dataclasses.replace(s, starts=s.starts[keep], histograms=kept)
        return histogram_increase(dataclasses.replace(s, times=s.times[keep]), since)
    full = cast("Sequence[HistogramData]", hists)  # none is None: map() read them all
    out: dict[Bounds, Increase] = {}
    if s.temporality is Temporality.DELTA:
        for h in full:
            if h.bucket_counts:
                _add(out, h.bounds, h.count, h.sum or 0.0, np.asarray(h.bucket_counts, np.int64))
        return list(out.values())
    brk = _breaks(counts, s.starts)
    if bounds.count(bounds[0]) != len(bounds):
        brk[1:] |= np.array([a != b for a, b in itertools.pairwise(bounds)], np.bool_)
    run_starts = [0, *np.flatnonzero(brk).tolist()]
    run_ends = [*run_starts[1:], len(hists)]
    for r, (i, j) in enumerate(zip(run_starts, run_ends, strict=True)):
        a, b = full[i], full[j - 1]
        if not b.bucket_counts or len(a.bucket_counts) != len(b.bucket_counts):
            continue
        buckets = np.asarray(b.bucket_counts, np.int64)
        count, total = b.count, b.sum or 0.0
        if r == 0 and not _began_inside(int(s.starts[0]), since):
            buckets = buckets - np.asarray(a.bucket_counts, np.int64)
            count, total = count - a.count, total - (a.sum or 0.0)
        _add(out, b.bounds, count, total, buckets)
    return list(out.values())


@dataclass(frozen=True, slots=True)
class Steps:
    """Per point of a histogram (those with ``bounds``), what it gained since the point
    before it, by the rules of :func:`counter_steps`."""

    bounds: Bounds
    times: I64
    counts: F64
    sums: F64
    buckets: npt.NDArray[np.int64]
    """One row per point, ``len(bounds) + 1`` columns."""


def histogram_steps(s: Series, since: int) -> list[Steps]:
    """The histogram's gain per point, one :class:`Steps` per set of bucket bounds;
    they add up to :func:`histogram_increase`. O(points x buckets)."""
    keep = [i for i, h in enumerate(s.histograms) if h is not None and h.bucket_counts]
    if not keep:
        return []
    hists = cast("list[HistogramData]", [s.histograms[i] for i in keep])
    times, starts = s.times[keep], s.starts[keep]
    delta = s.temporality is Temporality.DELTA
    counts = np.array([h.count for h in hists], np.float64)
    sums = np.array([h.sum or 0.0 for h in hists], np.float64)
    bounds = [h.bounds for h in hists]
    brk = np.ones(len(hists), np.bool_) if delta else _breaks(counts, starts)
    brk[1:] |= np.array([a != b for a, b in itertools.pairwise(bounds)], np.bool_)
    brk[0] = delta or _began_inside(int(starts[0]), since)
    out = []
    for b in dict.fromkeys(bounds):
        idx = [i for i, x in enumerate(bounds) if x == b]
        rows = np.array([hists[i].bucket_counts for i in idx], np.int64)
        first = idx[0]
        # consecutive points of one set of bounds: the step from the one before, unless
        # a break says the point counts whole (or, the window's first, not at all)
        prev = np.r_[rows[:1] * 0, rows[:-1]]
        whole = brk[idx]
        step_rows = np.where(whole[:, None], rows, rows - prev)
        step_counts = np.where(whole, counts[idx], counts[idx] - np.r_[0, counts[idx][:-1]])
        step_sums = np.where(whole, sums[idx], sums[idx] - np.r_[0, sums[idx][:-1]])
        if first == 0 and not brk[0]:
            step_rows[0], step_counts[0], step_sums[0] = 0, 0.0, 0.0
        out.append(Steps(tuple(b), times[idx], step_counts, step_sums, step_rows))
    return out


_COUNT = operator.attrgetter("count")
_BOUNDS = operator.attrgetter("bounds")


def _add(out: dict[Bounds, Increase], bounds: Bounds, count: int, total: float, b: I64) -> None:
    bounds = tuple(bounds)
    have = out.get(bounds)
    if have is None:
        out[bounds] = Increase(bounds, int(count), float(total), b)
    else:
        out[bounds] = Increase(bounds, have.count + int(count), have.sum + total, have.buckets + b)


def merge(increases: Sequence[Increase]) -> list[Increase]:
    """Increases with equal bounds added together, the most observed bounds first. O(n)."""
    out: dict[Bounds, Increase] = {}
    for inc in increases:
        _add(out, inc.bounds, inc.count, inc.sum, inc.buckets)
    return sorted(out.values(), key=lambda i: -i.count)


def histogram_quantile(q: float, bounds: Bounds, buckets: Sequence[int] | I64) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of bucket counts by the module's interpolation
    rule (Prometheus's ``histogram_quantile``); None without observations or without
    a finite bound. O(buckets)."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q!r}")
    if len(buckets) != len(bounds) + 1:
        raise ValueError(f"{len(buckets)} bucket counts for {len(bounds)} bounds")
    cum = list(itertools.accumulate(float(c) for c in buckets))
    total = cum[-1] if cum else 0.0
    if total <= 0 or not bounds:
        return None
    rank = q * total
    b = bisect.bisect_left(cum, rank, 0, len(bounds))  # the +Inf bucket when none reaches it
    if b == len(bounds):
        return float(bounds[-1])
    upper = float(bounds[b])
    if b == 0 and upper <= 0:
        return upper
    lower = 0.0 if b == 0 else float(bounds[b - 1])
    below = 0.0 if b == 0 else cum[b - 1]
    return lower + (upper - lower) * (rank - below) / (cum[b] - below)


__all__ = [
    "Increase",
    "Series",
    "Steps",
    "counter_increase",
    "counter_steps",
    "histogram_increase",
    "histogram_quantile",
    "histogram_steps",
    "latest",
    "merge",
    "model_of",
]
