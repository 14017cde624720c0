from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.encode import encode_metrics
from infertrace.model import HistogramData, MetricType, Temporality
from infertrace.workload import Workload


def decode(*metrics: pb.Metric) -> Any:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc"))
    rm.scope_metrics.add().metrics.extend(metrics)
    return MetricDecoder().decode(request.SerializeToString())


def test_workload_metrics_round_trip() -> None:
    points = Workload(seed=9).metrics(72)
    result = MetricDecoder().decode(encode_metrics(points).SerializeToString())
    assert result.rejected == 0
    key = lambda p: (p.name, p.time_unix_nano, p.attributes.get("pod"))  # noqa: E731
    got = {key(p): p for p in result.records}
    assert len(got) == len(points)
    for want in points:
        p = got[key(want)]
        assert (p.type, p.value, p.unit, p.service_name, p.is_monotonic) == (
            want.type,
            want.value,
            want.unit,
            want.service_name,
            want.is_monotonic,
        )
        assert p.histogram == want.histogram
        assert p.start_time_unix_nano == want.start_time_unix_nano
        assert p.resource_attributes == want.resource_attributes


def test_every_metric_kind_becomes_points() -> None:
    gauge = pb.Metric(name="g", unit="1", description="a gauge")
    gauge.gauge.data_points.add(time_unix_nano=10, as_int=3)
    gauge.gauge.data_points.add(time_unix_nano=11, flags=1)  # no recorded value
    total = pb.Metric(name="s")
    total.sum.is_monotonic = True
    total.sum.data_points.add(time_unix_nano=12, start_time_unix_nano=2, as_double=1.5)
    hist = pb.Metric(name="h", unit="s")
    hist.histogram.data_points.add(
        time_unix_nano=13,
        count=3,
        sum=0.6,
        min=0.1,
        max=0.3,
        explicit_bounds=[0.2],
        bucket_counts=[1, 2],
    )
    exp = pb.Metric(name="e")
    dp = exp.exponential_histogram.data_points.add(
        time_unix_nano=14, count=4, scale=2, zero_count=1
    )
    dp.positive.offset = -1
    dp.positive.bucket_counts.extend([1, 2])
    dp.negative.bucket_counts.extend([0])
    summary = pb.Metric(name="q")
    sp = summary.summary.data_points.add(time_unix_nano=15, count=5, sum=2.0)
    sp.quantile_values.add(quantile=0.5, value=0.3)
    sp.quantile_values.add(quantile=0.99, value=0.9)
    result = decode(gauge, total, hist, exp, summary)
    assert result.rejected == 0
    g1, g2, s, h, e, q = result.records
    assert (g1.type, g1.value, g1.unit, g1.description) == (MetricType.GAUGE, 3.0, "1", "a gauge")
    assert type(g1.value) is int and math.isnan(g2.value)  # asInt stays an int (exact)
    assert (s.type, s.value, s.is_monotonic, s.start_time_unix_nano) == (
        MetricType.SUM,
        1.5,
        True,
        2,
    )
    assert h.histogram == HistogramData(
        count=3, sum=0.6, min=0.1, max=0.3, bounds=(0.2,), bucket_counts=(1, 2)
    )
    assert e.type is MetricType.EXPONENTIAL_HISTOGRAM
    assert e.histogram == HistogramData(
        count=4,
        scale=2,
        zero_count=1,
        positive_offset=-1,
        positive_bucket_counts=(1, 2),
        negative_bucket_counts=(0,),
    )
    assert q.histogram == HistogramData(count=5, sum=2.0, quantiles=((0.5, 0.3), (0.99, 0.9)))
    assert all(p.value is None for p in (h, e, q))


def test_histogram_without_sum_has_none() -> None:
    hist = pb.Metric(name="h")
    hist.histogram.data_points.add(time_unix_nano=1, count=0)
    (point,) = decode(hist).records
    assert point.histogram.sum is None and point.histogram.min is None


