"""Time series from metrics over real stores (memory, PostgreSQL).

Each bucket's expected value is worked out from what the simulated pods served
between scrapes (``Fleet.served``), by plain loops: a bucket holds what the
scrapes in it saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from infertrace.errors import InvalidFilter
from infertrace.telemetry.analytics import SeriesMetric
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.metric_read import store_reader
from infertrace.telemetry.metric_timeseries import metric_timeseries
from tests.telemetry.metric_producers import (
    GENAI_DURATION,
    GPT,
    LLAMA,
    QWEN,
    VLLM_LATENCY,
    VLLM_TTFT,
    Fleet,
    Interval,
    S,
    quantile,
)

STEP = 60 * S


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()


@pytest.fixture(params=["memory", "memory-generic", "postgres"])
def series(request: pytest.FixtureRequest, fleet: Fleet) -> Iterator[Any]:
    if request.param == "postgres":
        from infertrace.telemetry.postgres import PostgresStore

        store: Any = PostgresStore(request.getfixturevalue("pg_dsn"))
    else:
        store = MemoryStore(metric_capacity=100_000)
    for i in range(0, len(fleet.points), 1000):
        store.write_metrics(fleet.points[i : i + 1000])
    read = store_reader(store) if request.param == "memory-generic" else None

    def run(metric: SeriesMetric, model: str | None = None) -> dict[int, float | None]:
        points = metric_timeseries(store, metric, STEP, fleet.since, fleet.until, model, read)
        assert [p.bucket_start_unix_nano for p in points] == sorted(
            p.bucket_start_unix_nano for p in points
        )
        return {p.bucket_start_unix_nano: p.value for p in points}

    yield run
    store.close()


def nonzero(buckets: dict[int, Any]) -> dict[int, Any]:
    """Count buckets without the zeros: the API answers an absent bucket with 0 too."""
    return {k: v for k, v in buckets.items() if v}


def by_bucket(fleet: Fleet, models: set[str]) -> dict[int, list[Interval]]:
    out: dict[int, list[Interval]] = defaultdict(list)
    for pod, served in fleet.served.items():
        if fleet.model[pod] in models:
            for t, iv in served:
                out[t - t % STEP].append(iv)
    return out


def test_requests_per_bucket(series: Any, fleet: Fleet) -> None:
    got = series(SeriesMetric.REQUESTS, LLAMA)
    want = {
        b: float(sum(len(iv.e2e) for iv in ivs)) for b, ivs in by_bucket(fleet, {LLAMA}).items()
    }
    assert got == want
    assert sum(v or 0 for v in got.values()) == len(fleet.a.e2e) + len(fleet.b.e2e)


def test_errors_of_a_delta_app_per_bucket(series: Any, fleet: Fleet) -> None:
    got = series(SeriesMetric.ERRORS, GPT)
    want = {b: float(sum(iv.reasons.count("abort") for iv in ivs))
            for b, ivs in by_bucket(fleet, {GPT}).items()}  # fmt: skip
    assert nonzero(got) == nonzero(want)


def test_output_tokens_of_every_model_per_bucket(series: Any, fleet: Fleet) -> None:
    got = series(SeriesMetric.TOKENS_OUT)
    want = {b: float(sum(iv.generation for iv in ivs))
            for b, ivs in by_bucket(fleet, {LLAMA, QWEN, GPT}).items()}  # fmt: skip
    assert nonzero(got) == nonzero(want)


@pytest.mark.parametrize(
    ("metric", "model", "q", "bounds", "field"),
    [
        (SeriesMetric.LATENCY_P95, LLAMA, 0.95, VLLM_LATENCY, "e2e"),
        (SeriesMetric.LATENCY_P50, GPT, 0.5, GENAI_DURATION, "e2e"),
        (SeriesMetric.TTFT_P50, QWEN, 0.5, VLLM_TTFT, "ttft"),
    ],
)
def test_percentiles_per_bucket(
    series: Any, fleet: Fleet, metric: SeriesMetric, model: str, q: float,
    bounds: tuple[float, ...], field: str,
) -> None:  # fmt: skip
    got = series(metric, model)
    want = {}
    for b, ivs in by_bucket(fleet, {model}).items():
        seconds = quantile(q, [x for iv in ivs for x in getattr(iv, field)], bounds)
        if seconds is not None:  # a bucket without observations has no value
            want[b] = pytest.approx(seconds * 1e9)
    assert got == want


def test_tokens_per_second_per_bucket(series: Any, fleet: Fleet) -> None:
    """vLLM sends no decode-time histogram here: decode time is latency less TTFT."""
    got = series(SeriesMetric.TOKENS_PER_SECOND, LLAMA)
    want: dict[int, Any] = {}
    for b, ivs in by_bucket(fleet, {LLAMA}).items():
        decode = sum(sum(iv.e2e) - sum(iv.ttft) for iv in ivs)
        tokens = sum(iv.generation for iv in ivs)
        if decode > 0:
            want[b] = pytest.approx(tokens / decode)
    assert got == want
    assert series(SeriesMetric.TOKENS_PER_SECOND, GPT) == {}  # no TTFT: not derivable


@pytest.mark.parametrize("step", [0, -5, 1.5, True])
def test_a_bad_step_is_refused_naming_it(step: Any) -> None:
    with pytest.raises(InvalidFilter, match="step"):
        metric_timeseries(MemoryStore(), SeriesMetric.REQUESTS, step)
