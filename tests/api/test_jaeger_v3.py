"""Jaeger's readers under /jaeger: the v3 API, dependencies, the Monitor tab's metrics,
and the error shapes, checked field by field.

Shapes are Jaeger's, from its source (cmd/query/app/apiv3/http_gateway.go: the
``{"result": TracesData}`` wrapper, ``{"services"}``, ``{"operations": [{name,
spanKind}]}``, errors ``{"error": {"httpCode", "message"}}``, 404 "No traces
found"; cmd/query/app/http_handler.go and query_parser.go: the ``{data, total,
limit, offset, errors}`` envelope, DependencyLink ``{parent, child, callCount}``,
the metrics parameters and their defaults; the Prometheus metrics reader: names,
help texts and labels of the MetricFamily). Expected answers are worked out here
from the records written, independently of the code under test. The last test
replays, against a real server on 127.0.0.1, the requests the Jaeger UI makes
(jaeger-ui: packages/jaeger-ui/src/api/jaeger.ts and api/v3/client.ts, the
Monitor tab's fetchAllServiceMetrics / fetchAggregatedServiceMetrics).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
import pytest

from infertrace.api import install_query_api
from infertrace.api.otlp_traces import traces_data
from infertrace.collector.app import create_app
from infertrace.collector.otlp import otlp_json
from infertrace.collector.otlp.encode import encode_spans
from infertrace.errors import StoreOverloaded
from infertrace.model import Span, SpanEvent, SpanKind, SpanLink, StatusCode
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.protocols import Health, SpanTimings, StoreStats
from infertrace.workload import Workload
from tests.api.test_jaeger_api import (
    BASE,
    MS,
    SEC,
    SPANS,
    Client,
    Server,
    client,  # noqa: F401  (fixture: the dataset in every backend, served in process)
    store,  # noqa: F401  (fixture)
    tid,
    with_jaeger,
)

ENVELOPE = {"data", "total", "limit", "offset", "errors"}
BASE_MS = BASE // MS


def rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, SEC)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{frac:09d}Z" if frac else f"{text}Z"


def request(app_client: Client, method: str, path: str) -> httpx.Response:
    """Any method, in process (the shared Client only GETs)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app_client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await c.request(method, path)

    return anyio.run(go)


def v3_error(response: httpx.Response, status: int) -> str:
    """The gateway's error body, checked; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"httpCode", "message"}
    assert body["error"]["httpCode"] == status
    message: str = body["error"]["message"]
    return message


def envelope_error(response: httpx.Response, status: int) -> str:
    """Jaeger's error envelope, checked; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["data"] is None and body["total"] == 0
    assert body["limit"] == 0 and body["offset"] == 0
    assert len(body["errors"]) == 1 and set(body["errors"][0]) == {"code", "msg"}
    assert body["errors"][0]["code"] == status
    message: str = body["errors"][0]["msg"]
    return message


# -- OTLP/JSON: the same as the collector's encoder gives ----------------------------------


