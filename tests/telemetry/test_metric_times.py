"""Metric timestamps: every accepted time comes back exactly (issue 9, failure 1).

The metric table stores times as deltas of deltas; a gauge point at 2**63-1 ns
used to overflow the encoder on the next point of its series (HTTP 500, the
series dead afterwards) and, worse, to leave another series' rolling base
updated by the failed batch, so that series' next point came back with the
wrong time. These tests replay those inputs and then hold the encoder to the
full int64 range with hypothesis, evictions included.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infertrace import MemoryStore, MetricFilter, ReferenceStore
from infertrace.model import MetricPoint, MetricType
from infertrace.telemetry.memory.metrics import wrap64

MAX_T = 2**63 - 2
"""The latest time a query can return: windows are half-open and 2**63-1 is "no bound"."""
T = 1_700_000_000_000_000_000


def gauge(name: str, t: int, value: float = 1.0) -> MetricPoint:
    return MetricPoint(name=name, type=MetricType.GAUGE, service_name="svc",
                       time_unix_nano=t, value=value)  # fmt: skip


def stored_times(store: MemoryStore | ReferenceStore, name: str) -> list[int]:
    points = store.list_metric_points(MetricFilter(name=name, limit=10_000))
    return sorted(p.time_unix_nano for p in points)


@pytest.mark.parametrize(
    "times",
    [
        [T, MAX_T, T + 1],  # the mutated request: a poison point, then a normal one
        [MAX_T, 0, MAX_T, 0],  # the widest swings both ways
        [0, MAX_T],
        [MAX_T, MAX_T - 1, 1],
        [T, T + 3, T + 3 + 2**40, T + 5],  # deltas of deltas past int32: the side table
    ],
)
def test_extreme_times_round_trip(times: list[int]) -> None:
    store = MemoryStore(metric_capacity=64)
    for t in times:  # one point per write: each write meets the state of the last
        store.write_metrics([gauge("g", t)])
    assert stored_times(store, "g") == sorted(times)
    store._check()


def test_poison_batch_leaves_other_series_intact() -> None:
    """``[other@t+10000, poison@t+3s]``: the other series' next point keeps its time."""
    store = MemoryStore(metric_capacity=64)
    store.write_metrics([gauge("other", T), gauge("poison", T)])
    store.write_metrics([gauge("other", T + 10_000), gauge("poison", MAX_T)])
    store.write_metrics([gauge("poison", T + 3_000_000_000)])
    store.write_metrics([gauge("other", T + 20_000)])
    assert stored_times(store, "other") == [T, T + 10_000, T + 20_000]
    assert stored_times(store, "poison") == [T, T + 3_000_000_000, MAX_T]


def test_point_at_int64_max_does_not_break_its_series() -> None:
    store = MemoryStore(metric_capacity=64)
    store.write_metrics([gauge("g", T)])
    store.write_metrics([gauge("g", 2**63 - 1)])
    store.write_metrics([gauge("g", T + 1)])  # raised OverflowError (HTTP 500) before
    store.write_metrics([gauge("g", T + 2)])
    assert stored_times(store, "g") == [T, T + 1, T + 2]  # 2**63-1 lies outside any window
    store._check()


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0, 0), (2**63 - 1, 2**63 - 1), (2**63, -(2**63)), (-(2**63) - 1, 2**63 - 1), (2**64, 0)],
)
def test_wrap64(x: int, expected: int) -> None:
    assert wrap64(x) == expected


int64_times = st.integers(0, MAX_T)
batches = st.lists(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), int64_times), min_size=1, max_size=6),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(batches=batches, capacity=st.integers(1, 12))
def test_any_int64_times_match_the_reference(
    batches: list[list[tuple[str, int]]], capacity: int
) -> None:
    """Across evictions and batches bigger than the ring, times match the oracle."""
    store = MemoryStore(metric_capacity=capacity)
    ref = ReferenceStore(metric_capacity=capacity)
    for batch in batches:
        points = [gauge(name, t) for name, t in batch]
        store.write_metrics(points)
        ref.write_metrics(points)
        store._check()
    for name in ("a", "b", "c"):
        assert stored_times(store, name) == stored_times(ref, name)
