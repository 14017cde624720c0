"""InferTrace: an OpenTelemetry-native collector and store for ML inference telemetry."""

from infertrace.errors import (
    InferTraceError,
    InvalidFilter,
    InvalidRecord,
    StoreOverloaded,
    TraceNotFound,
)
from infertrace.model import LogRecord, MetricPoint, MetricType, Span, SpanKind, StatusCode
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.reference import ReferenceStore

__version__ = "0.1.0"

__all__ = [
    "InferTraceError",
    "InvalidFilter",
    "InvalidRecord",
    "LogFilter",
    "LogRecord",
    "MemoryStore",
    "MetricFilter",
    "MetricPoint",
    "MetricType",
    "ReferenceStore",
    "Span",
    "SpanFilter",
    "SpanKind",
    "StatusCode",
    "StoreOverloaded",
    "TraceNotFound",
    "__version__",
]
