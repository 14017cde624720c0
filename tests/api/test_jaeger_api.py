"""The Jaeger query API (/jaeger/api/...): responses checked field by field against
Jaeger's documented JSON model, and search semantics against answers computed
here from the records written, independently of the code under test.

Most tests run the app in process (httpx's ASGI transport); the last ones run a
real uvicorn server fed over OTLP/HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.routing import NoMatchFound

from infertrace.api import install_query_api, jaeger
from infertrace.api.jaeger import jaeger_router
from infertrace.collector.app import create_app
from infertrace.collector.otlp.encode import encode_spans
from infertrace.errors import StoreOverloaded
from infertrace.model import (
    AttributeValue,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.protocols import TelemetryStore
from infertrace.telemetry.reference import ReferenceStore
from infertrace.workload import Workload
from tests.api.test_jaeger_model import SPAN_KEYS
from tests.pg_schema import fresh_schema

BASE = 1_700_000_000_000_000_000
SEC = 1_000_000_000
MS = 1_000_000
ENVELOPE_KEYS = {"data", "total", "limit", "offset", "errors"}
KINDS = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")


def with_jaeger(app: FastAPI) -> FastAPI:
    """``app`` serving the Jaeger routes (added unless its install hook already did)."""
    try:
        app.url_path_for("jaeger_services")
    except NoMatchFound:
        app.include_router(jaeger_router())
    return app


class Client:
    """Requests to an app in process (no sockets)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def get(self, path: str, params: Any = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                return await c.get(path, params=params)

        return anyio.run(go)

    def ok(self, path: str, params: Any = None) -> Any:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == ENVELOPE_KEYS
        assert body["errors"] is None
        assert body["total"] == len(body["data"])
        return body["data"]


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def sid(trace: int, n: int) -> bytes:
    return (trace * 256 + n).to_bytes(8, "big")


def gateway_trace(
    n: int,
    start: int,
    duration: int,
    *,
    status: StatusCode = StatusCode.OK,
    code: AttributeValue = 200,
    op: str = "POST /chat",
    model: str = "m/llama",
    pod: str = "vllm-0",
) -> list[Span]:
    """A request: a gateway server span, its client call, and the model server's span."""
    gw_res = {"service.name": "gateway", "host.name": "gw-1"}
    vllm_res = {"service.name": "vllm", "k8s.pod.name": pod, "gpu.count": 2}
    root = Span(
        trace_id=tid(n),
        span_id=sid(n, 1),
        service_name="gateway",
        operation_name=op,
        start_time_unix_nano=start,
        duration_nanos=duration,
        kind=SpanKind.SERVER,
        status_code=status,
        status_message="upstream failed" if status == StatusCode.ERROR else "",
        attributes={"http.status_code": code, "http.route": op.split(" ")[-1]},
        resource_attributes=gw_res,
    )
    call = Span(
        trace_id=tid(n),
        span_id=sid(n, 2),
        parent_span_id=sid(n, 1),
        service_name="gateway",
        operation_name="call vllm",
        start_time_unix_nano=start + 1_001,
        duration_nanos=duration - 2_000,
        kind=SpanKind.CLIENT,
        attributes={"retry": False},
        resource_attributes=gw_res,
    )
    serve = Span(
        trace_id=tid(n),
        span_id=sid(n, 3),
        parent_span_id=sid(n, 2),
        service_name="vllm",
        operation_name=f"chat {model}",
        start_time_unix_nano=start + 1_500,
        duration_nanos=duration - 3_000,
        kind=SpanKind.SERVER,
        model_name=model,
        input_tokens=100 + n,
        output_tokens=10,
        gpu_utilization=0.5,
        time_to_first_token_nanos=20 * MS,
        attributes={"gen_ai.system": "vllm", "temperature": 0.7, "blob": b"\x00\xff"},
        resource_attributes=vllm_res,
        events=(SpanEvent("first_token", start + 20 * MS + 7, {"tokens": 1}),),
        links=(SpanLink(tid(999), sid(999, 1)),),
    )
    return [root, call, serve]


# (n, start offset, duration, status, http.status_code, operation, model, pod)
TRACES: list[tuple[int, int, int, StatusCode, AttributeValue, str, str, str]] = [
    (1, 0, 120 * MS, StatusCode.ERROR, 500, "POST /chat", "m/llama", "vllm-0"),
    (2, 1 * SEC + 500, 40 * MS, StatusCode.OK, 200, "POST /chat", "m/llama", "vllm-1"),
    (3, 2 * SEC, 5 * MS, StatusCode.OK, "200", "GET /models", "m/qwen", "vllm-1"),
    (4, 3 * SEC + 999, 250 * MS, StatusCode.ERROR, 503, "POST /chat", "m/qwen", "vllm-0"),
    (5, 4 * SEC, 60 * MS, StatusCode.UNSET, 200, "POST /embed", "m/llama", "vllm-2"),
    (6, 5 * SEC + 1, 1 * SEC, StatusCode.OK, 200.0, "POST /chat", "m/llama", "vllm-2"),
]


def dataset() -> list[Span]:
    spans: list[Span] = []
    for n, offset, duration, status, code, op, model, pod in TRACES:
        spans += gateway_trace(
            n, BASE + offset, duration, status=status, code=code, op=op, model=model, pod=pod
        )
    return spans


SPANS = dataset()
BY_TRACE = {s.trace_id: [x for x in SPANS if x.trace_id == s.trace_id] for s in SPANS}


@pytest.fixture(scope="module", params=["memory", "reference", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[TelemetryStore]:
    """The dataset in each backend: the API must answer alike over all of them."""
    with ExitStack() as stack:
        s: Any
        if request.param == "memory":
            s = MemoryStore(span_capacity=1_000)
        elif request.param == "reference":
            s = ReferenceStore()
        else:
            from infertrace.telemetry.postgres import PostgresStore

            dsn = stack.enter_context(fresh_schema(request.getfixturevalue("pg_server")))
            s = PostgresStore(dsn, pool_size=2)
        stack.callback(s.close)
        s.write_batch(SPANS)
        if hasattr(s, "flush"):
            s.flush()
        yield s


@pytest.fixture(scope="module")
def client(store: TelemetryStore) -> Client:
    return Client(with_jaeger(create_app(store, install=install_query_api)))


def plain(value: AttributeValue) -> Any:
    """What a Jaeger KeyValue carries for a stored value (written out, not imported)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return json.dumps([plain(v) for v in value], separators=(",", ":"))
    return value


def check_key_values(kvs: Any) -> dict[str, Any]:
    """Each KeyValue has exactly key/type/value with a value of the declared type."""
    assert isinstance(kvs, list)
    out: dict[str, Any] = {}
    for kv in kvs:
        assert set(kv) == {"key", "type", "value"}
        assert isinstance(kv["key"], str) and kv["key"]
        value, vtype = kv["value"], kv["type"]
        expected_types: dict[str, tuple[type, ...]] = {
            "bool": (bool,),
            "int64": (int,),
            "float64": (float, int),
            "string": (str,),
            "binary": (str,),
        }
        assert vtype in expected_types, kv
        assert isinstance(value, expected_types[vtype]), kv
        if vtype != "bool":
            assert not isinstance(value, bool), kv
        out[kv["key"]] = value
    return out


def check_trace(jtrace: Any, stored: Sequence[Span]) -> None:
    """``jtrace`` is ``stored`` in Jaeger's UI model, field by field."""
    assert set(jtrace) == {"traceID", "spans", "processes", "warnings"}
    trace_hex = stored[0].trace_id.hex()
    assert jtrace["traceID"] == trace_hex and HEX32.fullmatch(trace_hex)
    assert jtrace["warnings"] is None
    processes = jtrace["processes"]
    assert isinstance(processes, dict)
    for pid, proc in processes.items():
        assert re.fullmatch(r"p[0-9]+", pid)
        assert set(proc) == {"serviceName", "tags"}
        check_key_values(proc["tags"])
    by_id = {s.span_id.hex(): s for s in stored}
    assert sorted(j["spanID"] for j in jtrace["spans"]) == sorted(by_id)
    for js in jtrace["spans"]:
        span = by_id[js["spanID"]]
        assert set(js) == SPAN_KEYS
        assert js["traceID"] == trace_hex
        assert HEX16.fullmatch(js["spanID"])
        assert isinstance(js["flags"], int)
        assert js["operationName"] == span.operation_name
        assert type(js["startTime"]) is int and js["startTime"] == span.start_time_unix_nano // 1000
        assert type(js["duration"]) is int and js["duration"] == span.duration_nanos // 1000
        assert js["warnings"] is None
        refs = [(r["refType"], r["traceID"], r["spanID"]) for r in js["references"]]
        for ref in js["references"]:
            assert set(ref) == {"refType", "traceID", "spanID"}
        expected_refs = []
        if span.parent_span_id:
            expected_refs.append(("CHILD_OF", trace_hex, span.parent_span_id.hex()))
        expected_refs += [
            ("FOLLOWS_FROM", ln.trace_id.hex(), ln.span_id.hex()) for ln in span.links
        ]
        assert refs == expected_refs
        tags = check_key_values(js["tags"])
        for key, value in span.attributes.items():
            if key not in ("error", "span.kind", "otel.status_code"):
                assert tags[key] == plain(value), key
        assert tags.get("span.kind") == KINDS.get(span.kind)
        assert tags.get("error") is (True if span.status_code == StatusCode.ERROR else None)
        status_names = {StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}
        assert tags.get("otel.status_code") == status_names.get(span.status_code)
        assert tags.get("otel.status_description") == (span.status_message or None)
        if span.model_name is not None:
            assert tags["gen_ai.response.model"] == span.model_name
        if span.input_tokens is not None:
            assert tags["gen_ai.usage.input_tokens"] == span.input_tokens
        if span.time_to_first_token_nanos is not None:
            ttft = tags["gen_ai.latency.time_to_first_token"]
            assert math.isclose(ttft, span.time_to_first_token_nanos / 1e9)
        assert len(js["logs"]) == len(span.events)
        for log, event in zip(js["logs"], span.events, strict=True):
            assert set(log) == {"timestamp", "fields"}
            assert type(log["timestamp"]) is int
            assert log["timestamp"] == event.time_unix_nano // 1000
            fields = check_key_values(log["fields"])
            assert log["fields"][0] == {"key": "event", "type": "string", "value": event.name}
            assert {k: fields[k] for k in event.attributes} == {
                k: plain(v) for k, v in event.attributes.items()
            }
        proc = processes[js["processID"]]
        assert proc["serviceName"] == span.service_name
        assert check_key_values(proc["tags"]) == {
            k: plain(v) for k, v in span.resource_attributes.items() if k != "service.name"
        }
    distinct = {(s.service_name, tuple(sorted(s.resource_attributes.items()))) for s in stored}
    assert len(processes) == len(distinct)


def test_services(client: Client) -> None:
    assert client.ok("/jaeger/api/services") == sorted({s.service_name for s in SPANS})


@pytest.mark.parametrize("service", ["gateway", "vllm", "nope"])
def test_service_operations(client: Client, service: str) -> None:
    expected = sorted({s.operation_name for s in SPANS if s.service_name == service})
    assert client.ok(f"/jaeger/api/services/{service}/operations") == expected


@pytest.mark.parametrize(
    ("service", "paths"),
    [
        ("team/api", ["team%2Fapi", "team/api"]),
        ("line\nbreak", ["line%0Abreak"]),
        ("spaced name", ["spaced%20name"]),
    ],
)
def test_service_names_of_any_text(service: str, paths: list[str]) -> None:
    span = Span(tid(77), sid(77, 1), service, "op", BASE, 1000)
    with MemoryStore() as store:
        store.write(span)
        c = Client(with_jaeger(create_app(store, install=install_query_api)))
        for path in paths:
            assert c.ok(f"/jaeger/api/services/{path}/operations") == ["op"]


@pytest.mark.parametrize("kind", ["", "server", "client", "internal", "producer", "SERVER"])
def test_operations_with_span_kinds(client: Client, kind: str) -> None:
    pairs = {
        (s.operation_name, KINDS.get(s.kind, "")) for s in SPANS if s.service_name == "gateway"
    }
    expected = sorted(p for p in pairs if not kind or p[1] == kind.lower())
    data = client.ok("/jaeger/api/operations", {"service": "gateway", "spanKind": kind})
    assert [(d["name"], d["spanKind"]) for d in data] == expected
    assert all(set(d) == {"name", "spanKind"} for d in data)


def test_operation_kinds_beyond_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operations the newest-spans sample misses still get their kind."""
    monkeypatch.setattr(jaeger, "KIND_SAMPLE", 2)
    with _store_of(SPANS) as store:
        data = Client(with_jaeger(create_app(store, install=install_query_api))).ok(
            "/jaeger/api/operations", {"service": "gateway"}
        )
    pairs = {
        (s.operation_name, KINDS.get(s.kind, "")) for s in SPANS if s.service_name == "gateway"
    }
    assert [(d["name"], d["spanKind"]) for d in data] == sorted(pairs)


def _store_of(spans: Sequence[Span], capacity: int = 1_000) -> MemoryStore:
    store = MemoryStore(span_capacity=capacity)
    store.write_batch(spans)
    return store


@pytest.mark.parametrize("n", [row[0] for row in TRACES])
def test_trace_by_id_matches_jaegers_model(client: Client, n: int) -> None:
    data = client.ok(f"/jaeger/api/traces/{tid(n).hex()}")
    assert len(data) == 1
    check_trace(data[0], BY_TRACE[tid(n)])


def test_trace_by_id_in_upper_case_and_short_form(client: Client) -> None:
    # Jaeger left-pads ids shorter than 32 hex digits with zeros.
    full = client.ok(f"/jaeger/api/traces/{tid(4).hex().upper()}")
    short = client.ok("/jaeger/api/traces/4")
    assert full == short and full[0]["traceID"] == tid(4).hex()


@pytest.mark.parametrize(
    ("trace_id", "status", "msg"),
    [
        ("0" * 31 + "f", 404, "trace not found"),
        ("deadbeef" * 4, 404, "trace not found"),
        ("xyz", 400, "'xyz'"),
        ("0" * 33, 400, "traceID"),
        ("12 34", 400, "traceID"),
    ],
)
def test_trace_by_id_errors(client: Client, trace_id: str, status: int, msg: str) -> None:
    response = client.get(f"/jaeger/api/traces/{trace_id}")
    assert response.status_code == status
    body = response.json()
    assert body["data"] is None and body["total"] == 0
    assert body["limit"] == 0 and body["offset"] == 0
    assert len(body["errors"]) == 1 and body["errors"][0]["code"] == status
    assert msg in body["errors"][0]["msg"]


def us(ns: int) -> str:
    return str(ns // 1000)


Pred = Callable[[Span], bool]


def is_gateway(s: Span) -> bool:
    return s.service_name == "gateway"


def is_vllm(s: Span) -> bool:
    return s.service_name == "vllm"


def code_of(s: Span) -> Any:
    return s.attributes.get("http.status_code")


SEARCHES: list[tuple[dict[str, Any], Pred]] = [
    ({"service": "gateway"}, is_gateway),
    ({"service": "nope"}, lambda s: False),
    ({"service": "gateway", "operation": "POST /chat"}, lambda s: s.operation_name == "POST /chat"),
    ({"service": "vllm", "operation": "POST /chat"}, lambda s: False),
    ({"service": "gateway", "operation": ""}, is_gateway),
    (
        {"service": "gateway", "tags": '{"error":"true"}'},
        lambda s: is_gateway(s) and s.status_code == StatusCode.ERROR,
    ),
    (
        {"service": "gateway", "tags": '{"error":"false"}'},
        lambda s: False,  # no span has an error attribute; a non-error status is no tag
    ),
    (
        {"service": "gateway", "tags": '{"http.status_code":"500"}'},
        lambda s: is_gateway(s) and code_of(s) == 500,
    ),
    (
        # 200 as an int, a float and a string all read "200"
        {"service": "gateway", "tags": '{"http.status_code":"200"}'},
        lambda s: is_gateway(s) and str(code_of(s)) in ("200", "200.0"),
    ),
    (
        {"service": "gateway", "tag": ["http.status_code:200", "http.route:/chat"]},
        lambda s: is_gateway(s) and code_of(s) in (200, 200.0) and s.operation_name == "POST /chat",
    ),
    (
        {"service": "gateway", "tags": json.dumps({"http.status_code": 503, "error": True})},
        lambda s: is_gateway(s) and code_of(s) == 503,
    ),
    (
        {"service": "gateway", "tags": '{"otel.status_code":"OK"}'},
        lambda s: is_gateway(s) and s.status_code == StatusCode.OK,
    ),
    (
        {"service": "gateway", "tags": '{"span.kind":"client","retry":"false"}'},
        lambda s: is_gateway(s) and s.kind == SpanKind.CLIENT,
    ),
    (
        {"service": "gateway", "tags": '{"host.name":"gw-1"}'},  # a resource attribute
        is_gateway,
    ),
    (
        {"service": "vllm", "tags": '{"k8s.pod.name":"vllm-1"}'},
        lambda s: is_vllm(s) and s.resource_attributes["k8s.pod.name"] == "vllm-1",
    ),
    (
        {"service": "vllm", "tags": '{"gen_ai.request.model":"m/qwen"}'},  # a lifted column
        lambda s: is_vllm(s) and s.model_name == "m/qwen",
    ),
    (
        {"service": "vllm", "tags": '{"gen_ai.usage.input_tokens":"105"}'},
        lambda s: is_vllm(s) and s.input_tokens == 105,
    ),
    (
        {"service": "vllm", "tags": '{"temperature":"0.7","gen_ai.system":"vllm"}'},
        is_vllm,
    ),
    (
        {"service": "gateway", "minDuration": "100ms"},
        lambda s: is_gateway(s) and s.duration_nanos >= 100 * MS,
    ),
    (
        {"service": "gateway", "maxDuration": "0.04s"},
        lambda s: is_gateway(s) and s.duration_nanos <= 40 * MS,
    ),
    (
        {"service": "gateway", "minDuration": "39999us", "maxDuration": "1m"},
        lambda s: is_gateway(s) and 39_999_000 <= s.duration_nanos <= 60 * SEC,
    ),
    (
        {"service": "gateway", "minDuration": "1s", "maxDuration": "1s"},
        lambda s: is_gateway(s) and s.duration_nanos == SEC,
    ),
    (
        # both ends inclusive, in microseconds: trace 2 starts 500 ns into its microsecond
        {"service": "gateway", "start": us(BASE + SEC), "end": us(BASE + 3 * SEC)},
        lambda s: is_gateway(s) and BASE + SEC <= s.start_time_unix_nano < BASE + 3 * SEC + 1000,
    ),
    (
        {"service": "gateway", "start": us(BASE + SEC + 500), "end": us(BASE + SEC + 500)},
        lambda s: is_gateway(s) and s.start_time_unix_nano // 1000 == (BASE + SEC) // 1000,
    ),
    (
        {"service": "gateway", "end": us(BASE + 3 * SEC + 999), "lookback": "1s"},
        lambda s: (
            is_gateway(s) and BASE + 2 * SEC <= s.start_time_unix_nano < BASE + 3 * SEC + 1000
        ),
    ),
    (
        {"service": "gateway", "start": "", "end": "", "minDuration": "", "limit": ""},
        is_gateway,
    ),
    (
        {"service": "gateway", "start": "-" + "9" * 19, "end": "9" * 19, "lookback": "custom"},
        is_gateway,
    ),
    # As in Jaeger, an empty window is no error: it matches nothing.
    ({"service": "gateway", "start": us(BASE + SEC), "end": us(BASE)}, lambda s: False),
    # Blank parameters are absent ones.
    ({"service": "gateway", "start": " ", "maxDuration": "\t", "lookback": " custom "}, is_gateway),
    ({"service": "gateway", "minDuration": "2s", "maxDuration": "1s"}, lambda s: False),
    (
        {"service": "gateway", "start": us(BASE + 4 * SEC), "maxDuration": "2562047h"},
        lambda s: is_gateway(s) and s.start_time_unix_nano >= BASE + 4 * SEC,
    ),
]


@pytest.mark.parametrize(("params", "pred"), SEARCHES)
def test_search(client: Client, params: dict[str, Any], pred: Pred) -> None:
    params = {"limit": "1000", **params} if "limit" not in params else params
    data = client.ok("/jaeger/api/traces", params)
    expected = {s.trace_id.hex() for s in SPANS if pred(s)}
    got = [t["traceID"] for t in data]
    assert len(got) == len(set(got))
    assert set(got) == expected
    for trace in data:  # whole traces, in Jaeger's model
        check_trace(trace, BY_TRACE[bytes.fromhex(trace["traceID"])])


def newest_first(pred: Pred) -> list[str]:
    """Trace ids ordered by their newest matching span, newest first."""
    newest: dict[str, int] = {}
    for s in SPANS:
        if pred(s):
            key = s.trace_id.hex()
            newest[key] = max(newest.get(key, 0), s.start_time_unix_nano)
    return sorted(newest, key=lambda k: newest[k], reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 5, 6, 7])
def test_limit_counts_traces(client: Client, limit: int) -> None:
    data = client.ok("/jaeger/api/traces", {"service": "gateway", "limit": str(limit)})
    assert [t["traceID"] for t in data] == newest_first(is_gateway)[:limit]
    assert all(len(t["spans"]) == 3 for t in data)


def test_default_limit_is_20() -> None:
    spans = [s for n in range(1, 31) for s in gateway_trace(n, BASE + n * SEC, MS)]
    with _store_of(spans) as store:
        data = Client(with_jaeger(create_app(store, install=install_query_api))).ok(
            "/jaeger/api/traces", {"service": "gateway"}
        )
    assert [t["traceID"] for t in data] == [tid(n).hex() for n in range(30, 10, -1)]


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({}, "'service'", "required"),
    ({"service": ""}, "'service'", "required"),
    ({"service": "gateway", "start": "yesterday"}, "'start'", "yesterday"),
    ({"service": "gateway", "end": "1.5"}, "'end'", "1.5"),
    ({"service": "gateway", "minDuration": "5"}, "'minDuration'", "'5'"),
    ({"service": "gateway", "minDuration": "-1s"}, "'minDuration'", "-1s"),
    ({"service": "gateway", "maxDuration": "1d"}, "'maxDuration'", "1d"),
    ({"service": "gateway", "maxDuration": "ms"}, "'maxDuration'", "'ms'"),
    ({"service": "gateway", "limit": "ten"}, "'limit'", "ten"),
    ({"service": "gateway", "limit": "-3"}, "'limit'", "-3"),
    ({"service": "gateway", "tags": "error=true"}, "'tags'", "error=true"),
    ({"service": "gateway", "tags": "[1, 2]"}, "'tags'", "[1, 2]"),
    ({"service": "gateway", "tags": '{"a": null}'}, "'tags'", "'a'"),
    ({"service": "gateway", "tags": '{"a": {"b": "c"}}'}, "'tags'", "'a'"),
    ({"service": "gateway", "tag": "novalue"}, "'tag'", "novalue"),
    ({"service": "gateway", "tag": ":v"}, "'tag'", ":v"),
    ({"service": "gateway", "tags": json.dumps({f"k{i}": "v" for i in range(17)})}, "'tags'", "17"),
    ({"service": "gateway", "lookback": "forever"}, "'lookback'", "forever"),
    ({"traceID": "not-hex"}, "traceID", "not-hex"),
]


@pytest.mark.parametrize(("params", "name", "value"), BAD)
def test_bad_search_parameters(
    client: Client, params: dict[str, Any], name: str, value: str
) -> None:
    response = client.get("/jaeger/api/traces", params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert (body["data"], body["total"], body["limit"], body["offset"]) == (None, 0, 0, 0)
    assert len(body["errors"]) == 1 and body["errors"][0]["code"] == 400
    msg = body["errors"][0]["msg"]
    assert name in msg and value in msg, msg


@pytest.mark.parametrize(
    ("params", "name"),
    [({}, "'service'"), ({"service": "gateway", "spanKind": "sideways"}, "'spanKind'")],
)
def test_bad_operations_parameters(client: Client, params: dict[str, Any], name: str) -> None:
    response = client.get("/jaeger/api/operations", params)
    assert response.status_code == 400
    assert name in response.json()["errors"][0]["msg"]


def test_search_by_trace_ids(client: Client) -> None:
    missing = "ab" * 16
    params = {"traceID": [tid(2).hex(), missing, tid(5).hex(), tid(2).hex()]}
    response = client.get("/jaeger/api/traces", params)
    assert response.status_code == 200
    body = response.json()
    assert [t["traceID"] for t in body["data"]] == [tid(2).hex(), tid(5).hex()]
    assert body["errors"] == [{"code": 404, "msg": "trace not found", "traceID": missing}]
    for trace in body["data"]:
        check_trace(trace, BY_TRACE[bytes.fromhex(trace["traceID"])])


def test_search_pages_back_past_unmatched_spans() -> None:
    """A tag the store cannot filter on, matched only by old spans, is still found."""
    old = [s for n in range(1, 4) for s in gateway_trace(n, BASE + n, MS)]
    new = [
        Span(
            tid(1000 + i),
            sid(1000 + i, 1),
            "gateway",
            "GET /x",
            BASE + SEC + i,
            MS,
            kind=SpanKind.SERVER,
        )
        for i in range(3_000)
    ]
    with _store_of(old + new, capacity=10_000) as store:
        client = Client(with_jaeger(create_app(store, install=install_query_api)))
        params = {"service": "gateway", "tags": '{"span.kind":"client"}', "limit": "2"}
        data = client.ok("/jaeger/api/traces", params)
    assert [t["traceID"] for t in data] == [tid(3).hex(), tid(2).hex()]


def test_search_stops_at_the_scan_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jaeger, "SCAN_BUDGET", 1_000)
    old = gateway_trace(1, BASE, MS)
    new = [
        Span(tid(1000 + i), sid(1000 + i, 1), "gateway", "GET /x", BASE + SEC + i, MS)
        for i in range(3_000)
    ]
    with _store_of(old + new, capacity=10_000) as store:
        calls: list[int] = []
        original = store.list_spans

        def counting(flt: SpanFilter) -> list[Span]:
            result = original(flt)
            calls.append(len(result))
            return result

        monkeypatch.setattr(store, "list_spans", counting)
        client = Client(with_jaeger(create_app(store, install=install_query_api)))
        data = client.ok(
            "/jaeger/api/traces", {"service": "gateway", "tags": '{"span.kind":"client"}'}
        )
    assert data == []  # the match is older than the budget reaches
    assert sum(calls) <= 1_000 + 500


def test_big_trace_is_truncated_with_a_warning() -> None:
    n = jaeger.MAX_TRACE_SPANS + 5
    spans = [Span(tid(9), sid(9, 1), "svc", "root", BASE, 10 * SEC)]
    spans += [
        Span(
            tid(9),
            (1_000_000 + i).to_bytes(8, "big"),
            "svc",
            "child",
            BASE + 1 + i,
            MS,
            parent_span_id=sid(9, 1),
        )
        for i in range(n - 1)
    ]
    with _store_of(spans, capacity=2 * n) as store:
        data = Client(with_jaeger(create_app(store, install=install_query_api))).ok(
            f"/jaeger/api/traces/{tid(9).hex()}"
        )
    trace = data[0]
    assert len(trace["spans"]) == jaeger.MAX_TRACE_SPANS
    assert trace["warnings"] == [
        f"trace truncated: showing the first {jaeger.MAX_TRACE_SPANS} of {n} spans"
    ]


def test_search_response_is_bounded_in_spans(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jaeger, "MAX_RESPONSE_SPANS", 7)
    data = client.ok("/jaeger/api/traces", {"service": "gateway", "limit": "5"})
    assert [len(t["spans"]) for t in data] == [3, 3, 1]
    assert [t["warnings"] is None for t in data] == [True, True, False]


class OverloadedReads(MemoryStore):
    def list_spans(self, flt: SpanFilter) -> list[Span]:
        raise StoreOverloaded("database is down (test double)", retry_after=2.5)


def test_store_overload_is_503_with_retry_after() -> None:
    with OverloadedReads() as store:
        response = Client(with_jaeger(create_app(store, install=install_query_api))).get(
            "/jaeger/api/traces", {"service": "x"}
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    assert response.json()["errors"] == [{"code": 503, "msg": "database is down (test double)"}]


def test_openapi_documents_the_parameters(client: Client) -> None:
    spec = client.get("/openapi.json").json()
    params = spec["paths"]["/jaeger/api/traces"]["get"]["parameters"]
    described = {p["name"]: p.get("description", "") for p in params}
    for name in (
        "service",
        "operation",
        "tags",
        "tag",
        "start",
        "end",
        "minDuration",
        "maxDuration",
        "limit",
        "lookback",
        "traceID",
    ):
        assert described.get(name), name
    assert "/jaeger/api/services/{service}/operations" in spec["paths"]
    assert spec["paths"]["/jaeger/api/services"]["get"]["tags"] == ["jaeger"]


# A real server fed over OTLP/HTTP.


class Server:
    """uvicorn serving ``app`` on a free 127.0.0.1 port from a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            self.thread.join(0.01)
        raise TimeoutError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[httpx.Client, MemoryStore, list[Span]]]:
    spans = Workload(seed=11, start_ns=BASE, rate=50).spans(600)
    with (
        MemoryStore(span_capacity=5_000) as store,
        Server(with_jaeger(create_app(store, install=install_query_api))) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        body = encode_spans(spans).SerializeToString()
        posted = http.post(
            "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        )
        assert posted.status_code == 200, posted.text
        yield http, store, spans


def test_live_services_and_operations(live: tuple[httpx.Client, MemoryStore, list[Span]]) -> None:
    http, _, spans = live
    services = http.get("/jaeger/api/services").json()
    assert services["data"] == sorted({s.service_name for s in spans})
    service = spans[0].service_name
    ops = http.get(f"/jaeger/api/services/{service}/operations").json()["data"]
    assert ops == sorted({s.operation_name for s in spans if s.service_name == service})


def test_live_trace_round_trip(live: tuple[httpx.Client, MemoryStore, list[Span]]) -> None:
    http, store, spans = live
    trace_ids = list(dict.fromkeys(s.trace_id for s in spans))[:10]
    for trace_id in trace_ids:
        response = http.get(f"/jaeger/api/traces/{trace_id.hex()}")
        assert response.status_code == 200
        stored = store.get_trace(trace_id)
        sent = [s for s in spans if s.trace_id == trace_id]
        assert len(stored) == len(sent)
        check_trace(response.json()["data"][0], stored)
        jspans = {j["spanID"]: j for j in response.json()["data"][0]["spans"]}
        for s in sent:  # times as the client sent them, in microseconds
            assert jspans[s.span_id.hex()]["startTime"] == s.start_time_unix_nano // 1000
            assert jspans[s.span_id.hex()]["duration"] == s.duration_nanos // 1000
    assert http.get(f"/jaeger/api/traces/{'0' * 31}1").status_code == 404


def test_live_search_by_lifted_model_and_error(
    live: tuple[httpx.Client, MemoryStore, list[Span]],
) -> None:
    http, _, spans = live
    root = next(s for s in spans if s.model_name is not None)
    service, model = root.service_name, root.model_name
    assert model is not None
    params = {
        "service": service,
        "tags": json.dumps({"gen_ai.request.model": model}),
        "limit": "1000",
        "start": us(BASE),
        "end": us(BASE + 3_600 * SEC),
    }
    data = http.get("/jaeger/api/traces", params=params).json()["data"]
    expected = {
        s.trace_id.hex() for s in spans if s.service_name == service and s.model_name == model
    }
    assert {t["traceID"] for t in data} == expected and expected
    errors = http.get(
        "/jaeger/api/traces",
        params={"service": service, "tags": '{"error":"true"}', "limit": "1000"},
    ).json()["data"]
    expected_errors = {
        s.trace_id.hex()
        for s in spans
        if s.service_name == service and s.status_code == StatusCode.ERROR
    }
    assert {t["traceID"] for t in errors} == expected_errors
    bad = http.get("/jaeger/api/traces", params={"service": service, "minDuration": "fast"})
    assert bad.status_code == 400 and "'minDuration'" in bad.json()["errors"][0]["msg"]
