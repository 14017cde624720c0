"""OTLP/HTTP against a real collector: encodings, gzip, and every error answer."""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tests.collector.helpers import OverloadedStore, big_store, running
from tests.collector.test_models import LLAMA, MAPPED, POD, QWEN, llm_request, running_gauge, traces

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.otlp_json import dumps
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, MemoryStore]]:
    store = big_store()
    with running(store, max_body_bytes=LIMIT) as endpoints, httpx.Client(timeout=10) as client:
        client.base_url = endpoints.http_url  # type: ignore[assignment]
        yield endpoints.http_url, store
    store.close()


def post(url: str, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + path, content=body, headers=headers, timeout=10)


def rpc_status(response: httpx.Response) -> status_pb2.Status:
    if response.headers["content-type"].startswith("application/json"):
        doc = json.loads(response.content)
        return status_pb2.Status(code=doc.get("code", 0), message=doc.get("message", ""))
    return status_pb2.Status.FromString(response.content)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_all_signals_in_both_encodings(
    server: tuple[str, MemoryStore], encoding: str, gz: bool
) -> None:
    url, store = server
    w = Workload(seed=10 * len(encoding) + gz)
    spans, logs, points = w.spans(30), w.logs(10), w.metrics(36)
    before = store.stats()
    for path, request in (
        ("/v1/traces", encode_spans(spans)),
        ("/v1/logs", encode_logs(logs)),
        ("/v1/metrics", encode_metrics(points)),
    ):
        body = dumps(request) if encoding == "json" else request.SerializeToString()
        headers = dict(JSON if encoding == "json" else PB)
        if gz:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = post(url, path, body, headers)
        assert response.status_code == 200, response.content
        assert response.headers["content-type"] == headers["Content-Type"]
        if encoding == "json":
            assert json.loads(response.content) == {}
        else:
            assert response.content == b""
    after = store.stats()
    assert after.spans.count - before.spans.count == 30
    assert after.logs.count - before.logs.count == 10
    assert after.metrics.count - before.metrics.count == 36
    got = store.get_trace(spans[0].trace_id)
    assert {s.span_id for s in got} == {s.span_id for s in spans if s.trace_id == spans[0].trace_id}
    assert got[0].model_name == spans[0].model_name


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_partial_success_stores_the_rest(server: tuple[str, MemoryStore], encoding: str) -> None:
    url, store = server
    spans = Workload(seed=70 + len(encoding)).spans(6)
    request = encode_spans(spans)
    bad = request.resource_spans[0].scope_spans[0].spans[1]
    bad.trace_id = b"\x01\x02\x03"
    bad_id = bad.span_id
    if encoding == "json":
        response = post(url, "/v1/traces", dumps(request), JSON)
        answer = ExportTraceServiceResponse()
        partial = json.loads(response.content)["partialSuccess"]
        answer.partial_success.rejected_spans = int(partial["rejectedSpans"])
        answer.partial_success.error_message = partial["errorMessage"]
    else:
        response = post(url, "/v1/traces", request.SerializeToString(), PB)
        answer = ExportTraceServiceResponse.FromString(response.content)
    assert response.status_code == 200
    assert answer.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes, got 3" in answer.partial_success.error_message
    stored = store.get_trace(spans[0].trace_id)
    assert len(stored) == 5 and bad_id not in {s.span_id for s in stored}


