"""Window rules for one series: counter increase, histogram increase, quantiles.

Every expected figure is worked out by hand in the table (or by the oracle in the
hypothesis test), never taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infertrace.model import HistogramData, MetricType, Temporality
from infertrace.telemetry.filters import NO_LOWER
from infertrace.telemetry.metric_window import (
    Increase,
    Series,
    counter_increase,
    histogram_increase,
    histogram_quantile,
    histogram_steps,
    latest,
    merge,
)

CUM, DELTA, UNSPEC = Temporality.CUMULATIVE, Temporality.DELTA, Temporality.UNSPECIFIED
SINCE = 1_000


def series(
    values: list[float],
    starts: list[int] | int,
    temporality: Temporality = CUM,
    hists: list[HistogramData] | None = None,
) -> Series:
    n = len(hists) if hists is not None else len(values)
    start_list = [starts] * n if isinstance(starts, int) else starts
    s = Series(
        "m",
        MetricType.HISTOGRAM if hists is not None else MetricType.SUM,
        temporality,
        "s",
        "svc",
        {},
        {},
        np.arange(SINCE + 10, SINCE + 10 + 10 * n, 10, dtype=np.int64),
        np.array(start_list, np.int64),
        np.array(values if hists is None else [np.nan] * n, np.float64),
        tuple(hists) if hists is not None else (),
    )
    s._check()
    return s


@pytest.mark.parametrize(
    ("q", "bounds", "buckets", "want"),
    [
        # cumulative counts 2, 6, 9, 10; rank 5 falls in (0.1, 0.5]: 0.1 + 0.4 * 3/4
        (0.5, (0.1, 0.5, 1.0), (2, 4, 3, 1), 0.4),
        # rank 9 reaches the third bucket's top exactly: 0.5 + 0.5 * 3/3
        (0.9, (0.1, 0.5, 1.0), (2, 4, 3, 1), 1.0),
        # rank 9.5 is in +Inf: the highest finite bound
        (0.95, (0.1, 0.5, 1.0), (2, 4, 3, 1), 1.0),
        # rank 1 in the first bucket, lower bound 0: 0.1 * 1/2
        (0.1, (0.1, 0.5, 1.0), (2, 4, 3, 1), 0.05),
        # rank 1 in (1, 2] after an empty first bucket: 1 + 1 * 1/4
        (0.25, (1.0, 2.0), (0, 4, 0), 1.25),
        # first upper bound not positive: that bound
        (0.5, (-1.0, 0.0, 1.0), (1, 0, 0, 0), -1.0),
        # everything in +Inf
        (0.5, (0.3, 0.5), (0, 0, 7), 0.5),
        # no observations, no finite bound: no answer
        (0.5, (0.1, 0.5), (0, 0, 0), None),
        (0.5, (), (5,), None),
    ],
)
def test_histogram_quantile_by_hand(
    q: float, bounds: tuple[float, ...], buckets: tuple[int, ...], want: float | None
) -> None:
    got = histogram_quantile(q, bounds, buckets)
    assert got == (None if want is None else pytest.approx(want))


@pytest.mark.parametrize(
    ("q", "bounds", "buckets", "message"),
    [
        (0.0, (1.0,), (1, 0), "quantile"),
        (1.5, (1.0,), (1, 0), "quantile"),
        (0.5, (1.0,), (1,), "bucket"),
    ],
)
def test_histogram_quantile_refuses_bad_input(
    q: float, bounds: tuple[float, ...], buckets: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        histogram_quantile(q, bounds, buckets)


@pytest.mark.parametrize(
    ("values", "starts", "temporality", "since", "want"),
    [
        # started before the window: last - first
        ([10, 15, 22], 500, CUM, SINCE, 12),
        # started inside the window: the first value counts too
        ([10, 15, 22], 1_500, CUM, SINCE, 22),
        # start time unknown (0): not known to be inside
        ([10, 15, 22], 0, CUM, SINCE, 12),
        # a drop is a reset: 5 before it, then the new run from 0: 3 + 5
        ([10, 15, 3, 8], 0, CUM, SINCE, 13),
        # a new start time is a reset even without a drop: 5, then 20 + 6
        ([10, 15, 20, 26], [500, 500, 1_025, 1_025], CUM, SINCE, 31),
        # two resets
        ([4, 9, 2, 7, 1], 500, CUM, SINCE, 5 + 7 + 1),
        # delta: the sum
        ([3, 4, 5], 0, DELTA, SINCE, 12),
        # a sum without temporality is read as cumulative
        ([10, 15], 0, UNSPEC, SINCE, 5),
        # one point that started before: nothing happened in the window
        ([42], 500, CUM, SINCE, 0),
        # an open window's start: any known start time is inside it
        ([10, 15], 700, CUM, NO_LOWER, 15),
    ],
)
def test_counter_increase(
    values: list[float], starts: list[int] | int, temporality: Temporality, since: int, want: float
) -> None:
    assert counter_increase(series(values, starts, temporality), since) == want


def test_counter_increase_of_no_points_is_zero() -> None:
    assert counter_increase(series([], [], CUM), SINCE) == 0


@pytest.mark.parametrize(("values", "want"), [([1, 2, 3], 3), ([], None), ([1, np.nan], None)])
def test_latest_gauge_value(values: list[float], want: float | None) -> None:
    assert latest(series(values, 0)) == want


def hist(count: int, buckets: tuple[int, ...], total: float, bounds=(0.1, 0.5)) -> HistogramData:  # type: ignore[no-untyped-def]
    assert sum(buckets) == count
    return HistogramData(count=count, sum=total, bounds=bounds, bucket_counts=buckets)


def as_tuple(inc: Increase) -> tuple[tuple[float, ...], int, float, tuple[int, ...]]:
    return inc.bounds, inc.count, pytest.approx(inc.sum), tuple(inc.buckets.tolist())  # type: ignore[return-value]


HIST_CASES = [
    # cumulative, started before: last - first, bucket by bucket
    (
        [hist(3, (1, 1, 1), 1.0), hist(7, (2, 3, 2), 3.0)],
        500,
        CUM,
        [((0.1, 0.5), 4, 2.0, (1, 2, 1))],
    ),
    # started inside: the last point whole
    (
        [hist(3, (1, 1, 1), 1.0), hist(7, (2, 3, 2), 3.0)],
        1_500,
        CUM,
        [((0.1, 0.5), 7, 3.0, (2, 3, 2))],
    ),
    # a reset (count drops): (7 - 3) before it, then the new run's last point whole
    (
        [
            hist(3, (1, 1, 1), 1.0),
            hist(7, (2, 3, 2), 3.0),
            hist(1, (1, 0, 0), 0.05),
            hist(4, (2, 1, 1), 1.5),
        ],
        500,
        CUM,
        [((0.1, 0.5), 4 + 4, 2.0 + 1.5, (1 + 2, 2 + 1, 1 + 1))],
    ),
    # delta: every point summed
    (
        [hist(3, (1, 1, 1), 1.0), hist(2, (0, 2, 0), 0.5)],
        0,
        DELTA,
        [((0.1, 0.5), 5, 1.5, (1, 3, 1))],
    ),
    # new bounds start a new run (counted whole), kept apart from the old bounds
    (
        [
            hist(3, (1, 1, 1), 1.0),
            hist(5, (2, 2, 1), 2.0),
            hist(2, (1, 1), 0.4, bounds=(0.25,)),
        ],
        500,
        CUM,
        [((0.1, 0.5), 2, 1.0, (1, 1, 0)), ((0.25,), 2, 0.4, (1, 1))],
    ),
]


@pytest.mark.parametrize(("hists", "starts", "temporality", "want"), HIST_CASES)
def test_histogram_increase(
    hists: list[HistogramData], starts: int, temporality: Temporality, want: list[object]
) -> None:
    got = histogram_increase(series([], starts, temporality, hists), SINCE)
    assert [as_tuple(i) for i in got] == want


def test_merge_adds_equal_bounds_and_puts_the_most_observed_first() -> None:
    a = Increase((1.0,), 2, 1.0, np.array([1, 1]))
    b = Increase((2.0,), 5, 4.0, np.array([5, 0]))
    c = Increase((1.0,), 1, 0.5, np.array([0, 1]))
    merged = merge([a, b, c])
    assert [as_tuple(i) for i in merged] == [((2.0,), 5, 4.0, (5, 0)), ((1.0,), 3, 1.5, (1, 2))]


steps = st.lists(
    st.tuples(st.integers(0, 50), st.booleans()),  # (increment, restart before it)
    min_size=0,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(first=st.integers(0, 100), started_inside=st.booleans(), steps=steps)
def test_cumulative_increase_equals_what_happened_in_the_window(
    first: int, started_inside: bool, steps: list[tuple[int, bool]]
) -> None:
    """An exporter that restarts (new start time, count from 0): the increase is the
    sum of what it counted in the window, known here by construction."""
    start = SINCE + 1 if started_inside else SINCE - 100
    values, starts = [float(first)], [start]
    happened = first if started_inside else 0
    for i, (inc, restart) in enumerate(steps):
        if restart:
            start = SINCE + 10 * (i + 1) + 5  # between the two points
            values.append(float(inc))
        else:
            values.append(values[-1] + inc)
        starts.append(start)
        happened += inc
    assert counter_increase(series(values, starts), SINCE) == happened
    # the same counts sent as deltas add up to the same increase
    deltas = [values[0] if started_inside else 0.0] + [float(inc) for inc, _ in steps]
    assert counter_increase(series(deltas, starts, DELTA), SINCE) == happened


def test_points_without_a_histogram_are_left_out() -> None:
    """A point with no histogram in the middle changes nothing: (7 - 3) either way."""
    a, b = hist(3, (1, 1, 1), 1.0), hist(7, (2, 3, 2), 3.0)
    s = series([], 500, CUM, [a, b])
    s = Series(s.name, s.type, s.temporality, s.unit, s.service_name, {}, {},
               np.array([1_010, 1_015, 1_020], np.int64), np.array([500] * 3, np.int64),
               np.array([np.nan] * 3), (a, None, b))  # fmt: skip
    assert [as_tuple(i) for i in histogram_increase(s, SINCE)] == [((0.1, 0.5), 4, 2.0, (1, 2, 1))]
    none = Series(s.name, s.type, s.temporality, s.unit, s.service_name, {}, {},
                  s.times[:1], s.starts[:1], s.values[:1], (None,))  # fmt: skip
    assert histogram_increase(none, SINCE) == []


@pytest.mark.parametrize("temporality", [CUM, DELTA])
def test_histograms_without_buckets_carry_nothing(temporality: Temporality) -> None:
    empty = HistogramData(count=4, sum=2.0)
    assert histogram_increase(series([], 1_500, temporality, [empty, empty]), SINCE) == []


@pytest.mark.parametrize(("hists", "starts", "temporality", "want"), HIST_CASES)
def test_histogram_steps_add_up_to_the_increase(
    hists: list[HistogramData], starts: int, temporality: Temporality, want: list[object]
) -> None:
    """Time series split the window's increase by point: the steps of every point,
    added up per set of bounds, are the hand-worked increase."""
    steps = histogram_steps(series([], starts, temporality, hists), SINCE)
    got = [
        (x.bounds, int(x.counts.sum()), pytest.approx(float(x.sums.sum())),
         tuple(x.buckets.sum(axis=0).tolist()))
        for x in steps
    ]  # fmt: skip
    assert got == want
    for x in steps:
        assert (x.buckets >= 0).all() and len(x.times) == len(x.counts)


BOUNDS = (0.5, 1.0, 2.0)


def _buckets(values: list[float]) -> list[int]:
    """Prometheus buckets of ``values`` over :data:`BOUNDS`, by plain comparison."""
    out = [0] * (len(BOUNDS) + 1)
    for v in values:
        out[next((i for i, b in enumerate(BOUNDS) if v <= b), len(BOUNDS))] += 1
    return out


observations = st.lists(st.floats(0.0, 3.0, allow_nan=False), max_size=5)


@settings(max_examples=150, deadline=None)
@given(
    first=observations,
    started_inside=st.booleans(),
    steps=st.lists(st.tuples(observations, st.booleans()), max_size=15),
)
def test_histogram_increase_equals_what_was_observed_in_the_window(
    first: list[float], started_inside: bool, steps: list[tuple[list[float], bool]]
) -> None:
    """A server observing values and restarting (new start time, buckets from 0): the
    window's bucket increase is the bucketed observations made in it, by construction;
    the per-point steps add up to it."""
    start = SINCE + 1 if started_inside else SINCE - 100
    seen, hists, starts = list(first), [], []
    window = list(first) if started_inside else []
    for i, (obs, restart) in enumerate([(first, False), *steps]):
        if i and restart:
            start, seen = SINCE + 10 * i + 5, []
        if i:
            seen += obs
            window += obs
        counts = _buckets(seen)
        hists.append(HistogramData(count=sum(counts), sum=sum(seen), bounds=BOUNDS,
                                   bucket_counts=tuple(counts)))  # fmt: skip
        starts.append(start)
    s = series([], starts, CUM, hists)
    want = _buckets(window)
    got = histogram_increase(s, SINCE)
    assert [tuple(i.buckets.tolist()) for i in got] == [tuple(want)]
    assert got[0].count == len(window) and got[0].sum == pytest.approx(sum(window))
    steps_sum = histogram_steps(s, SINCE)[0].buckets.sum(axis=0)
    assert steps_sum.tolist() == want