def _by_span(document: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """spanId -> (resource attributes, span) of an OTLP/JSON TracesData."""
    out = {}
    for rs in document["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                out[span["spanId"]] = (rs["resource"]["attributes"], span)
    return out


ODD = {
    "s": "héllo",
    "yes": True,
    "n": -7,
    "big": 2**62 + 1,
    "f": 0.25,
    "nan": math.nan,
    "inf": math.inf,
    "ninf": -math.inf,
    "raw": b"\x00\xff",
    "list": ("a", 1, 2.5, False, b"\x01"),
    "empty": (),
}


def odd_spans() -> list[Span]:
    return [
        Span(
            trace_id=tid(77),
            span_id=(77).to_bytes(8, "big"),
            service_name="odd",
            operation_name="op",
            start_time_unix_nano=BASE,
            duration_nanos=5,
            kind=SpanKind.CONSUMER,
            status_message="only a message",
            attributes=ODD,
            resource_attributes={"service.name": "odd", "n": 1, "ok": True},
            events=(SpanEvent("e", BASE + 1, {"k": "v"}), SpanEvent("bare", BASE + 2)),
            links=(SpanLink(tid(5), (5).to_bytes(8, "big"), {"rel": 1}),),
            model_name="m",
            input_tokens=3,
        ),
        Span(
            trace_id=tid(77),
            span_id=(78).to_bytes(8, "big"),
            parent_span_id=(77).to_bytes(8, "big"),
            service_name="odd-2",
            operation_name="child",
            start_time_unix_nano=BASE + 3,
            duration_nanos=0,
        ),
    ]


@pytest.mark.parametrize(
    "spans",
    [SPANS, odd_spans(), Workload(seed=3, start_ns=BASE, rate=20).spans(120)],
    ids=["gateway", "odd-values", "workload"],
)
def test_otlp_json_is_the_collectors_encoding(spans: list[Span]) -> None:
    ours = _by_span(json.loads(json.dumps(traces_data(spans))))
    theirs = _by_span(json.loads(otlp_json.dumps(encode_spans(spans))))
    assert ours.keys() == theirs.keys() == {s.span_id.hex() for s in spans}
    for span_id, (resource, span) in ours.items():
        assert (resource, span) == theirs[span_id], span_id


def test_otlp_json_resources_and_scopes() -> None:
    doc = traces_data(SPANS)
    assert set(doc) == {"resourceSpans"}
    services = []
    for rs in doc["resourceSpans"]:
        assert set(rs) == {"resource", "scopeSpans"}
        attrs = rs["resource"]["attributes"]
        assert attrs[0]["key"] == "service.name"
        services.append(attrs[0]["value"]["stringValue"])
        assert [set(ss) for ss in rs["scopeSpans"]] == [{"scope", "spans"}]
        assert rs["scopeSpans"][0]["scope"] == {}
    # one resource per distinct (service, attributes): 1 gateway, 3 vllm pods
    assert Counter(services) == {"gateway": 1, "vllm": 3}


def test_otlp_json_int_beyond_int64_is_text() -> None:
    span = odd_spans()[1]
    wide = replace(span, attributes={"w": 10**30})
    got = traces_data([wide])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    assert got == [{"key": "w", "value": {"stringValue": str(10**30)}}]


# -- v3: services, operations ----------------------------------------------------------------


def test_v3_services(client: Client) -> None:  # noqa: F811
    response = client.get("/jaeger/api/v3/services")
    assert response.status_code == 200
    assert response.json() == {"services": ["gateway", "vllm"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"service": "gateway"},
            [
                ("GET /models", "server"),
                ("POST /chat", "server"),
                ("POST /embed", "server"),
                ("call vllm", "client"),
            ],
        ),
        ({"service": "gateway", "span_kind": "client"}, [("call vllm", "client")]),
        (
            {"service": "gateway", "spanKind": "client", "span_kind": "server"},
            [("call vllm", "client")],
        ),
        (
            {"service": "vllm", "span_kind": "SERVER"},
            [("chat m/llama", "server"), ("chat m/qwen", "server")],
        ),
        ({"service": "vllm", "span_kind": "producer"}, []),
        ({"service": "nope"}, []),
    ],
)
def test_v3_operations(
    client: Client,  # noqa: F811
    params: dict[str, str],
    expected: list[tuple[str, str]],
) -> None:
    response = client.get("/jaeger/api/v3/operations", params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"operations"}
    assert [(o["name"], o["spanKind"]) for o in body["operations"]] == expected
    assert all(set(o) == {"name", "spanKind"} for o in body["operations"])


def test_v3_operation_without_kind_is_internal() -> None:
    span = Span(tid(1), b"\x01" * 8, "svc", "plain", BASE, 1)
    with MemoryStore() as s:
        s.write(span)
        got = Client(with_jaeger(create_app(s, install=install_query_api))).get(
            "/jaeger/api/v3/operations", {"service": "svc"}
        )
    assert got.json() == {"operations": [{"name": "plain", "spanKind": "internal"}]}


# -- v3: trace search and lookup -------------------------------------------------------------


def expected_traces(
    service: str | None = None,
    operation: str | None = None,
    attributes: dict[str, Any] | None = None,
    lo: int = 0,
    hi: int = 2**63 - 1,
    dmin: int = 0,
    dmax: int = 2**63 - 1,
    depth: int = 100,
) -> list[bytes]:
    """Trace ids with a span matching everything, newest matching span first."""

    def matches(s: Span) -> bool:
        return (
            (service is None or s.service_name == service)
            and (operation is None or s.operation_name == operation)
            and lo <= s.start_time_unix_nano <= hi
            and dmin <= s.duration_nanos <= dmax
            and all(s.attributes.get(k) == v for k, v in (attributes or {}).items())
        )

    hits = sorted((s for s in SPANS if matches(s)), key=lambda s: -s.start_time_unix_nano)
    return list(dict.fromkeys(s.trace_id for s in hits))[:depth]


WINDOW = {"query.start_time_min": rfc3339(BASE), "query.start_time_max": rfc3339(BASE + 60 * SEC)}

