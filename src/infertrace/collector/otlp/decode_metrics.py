"""OTLP metric export requests -> a column batch of metric points, one per data point.

All five OTLP data kinds become points: gauges and sums carry ``value`` (an
``asInt`` as an exact int, an ``asDouble`` as a float; a point flagged "no
recorded value" or without a value as NaN, the Prometheus staleness
convention), the distribution kinds carry a
:class:`~infertrace.model.HistogramData`. A metric with an empty name rejects
all its points; a histogram whose bucket counts do not fit its bounds rejects
that point. Aggregation temporality is kept (delta or cumulative, for sums and
both histogram kinds); exemplars are not.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from infertrace.collector.otlp.common import (
    EMPTY_KEY,
    TIME_LIMIT,
    Decoded,
    resource_info,
    scope_items,
)
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.lean import LeanMetricsRequest
from infertrace.model import EMPTY_ATTRIBUTES, HistogramData, MetricPoint, MetricType, Temporality
from infertrace.telemetry.batches import MetricBatch
from infertrace.telemetry.validate import text_problem, time_problem

NAN = float("nan")
_TEMPORALITIES = {int(t): t for t in Temporality}
_UNSET = Temporality.UNSPECIFIED
_TYPES = {
    "gauge": MetricType.GAUGE,
    "sum": MetricType.SUM,
    "histogram": MetricType.HISTOGRAM,
    "exponential_histogram": MetricType.EXPONENTIAL_HISTOGRAM,
    "summary": MetricType.SUMMARY,
}


def _optional(dp: Any, name: str) -> float | None:
    return getattr(dp, name) if dp.HasField(name) else None


def _histogram(kind: str, dp: Any) -> HistogramData | str:
    """The distribution of a point, or why it is invalid."""
    if dp.count >= TIME_LIMIT:
        return f"count {dp.count} is beyond 2**63-1"
    if kind == "histogram":
        bounds, counts = tuple(dp.explicit_bounds), tuple(dp.bucket_counts)
        if counts and len(counts) != len(bounds) + 1:
            return f"{len(counts)} bucket_counts for {len(bounds)} explicit_bounds"
        return HistogramData(
            count=dp.count,
            sum=_optional(dp, "sum"),
            min=_optional(dp, "min"),
            max=_optional(dp, "max"),
            bounds=bounds,
            bucket_counts=counts,
        )
    if kind == "exponential_histogram":
        return HistogramData(
            count=dp.count,
            sum=_optional(dp, "sum"),
            min=_optional(dp, "min"),
            max=_optional(dp, "max"),
            scale=dp.scale,
            zero_count=dp.zero_count,
            positive_offset=dp.positive.offset,
            positive_bucket_counts=tuple(dp.positive.bucket_counts),
            negative_offset=dp.negative.offset,
            negative_bucket_counts=tuple(dp.negative.bucket_counts),
        )
    return HistogramData(
        count=dp.count,
        sum=dp.sum,
        quantiles=tuple((q.quantile, q.value) for q in dp.quantile_values),
    )


class MetricDecoder:
    """Turns metric export request bytes into a point batch; safe to share between threads."""

    def __init__(self, cache: KeyValueCache | None = None) -> None:
        self._cache = cache or KeyValueCache()

    def decode(self, body: bytes) -> Decoded[MetricPoint]:
        """The points of a serialized request; raises ``DecodeError`` when malformed."""
        return self.decode_message(LeanMetricsRequest.FromString(body))

    def decode_message(self, request: Any) -> Decoded[MetricPoint]:
        """Like :meth:`decode`, for an already parsed lean request. O(points + attributes)."""
        result: Decoded[MetricPoint] = Decoded(MetricBatch.empty())
        rows: list[tuple[Any, ...]] = []
        for r, resource_metrics in enumerate(request.resource_metrics):
            res = resource_info(resource_metrics.resource)
            before = len(rows)
            for s, scope_metrics in enumerate(resource_metrics.scope_metrics):
                scope = dict(scope_items(scope_metrics.scope))
                for m, metric in enumerate(scope_metrics.metrics):
                    kind = metric.WhichOneof("data")
                    if kind is None:
                        continue  # a metric without data has no points to keep or reject
                    data = getattr(metric, kind)
                    where = f"resource {r} scope {s} metric {m}"
                    problem = res.problem or text_problem(metric.name, "name", True)
                    if problem:
                        result.reject(where, problem, len(data.data_points))
                        continue
                    self._points(result, rows, where, metric, kind, data, scope, res)
            if len(rows) > before:
                result.resources.append(res.attributes)
        result.records = MetricBatch.from_rows(rows, checked=True)
        return result

    def _points(
        self,
        result: Decoded[MetricPoint],
        rows: list[tuple[Any, ...]],
        where: str,
        metric: Any,
        kind: str,
        data: Any,
        scope: dict[str, Any],
        res: Any,
    ) -> None:
        append = rows.append
        attributes = self._cache.attributes
        mtype = _TYPES[kind]
        name, unit, description = metric.name, metric.unit, metric.description
        monotonic = kind == "sum" and data.is_monotonic
        scalar = kind in ("gauge", "sum")
        # gauges and summaries have no temporality; an out-of-range value is unspecified
        temporality = _TEMPORALITIES.get(getattr(data, "aggregation_temporality", 0), _UNSET)
        for p, dp in enumerate(data.data_points):
            time_ns, start_ns = dp.time_unix_nano, dp.start_time_unix_nano
            attrs = scope.copy()
            attrs.update(attributes(dp.attributes))
            value: float | int | None = None
            histogram: HistogramData | str | None = None
            if scalar:
                which = dp.WhichOneof("value")
                # an asInt stays an int: a float holds integers exactly only to 2**53
                value = NAN if which is None else getattr(dp, which)
            else:
                histogram = _histogram(kind, dp)
            problem = (
                time_problem(time_ns, "time_unix_nano")
                or time_problem(start_ns, "start_time_unix_nano")
                if time_ns >= TIME_LIMIT or start_ns >= TIME_LIMIT
                else ("attributes " + EMPTY_KEY if "" in attrs else None)
            )
            if isinstance(histogram, str):
                problem = histogram
            if problem:
                result.reject(f"{where} point {p}", problem)
                continue
            append(  # one point's fields in record order (schema.METRIC)
                (
                    name,
                    mtype,
                    res.service_name,
                    time_ns,
                    value,
                    unit,
                    start_ns,
                    MappingProxyType(attrs) if attrs else EMPTY_ATTRIBUTES,
                    res.attributes,
                    histogram,
                    monotonic,
                    description,
                    temporality,
                )
            )
