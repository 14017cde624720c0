"""The analytics routes count requests, over OTLP from ingest to answer.

The traces are sent as OTLP/JSON the way a GenAI-instrumented app exports them,
with the model only in ``gen_ai.request.model`` (ingest lifts it), and the
expected figures are worked out here from what was sent.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infertrace.telemetry.memory import MemoryStore
from tests.collector.helpers import running

MS = 1_000_000
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
REQUEST_MS = [289, 250, 420, 301]
CHILD_MS = [40, 45, 50, 55, 60]
ROUTES = ["/api/analytics/models", "/api/analytics/timeseries", "/api/analytics/leaderboard"]


def _attr(key: str, value: str | int) -> dict[str, Any]:
    v = {"stringValue": value} if isinstance(value, str) else {"intValue": str(value)}
    return {"key": key, "value": v}


def _span(
    trace: str, span: str, parent: str, name: str, kind: int, start: int, ms: int, **attrs: Any
) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + ms * MS),
        "attributes": [_attr(k.replace("__", "."), v) for k, v in attrs.items()],
    }


def genai_trace(n: int, start: int, request_ms: int) -> list[dict[str, Any]]:
    """One request of an app instrumented per the OpenTelemetry GenAI semantic
    conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/): an HTTP server
    span, the ``chat {model}`` CLIENT span with ``gen_ai.request.model`` and usage,
    and five INTERNAL children that repeat ``gen_ai.request.model``."""
    trace = f"{n:032x}"
    http, chat = f"{n:08x}00000001", f"{n:08x}00000002"
    spans = [
        _span(trace, http, "", "POST /v1/answer", 2, start, request_ms + 5),
        _span(trace, chat, http, f"chat {MODEL}", 3, start + MS, request_ms,
              gen_ai__operation__name="chat", gen_ai__request__model=MODEL,
              gen_ai__usage__input_tokens=100, gen_ai__usage__output_tokens=20 + n),
    ]  # fmt: skip
    for i, ms in enumerate(CHILD_MS):
        spans.append(
            _span(trace, f"{n:08x}{i + 3:08x}", chat, f"step {i}", 1, start + (2 + i) * MS, ms,
                  gen_ai__request__model=MODEL)
        )  # fmt: skip
    return spans


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    start = time.time_ns() - 60 * 10**9
    spans = [s for n, ms in enumerate(REQUEST_MS) for s in genai_trace(n + 1, start, ms)]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "rag-app")]},
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"},
                                "spans": spans}],
            }
        ]
    }  # fmt: skip
    store = MemoryStore()
    with running(store) as endpoints, httpx.Client(base_url=endpoints.http_url) as c:
        response = c.post("/v1/traces", json=body)
        assert response.status_code == 200, response.text
        assert store.stats().spans.count == 7 * len(REQUEST_MS)
        yield c
    store.close()


def ok(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_genai_request_is_one_request_with_its_own_latency(client: httpx.Client) -> None:
    doc = ok(client, "/api/analytics/models")
    assert doc["spans"] == "requests"
    [row] = doc["groups"]
    assert (row["key"], row["requests"], row["errors"]) == (MODEL, len(REQUEST_MS), 0)
    # Four chat spans of 289, 250, 420 and 301 ms: the median is (289 + 301) / 2.
    assert row["latency_p50_ns"] == statistics.median(REQUEST_MS) * MS == 295 * MS
    assert row["latency_max_ns"] == 420 * MS
    assert row["input_tokens"] == 100 * len(REQUEST_MS)
    assert row["output_tokens"] == sum(20 + n for n in range(1, len(REQUEST_MS) + 1))


def test_spans_all_counts_every_span_with_a_model(client: httpx.Client) -> None:
    doc = ok(client, "/api/analytics/models", spans="all")
    assert doc["spans"] == "all"
    [row] = doc["groups"]
    everything = REQUEST_MS + CHILD_MS * len(REQUEST_MS)
    assert row["requests"] == len(everything) == 24
    assert row["latency_p50_ns"] == statistics.median(everything) * MS


def test_timeseries_and_leaderboard_count_requests(client: httpx.Client) -> None:
    series = ok(client, "/api/analytics/timeseries", metric="requests", step="1h", since="2h")
    assert series["spans"] == "requests"
    assert sum(p["value"] for p in series["points"]) == len(REQUEST_MS)
    every = ok(
        client, "/api/analytics/timeseries", metric="requests", step="1h", since="2h", spans="all"
    )
    assert sum(p["value"] for p in every["points"]) == 6 * len(REQUEST_MS)
    board = ok(client, "/api/analytics/leaderboard", by="latency_p50")
    assert board["entries"] == [{"model_name": MODEL, "value": 295.0 * MS, "source": "spans"}]
    board = ok(client, "/api/analytics/leaderboard", by="requests", spans="all")
    assert board["entries"] == [{"model_name": MODEL, "value": 24.0, "source": "spans"}]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("value", ["spans", "REQUESTS ", "", "any"])
def test_a_bad_spans_value_is_a_422_naming_it(client: httpx.Client, path: str, value: str) -> None:
    params = {"spans": value, "metric": "requests"}
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert any(d["loc"][-1] == "spans" for d in response.json()["detail"])


@pytest.mark.parametrize("path", ROUTES)
def test_openapi_documents_the_request_rule(client: httpx.Client, path: str) -> None:
    doc = ok(client, "/openapi.json")
    params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
    spans = params["spans"]
    assert spans["required"] is False
    assert spans["schema"]["default"] == "requests"
    assert (
        "parent is not a span of the same service carrying the same model" in (spans["description"])
    )


TIMINGS = ["queue_p50", "queue_p95", "ttft_p50", "ttft_p95", "tpot_p50", "tpot_p95"]


@pytest.mark.parametrize("metric", TIMINGS)
def test_timeseries_take_the_timing_metrics(client: httpx.Client, metric: str) -> None:
    # The GenAI chat spans carry no queue time, TTFT or decode time: no bucket has a value.
    series = ok(client, "/api/analytics/timeseries", metric=metric, step="10m", since="2h")
    assert series["metric"] == metric
    assert series["points"] and all(p["value"] is None for p in series["points"])
    assert ok(client, "/api/analytics/leaderboard", by=metric)["entries"] == []
    [row] = ok(client, "/api/analytics/models")["groups"]
    assert (row[f"{metric}_ns"], row[f"{metric}_ms"]) == (None, None)


def test_openapi_documents_the_timing_rules(client: httpx.Client) -> None:
    doc = ok(client, "/openapi.json")
    models = doc["paths"]["/api/analytics/models"]["get"]["description"]
    for rule in ("decode time / (output tokens - 1)", "`gen_ai.latency.e2e`", "tpot_p50/p95"):
        assert rule in models
    for path, name in (
        ("/api/analytics/timeseries", "metric"),
        ("/api/analytics/leaderboard", "by"),
    ):
        [param] = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
        assert "time per output token" in param["description"]
        enum = doc["components"]["schemas"]["SeriesMetric"]["enum"]
        assert set(TIMINGS) <= set(enum)