SEARCHES = [
    ({"query.service_name": "gateway"}, {"service": "gateway"}),
    ({"query.serviceName": "vllm", "query.service_name": "gateway"}, {"service": "vllm"}),
    ({"query.service_name": "vllm", "query.search_depth": "2"}, {"service": "vllm", "depth": 2}),
    ({"query.service_name": "vllm", "query.num_traces": "3"}, {"service": "vllm", "depth": 3}),
    (
        {"query.service_name": "gateway", "query.operation_name": "POST /chat"},
        {"service": "gateway", "operation": "POST /chat"},
    ),
    (
        {"query.service_name": "gateway", "query.attributes": '{"http.status_code":"500"}'},
        {"service": "gateway", "attributes": {"http.status_code": 500}},
    ),
    (
        {"query.service_name": "gateway", "query.attributes": '{"http.route":"/models"}'},
        {"service": "gateway", "attributes": {"http.route": "/models"}},
    ),
    (
        {"query.service_name": "vllm", "query.duration_min": "100ms"},
        {"service": "vllm", "dmin": 100 * MS},
    ),
    (
        {"query.service_name": "vllm", "query.duration_min": "50ms", "query.duration_max": "0.2s"},
        {"service": "vllm", "dmin": 50 * MS, "dmax": 200 * MS},
    ),
    (
        {
            "query.service_name": "gateway",
            "query.start_time_min": rfc3339(BASE + 2 * SEC),
            "query.start_time_max": rfc3339(BASE + 4 * SEC),
        },
        {"service": "gateway", "lo": BASE + 2 * SEC, "hi": BASE + 4 * SEC},
    ),
    (
        {
            "query.service_name": "gateway",
            "query.start_time_min": rfc3339(BASE + 1 * SEC + 500),
            "query.start_time_max": rfc3339(BASE + 3 * SEC + 999),
        },
        {"service": "gateway", "lo": BASE + SEC + 500, "hi": BASE + 3 * SEC + 999},
    ),
]


def check_spans(document: dict[str, Any], trace_ids: list[bytes]) -> None:
    """Every span of the traces is there, each field as written."""
    got = _by_span(document)
    wanted = [s for s in SPANS if s.trace_id in trace_ids]
    assert got.keys() == {s.span_id.hex() for s in wanted}
    for s in wanted:
        resource, span = got[s.span_id.hex()]
        assert resource[0] == {"key": "service.name", "value": {"stringValue": s.service_name}}
        assert span["traceId"] == s.trace_id.hex() and span["spanId"] == s.span_id.hex()
        assert span.get("parentSpanId", "") == s.parent_span_id.hex()
        assert span["name"] == s.operation_name and span["kind"] == int(s.kind)
        assert span["startTimeUnixNano"] == str(s.start_time_unix_nano)
        assert span["endTimeUnixNano"] == str(s.start_time_unix_nano + s.duration_nanos)
        status = span.get("status", {})
        assert status.get("code", 0) == int(s.status_code)
        assert status.get("message", "") == s.status_message
        attrs = {a["key"] for a in span["attributes"]}
        assert set(s.attributes) <= attrs
        assert [e["name"] for e in span.get("events", [])] == [e.name for e in s.events]
        assert [link["traceId"] for link in span.get("links", [])] == [
            link.trace_id.hex() for link in s.links
        ]


