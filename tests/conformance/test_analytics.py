"""Per-model analytics, time series and leaderboards: the same figures as the reference."""

from __future__ import annotations

from operator import methodcaller

import pytest

from infertrace.telemetry.analytics import GroupBy, SeriesMetric

from .conftest import START_NS, Both
from .data import W0, load

WINDOWS = [(None, None), (W0, W0 + 150_000_000), (START_NS, W0), (W0 + 10**15, None)]


@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize("window", WINDOWS)
def test_model_analytics(
    both: Both, group_by: GroupBy, window: tuple[int | None, int | None]
) -> None:
    load(both)
    both.same(lambda s: s.model_analytics(window[0], window[1], group_by))


def test_model_analytics_has_every_model(both: Both) -> None:
    load(both, traces=120)
    rows = both.same(lambda s: s.model_analytics())
    assert {r.key for r in rows} >= {"m-small", "meta-llama/Llama-3.1-8B-Instruct"}


@pytest.mark.parametrize("metric", list(SeriesMetric))
@pytest.mark.parametrize("step", [1, 50_000_000, 3_600 * 10**9])
def test_timeseries(both: Both, metric: SeriesMetric, step: int) -> None:
    load(both)
    both.same(lambda s: s.timeseries(metric, step))


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", (None, None)),
        ("m-small", (START_NS, W0)),
        ("nope", (None, None)),
        (None, (W0, W0 + 100_000_000)),
    ],
)
def test_timeseries_by_model_and_window(
    both: Both, model: str | None, window: tuple[int | None, int | None]
) -> None:
    load(both)
    for metric in (SeriesMetric.REQUESTS, SeriesMetric.LATENCY_P95, SeriesMetric.TOKENS_PER_SECOND):
        both.same(methodcaller("timeseries", metric, 20_000_000, window[0], window[1], model))


@pytest.mark.parametrize("by", list(SeriesMetric))
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_leaderboard(both: Both, by: SeriesMetric, limit: int) -> None:
    load(both)
    both.same(lambda s: s.leaderboard(by, limit=limit))


def test_leaderboard_in_window(both: Both) -> None:
    load(both)
    both.same(lambda s: s.leaderboard(SeriesMetric.LATENCY_P99, W0, W0 + 200_000_000, 10))


@pytest.mark.parametrize("step", [0, -5])
def test_timeseries_rejects_non_positive_step(both: Both, step: int) -> None:
    from infertrace import InvalidFilter

    load(both)
    for store in (both.store, both.oracle):
        with pytest.raises(InvalidFilter, match="step"):
            store.timeseries(SeriesMetric.REQUESTS, step)
