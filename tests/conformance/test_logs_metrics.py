"""Log and metric point writes and every log/metric filter."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infertrace.errors import InvalidFilter, InvalidRecord
from infertrace.model import HistogramData, MetricPoint, MetricType, Temporality
from infertrace.telemetry.filters import LogFilter, MetricFilter

from .conftest import START_NS, Both
from .data import TRACE_A, W0, load

LOG_FILTERS = [
    LogFilter(),
    LogFilter(limit=1),
    LogFilter(limit=10_000),
    LogFilter(service_name="api"),
    LogFilter(service_name="vllm-llama-8b", limit=10_000),
    LogFilter(min_severity=13, limit=10_000),
    LogFilter(min_severity=17, limit=10_000),
    LogFilter(min_severity=24),
    LogFilter(trace_id=TRACE_A),
    LogFilter(trace_id=TRACE_A.hex().upper()),
    LogFilter(trace_id="ee" * 16),
    LogFilter(body_contains="needle"),
    LogFilter(body_contains="50%"),
    LogFilter(body_contains="_"),
    LogFilter(body_contains="%"),
    LogFilter(body_contains="\\o/"),
    LogFilter(body_contains="NEEDLE"),
    LogFilter(body_contains="CUDA out of memory", limit=10_000),
    LogFilter(body_contains=""),
    LogFilter(since=START_NS + 1, until=START_NS + 2),
    LogFilter(since=W0, until=W0 + 300_000_000, limit=10_000),
    LogFilter(until=START_NS + 1),
    LogFilter(service_name="tgi-mistral-7b", min_severity=9, since=W0, limit=3),
]


@pytest.mark.parametrize("flt", LOG_FILTERS, ids=[repr(f)[10:60] for f in LOG_FILTERS])
def test_list_logs_filters(both: Both, flt: LogFilter) -> None:
    load(both)
    both.same(lambda s: s.list_logs(flt))


def test_log_ties_newest_arrival_first(both: Both) -> None:
    load(both)
    got = both.same(lambda s: s.list_logs(LogFilter(since=START_NS + 1, until=START_NS + 2)))
    assert [r.body for r in got] == ["same time, later arrival", "needle 50% off_sale \\o/"]


METRIC_FILTERS = [
    MetricFilter(),
    MetricFilter(limit=1),
    MetricFilter(limit=10_000),
    MetricFilter(name="vllm:gpu_cache_usage_perc", limit=10_000),
    MetricFilter(name="nope"),
    MetricFilter(service_name="vllm-qwen-14b", limit=10_000),
    MetricFilter(type=MetricType.HISTOGRAM, limit=10_000),
    MetricFilter(type=MetricType.SUM, limit=10_000),
    MetricFilter(type=MetricType.SUMMARY),
    MetricFilter(attributes={"pod": "vllm-llama-8b-01"}, limit=10_000),
    MetricFilter(attributes={"model": "Qwen/Qwen2.5-14B-Instruct", "pod": "vllm-qwen-14b-02"}),
    MetricFilter(attributes={"k8s.pod.name": "vllm-llama-8b-01"}),
    MetricFilter(attributes={"pod": 1}),
    MetricFilter(since=W0, until=W0 + 30_000_000_000, limit=10_000),
    MetricFilter(name="vllm:request_success_total", type=MetricType.SUM, limit=4),
]


@pytest.mark.parametrize("flt", METRIC_FILTERS, ids=[repr(f)[13:60] for f in METRIC_FILTERS])
def test_list_metric_points_filters(both: Both, flt: MetricFilter) -> None:
    load(both)
    both.same(lambda s: s.list_metric_points(flt))


def test_metric_names(both: Both) -> None:
    load(both)
    assert len(both.same(lambda s: s.metric_names())) == 3


DISTRIBUTIONS = [
    MetricPoint("h", MetricType.HISTOGRAM, "svc", START_NS, histogram=HistogramData(count=0)),
    MetricPoint(
        "h",
        MetricType.HISTOGRAM,
        "svc",
        START_NS + 1,
        attributes={"x": 1.5, "tags": ("a", "b")},
        histogram=HistogramData(
            count=3, sum=1.0, min=0.0, max=float("inf"), bounds=(0.5, 1.0), bucket_counts=(1, 1, 1)
        ),
    ),
    MetricPoint(
        "e",
        MetricType.EXPONENTIAL_HISTOGRAM,
        "svc",
        START_NS + 2,
        histogram=HistogramData(
            count=9,
            sum=-2.25,
            scale=-3,
            zero_count=2,
            positive_offset=-4,
            positive_bucket_counts=(1, 2, 3),
            negative_offset=1,
            negative_bucket_counts=(1,),
        ),
    ),
    MetricPoint(
        "q",
        MetricType.SUMMARY,
        "svc",
        START_NS + 3,
        unit="ms",
        description="request latency",
        histogram=HistogramData(count=4, sum=10.0, quantiles=((0.5, 2.0), (0.99, 1e-9))),
    ),
    MetricPoint("g", MetricType.GAUGE, "svc", START_NS + 4, value=-0.0),
    MetricPoint("g", MetricType.GAUGE, "svc", START_NS + 5, value=7),
    MetricPoint(
        "c",
        MetricType.SUM,
        "svc",
        START_NS + 6,
        value=1e300,
        is_monotonic=True,
        start_time_unix_nano=1,
    ),
]


def _counter(t: int, value: float, temporality: Temporality) -> MetricPoint:
    return MetricPoint(
        "vllm:prompt_tokens_total", MetricType.SUM, "svc", START_NS + t, value=value,
        is_monotonic=True, start_time_unix_nano=START_NS, temporality=temporality,
    )  # fmt: skip


def test_temporality_round_trips_and_splits_series(both: Both) -> None:
    """A delta and a cumulative counter of one name are two series, each kept as sent."""
    points = [
        _counter(1, 5.0, Temporality.DELTA),
        _counter(2, 5.0, Temporality.CUMULATIVE),
        _counter(3, 2.0, Temporality.DELTA),
        _counter(4, 7.0, Temporality.CUMULATIVE),
        MetricPoint("g", MetricType.GAUGE, "svc", START_NS + 5, value=1.0),
    ]
    both.metrics(points)
    got = both.same(lambda s: s.list_metric_points(MetricFilter()))
    by_time = {p.time_unix_nano: p.temporality for p in got}
    assert by_time == {p.time_unix_nano: p.temporality for p in points}
    with pytest.raises(InvalidRecord):
        both.store.write_metrics([dataclasses.replace(points[0], temporality=3)])


def test_a_model_known_only_from_metrics_is_listed(both: Both) -> None:
    """vLLM exports metrics, often not traces: its ``model_name`` label names a model
    (vllm/v1/metrics/loggers.py labels every series with it); so do the GenAI metrics'
    ``gen_ai.request.model`` attributes. Non-text or empty labels name nothing."""
    labels = [
        {"model_name": "meta-llama/Llama-3.1-8B-Instruct", "engine": "0"},
        {"gen_ai.request.model": "gpt-4o-mini"},
        {"model": "bert-base"},
        {"model_name": ""},
        {"model_name": 7},
        {"other": "not-a-model"},
    ]
    both.metrics(
        [
            MetricPoint("vllm:num_requests_running", MetricType.GAUGE, "svc", START_NS + i,
                        value=1.0, attributes=a)
            for i, a in enumerate(labels)
        ]
    )  # fmt: skip
    assert both.same(lambda s: s.models()) == [
        "bert-base", "gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct",
    ]  # fmt: skip


def test_every_metric_kind_round_trips(both: Both) -> None:
    both.metrics(DISTRIBUTIONS)
    got = both.same(lambda s: s.list_metric_points(MetricFilter()))
    assert len(got) == len(DISTRIBUTIONS)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.list_logs(LogFilter(min_severity=25)),
        lambda s: s.list_logs(LogFilter(trace_id="xyz")),
        lambda s: s.list_logs(LogFilter(limit=0)),
        lambda s: s.list_metric_points(MetricFilter(type=9)),  # type: ignore[arg-type]
        lambda s: s.list_metric_points(MetricFilter(attributes={"a": None})),  # type: ignore[dict-item]
    ],
)
def test_bad_log_and_metric_filters_are_refused(each_store: Any, call: Any) -> None:
    with pytest.raises(InvalidFilter):
        call(each_store)


EXACT_INTS = [2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**62 + 3]
"""Integers a float64 cannot hold (OTLP ``asInt`` is 64-bit): each must come back exact."""


@pytest.mark.parametrize("kind", [MetricType.SUM, MetricType.GAUGE])
def test_integer_values_beyond_2_53_come_back_exact(each_store: Any, kind: MetricType) -> None:
    points = [
        MetricPoint("tokens_total", kind, "vllm", START_NS + i, value, is_monotonic=False)
        for i, value in enumerate([*EXACT_INTS, 7, 2.5])
    ]
    each_store.write_metrics(points)
    got = sorted(
        each_store.list_metric_points(MetricFilter(limit=100)), key=lambda p: p.time_unix_nano
    )
    assert [p.value for p in got] == [*EXACT_INTS, 7, 2.5]
    for p in got[: len(EXACT_INTS)]:
        assert type(p.value) is int and p.histogram is None, p
