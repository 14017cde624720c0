"""Bearer tokens on a real server: the query APIs and OTLP ingest, HTTP and gRPC."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from infertrace.auth import bearer_matches
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.server import Endpoints
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import running

API_TOKEN = "api-s3cret"
INGEST_TOKEN = "ingest-t0ken"
PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def guarded() -> Iterator[tuple[Endpoints, MemoryStore]]:
    store = MemoryStore()
    with running(store, api_token=API_TOKEN, ingest_token=INGEST_TOKEN) as endpoints:
        yield endpoints, store
    store.close()


WRONG = [
    ("missing", None),
    ("wrong token", f"Bearer {API_TOKEN}x"),
    ("wrong scheme", f"Basic {API_TOKEN}"),
    ("ingest token on the api", f"Bearer {INGEST_TOKEN}"),
    ("no token", "Bearer"),
]


@pytest.mark.parametrize("path", ["/api/services", "/api/stats", "/jaeger/api/services"])
@pytest.mark.parametrize(("case", "header"), WRONG, ids=[w[0] for w in WRONG])
def test_query_apis_refuse_without_the_api_token(
    guarded: tuple[Endpoints, MemoryStore], path: str, case: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(guarded[0].http_url + path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/services", "/api/stats", "/api/models"])
def test_query_apis_answer_with_the_api_token(
    guarded: tuple[Endpoints, MemoryStore], path: str
) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    response = httpx.get(guarded[0].http_url + path, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json"])
def test_health_and_docs_stay_open(guarded: tuple[Endpoints, MemoryStore], path: str) -> None:
    assert httpx.get(guarded[0].http_url + path).status_code == 200


def test_http_ingest_needs_the_ingest_token(guarded: tuple[Endpoints, MemoryStore]) -> None:
    endpoints, store = guarded
    body = encode_spans(Workload(seed=1).spans(12)).SerializeToString()
    before = store.stats().spans.count
    url = endpoints.http_url + "/v1/traces"
    assert httpx.post(url, content=body, headers=PB).status_code == 401
    wrong = PB | {"Authorization": f"Bearer {API_TOKEN}"}
    assert httpx.post(url, content=body, headers=wrong).status_code == 401
    assert store.stats().spans.count == before
    right = PB | {"Authorization": f"Bearer {INGEST_TOKEN}"}
    assert httpx.post(url, content=body, headers=right).status_code == 200
    assert store.stats().spans.count == before + 12


def test_grpc_ingest_needs_the_ingest_token(guarded: tuple[Endpoints, MemoryStore]) -> None:
    endpoints, store = guarded
    request = encode_spans(Workload(seed=2).spans(6))
    before = store.stats().spans.count
    with grpc.insecure_channel(endpoints.grpc_target) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        for metadata in ((), (("authorization", f"Bearer {API_TOKEN}"),)):
            with pytest.raises(grpc.RpcError) as info:
                stub.Export(request, metadata=metadata, timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert store.stats().spans.count == before
        stub.Export(request, metadata=(("authorization", f"Bearer {INGEST_TOKEN}"),), timeout=10)
    assert store.stats().spans.count == before + 6


def _sdk_exporter(transport: str, endpoints: Endpoints, token: str | None) -> SpanExporter:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    if transport == "http":
        return HttpSpanExporter(
            endpoint=endpoints.http_url + "/v1/traces", headers=headers, timeout=5
        )
    return GrpcSpanExporter(
        endpoint=endpoints.grpc_target, insecure=True, headers=headers, timeout=5
    )


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_official_sdk_exporters_send_the_token_as_a_header(
    guarded: tuple[Endpoints, MemoryStore], transport: str
) -> None:
    endpoints = guarded[0]
    exporter = _sdk_exporter(transport, endpoints, INGEST_TOKEN)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = f"authorised {transport} span"
    with provider.get_tracer("auth-test").start_as_current_span(name):
        pass
    provider.shutdown()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    doc = httpx.get(
        endpoints.http_url + "/api/spans", params={"operation": name}, headers=headers
    ).json()
    assert [s["operation_name"] for s in doc["spans"]] == [name]


@pytest.mark.parametrize(
    ("header", "token", "ok"),
    [
        ("Bearer abc", "abc", True),
        ("bearer abc", "abc", True),
        ("Bearer  abc ", "abc", True),
        ("Bearer abd", "abc", False),
        ("Bearer", "abc", False),
        ("abc", "abc", False),
        (None, "abc", False),
        ("Bearer é", "é", True),
    ],
)
def test_bearer_matches(header: str | None, token: str, ok: bool) -> None:
    assert bearer_matches(header, token) is ok


def test_tokens_come_from_the_environment() -> None:
    env = {"INFERTRACE_API_TOKEN": "a", "INFERTRACE_INGEST_TOKEN": "b"}
    settings: Any = Settings.from_env(env)
    assert (settings.api_token, settings.ingest_token) == ("a", "b")
    assert Settings.from_env(env, api_token="flag").api_token == "flag"