@pytest.mark.parametrize(("params", "expect"), SEARCHES)
def test_v3_search(
    client: Client,  # noqa: F811
    params: dict[str, str],
    expect: dict[str, Any],
) -> None:
    wanted = expected_traces(**expect)
    assert wanted, "each case finds something"
    response = client.get("/jaeger/api/v3/traces", {**WINDOW, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result"} and set(body["result"]) == {"resourceSpans"}
    check_spans(body["result"], wanted)
    # traces come newest first: the first span of each trace in order of appearance
    order = list(dict.fromkeys(s["traceId"] for _, s in _by_span(body["result"]).values()))
    assert sorted(order) == sorted(t.hex() for t in wanted)


@pytest.mark.parametrize(
    "params",
    [
        {"query.service_name": "nope"},
        {"query.service_name": "gateway", "query.operation_name": "nope"},
        {"query.service_name": "gateway", "query.attributes": '{"http.status_code":"418"}'},
        {"query.service_name": "vllm", "query.duration_min": "1h"},
        {
            "query.service_name": "gateway",
            "query.start_time_min": rfc3339(BASE + 61 * SEC),
            "query.start_time_max": rfc3339(BASE + 62 * SEC),
        },
    ],
)
def test_v3_search_finding_nothing_is_404(client: Client, params: dict[str, str]) -> None:  # noqa: F811
    response = client.get("/jaeger/api/v3/traces", {**WINDOW, **params})
    assert v3_error(response, 404) == "No traces found"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"query.start_time_min": ""},
            "query.start_time_min and query.start_time_max are required",
        ),
        (
            {"query.start_time_max": "yesterday"},
            "malformed parameter query.start_time_max: 'yesterday' is not an RFC 3339 time",
        ),
        ({"query.startTimeMin": "2024-13-01T00:00:00Z"}, "malformed parameter query.startTimeMin"),
        (
            {"query.start_time_min": rfc3339(BASE + 60 * SEC)},
            "query.start_time_min must be before query.start_time_max",
        ),
        ({"query.duration_min": "fast"}, "malformed parameter query.duration_min: 'fast'"),
        ({"query.durationMax": "1x"}, "malformed parameter query.durationMax"),
        (
            {"query.search_depth": "0"},
            "malformed parameter query.search_depth: search depth must be between 1 and 1000",
        ),
        ({"query.searchDepth": "1001"}, "malformed parameter query.searchDepth"),
        ({"query.num_traces": "x"}, "malformed parameter query.num_traces: 'x' is not an integer"),
        ({"query.attributes": "[1]"}, "malformed parameter query.attributes"),
        ({"query.attributes": '{"a": 1}'}, "malformed parameter query.attributes"),
        ({"query.raw_traces": "maybe"}, "malformed parameter query.raw_traces: 'maybe'"),
    ],
)
def test_v3_search_bad_parameters(
    client: Client,  # noqa: F811
    params: dict[str, str],
    message: str,
) -> None:
    response = client.get(
        "/jaeger/api/v3/traces", {**WINDOW, "query.service_name": "gateway", **params}
    )
    assert v3_error(response, 400).startswith(message)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("00000000000000000000000000000001", {}, 200, None),
        ("1", {}, 200, None),  # short ids are zero-padded, as in Jaeger
        (
            "00000000000000000000000000000003",
            {"start_time": rfc3339(BASE), "end_time": rfc3339(BASE + SEC)},
            200,
            None,
        ),
        (
            "00000000000000000000000000000004",
            {"startTime": rfc3339(BASE), "rawTraces": "true"},
            200,
            None,
        ),
        ("000000000000000000000000000000ff", {}, 404, "No traces found"),
        ("xyz", {}, 400, "malformed parameter trace_id: 'xyz' is not 1 to 32 hex digits"),
        ("1" * 33, {}, 400, "malformed parameter trace_id"),
        ("1", {"start_time": "now"}, 400, "malformed parameter start_time: 'now'"),
        ("1", {"endTime": "2024-01-01"}, 400, "malformed parameter endTime"),
        ("1", {"raw_traces": "2"}, 400, "malformed parameter raw_traces"),
    ],
)
def test_v3_get_trace(
    client: Client,  # noqa: F811
    path: str,
    params: dict[str, str],
    status: int,
    message: str | None,
) -> None:
    response = client.get(f"/jaeger/api/v3/traces/{path}", params)
    if message is not None:
        assert v3_error(response, status).startswith(message)
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result"}
    check_spans(body["result"], [tid(int(path, 16))])


# -- dependencies ----------------------------------------------------------------------------


def expected_links(lo: int, hi: int, service: str | None = None) -> list[dict[str, Any]]:
    """Cross-service parent/child pairs of SPANS whose child starts in [lo, hi]."""
    by_id = {(s.trace_id, s.span_id): s for s in SPANS}
    calls: Counter[tuple[str, str]] = Counter()
    for s in SPANS:
        parent = by_id.get((s.trace_id, s.parent_span_id))
        if parent and parent.service_name != s.service_name and lo <= s.start_time_unix_nano <= hi:
            calls[(parent.service_name, s.service_name)] += 1
    return [
        {"parent": p, "child": c, "callCount": n}
        for (p, c), n in sorted(calls.items())
        if service is None or service in (p, c)
    ]


