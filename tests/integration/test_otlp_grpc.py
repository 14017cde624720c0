"""OTLP/gRPC against a real collector: the three services, gzip, and error codes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from tests.collector.helpers import OverloadedStore, big_store, running

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def channel() -> Iterator[tuple[grpc.Channel, MemoryStore]]:
    store = big_store()
    with (
        running(store, max_body_bytes=LIMIT) as endpoints,
        grpc.insecure_channel(endpoints.grpc_target) as ch,
    ):
        yield ch, store
    store.close()


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_three_services(
    channel: tuple[grpc.Channel, MemoryStore], compression: grpc.Compression
) -> None:
    ch, store = channel
    w = Workload(seed=20 + int(compression))
    spans, logs, points = w.spans(24), w.logs(7), w.metrics(36)
    before = store.stats()
    trace_service_pb2_grpc.TraceServiceStub(ch).Export(
        encode_spans(spans), compression=compression, timeout=10
    )
    logs_service_pb2_grpc.LogsServiceStub(ch).Export(
        encode_logs(logs), compression=compression, timeout=10
    )
    metrics_service_pb2_grpc.MetricsServiceStub(ch).Export(
        encode_metrics(points), compression=compression, timeout=10
    )
    after = store.stats()
    assert (after.spans.count - before.spans.count, after.logs.count - before.logs.count) == (24, 7)
    assert after.metrics.count - before.metrics.count == 36
    assert {s.span_id for s in store.get_trace(spans[0].trace_id)} == {
        s.span_id for s in spans if s.trace_id == spans[0].trace_id
    }


def test_partial_success(channel: tuple[grpc.Channel, MemoryStore]) -> None:
    ch, _ = channel
    request = encode_metrics(Workload(seed=31).metrics(36))
    request.resource_metrics[0].scope_metrics[0].metrics[0].name = ""
    response = metrics_service_pb2_grpc.MetricsServiceStub(ch).Export(request, timeout=10)
    assert isinstance(response, metrics_service_pb2.ExportMetricsServiceResponse)
    assert response.partial_success.rejected_data_points == 1
    assert "name must not be empty" in response.partial_success.error_message


def raw_export(ch: grpc.Channel, service: str, body: bytes, **kwargs: object) -> bytes:
    method = ch.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")
    return method(body, timeout=10, **kwargs)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "compression", "code", "message"),
    [
        (
            b"\x0a\x05\x01",
            None,
            grpc.StatusCode.INVALID_ARGUMENT,
            "not a valid protobuf ExportTraceServiceRequest",
        ),
        (bytes(LIMIT + 1), None, grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
        (bytes(LIMIT + 1), grpc.Compression.Gzip, grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    ],
    ids=["malformed", "too big", "gzip bomb"],
)
def test_errors(
    channel: tuple[grpc.Channel, MemoryStore],
    body: bytes,
    compression: grpc.Compression | None,
    code: grpc.StatusCode,
    message: str,
) -> None:
    ch, _ = channel
    with pytest.raises(grpc.RpcError) as info:
        raw_export(ch, "trace.v1.TraceService", body, compression=compression)
    assert info.value.code() == code  # type: ignore[attr-defined]
    assert message in info.value.details()  # type: ignore[attr-defined]
    assert raw_export(ch, "trace.v1.TraceService", b"") == b""  # still serving


def test_logs_service_rejects_with_its_own_message(
    channel: tuple[grpc.Channel, MemoryStore],
) -> None:
    ch, _ = channel
    with pytest.raises(grpc.RpcError) as info:
        raw_export(ch, "logs.v1.LogsService", b"\xff\xff")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "ExportLogsServiceRequest" in info.value.details()  # type: ignore[attr-defined]
    assert logs_service_pb2.ExportLogsServiceResponse.FromString(
        raw_export(ch, "logs.v1.LogsService", b"")
    ) == (logs_service_pb2.ExportLogsServiceResponse())


def test_overloaded_store_answers_unavailable_with_retry_info() -> None:
    store = OverloadedStore(retry_after=1.5)
    with running(store) as endpoints, grpc.insecure_channel(endpoints.grpc_target) as ch:
        stub = trace_service_pb2_grpc.TraceServiceStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Export(encode_spans(Workload().spans(6)), timeout=10)
        error = info.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        trailers = dict(error.trailing_metadata())  # type: ignore[attr-defined]
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == 14 and "write queue is full" in status.message
    store.close()


def test_unknown_method_is_unimplemented(channel: tuple[grpc.Channel, MemoryStore]) -> None:
    ch, _ = channel
    with pytest.raises(grpc.RpcError) as info:
        ch.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Nope")(b"", timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]