def test_log_partial_success(server: tuple[str, MemoryStore]) -> None:
    url, _ = server
    request = encode_logs(Workload(seed=5).logs(3))
    request.resource_logs[0].scope_logs[0].log_records[0].severity_number = 99  # type: ignore[assignment]
    response = post(url, "/v1/logs", request.SerializeToString(), PB)
    answer = ExportLogsServiceResponse.FromString(response.content)
    assert response.status_code == 200
    assert answer.partial_success.rejected_log_records == 1
    assert "severity_number must be 0..24, got 99" in answer.partial_success.error_message


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        (b"\x0a\x05\x01", PB, 400, "not a valid protobuf ExportTraceServiceRequest"),
        (b'{"resourceSpans": 3}', JSON, 400, "not an OTLP ExportTraceServiceRequest"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "unsupported Content-Type"),
        (b"{}", {}, 415, "unsupported Content-Type"),
        (b"{}", {**JSON, "Content-Encoding": "br"}, 415, "unsupported Content-Encoding 'br'"),
        (b"\x1f\x8b\x08garbage", {**PB, "Content-Encoding": "gzip"}, 400, "invalid gzip body"),
        (bytes(LIMIT + 1), PB, 413, "over the 65536-byte limit"),
        (
            gzip.compress(bytes(LIMIT + 1)),
            {**PB, "Content-Encoding": "gzip"},
            413,
            "inflates to more than",
        ),
    ],
)
def test_error_answers(
    server: tuple[str, MemoryStore], body: bytes, headers: dict[str, str], status: int, message: str
) -> None:
    url, _ = server
    response = post(url, "/v1/traces", body, headers)
    assert response.status_code == status
    expected_type = (
        "application/json"
        if status == 415 or headers.get("Content-Type") == JSON["Content-Type"]
        else PB["Content-Type"]
    )
    assert response.headers["content-type"] == expected_type
    assert message in rpc_status(response).message
    assert post(url, "/v1/traces", b"", PB).status_code == 200  # still serving


def test_get_is_not_allowed(server: tuple[str, MemoryStore]) -> None:
    assert httpx.get(server[0] + "/v1/traces").status_code == 405


def test_health_ready_and_metrics(server: tuple[str, MemoryStore]) -> None:
    url, _ = server
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/readyz").json() == {"status": "ready"}
    post(url, "/v1/traces", encode_spans(Workload(seed=9).spans(6)).SerializeToString(), PB)
    text = httpx.get(url + "/metrics").text
    assert 'infertrace_accepted_items_total{signal="spans"}' in text
    assert 'infertrace_requests_total{code="200",signal="spans",transport="http"}' in text
    assert (
        'infertrace_request_duration_seconds_bucket{le="0.001",signal="spans",transport="http"}'
        in text
    )
    assert 'infertrace_store_records{signal="spans"}' in text
    assert 'infertrace_store_capacity{signal="spans"} 100000.0' in text


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_overloaded_store_answers_503_with_retry_after(encoding: str) -> None:
    store = OverloadedStore(retry_after=2.5)
    body: Any = encode_spans(Workload().spans(6))
    body, headers = (dumps(body), JSON) if encoding == "json" else (body.SerializeToString(), PB)
    with running(store) as endpoints:
        response = post(endpoints.http_url, "/v1/traces", body, headers)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "3"
        status = rpc_status(response)
        assert status.code == 14 and "write queue is full" in status.message
        if encoding == "protobuf":
            info = error_details_pb2.RetryInfo()
            assert status.details[0].Unpack(info)
            assert info.retry_delay.seconds == 2 and info.retry_delay.nanos == 500_000_000
        text = httpx.get(endpoints.http_url + "/metrics").text
        assert 'infertrace_requests_total{code="503",signal="spans",transport="http"} 1.0' in text
    store.close()


