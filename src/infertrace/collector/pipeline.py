"""From request bytes to the store and the processors: decode, write, notify.

The pipeline is the transport-independent part of both receivers. Per request:
the decoder of the signal turns the body into validated records (rejecting the
bad ones, all in the same pass, with reasons) into a column batch
(:mod:`infertrace.telemetry.batches`), the model resolver learns from the batch
and names the model of spans the decoder could not
(:mod:`infertrace.collector.models`), the store takes the valid ones in one
atomic write, and then each registered
:class:`~infertrace.collector.processors.Processor` sees what was stored.

It holds the store through the narrow writer protocols only (``SpanWriter``,
``LogWriter``, ``MetricWriter``), so any backend plugs in. Rejected records are
counted and reported as partial success. The decoders apply the store's rules
(:mod:`infertrace.telemetry.validate`), so a request with k bad records costs
one decode pass and one write. The store's checks stay the final word: should it
still refuse records (``InvalidRecord``, naming every bad index; PostgreSQL
refuses text it cannot hold), those are dropped and the rest written once more,
so one bad record never costs the whole request. ``StoreOverloaded``
propagates: the receivers turn it into 503 / UNAVAILABLE.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from infertrace.collector.body import BodyError, Format
from infertrace.collector.models import ModelResolver
from infertrace.collector.otlp import otlp_json
from infertrace.collector.otlp.common import Decoded
from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.lean import LeanLogsRequest, LeanMetricsRequest, LeanTraceRequest
from infertrace.collector.processors import Processor
from infertrace.collector.selfmetrics import CollectorMetrics
from infertrace.errors import InvalidRecord, StoreClosed
from infertrace.model import Attributes, LogRecord, MetricPoint, Span
from infertrace.telemetry.batches import ColumnBatch, MetricBatch, SpanBatch
from infertrace.telemetry.protocols import Maintenance, TelemetryWriter

R = TypeVar("R", Span, LogRecord, MetricPoint)

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class _Route(Generic[R]):
    """What the pipeline does with one signal: its decoder, writer and processor hook."""

    decode: Callable[[bytes], Decoded[R]]
    decode_message: Callable[[Any], Decoded[R]]
    """Decodes a lean request (:mod:`~infertrace.collector.otlp.lean`), filled from JSON."""
    lean: Callable[[], Any]
    prepare: Callable[[Decoded[R]], None]
    """What the pipeline does with a decoded batch before writing it (model resolution)."""
    write: Callable[[Sequence[R]], None]
    notify: Callable[[Processor, Sequence[R], Sequence[Attributes]], None]


def _stored_resources(resources: list[Attributes], records: ColumnBatch[Any]) -> list[Attributes]:
    """The resources still carried by ``records`` (records share their resource's map)."""
    held = set(map(id, records.column("resource_attributes")))
    return [r for r in resources if id(r) in held]


class Pipeline:
    """Decodes export requests, writes them to ``store``, then runs the processors.

    Thread-safe when the processors are. ``export`` raises BodyError for a
    malformed request (nothing stored) and lets StoreOverloaded / StoreClosed
    from the store propagate. ``ready`` says whether writes are expected to
    succeed (for ``/readyz``). ``processors`` are called in order after every
    successful write; see :mod:`infertrace.collector.processors`. ``models`` resolves
    the model of spans whose attributes and resource name none (a resolver with no
    mapping when not given).
    """

    def __init__(
        self,
        store: TelemetryWriter,
        metrics: CollectorMetrics | None = None,
        processors: Iterable[Processor] = (),
        models: ModelResolver | None = None,
    ) -> None:
        self.store = store
        self.models = models or ModelResolver()
        self.metrics = metrics or CollectorMetrics(
            store if isinstance(store, Maintenance) else None
        )
        self.store_closed = False
        """Set once a write found the store closed: the collector is then not ready."""
        self.processors: tuple[Processor, ...] = tuple(processors)
        self._failures = [0] * len(self.processors)
        self._shut_down = False
        cache = KeyValueCache()
        traces, logs, metrics_ = TraceDecoder(cache), LogDecoder(cache), MetricDecoder(cache)
        self._traces: _Route[Span] = _Route(
            traces.decode,
            traces.decode_message,
            LeanTraceRequest,
            self._resolve_models,
            store.write_batch,
            lambda p, batch, resources: p.on_spans(batch, resources),
        )
        self._logs: _Route[LogRecord] = _Route(
            logs.decode,
            logs.decode_message,
            LeanLogsRequest,
            lambda decoded: None,
            store.write_logs,
            lambda p, batch, resources: p.on_logs(batch, resources),
        )
        self._metrics: _Route[MetricPoint] = _Route(
            metrics_.decode,
            metrics_.decode_message,
            LeanMetricsRequest,
            self._learn_models,
            store.write_metrics,
            lambda p, batch, resources: p.on_metrics(batch, resources),
        )

    def ready(self) -> str | None:
        """None when the store takes writes, else why not. Calls ``store.stats()``."""
        if self.store_closed:
            return "store is closed"
        if not isinstance(self.store, Maintenance):
            return None
        try:
            self.store.stats()
        except Exception as exc:  # any failure of the store means not ready
            return f"store unavailable: {exc}"
        return None

    def export(self, signal: Signal, body: bytes, fmt: Format = Format.PROTOBUF) -> Outcome:
        """Decode ``body``, store its valid records in one write, run the processors.

        O(records) plus the processors' work.
        """
        if signal is Signal.TRACES:
            return self._export(signal, self._traces, body, fmt)
        if signal is Signal.LOGS:
            return self._export(signal, self._logs, body, fmt)
        return self._export(signal, self._metrics, body, fmt)

    def _export(self, signal: Signal, route: _Route[R], body: bytes, fmt: Format) -> Outcome:
        decoded = self._decode(signal, route, body, fmt)
        if decoded.records:
            route.prepare(decoded)
        stored = self._write(route, decoded)
        self.metrics.items(signal.label, stored, decoded.rejected)
        if stored and self.processors:
            self._notify(signal, route, decoded.records, decoded.resources)
        return Outcome(stored, decoded.rejected, decoded.message(signal.noun))

    def _decode(self, signal: Signal, route: _Route[R], body: bytes, fmt: Format) -> Decoded[R]:
        try:
            if fmt is Format.JSON:  # decoded once, straight into the decoder's input
                return route.decode_message(otlp_json.parse(body, route.lean()))
            return route.decode(body)
        except DecodeError as exc:
            raise BodyError(
                f"body is not a valid protobuf {signal.request_type.__name__}: {exc}"
            ) from None
        except RecursionError:
            raise BodyError("attribute values are nested too deeply") from None

    def _resolve_models(self, decoded: Decoded[Span]) -> None:
        """Teach the resolver this batch's models, then resolve the spans left without."""
        spans = decoded.records
        assert isinstance(spans, SpanBatch)
        self.models.learn_spans(spans, decoded.resources)
        if decoded.unresolved:
            decoded.records = self.models.resolve(spans, decoded.unresolved)

    def _learn_models(self, decoded: Decoded[MetricPoint]) -> None:
        points = decoded.records
        assert isinstance(points, MetricBatch)
        self.models.learn_metrics(points, decoded.resources)

    def _write(self, route: _Route[R], decoded: Decoded[R]) -> int:
        """Write ``decoded.records`` atomically; drop what the store refuses. The count stored."""
        records = decoded.records
        while records:
            try:
                route.write(records)
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
                records = records.select([i for i in range(len(records)) if i not in bad])
                decoded.records = records
                decoded.resources = _stored_resources(decoded.resources, records)
        return len(records)

    def _notify(
        self,
        signal: Signal,
        route: _Route[R],
        records: Sequence[R],
        resources: Sequence[Attributes],
    ) -> None:
        """Hand the stored batch to each processor; a failure is logged and counted."""
        for n, processor in enumerate(self.processors):
            try:
                route.notify(processor, records, resources)
            except Exception:  # a processor must never fail a request whose data is stored
                self._failed(n, processor, signal.label)

    def _failed(self, n: int, processor: object, what: str) -> None:
        self._failures[n] += 1
        count = self._failures[n]
        name = type(processor).__name__
        self.metrics.processor_error(name)
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th... failure: no log flood
            log.exception("processor %s failed on %s (failure %d)", name, what, count)

    def shutdown(self) -> None:
        """Shut every processor down, once; failures are logged. Safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        for n, processor in enumerate(self.processors):
            try:
                processor.shutdown()
            except Exception:  # one processor's failure must not keep the others running
                self._failed(n, processor, "shutdown")
