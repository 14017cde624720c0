"""CounterTracker: what each counter point adds, with bounded per-series state."""

from __future__ import annotations

import pytest

from infertrace.activity.agent_counters import RECENT, CounterTracker
from infertrace.errors import InvalidParameter
from infertrace.model import Temporality

C, D = Temporality.CUMULATIVE, Temporality.DELTA
U = Temporality.UNSPECIFIED

Step = tuple[Temporality, int, int, float, float]
"""(temporality, start, time, value, the increase it must add)."""


@pytest.mark.parametrize(
    "steps",
    [
        # cumulative from a known start: the first value counts, then differences
        [(C, 100, 110, 5, 5), (C, 100, 120, 9, 4), (C, 100, 130, 9, 0)],
        # unknown start: the first point is the baseline
        [(C, 0, 110, 5, 0), (C, 0, 120, 12, 7)],
        # a new start time is a reset: the value itself counts
        [(C, 100, 110, 50, 50), (C, 200, 210, 3, 3), (C, 200, 220, 10, 7)],
        # a drop with the same start is a reset too
        [(C, 100, 110, 50, 50), (C, 100, 120, 20, 20), (C, 100, 130, 25, 5)],
        # a resent or late cumulative point adds nothing
        [(C, 100, 110, 5, 5), (C, 100, 120, 9, 4), (C, 100, 120, 9, 0), (C, 100, 115, 7, 0)],
        # unspecified temporality reads as cumulative
        [(U, 100, 110, 5, 5), (U, 100, 120, 6, 1)],
        # delta: every new point counts, in any order; a repeated time does not
        [(D, 100, 110, 5, 5), (D, 110, 130, 2, 2), (D, 105, 120, 4, 4), (D, 110, 130, 2, 0)],
        # NaN, negative and infinite values add nothing
        [(D, 0, 110, float("nan"), 0), (D, 0, 120, -3, 0), (D, 0, 130, float("inf"), 0)],
    ],
)
def test_steps(steps: list[Step]) -> None:
    tracker = CounterTracker()
    for temporality, start, time, value, expected in steps:
        assert tracker.step("k", temporality, start, time, value) == expected
        tracker._check()


def test_delta_resends_are_recognised_among_the_recent_times() -> None:
    tracker = CounterTracker()
    times = list(range(1, RECENT + 1))
    assert sum(tracker.step("k", D, 0, t, 1.0) for t in times) == RECENT
    assert sum(tracker.step("k", D, 0, t, 1.0) for t in times) == 0  # all resent
    assert tracker.step("k", D, 0, 0, 1.0) == 0  # older than every time kept: resent
    assert tracker.step("k", D, 0, RECENT + 1, 1.0) == 1  # new
    assert tracker.step("k", D, 0, RECENT + 1, 1.0) == 0
    assert tracker.step("k", D, 0, 1, 1.0) == 0  # out of the window now


def test_least_recently_used_series_are_forgotten_without_double_counting() -> None:
    tracker = CounterTracker(max_series=2)
    assert tracker.step("a", C, 100, 110, 40) == 40
    assert tracker.step("b", C, 150, 160, 1) == 1
    assert tracker.step("c", C, 170, 180, 2) == 2  # "a" goes
    assert len(tracker) == 2 and tracker.forgotten == 1
    # "a" again, same run: its 40 were counted before it was forgotten; only more counts
    assert tracker.step("a", C, 100, 190, 45) == 0
    assert tracker.step("a", C, 100, 200, 47) == 2
    # a series that starts after everything forgotten counts from its start
    assert tracker.step("d", C, 500, 510, 6) == 6
    tracker._check()


def test_idle_series_are_swept() -> None:
    now = [0.0]
    tracker = CounterTracker(idle_seconds=100, clock=lambda: now[0])
    tracker.step("old", D, 0, 1, 1)
    now[0] = 60.0
    tracker.step("fresh", D, 0, 1, 1)
    now[0] = 130.0  # "old" idle 130 s, "fresh" 70 s
    tracker.step("fresh", D, 0, 2, 1)
    assert len(tracker) == 1 and tracker.forgotten == 1
    tracker._check()


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"max_series": 0}, "max_series"), ({"idle_seconds": 0}, "idle_seconds"),
     ({"max_series": "9"}, "max_series")],
)  # fmt: skip
def test_bad_bounds_are_named(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidParameter, match=named):
        CounterTracker(**kwargs)  # type: ignore[arg-type]
