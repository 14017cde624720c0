"""Lean message classes: the OTLP export requests with attributes left as bytes.

Reading one attribute through the standard classes costs about 0.9 µs here
(a wrapper object per KeyValue and per AnyValue, then ``WhichOneof``), which
was most of the decode time. These classes are the same schema with the
``attributes`` of spans, span status, the resource of trace requests, log
records and metric data points declared ``repeated bytes`` / ``bytes``
instead of messages: the protobuf wire format of a message and of bytes is
identical, so they parse the very same requests, and each attribute arrives
as the raw bytes of its KeyValue. Those bytes repeat a lot
(``gen_ai.system=vllm``, model names, pod labels), so the decoder caches their
decoded form by the bytes (:mod:`infertrace.collector.otlp.kvcache`) and parses
only the ones it has not seen.

The classes live in a private descriptor pool, built once at import from the
descriptors that ``opentelemetry-proto`` ships, so they follow its version.
A malformed KeyValue inside is found when the decoder parses it, and raises
the same ``DecodeError`` the standard classes would have raised.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_AS_BYTES = {
    "opentelemetry.proto.trace.v1.ResourceSpans": ("resource",),
    "opentelemetry.proto.trace.v1.Span": ("attributes", "status"),
    "opentelemetry.proto.logs.v1.LogRecord": ("attributes",),
    "opentelemetry.proto.metrics.v1.NumberDataPoint": ("attributes",),
    "opentelemetry.proto.metrics.v1.HistogramDataPoint": ("attributes",),
    "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint": ("attributes",),
    "opentelemetry.proto.metrics.v1.SummaryDataPoint": ("attributes",),
}
"""Message full name -> the fields turned into bytes."""


def _lean_file(file: Any) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    for message in proto.message_type:
        fields = _AS_BYTES.get(f"{proto.package}.{message.name}", ())
        for field in message.field:
            if field.name in fields:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                field.ClearField("type_name")
                field.ClearField("proto3_optional")
    return proto


def _build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        for dep in file.dependencies:
            add(dep)
        pool.Add(_lean_file(file))
        added.add(file.name)

    for module in (trace_service_pb2, logs_service_pb2, metrics_service_pb2):
        add(module.DESCRIPTOR)
    return pool


_POOL = _build_pool()


def _cls(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


LeanTraceRequest: Any = _cls("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
LeanLogsRequest: Any = _cls("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
LeanMetricsRequest: Any = _cls(
    "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest"
)