@pytest.mark.parametrize(
    ("params", "lo", "hi", "service"),
    [
        (
            {"endTs": str(BASE_MS + 60_000), "lookback": "120000"},
            BASE - 60 * SEC,
            BASE + 60 * SEC,
            None,
        ),
        (
            {"endTs": str(BASE_MS + 2_500), "lookback": "1500"},
            BASE + 1_000 * MS,
            BASE + 2_500 * MS,
            None,
        ),
        (
            {"endTs": str(BASE_MS + 60_000), "lookback": "120000", "service": "vllm"},
            0,
            2**63,
            "vllm",
        ),
        (
            {"endTs": str(BASE_MS + 60_000), "lookback": "120000", "service": "nope"},
            0,
            2**63,
            "nope",
        ),
        ({"endTs": str(BASE_MS)}, BASE - 86_400 * SEC, BASE, None),  # default lookback: 24 h
        ({"endTs": str(BASE_MS - 1), "lookback": "1000000"}, 0, 0, None),
        ({"endTs": str(BASE_MS + 60_000), "lookback": "-5"}, 0, 0, None),
        ({}, BASE, BASE + 60 * SEC, None),  # endTs defaults to now, lookback to 24 h: nothing
    ],
)
def test_dependencies(
    client: Client,  # noqa: F811
    params: dict[str, str],
    lo: int,
    hi: int,
    service: str | None,
) -> None:
    response = client.get("/jaeger/api/dependencies", params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ENVELOPE
    assert body["total"] == 0 and body["limit"] == 0 and body["offset"] == 0
    assert body["errors"] is None
    if not params:
        assert body["data"] == []  # the data set is from 2023
        return
    assert body["data"] == expected_links(lo, hi, service)
    assert all(set(d) == {"parent", "child", "callCount"} for d in body["data"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"endTs": "now"}, "unable to parse param 'endTs': 'now' is not an integer"),
        ({"lookback": "1h"}, "unable to parse param 'lookback': '1h' is not an integer"),
        ({"endTs": "1.5"}, "unable to parse param 'endTs'"),
        ({"endTs": str(10**20)}, "unable to parse param 'endTs'"),
    ],
)
def test_dependencies_bad_parameters(
    client: Client,  # noqa: F811
    params: dict[str, str],
    message: str,
) -> None:
    got = envelope_error(client.get("/jaeger/api/dependencies", params), 400)
    assert got.startswith(message)


# -- Monitor tab metrics ---------------------------------------------------------------------

END_MS = BASE_MS + 6_000
MONITOR = {"endTs": str(END_MS), "lookback": "6000", "step": "2000", "ratePer": "3000"}
POINTS = [BASE + k * 2 * SEC for k in range(4)]  # endTs - 6 s, then every 2 s
RATE_NS = 3 * SEC