@pytest.mark.parametrize(
    ("metric", "rejected", "reason"),
    [
        (
            pb.Metric(name="", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(as_int=1)] * 2)),
            2,
            "name must not be empty",
        ),
        (
            pb.Metric(
                name="h",
                histogram=pb.Histogram(
                    data_points=[
                        pb.HistogramDataPoint(count=1, explicit_bounds=[1.0], bucket_counts=[1])
                    ]
                ),
            ),
            1,
            "1 bucket_counts for 1 explicit_bounds",
        ),
        (
            pb.Metric(
                name="g",
                gauge=pb.Gauge(data_points=[pb.NumberDataPoint(time_unix_nano=2**63, as_int=1)]),
            ),
            1,
            "beyond 2**63-1",
        ),
    ],
)
def test_bad_points_are_rejected(metric: pb.Metric, rejected: int, reason: str) -> None:
    ok = pb.Metric(
        name="ok", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(time_unix_nano=1, as_double=2.0)])
    )
    result = decode(ok, metric)
    assert [p.name for p in result.records] == ["ok"]
    assert result.rejected == rejected
    assert reason in result.message("data points")


def test_a_metric_without_data_has_no_points() -> None:
    result = decode(pb.Metric(name="empty"))
    assert result.records == [] and result.rejected == 0


def _with_temporality(kind: str, temporality: int) -> pb.Metric:
    metric = pb.Metric(name=f"m_{kind}_{temporality}")
    if kind == "sum":
        metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
        metric.sum.is_monotonic = True
        metric.sum.data_points.add(time_unix_nano=10, as_int=3)
    elif kind == "histogram":
        metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
        metric.histogram.data_points.add(time_unix_nano=10, count=1, bucket_counts=[1])
    elif kind == "exponential_histogram":
        eh = metric.exponential_histogram
        eh.aggregation_temporality = temporality  # type: ignore[assignment]
        eh.data_points.add(time_unix_nano=10, count=0)
    else:
        metric.gauge.data_points.add(time_unix_nano=10, as_double=1.5)
    return metric


@pytest.mark.parametrize(
    ("kind", "sent", "kept"),
    [
        ("sum", pb.AGGREGATION_TEMPORALITY_DELTA, Temporality.DELTA),
        ("sum", pb.AGGREGATION_TEMPORALITY_CUMULATIVE, Temporality.CUMULATIVE),
        ("histogram", pb.AGGREGATION_TEMPORALITY_DELTA, Temporality.DELTA),
        ("histogram", pb.AGGREGATION_TEMPORALITY_CUMULATIVE, Temporality.CUMULATIVE),
        ("exponential_histogram", pb.AGGREGATION_TEMPORALITY_DELTA, Temporality.DELTA),
        ("sum", pb.AGGREGATION_TEMPORALITY_UNSPECIFIED, Temporality.UNSPECIFIED),
        ("sum", 7, Temporality.UNSPECIFIED),  # a value OTLP does not define
        ("gauge", 0, Temporality.UNSPECIFIED),
    ],
)
def test_aggregation_temporality_is_kept(kind: str, sent: int, kept: Temporality) -> None:
    """Delta and cumulative counters and histograms are told apart (issue 11)."""
    (point,) = decode(_with_temporality(kind, sent)).records
    assert point.temporality is kept
    again = MetricDecoder().decode(encode_metrics([point]).SerializeToString()).records[0]
    # re-encoded as sent; an unspecified sum or histogram goes out cumulative (OTLP forbids 0)
    want = kept or (Temporality.CUMULATIVE if kind != "gauge" else Temporality.UNSPECIFIED)
    assert again.temporality is want


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 2**53 + 1, 0, -7])
def test_an_as_int_value_stays_an_exact_int(value: int) -> None:
    metric = pb.Metric(name="vllm:prompt_tokens_total")
    metric.sum.data_points.add(time_unix_nano=5, as_int=value)
    (point,) = decode(metric).records
    assert type(point.value) is int and point.value == value
    (again,) = decode(*encode_metrics([point]).resource_metrics[0].scope_metrics[0].metrics).records
    assert type(again.value) is int and again.value == value


def test_a_json_as_int_string_stays_exact() -> None:
    from infertrace.collector.otlp.lean import LeanMetricsRequest
    from infertrace.collector.otlp.otlp_json import parse

    body = (
        b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"n","sum":{"dataPoints":'
        b'[{"timeUnixNano":"5","asInt":"9223372036854775807"}]}}]}]}]}'
    )
    (point,) = MetricDecoder().decode_message(parse(body, LeanMetricsRequest())).records
    assert point.value == 2**63 - 1 and type(point.value) is int
