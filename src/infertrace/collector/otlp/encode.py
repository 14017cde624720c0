"""Records -> OTLP export requests: the inverse of the decoders.

Used by ``infertrace demo``, the benchmarks and the tests to send InferTrace
records over real OTLP. Inference columns go back into attributes under the
first (canonical) name of the lift table, so decoding an encoded span gives the
span back, plus the scope attributes the decoder adds.
Records of one resource (same service and same resource attribute map object)
share one ResourceSpans / ResourceLogs / ResourceMetrics, as SDKs send them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from infertrace.collector.otlp.anyvalue import fill_key_values
from infertrace.model import (
    HistogramData,
    LogRecord,
    MetricPoint,
    MetricType,
    Span,
)
from infertrace.telemetry import semconv

SCOPE = "infertrace"
R = TypeVar("R", Span, LogRecord, MetricPoint)


def _by_resource(records: Iterable[R]) -> dict[tuple[str, int], list[R]]:
    groups: dict[tuple[str, int], list[R]] = {}
    for rec in records:
        groups.setdefault((rec.service_name, id(rec.resource_attributes)), []).append(rec)
    return groups


def _fill_resource(resource: Any, rec: Span | LogRecord | MetricPoint) -> None:
    items = list(rec.resource_attributes.items())
    if rec.resource_attributes.get("service.name") != rec.service_name:
        items = [(k, v) for k, v in items if k != "service.name"]
        items.insert(0, ("service.name", rec.service_name))
    fill_key_values(resource.attributes, items)


def encode_spans(spans: Sequence[Span], scope: str = SCOPE) -> ExportTraceServiceRequest:
    """One export request carrying ``spans``. O(spans + attributes)."""
    request = ExportTraceServiceRequest()
    for group in _by_resource(spans).values():
        rs = request.resource_spans.add()
        _fill_resource(rs.resource, group[0])
        ss = rs.scope_spans.add()
        ss.scope.name = scope
        for span in group:
            pb = ss.spans.add()
            pb.trace_id = span.trace_id
            pb.span_id = span.span_id
            pb.parent_span_id = span.parent_span_id
            pb.name = span.operation_name
            pb.kind = int(span.kind)
            pb.start_time_unix_nano = span.start_time_unix_nano
            pb.end_time_unix_nano = span.end_time_unix_nano
            if span.status_code or span.status_message:
                pb.status.code = int(span.status_code)
                pb.status.message = span.status_message
            pb.trace_state = span.trace_state
            pb.flags = span.flags
            pb.dropped_attributes_count = span.dropped_attributes_count
            pb.dropped_events_count = span.dropped_events_count
            pb.dropped_links_count = span.dropped_links_count
            fill_key_values(pb.attributes, semconv.shown_attributes(span))
            for event in span.events:
                ev = pb.events.add()
                ev.name = event.name
                ev.time_unix_nano = event.time_unix_nano
                fill_key_values(ev.attributes, event.attributes.items())
            for link in span.links:
                ln = pb.links.add()
                ln.trace_id = link.trace_id
                ln.span_id = link.span_id
                ln.trace_state = link.trace_state
                ln.flags = link.flags
                fill_key_values(ln.attributes, link.attributes.items())
    return request


def encode_logs(records: Sequence[LogRecord], scope: str = SCOPE) -> ExportLogsServiceRequest:
    """One export request carrying ``records`` (bodies as string values)."""
    request = ExportLogsServiceRequest()
    for group in _by_resource(records).values():
        rl = request.resource_logs.add()
        _fill_resource(rl.resource, group[0])
        sl = rl.scope_logs.add()
        sl.scope.name = scope
        for rec in group:
            pb = sl.log_records.add()
            pb.time_unix_nano = rec.time_unix_nano
            pb.observed_time_unix_nano = rec.observed_time_unix_nano
            pb.severity_number = rec.severity_number
            pb.severity_text = rec.severity_text
            pb.body.string_value = rec.body
            pb.trace_id = rec.trace_id
            pb.span_id = rec.span_id
            fill_key_values(pb.attributes, rec.attributes.items())
    return request


def _temporality(point: MetricPoint) -> int:
    """The point's aggregation temporality; cumulative when unspecified, which OTLP
    forbids for sums and histograms (points written through the store API)."""
    return int(point.temporality) or metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def _fill_histogram(metric: Any, point: MetricPoint, h: HistogramData) -> Any:
    if point.type == MetricType.HISTOGRAM:
        metric.histogram.aggregation_temporality = _temporality(point)
        dp = metric.histogram.data_points.add()
        dp.explicit_bounds.extend(h.bounds)
        dp.bucket_counts.extend(h.bucket_counts)
    elif point.type == MetricType.EXPONENTIAL_HISTOGRAM:
        eh = metric.exponential_histogram
        eh.aggregation_temporality = _temporality(point)
        dp = eh.data_points.add()
        dp.scale = h.scale
        dp.zero_count = h.zero_count
        dp.positive.offset = h.positive_offset
        dp.positive.bucket_counts.extend(h.positive_bucket_counts)
        dp.negative.offset = h.negative_offset
        dp.negative.bucket_counts.extend(h.negative_bucket_counts)
    else:
        dp = metric.summary.data_points.add()
        for quantile, value in h.quantiles:
            q = dp.quantile_values.add()
            q.quantile = quantile
            q.value = value
        dp.count = h.count
        dp.sum = 0.0 if h.sum is None else h.sum
        return dp
    dp.count = h.count
    if h.sum is not None:
        dp.sum = h.sum
    if h.min is not None:
        dp.min = h.min
    if h.max is not None:
        dp.max = h.max
    return dp


def encode_metrics(
    points: Sequence[MetricPoint], scope: str = SCOPE
) -> ExportMetricsServiceRequest:
    """One export request carrying ``points``, one Metric message per point."""
    request = ExportMetricsServiceRequest()
    for group in _by_resource(points).values():
        rm = request.resource_metrics.add()
        _fill_resource(rm.resource, group[0])
        sm = rm.scope_metrics.add()
        sm.scope.name = scope
        for point in group:
            metric = sm.metrics.add()
            metric.name = point.name
            metric.unit = point.unit
            metric.description = point.description
            if point.type in (MetricType.GAUGE, MetricType.SUM):
                if point.type == MetricType.GAUGE:
                    dp = metric.gauge.data_points.add()
                else:
                    metric.sum.is_monotonic = point.is_monotonic
                    metric.sum.aggregation_temporality = _temporality(point)
                    dp = metric.sum.data_points.add()
                value = point.value
                if isinstance(value, int):
                    dp.as_int = value
                else:
                    dp.as_double = 0.0 if value is None else value
            else:
                dp = _fill_histogram(metric, point, point.histogram or HistogramData())
            dp.time_unix_nano = point.time_unix_nano
            dp.start_time_unix_nano = point.start_time_unix_nano
            fill_key_values(dp.attributes, point.attributes.items())
    return request