def window(service: str, t: int, kinds: set[SpanKind], op: str | None = None) -> list[Span]:
    return [
        s
        for s in SPANS
        if s.service_name == service
        and s.kind in kinds
        and (op is None or s.operation_name == op)
        and t - RATE_NS < s.start_time_unix_nano <= t
    ]


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the two nearest ranks."""
    values = sorted(values)
    pos = (len(values) - 1) * q
    below = math.floor(pos)
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (pos - below)


def expected_series(
    kind: str, service: str, kinds: set[SpanKind], q: float, op: str | None
) -> list[tuple[str, float]]:
    out = []
    for t in POINTS:
        spans = window(service, t, kinds, op)
        stamp = rfc3339(t)
        if kind == "calls":
            out.append((stamp, len(spans) / 3.0))
        elif spans and kind == "errors":
            errors = sum(s.status_code == StatusCode.ERROR for s in spans)
            out.append((stamp, errors / len(spans)))
        elif spans:
            out.append((stamp, quantile([s.duration_nanos / MS for s in spans], q)))
    return out


NAMES = {
    ("latencies", False): ("service_latencies", "{q}th quantile latency, grouped by service"),
    ("latencies", True): (
        "service_operation_latencies",
        "{q}th quantile latency, grouped by service & operation",
    ),
    ("calls", False): ("service_call_rate", "calls/sec, grouped by service"),
    ("calls", True): ("service_operation_call_rate", "calls/sec, grouped by service & operation"),
    ("errors", False): (
        "service_error_rate",
        "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service",
    ),
    ("errors", True): (
        "service_operation_error_rate",
        "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service & "
        "operation",
    ),
}


@pytest.mark.parametrize("kind", ["latencies", "calls", "errors"])
@pytest.mark.parametrize(
    ("extra", "services", "span_kinds", "by_op"),
    [
        ({"service": "gateway"}, ["gateway"], {SpanKind.SERVER}, False),
        ({"service": "gateway", "groupByOperation": "true"}, ["gateway"], {SpanKind.SERVER}, True),
        ({"service": "gateway", "spanKind": "client"}, ["gateway"], {SpanKind.CLIENT}, False),
        (
            [
                ("service", "gateway"),
                ("service", "vllm"),
                ("spanKind", "server"),
                ("spanKind", "client"),
            ],
            ["gateway", "vllm"],
            {SpanKind.SERVER, SpanKind.CLIENT},
            False,
        ),
        (
            {"service": "gateway,vllm", "groupByOperation": "1"},
            ["gateway", "vllm"],
            {SpanKind.SERVER},
            True,
        ),
        ({"service": "nope"}, [], {SpanKind.SERVER}, False),
    ],
)
def test_metrics(
    client: Client,  # noqa: F811
    kind: str,
    extra: Any,
    services: list[str],
    span_kinds: set[SpanKind],
    by_op: bool,
) -> None:
    q = 0.75
    params = [*MONITOR.items(), ("quantile", str(q))]
    params += list(extra.items()) if isinstance(extra, dict) else extra
    response = client.get(f"/jaeger/api/metrics/{kind}", params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"name", "type", "help", "metrics"}
    name, help_text = NAMES[(kind, by_op)]
    assert body["name"] == name and body["type"] == "GAUGE"
    assert body["help"] == help_text.format(q="0.75")
    expected = {}
    for service in services:
        ops = sorted({s.operation_name for s in SPANS if s.service_name == service})
        for op in ops if by_op else [None]:
            in_range = [
                s
                for s in SPANS
                if s.service_name == service
                and s.kind in span_kinds
                and op in (None, s.operation_name)
                and POINTS[0] - RATE_NS < s.start_time_unix_nano <= POINTS[-1]
            ]
            if in_range:  # a series exists when a span of it is in some point's window
                labels = [{"name": "service_name", "value": service}]
                if op is not None:
                    labels.insert(0, {"name": "operation", "value": op})
                expected[json.dumps(labels)] = expected_series(kind, service, span_kinds, q, op)
    got = {}
    for metric in body["metrics"]:
        assert set(metric) == {"labels", "metricPoints"}
        points = []
        for point in metric["metricPoints"]:
            assert set(point) == {"gaugeValue", "timestamp"} and set(point["gaugeValue"]) == {
                "doubleValue"
            }
            points.append((point["timestamp"], point["gaugeValue"]["doubleValue"]))
        got[json.dumps(metric["labels"])] = points
    assert got.keys() == expected.keys()
    for key, series in expected.items():
        assert [t for t, _ in got[key]] == [t for t, _ in series], key
        for (_, a), (_, b) in zip(got[key], series, strict=True):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), key


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("latencies", {"service": "gateway"}, "unable to parse param 'quantile'"),
        (
            "latencies",
            {"service": "gateway", "quantile": "2"},
            "'quantile' must be between 0 and 1",
        ),
        ("calls", {}, "unable to parse param 'service': please provide at least one service name"),
        (
            "calls",
            {"service": "gateway", "spanKind": "SERVER"},
            "unable to parse param 'spanKind': unsupported span kind: 'SERVER'",
        ),
        (
            "errors",
            {"service": "gateway", "groupByOperation": "yes"},
            "unable to parse param 'groupByOperation'",
        ),
        ("calls", {"service": "gateway", "endTs": "x"}, "unable to parse param 'endTs'"),
        ("calls", {"service": "gateway", "step": "0"}, "'step' must be a positive number"),
        ("calls", {"service": "gateway", "ratePer": "-1"}, "'ratePer' must be a positive number"),
        (
            "calls",
            {"service": "gateway", "lookback": "86400000", "step": "1"},
            "exceeded maximum resolution of 11000 points",
        ),
    ],
)
def test_metrics_bad_parameters(
    client: Client,  # noqa: F811
    path: str,
    params: dict[str, str],
    message: str,
) -> None:
    got = envelope_error(client.get(f"/jaeger/api/metrics/{path}", params), 400)
    assert got.startswith(message)


def test_minstep(client: Client) -> None:  # noqa: F811
    body = client.get("/jaeger/api/metrics/minstep").json()
    assert body == {"data": 1, "total": 0, "limit": 0, "offset": 0, "errors": None}


def test_metrics_defaults_cover_the_last_hour_every_5s() -> None:
    now = time.time_ns()
    spans = [
        Span(
            tid(9),
            (i + 1).to_bytes(8, "big"),
            "svc",
            "op",
            now - i * 60 * SEC,
            MS,
            kind=SpanKind.SERVER,
        )
        for i in range(5)
    ]
    with MemoryStore() as s:
        s.write_batch(spans)
        body = (
            Client(with_jaeger(create_app(s, install=install_query_api)))
            .get("/jaeger/api/metrics/calls", {"service": "svc"})
            .json()
        )
    points = body["metrics"][0]["metricPoints"]
    assert len(points) == 3600 // 5 + 1
    stamps = [datetime.fromisoformat(p["timestamp"]).timestamp() for p in points]
    assert all(math.isclose(b - a, 5.0) for a, b in itertools.pairwise(stamps))
    # the last point's 10 minutes (ratePer) hold all five spans; the first none
    assert points[-1]["gaugeValue"]["doubleValue"] == pytest.approx(5 / 600)
    assert points[0]["gaugeValue"]["doubleValue"] == 0


# -- errors everywhere under /jaeger ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("GET", "/jaeger/api/nope", 404, "envelope"),
        ("GET", "/jaeger/nope", 404, "envelope"),
        ("GET", "/jaeger", 404, "envelope"),
        ("GET", "/jaeger/api/metrics/nope", 404, "envelope"),
        ("POST", "/jaeger/api/services", 405, "envelope"),
        ("DELETE", "/jaeger/api/dependencies", 405, "envelope"),
        ("GET", "/jaeger/api/v3/nope", 404, "v3"),
        ("POST", "/jaeger/api/v3/traces", 405, "v3"),
        ("GET", "/api/nope", 404, "detail"),
    ],
)
def test_routing_errors_in_jaeger_shapes(
    client: Client,  # noqa: F811
    method: str,
    path: str,
    status: int,
    shape: str,
) -> None:
    response = request(client, method, path)
    if shape == "envelope":
        assert path in envelope_error(response, status) or status == 405
    elif shape == "v3":
        assert v3_error(response, status)
    else:
        assert response.status_code == status and set(response.json()) == {"detail"}


class Overloaded(MemoryStore):
    """Every read the Jaeger routes make fails as a down database does."""

    def list_spans(self, flt: SpanFilter) -> list[Span]:
        raise StoreOverloaded("database is down (test double)", retry_after=2.5)

    def services(self) -> list[str]:
        raise StoreOverloaded("database is down (test double)", retry_after=2.5)

    def dependencies(self, start_ns: int, end_ns: int) -> list[tuple[str, str, int]]:
        raise StoreOverloaded("database is down (test double)", retry_after=2.5)

    def span_timings(
        self, service: str, kinds: Sequence[int], start_ns: int, end_ns: int
    ) -> SpanTimings:
        raise StoreOverloaded("database is down (test double)", retry_after=2.5)


@pytest.mark.parametrize(
    ("path", "params", "shape"),
    [
        ("/jaeger/api/v3/services", {}, "v3"),
        ("/jaeger/api/v3/operations", {"service": "x"}, "v3"),
        ("/jaeger/api/v3/traces", WINDOW, "v3"),
        ("/jaeger/api/dependencies", {}, "envelope"),
        ("/jaeger/api/metrics/calls", {"service": "x"}, "envelope"),
    ],
)
def test_overloaded_store_is_503_with_retry_after(
    path: str, params: dict[str, str], shape: str
) -> None:
    with Overloaded() as s:
        response = Client(with_jaeger(create_app(s, install=install_query_api))).get(path, params)
    assert response.headers["retry-after"] == "3"
    check = v3_error if shape == "v3" else envelope_error
    assert check(response, 503) == "database is down (test double)"


class KnownDown(MemoryStore):
    """A store watched in the background whose last health check failed."""

    def health(self) -> Health:
        return Health(False, "connection refused (test double)")

    def cached_stats(self) -> StoreStats | None:
        return None


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/jaeger/api/v3/services", "v3"),
        ("/jaeger/api/v3/traces/1", "v3"),
        ("/jaeger/api/dependencies", "envelope"),
        ("/jaeger/api/metrics/minstep", "envelope"),
    ],
)
def test_store_known_down_is_503_at_once(path: str, shape: str) -> None:
    with KnownDown() as s:
        response = Client(with_jaeger(create_app(s, install=install_query_api))).get(path)
    assert response.headers["retry-after"] == "2"
    check = v3_error if shape == "v3" else envelope_error
    message = check(response, 503)
    assert message == "store unavailable: connection refused (test double); retry after 2 s"


# -- the Jaeger UI's requests, replayed against a real server ---------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[httpx.Client, list[Span], int]]:
    now_ms = time.time_ns() // MS
    start = (now_ms - 30 * 60_000) * MS
    spans = Workload(seed=5, start_ns=start, rate=2).spans(300)
    # the gateway data set, moved to the last half hour: cross-service calls
    shift = start - BASE
    spans += [replace(s, start_time_unix_nano=s.start_time_unix_nano + shift) for s in SPANS]
    with (
        MemoryStore(span_capacity=5_000) as mem,
        Server(create_app(mem, install=install_query_api)) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        body = encode_spans(spans).SerializeToString()
        posted = http.post(
            "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
        )
        assert posted.status_code == 200, posted.text
        yield http, spans, now_ms


def iso_ms(ms: int) -> str:
    """JavaScript's ``new Date(ms).toISOString()``: always three fraction digits."""
    return (
        datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
    )


