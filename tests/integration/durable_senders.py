"""Concurrent OTLP senders that remember which batches got a success answer.

Each batch carries spans, log records and metric points of one service name of
its own (``h0-7``: HTTP sender 0, batch 7), so what a server holds can be traced
back to the batch, and each signal is exported on its own request. A sender
records a (signal, service) as *acknowledged* only on an HTTP 200 / gRPC OK with
no partial-success rejection, and as *attempted* before it sends. Requests are
raw OTLP protobuf (the encoders of :mod:`infertrace.collector.otlp.encode`),
over ``httpx`` and over ``grpc`` stubs, as the SDK exporters send them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.workload import Workload

PB = {"Content-Type": "application/x-protobuf"}
SIGNALS = ("spans", "logs", "points")
SIZES = {"spans": 24, "logs": 8, "points": 16}
"""Records of each signal in one batch."""

Key = tuple[str, str]
"""(signal, service name) of one request."""


def span_key(span: dict[str, Any]) -> str:
    return f"{span['trace_id']}/{span['span_id']}"


def identity(signal: str, record: Span | LogRecord | MetricPoint) -> str:
    """What tells two records of one batch apart, as the REST API shows it."""
    if isinstance(record, Span):
        return f"{record.trace_id.hex()}/{record.span_id.hex()}"
    if isinstance(record, LogRecord):
        return f"{record.time_unix_nano}/{record.body}"
    return f"{record.name}/{record.time_unix_nano}/{sorted(record.attributes.items())}"


@dataclass
class Ledger:
    """Thread-safe: what was sent and what was acknowledged, per (signal, service)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[Key, Counter[str]] = field(default_factory=dict)
    acked: set[Key] = field(default_factory=set)
    acked_at: dict[Key, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def attempt(self, key: Key, identities: Counter[str]) -> None:
        with self.lock:
            self.sent[key] = identities

    def ack(self, key: Key) -> None:
        with self.lock:
            self.acked.add(key)
            self.acked_at[key] = time.monotonic()

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)

    def acked_by(self, prefix: str) -> int:
        with self.lock:
            return sum(1 for _, service in self.acked if service.startswith(prefix))


def batch(w: Workload, service: str) -> dict[str, list[Any]]:
    """One batch of each signal, every record renamed to ``service``."""
    records: dict[str, Sequence[Span | LogRecord | MetricPoint]] = {
        "spans": w.spans(SIZES["spans"]),
        "logs": w.logs(SIZES["logs"]),
        "points": w.metrics(SIZES["points"]),
    }
    return {
        signal: [dataclasses.replace(r, service_name=service) for r in recs]
        for signal, recs in records.items()
    }


HTTP_PATHS = {"spans": "/v1/traces", "logs": "/v1/logs", "points": "/v1/metrics"}
ENCODERS: dict[str, Callable[[Any], Any]] = {
    "spans": encode_spans,
    "logs": encode_logs,
    "points": encode_metrics,
}
RESPONSES: dict[str, tuple[Any, str]] = {
    "spans": (trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    "logs": (logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
    "points": (metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
}


def _rejected(signal: str, response: Any) -> int:
    return int(getattr(response.partial_success, RESPONSES[signal][1]))


class Http:
    """OTLP/HTTP protobuf requests to ``url``."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10.0)

    def send(self, signal: str, request: Any) -> Any:
        """The decoded answer; None when the server is gone; RuntimeError on a refusal."""
        try:
            r = self.client.post(
                HTTP_PATHS[signal], content=request.SerializeToString(), headers=PB
            )
        except httpx.TransportError:
            return None
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code} {r.text[:200]}")
        return RESPONSES[signal][0].FromString(r.content)

    def close(self) -> None:
        self.client.close()


class Grpc:
    """OTLP/gRPC requests to ``target``."""

    def __init__(self, target: str) -> None:
        self.channel = grpc.insecure_channel(target)
        modules: dict[str, Any] = {
            "spans": (trace_service_pb2_grpc, "TraceServiceStub"),
            "logs": (logs_service_pb2_grpc, "LogsServiceStub"),
            "points": (metrics_service_pb2_grpc, "MetricsServiceStub"),
        }
        self.stubs = {sig: getattr(mod, name)(self.channel) for sig, (mod, name) in modules.items()}

    def send(self, signal: str, request: Any) -> Any:
        try:
            return self.stubs[signal].Export(request, timeout=10)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                return None  # the server is gone
            raise RuntimeError(f"gRPC {exc.code()} {exc.details()}") from None

    def close(self) -> None:
        self.channel.close()


class Sender(threading.Thread):
    """Sends batches over ``transport`` until ``stop`` is set or the server is gone."""

    def __init__(
        self,
        name: str,
        transport: Http | Grpc,
        ledger: Ledger,
        stop: threading.Event,
        seed: int,
        limit: int = 400,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.transport, self.ledger, self.stop, self.limit = transport, ledger, stop, limit
        self.workload = Workload(seed=seed, start_ns=time.time_ns() - 600 * 10**9, rate=500)

    def run(self) -> None:
        try:
            for k in range(self.limit):
                if self.stop.is_set():
                    return
                service = f"{self.name}-{k}"
                for signal, records in batch(self.workload, service).items():
                    key = (signal, service)
                    self.ledger.attempt(key, Counter(identity(signal, r) for r in records))
                    answer = self.transport.send(signal, ENCODERS[signal](records))
                    if answer is None:
                        return
                    if _rejected(signal, answer):
                        raise RuntimeError(f"partial success {answer}")
                    self.ledger.ack(key)
        except Exception as exc:  # recorded for the test to report, not swallowed
            self.ledger.fail(f"{self.name}: {exc!r}")
        finally:
            self.transport.close()


def stored(url: str) -> dict[Key, Counter[str]]:
    """Every record the server at ``url`` holds, by (signal, service), through REST."""
    out: dict[Key, Counter[str]] = {}
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for signal, path, rows in (
            ("spans", "/api/spans", "spans"),
            ("logs", "/api/logs", "logs"),
            ("points", "/api/metrics", "points"),
        ):
            doc = client.get(path, params={"limit": 10_000}).json()
            assert not doc["truncated"], f"more {signal} than one page holds"
            for row in doc[rows]:
                out.setdefault((signal, row["service_name"]), Counter())[_rest_id(signal, row)] += 1
    return out


def _rest_id(signal: str, row: dict[str, Any]) -> str:
    if signal == "spans":
        return span_key(row)
    if signal == "logs":
        return f"{row['time_unix_nano']}/{row['body']}"
    # the scope travels as otel.scope.* point attributes; the records sent had none
    attrs = sorted((k, v) for k, v in row["attributes"].items() if not k.startswith("otel.scope."))
    return f"{row['name']}/{row['time_unix_nano']}/{attrs}"


def pod_services(url: str) -> set[str]:
    """The service names of the pods in the server's registry."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        doc = client.get("/api/registry/pods").json()
    return {pod["service_name"] for pod in doc["pods"]}
