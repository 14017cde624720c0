"""Instrumentation scope attributes reach every record of the scope (they were dropped).

OTLP 1.x lets a scope carry attributes (``InstrumentationScope.attributes``); they are
kept as the records' attributes next to ``otel.scope.name``/``otel.scope.version``, and
a record's own attribute of the same key wins.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue

from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder

SCOPE = InstrumentationScope(
    name="vllm.tracing",
    version="0.6",
    attributes=[
        KeyValue(key="library.flavour", value=AnyValue(string_value="v1")),
        KeyValue(key="shared", value=AnyValue(int_value=1)),
    ],
)
OWN = KeyValue(key="shared", value=AnyValue(int_value=2))


def _traces() -> bytes:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add(scope=SCOPE)
    for i, attrs in enumerate(([], [OWN])):
        ss.spans.add(
            trace_id=bytes([1]) * 16, span_id=bytes([1 + i]) * 8, name="op",
            start_time_unix_nano=1, end_time_unix_nano=2, attributes=attrs,
        )  # fmt: skip
    return request.SerializeToString()


def _logs() -> bytes:
    request = ExportLogsServiceRequest()
    sl = request.resource_logs.add().scope_logs.add(scope=SCOPE)
    sl.log_records.add(time_unix_nano=1)
    sl.log_records.add(time_unix_nano=2, attributes=[OWN])
    return request.SerializeToString()


def _metrics() -> bytes:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add(scope=SCOPE).metrics.add(name="g")
    metric.gauge.data_points.add(time_unix_nano=1, as_double=1.0)
    metric.gauge.data_points.add(time_unix_nano=2, as_double=1.0, attributes=[OWN])
    return request.SerializeToString()


@pytest.mark.parametrize(
    ("decode", "body"),
    [
        (TraceDecoder().decode, _traces()),
        (LogDecoder().decode, _logs()),
        (MetricDecoder().decode, _metrics()),
    ],
    ids=["spans", "logs", "metric points"],
)
def test_scope_attributes_reach_the_records(decode: Any, body: bytes) -> None:
    first, second = decode(body).records
    for record, shared in ((first, 1), (second, 2)):
        assert record.attributes["otel.scope.name"] == "vllm.tracing"
        assert record.attributes["otel.scope.version"] == "0.6"
        assert record.attributes["library.flavour"] == "v1"
        assert record.attributes["shared"] == shared  # the record's own value wins