def test_jaeger_ui_request_sequence(served: tuple[httpx.Client, list[Span], int]) -> None:
    http, spans, now_ms = served
    # Search page (v3 client): services, then the chosen service's span names
    services = http.get("/jaeger/api/v3/services").json()["services"]
    assert services == sorted({s.service_name for s in spans})
    ops = http.get(f"/jaeger/api/v3/operations?service={services[0]}").json()["operations"]
    assert {o["name"] for o in ops} == {
        s.operation_name for s in spans if s.service_name == services[0]
    }
    # Find Traces: start/end as ISO times from the URL's microseconds, limit as num_traces
    query = urlencode(
        {
            "query.service_name": "gateway",
            "query.start_time_min": iso_ms(now_ms - 3_600_000),
            "query.start_time_max": iso_ms(now_ms),
            "query.num_traces": "20",
            "query.duration_min": "1ms",
            "query.attributes": '{"error":"true"}',
        }
    )
    found = http.get(f"/jaeger/api/v3/traces?{query}")
    assert found.status_code == 200, found.text
    error_traces = {
        s.trace_id.hex()
        for s in spans
        if s.service_name == "gateway" and s.status_code == StatusCode.ERROR
    }
    got = {s["traceId"] for _, s in _by_span(found.json()["result"]).values()}
    assert got == error_traces and error_traces
    # Trace page
    one = sorted(error_traces)[0]
    trace = http.get(f"/jaeger/api/v3/traces/{one}").json()["result"]
    assert {s["spanId"] for _, s in _by_span(trace).values()} == {
        s.span_id.hex() for s in spans if s.trace_id.hex() == one
    }
    # the classic routes the UI still calls: operations by kind for the Monitor tab
    server_ops = http.get(
        "/jaeger/api/operations", params={"service": "gateway", "spanKind": "server"}
    ).json()
    assert {o["name"] for o in server_ops["data"]} == {"POST /chat", "GET /models", "POST /embed"}
    # System Architecture: the last week
    deps = http.get(f"/jaeger/api/dependencies?endTs={now_ms}&lookback=604800000").json()
    assert deps["data"] == [{"parent": "gateway", "child": "vllm", "callCount": 6}]
    # Grafana's service graph (datasource/jaeger: endTs and lookback in ms of the time range)
    graph = http.get(f"/jaeger/api/dependencies?endTs={now_ms}&lookback=3600000").json()
    assert graph["data"] == deps["data"]
    # Monitor tab: services, then fetchAllServiceMetrics and fetchAggregatedServiceMetrics
    assert http.get("/jaeger/api/services").json()["data"] == services
    base = {
        "endTs": now_ms,
        "lookback": 3_600_000,
        "ratePer": 600_000,
        "spanKind": "server",
        "step": 60_000,
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("latencies", {**base, "quantile": 0.5}),
        ("latencies", {**base, "quantile": 0.75}),
        ("latencies", {**base, "quantile": 0.95}),
        ("calls", {**base, "quantile": 0.95}),
        ("errors", {**base, "quantile": 0.95}),
        ("latencies", {**base, "groupByOperation": "true", "quantile": 0.95}),
        ("calls", {**base, "groupByOperation": "true", "quantile": 0.95}),
        ("errors", {**base, "groupByOperation": "true", "quantile": 0.95}),
    ]
    for kind, params in calls:
        # the UI writes service=NAME itself, then the rest with query-string (keys sorted)
        text = "service=gateway&" + urlencode(sorted(params.items()))
        response = http.get(f"/jaeger/api/metrics/{kind}?{text}")
        assert response.status_code == 200, response.text
        family = response.json()
        assert family["type"] == "GAUGE" and family["metrics"], (kind, params)
        for metric in family["metrics"]:
            names = [label["name"] for label in metric["labels"]]
            assert names == (
                ["operation", "service_name"] if "groupByOperation" in params else ["service_name"]
            )
            for point in metric["metricPoints"]:
                assert isinstance(point["gaugeValue"]["doubleValue"], float | int)
                assert point["timestamp"].endswith("Z")
    assert http.get("/jaeger/api/metrics/minstep").json()["data"] == 1
    # an unknown route answers in the envelope the UI reads its error from
    missing = http.get("/jaeger/api/archive/xyz")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 404
