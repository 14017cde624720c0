"""From request bytes to the store: decode, normalise, one atomic write per request.

The pipeline is the transport-independent part of both receivers. It holds
the store through its protocols only (``SpanWriter``, ``LogStore``,
``MetricStore``), so any backend plugs in. Records the decoder rejects are
counted and reported as partial success; if the store still refuses a record
(``InvalidRecord``, its own checks being the final word) that record is dropped
and the rest written again, so one bad record never costs the whole request.
``StoreOverloaded`` propagates: the receivers turn it into 503 / UNAVAILABLE.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from infertrace.collector.body import BodyError, Format
from infertrace.collector.otlp import otlp_json
from infertrace.collector.otlp.common import Decoded
from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.selfmetrics import CollectorMetrics
from infertrace.errors import InvalidRecord, StoreClosed
from infertrace.telemetry.protocols import TelemetryStore


class Signal(enum.Enum):
    """The three OTLP signals, with what differs between them."""

    TRACES = (
        "spans",
        "spans",
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
        "rejected_spans",
    )
    LOGS = (
        "logs",
        "log records",
        logs_pb.ExportLogsServiceRequest,
        logs_pb.ExportLogsServiceResponse,
        "rejected_log_records",
    )
    METRICS = (
        "metric_points",
        "data points",
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
        "rejected_data_points",
    )

    def __init__(
        self, label: str, noun: str, request: type[Message], response: type[Message], field: str
    ) -> None:
        self.label = label
        """The ``signal`` label of the collector's own metrics."""
        self.noun = noun
        """What the records are called in messages."""
        self.request_type = request
        self.response_type = response
        self.rejected_field = field
        """The partial_success field counting rejected records."""

    @property
    def path(self) -> str:
        """The OTLP/HTTP path of this signal."""
        return "/v1/" + self.name.lower()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one request's records."""

    accepted: int
    rejected: int
    message: str

    def response(self, signal: Signal) -> Message:
        """The ExportServiceResponse, with partial_success when anything was rejected."""
        response = signal.response_type()
        if self.rejected or self.message:
            partial: Any = response.partial_success
            setattr(partial, signal.rejected_field, self.rejected)
            partial.error_message = self.message
        return response


class Pipeline:
    """Decodes export requests and writes them to ``store``; thread-safe.

    ``export`` raises BodyError for a malformed request (nothing stored) and
    lets StoreOverloaded / StoreClosed from the store propagate.
    ``ready`` says whether writes are expected to succeed (for ``/readyz``).
    """

    def __init__(self, store: TelemetryStore, metrics: CollectorMetrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or CollectorMetrics(store)
        self.store_closed = False
        """Set once a write found the store closed: the collector is then not ready."""
        cache = KeyValueCache()
        self._decoders: dict[Signal, Callable[[bytes], Decoded[Any]]] = {
            Signal.TRACES: TraceDecoder(cache).decode,
            Signal.LOGS: LogDecoder(cache).decode,
            Signal.METRICS: MetricDecoder(cache).decode,
        }
        self._writers: dict[Signal, Callable[[Sequence[Any]], None]] = {
            Signal.TRACES: store.write_batch,
            Signal.LOGS: store.write_logs,
            Signal.METRICS: store.write_metrics,
        }

    def ready(self) -> str | None:
        """None when the store takes writes, else why not. Calls ``store.stats()``."""
        if self.store_closed:
            return "store is closed"
        try:
            self.store.stats()
        except Exception as exc:  # any failure of the store means not ready
            return f"store unavailable: {exc}"
        return None

    def export(self, signal: Signal, body: bytes, fmt: Format = Format.PROTOBUF) -> Outcome:
        """Decode ``body`` and store its valid records in one write. O(records)."""
        if fmt is Format.JSON:
            body = otlp_json.parse_request(body, signal.request_type())
        try:
            decoded = self._decoders[signal](body)
        except DecodeError as exc:
            raise BodyError(
                f"body is not a valid protobuf {signal.request_type.__name__}: {exc}"
            ) from None
        except RecursionError:
            raise BodyError("attribute values are nested too deeply") from None
        records = decoded.records
        while records:
            try:
                self._writers[signal](records)
                break
            except StoreClosed:
                self.store_closed = True
                raise
            except InvalidRecord as exc:
                bad = {i for i, _ in exc.problems}
                if not all(0 <= i < len(records) for i in bad):
                    raise
                for i, reason in exc.problems:  # all of them at once: one retry, not one each
                    decoded.reject(f"store refused record {i} of the batch", reason)
                records = [r for i, r in enumerate(records) if i not in bad]
                decoded.records = records
        self.metrics.items(signal.label, len(records), decoded.rejected)
        return Outcome(len(records), decoded.rejected, decoded.message(signal.noun))