def test_closed_store_is_not_ready_and_answers_503() -> None:
    store = MemoryStore()
    with running(store) as endpoints:
        assert httpx.get(endpoints.http_url + "/readyz").status_code == 200
        store.close()
        body = encode_spans(Workload().spans(6)).SerializeToString()
        response = post(endpoints.http_url, "/v1/traces", body, PB)
        assert response.status_code == 503 and "retry-after" in response.headers
        ready = httpx.get(endpoints.http_url + "/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "store is closed"


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_retried_request_is_stored_once(server: tuple[str, MemoryStore], encoding: str) -> None:
    """An exporter that retries after a lost answer sends the same spans again (issue 11)."""
    url, store = server
    spans = Workload(seed=77 + len(encoding)).spans(12)
    request = encode_spans(spans)
    body = request.SerializeToString() if encoding == "protobuf" else dumps(request)
    for _ in range(3):
        assert post(url, "/v1/traces", body, PB if encoding == "protobuf" else JSON).is_success
    for trace_id in {s.trace_id for s in spans}:
        want = sorted(s.span_id for s in spans if s.trace_id == trace_id)
        assert sorted(s.span_id for s in store.get_trace(trace_id)) == want


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("traceId", "abc"),  # odd length
        ("traceId", "zz" * 16),  # the right length, not hex
        ("spanId", "0102030405060708090"),
        ("parentSpanId", "xyz"),
        ("traceId", "z" * 9),  # placeholder of an id's length: still refused
    ],
)
def test_json_ids_that_are_not_hex_reject_only_their_span(
    server: tuple[str, MemoryStore], field: str, text: str
) -> None:
    """Was a 400 for the whole request (issue 11): now a partial success naming the text."""
    url, store = server
    spans = Workload(seed=90 + len(text) + len(field)).spans(6)
    document = json.loads(dumps(encode_spans(spans)))
    bad = document["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
    bad[field] = text
    response = post(url, "/v1/traces", json.dumps(document).encode(), JSON)
    assert response.status_code == 200, response.text
    partial = json.loads(response.content)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert f"{text[:64]!r} is not a hex id" in partial["errorMessage"]
    kept = {s.span_id.hex() for s in store.get_trace(spans[0].trace_id)}
    assert len(kept) == 5 and bad["spanId"] not in kept


def test_json_log_with_a_trace_id_that_is_not_hex_is_rejected_alone(
    server: tuple[str, MemoryStore],
) -> None:
    url, store = server
    logs = Workload(seed=95).logs(4)
    document = json.loads(dumps(encode_logs(logs)))
    records = [
        r
        for resource in document["resourceLogs"]
        for scope in resource["scopeLogs"]
        for r in scope["logRecords"]
    ]
    records[1]["traceId"] = "not-hex"
    before = store.stats().logs.count
    response = post(url, "/v1/logs", json.dumps(document).encode(), JSON)
    assert response.status_code == 200, response.text
    partial = json.loads(response.content)["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1
    assert "'not-hex' is not a hex id" in partial["errorMessage"]
    assert store.stats().logs.count == before + 3


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_model_resolution_over_http(encoding: str) -> None:
    """vLLM V1 spans name no model: resolved from the resource, the pod's metrics or
    ``--model-for``, and the REST API says which (issue 11 item 2)."""

    def send(path: str, body: bytes, request_type: Any) -> None:
        if encoding == "json":
            body = dumps(request_type.FromString(body))
        response = post(url, path, body, PB if encoding == "protobuf" else JSON)
        assert response.status_code == 200 and not response.content.strip(b"{}\n"), response.text

    store = big_store()
    settings = {"accept_past": math.inf, "model_for": (("tgi-mistral", MAPPED),)}
    with running(store, **settings) as endpoints:
        url = endpoints.http_url
        spans = {
            "before": llm_request(),
            "pod": llm_request(),
            "resource": llm_request(),
            "config": llm_request(),
            "span": llm_request(**{"gen_ai.response.model": QWEN}),
        }
        send("/v1/traces", traces(POD, spans["before"]), ExportTraceServiceRequest)
        send("/v1/metrics", running_gauge(POD, LLAMA), ExportMetricsServiceRequest)
        send("/v1/traces", traces(POD, spans["pod"]), ExportTraceServiceRequest)
        resource = POD | {"service.instance.id": "other", "gen_ai.request.model": QWEN}
        send("/v1/traces", traces(resource, spans["resource"]), ExportTraceServiceRequest)
        tgi = {"service.name": "tgi-mistral"}
        send("/v1/traces", traces(tgi, spans["config"]), ExportTraceServiceRequest)
        send("/v1/traces", traces(POD, spans["span"]), ExportTraceServiceRequest)
        got = {}
        for name, span in spans.items():
            doc = httpx.get(f"{url}/api/traces/{span.trace_id.hex()}", timeout=10).json()
            (shown,) = doc["spans"]
            got[name] = (shown["model_name"], shown["model_source"])
    store.close()
    assert got == {
        "before": (None, None),  # nothing known of the pod yet, and no mapping for it
        "pod": (LLAMA, "pod"),
        "resource": (QWEN, "resource"),
        "config": (MAPPED, "config"),
        "span": (QWEN, "span"),
    }
