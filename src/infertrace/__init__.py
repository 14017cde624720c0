"""InferTrace: an OpenTelemetry-native collector and store for ML inference telemetry."""

from infertrace.errors import InferTraceError, InvalidFilter, InvalidRecord, StoreOverloaded, TraceNotFound
from infertrace.model import LogRecord, MetricPoint, MetricType, Span, SpanKind, StatusCode
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter

__version__ = "0.1.0"

__all__ = [
    "InferTraceError",
    "InvalidFilter",
    "InvalidRecord",
    "LogFilter",
    "LogRecord",
    "MetricFilter",
    "MetricPoint",
    "MetricType",
    "Span",
    "SpanFilter",
    "SpanKind",
    "StatusCode",
    "StoreOverloaded",
    "TraceNotFound",
    "__version__",
]
