"""The REST query API against a real server fed over OTLP/HTTP.

Expected answers are computed here from the generated records, independently of
the stores. Percentiles use linear interpolation between closest ranks: the
q-th percentile of n sorted values v is v[f] + (v[f+1] - v[f]) * (r - f) with
r = q / 100 * (n - 1) and f = floor(r).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.model import LogRecord, MetricPoint, Span, StatusCode
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import running

PB = {"Content-Type": "application/x-protobuf"}
MINUTE = 60 * 10**9
NOW = time.time_ns()
START = NOW - 50 * MINUTE
TRACES = 600  # over about 40 minutes of simulated time


@dataclass
class Fed:
    url: str
    client: httpx.Client
    store: MemoryStore
    spans: list[Span]
    logs: list[LogRecord]
    points: list[MetricPoint]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def fed() -> Iterator[Fed]:
    w = Workload(seed=42, start_ns=START, rate=TRACES / (40 * 60))
    spans = w.spans(TRACES * 6)
    logs, points = w.logs(300), w.metrics(240)
    store = MemoryStore(span_capacity=20_000, log_capacity=5_000, metric_capacity=5_000)
    with running(store) as endpoints, httpx.Client(base_url=endpoints.http_url) as client:
        for i in range(0, len(spans), 600):
            body = encode_spans(spans[i : i + 600]).SerializeToString()
            assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
        assert client.post("/v1/logs", content=encode_logs(logs).SerializeToString(), headers=PB)
        body = encode_metrics(points).SerializeToString()
        assert client.post("/v1/metrics", content=body, headers=PB).status_code == 200
        yield Fed(endpoints.http_url, client, store, spans, logs, points)
    store.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{ns % 10**9:09d}Z"
    )


# --- traces -----------------------------------------------------------------------


def test_trace_by_id_returns_every_span_in_start_order(fed: Fed) -> None:
    trace_id = fed.spans[60].trace_id
    expected = sorted(
        (s for s in fed.spans if s.trace_id == trace_id), key=lambda s: s.start_time_unix_nano
    )
    doc = fed.ok(f"/api/traces/{trace_id.hex()}")
    assert doc["trace_id"] == trace_id.hex()
    assert doc["span_count"] == len(expected) == len(doc["spans"])
    assert [s["start_time_unix_nano"] for s in doc["spans"]] == sorted(
        s["start_time_unix_nano"] for s in doc["spans"]
    )
    by_id = {s["span_id"]: s for s in doc["spans"]}
    for span in expected:
        got = by_id[span.span_id.hex()]
        assert got["trace_id"] == trace_id.hex()
        assert got["parent_span_id"] == (span.parent_span_id.hex() or None)
        assert got["operation_name"] == span.operation_name
        assert got["start_time_unix_nano"] == span.start_time_unix_nano
        assert got["start_time"] == iso(span.start_time_unix_nano)
        assert got["duration_nanos"] == span.duration_nanos
        assert got["end_time_unix_nano"] == span.start_time_unix_nano + span.duration_nanos
        assert got["model_name"] == span.model_name
        assert got["output_tokens"] == span.output_tokens
        assert got["status_code"] == span.status_code.name.lower()
        for key, value in span.attributes.items():
            want = list(value) if isinstance(value, tuple) else value
            assert got["attributes"][key] == want
    root = expected[0]
    assert doc["start_time_unix_nano"] == root.start_time_unix_nano
    assert doc["duration_nanos"] == max(s.end_time_unix_nano for s in expected) - min(
        s.start_time_unix_nano for s in expected
    )


@pytest.mark.parametrize(
    ("trace_id", "status"),
    [
        ("0" * 32, 404),
        ("ab" * 16, 404),
        ("abc", 400),
        ("zz" * 16, 400),
        ("0" * 33, 400),
        ("0" * 16, 400),
    ],
)
def test_trace_errors(fed: Fed, trace_id: str, status: int) -> None:
    response = fed.get(f"/api/traces/{trace_id}")
    assert response.status_code == status
    assert trace_id in response.json()["detail"]


# --- span search ------------------------------------------------------------------

Pred = Callable[[Span], bool]
M70 = "meta-llama/Llama-3.1-70B-Instruct"

SPAN_QUERIES: list[tuple[str, dict[str, Any], Pred]] = [
    ("service", {"service": "vllm-llama-8b"}, lambda s: s.service_name == "vllm-llama-8b"),
    ("model", {"model": M70}, lambda s: s.model_name == M70),
    ("operation", {"operation": "decode"}, lambda s: s.operation_name == "decode"),
    ("status error", {"status": "error"}, lambda s: s.status_code == StatusCode.ERROR),
    ("status ok", {"status": "OK"}, lambda s: s.status_code == StatusCode.OK),
    ("min duration", {"min_duration": "2s"}, lambda s: s.duration_nanos >= 2 * 10**9),
    (
        "duration band",
        {"min_duration": "250ms", "max_duration": "1.5s"},
        lambda s: 250 * 10**6 <= s.duration_nanos <= 1_500 * 10**6,
    ),
    (
        "absolute window",
        {"since": iso(START + 5 * MINUTE), "until": iso(START + 9 * MINUTE)},
        lambda s: START + 5 * MINUTE <= s.start_time_unix_nano < START + 9 * MINUTE,
    ),
    (
        "unix ns window",
        {"since": str(START + 10 * MINUTE), "until": str(START + 11 * MINUTE)},
        lambda s: START + 10 * MINUTE <= s.start_time_unix_nano < START + 11 * MINUTE,
    ),
    (
        "typed int attribute",
        {"attr.gen_ai.request.max_tokens": "512"},
        lambda s: s.attributes.get("gen_ai.request.max_tokens") == 512,
    ),
    (
        "string attribute",
        {"attr.engine.stage": "prefill"},
        lambda s: s.attributes.get("engine.stage") == "prefill",
    ),
    (
        "resource attribute",
        {"attr.k8s.pod.name": "vllm-llama-70b-1"},
        lambda s: s.resource_attributes.get("k8s.pod.name") == "vllm-llama-70b-1",
    ),
    ("quoted string never matches an int", {"attr.gen_ai.request.max_tokens": '"512"'}, None),
    (
        "three filters",
        {"service": "vllm-llama-70b", "operation": "decode", "min_duration": "500ms"},
        lambda s: (
            s.service_name == "vllm-llama-70b"
            and s.operation_name == "decode"
            and s.duration_nanos >= 500 * 10**6
        ),
    ),
]


@pytest.mark.parametrize(
    ("params", "pred"), [q[1:] for q in SPAN_QUERIES], ids=[q[0] for q in SPAN_QUERIES]
)
def test_span_search_matches_the_data(fed: Fed, params: dict[str, Any], pred: Pred | None) -> None:
    doc = fed.ok("/api/spans", limit=10_000, **params)
    expected = {s.span_id.hex() for s in fed.spans if pred is not None and pred(s)}
    got = [s["span_id"] for s in doc["spans"]]
    assert len(got) == len(set(got)) == doc["count"]
    assert set(got) == expected
    starts = [s["start_time_unix_nano"] for s in doc["spans"]]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize("since", ["20m", "1200s", "0.3333h"])
def test_relative_since_is_read_against_the_servers_now(fed: Fed, since: str) -> None:
    before = time.time_ns()
    doc = fed.ok("/api/spans", since=since, limit=10_000)
    after = time.time_ns()
    ago = round(float(since[:-1]) * {"m": MINUTE, "s": 10**9, "h": 60 * MINUTE}[since[-1]])
    got = {s["span_id"] for s in doc["spans"]}
    surely_in = {s.span_id.hex() for s in fed.spans if s.start_time_unix_nano >= after - ago}
    maybe_in = {s.span_id.hex() for s in fed.spans if s.start_time_unix_nano >= before - ago}
    assert surely_in <= got <= maybe_in
    assert len(surely_in) > 100


def test_span_search_limit_and_cap(fed: Fed) -> None:
    doc = fed.ok("/api/spans", limit=7)
    assert doc["count"] == 7 and doc["truncated"] is True
    newest = sorted((s.start_time_unix_nano for s in fed.spans), reverse=True)[:7]
    assert [s["start_time_unix_nano"] for s in doc["spans"]] == newest
    assert fed.ok("/api/spans", limit=1_000_000)["limit"] == 10_000
    assert fed.ok("/api/spans")["limit"] == 100


BAD_PARAMS: list[tuple[str, dict[str, Any], str]] = [
    ("/api/spans", {"since": "yesterday"}, "since"),
    ("/api/spans", {"until": "2026-13-45T00:00:00Z"}, "until"),
    ("/api/spans", {"since": "1h", "until": "2h"}, "until"),
    ("/api/spans", {"min_duration": "fast"}, "min_duration"),
    ("/api/spans", {"max_duration": "10"}, "max_duration"),
    ("/api/spans", {"min_duration": "2s", "max_duration": "1s"}, "max_duration"),
    ("/api/spans", {"status": "broken"}, "status"),
    ("/api/spans", {"limit": "0"}, "limit"),
    ("/api/spans", {"limit": "many"}, "limit"),
    ("/api/spans", {"attr.": "x"}, "attr."),
    ("/api/logs", {"trace_id": "xyz"}, "trace_id"),
    ("/api/logs", {"min_severity": "99"}, "min_severity"),
    ("/api/metrics", {"since": "soon"}, "since"),
    ("/api/analytics/models", {"group_by": "gpu"}, "group_by"),
    ("/api/analytics/models", {"until": "later"}, "until"),
    ("/api/analytics/timeseries", {"metric": "vibes"}, "metric"),
    ("/api/analytics/timeseries", {"metric": "requests", "step": "0s"}, "step"),
    ("/api/analytics/timeseries", {"metric": "requests", "step": "1ms"}, "step"),
    ("/api/analytics/timeseries", {"metric": "requests", "step": "week"}, "step"),
    ("/api/analytics/leaderboard", {"by": "luck"}, "by"),
    ("/api/analytics/leaderboard", {"limit": "0"}, "limit"),
]


@pytest.mark.parametrize(("path", "params", "name"), BAD_PARAMS)
def test_invalid_parameters_are_422_naming_the_parameter(
    fed: Fed, path: str, params: dict[str, Any], name: str
) -> None:
    before = fed.store.stats().spans.count
    response = fed.get(path, **params)
    assert response.status_code == 422, response.text
    details = response.json()["detail"]
    assert any(d["loc"][-1] == name for d in details), details
    assert fed.store.stats().spans.count == before


# --- names ------------------------------------------------------------------------


def test_services_operations_models_and_metric_names(fed: Fed) -> None:
    assert fed.ok("/api/services")["services"] == sorted({s.service_name for s in fed.spans})
    for service in ("vllm-llama-8b", "tgi-mistral-7b"):
        ops = fed.ok(f"/api/services/{service}/operations")["operations"]
        assert ops == sorted({s.operation_name for s in fed.spans if s.service_name == service})
    assert fed.ok("/api/services/nope/operations")["operations"] == []
    models = {s.model_name for s in fed.spans if s.model_name}
    assert fed.ok("/api/models")["models"] == sorted(models)
    assert fed.ok("/api/metrics/names")["names"] == sorted({p.name for p in fed.points})


# --- logs and metrics -------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "pred"),
    [
        ({"service": "vllm-llama-70b"}, lambda r: r.service_name == "vllm-llama-70b"),
        ({"min_severity": "17"}, lambda r: r.severity_number >= 17),
        ({"contains": "CUDA out of memory"}, lambda r: "CUDA out of memory" in r.body),
    ],
    ids=["service", "severity", "body"],
)
def test_log_search(fed: Fed, params: dict[str, str], pred: Callable[[LogRecord], bool]) -> None:
    doc = fed.ok("/api/logs", limit=10_000, **params)
    expected = sorted((r.time_unix_nano for r in fed.logs if pred(r)), reverse=True)
    assert [r["time_unix_nano"] for r in doc["logs"]] == expected
    assert expected, "the workload should produce matching logs"


def test_log_search_by_trace_id(fed: Fed) -> None:
    record = fed.logs[17]
    doc = fed.ok("/api/logs", trace_id=record.trace_id.hex())
    assert [r["body"] for r in doc["logs"]] == [record.body]
    assert doc["logs"][0]["span_id"] == record.span_id.hex()


def test_metric_search(fed: Fed) -> None:
    name = "vllm:gpu_cache_usage_perc"
    doc = fed.ok("/api/metrics", name=name, limit=10_000)
    expected = [p for p in fed.points if p.name == name]
    assert doc["count"] == len(expected) > 0
    assert sorted(p["value"] for p in doc["points"]) == sorted(p.value for p in expected)  # type: ignore[type-var]
    pod = expected[0].attributes["pod"]
    doc = fed.ok("/api/metrics", name=name, **{"attr.pod": pod}, limit=10_000)
    assert doc["count"] == sum(1 for p in expected if p.attributes["pod"] == pod)


# --- analytics --------------------------------------------------------------------


def _pod(s: Span) -> str:
    return str(s.resource_attributes.get("k8s.pod.name", "unknown"))


KEYS: dict[str, Callable[[Span], str]] = {
    "model": lambda s: s.model_name or "",
    "service": lambda s: s.service_name,
    "operation": lambda s: s.operation_name,
    "pod": _pod,
}


def expected_group(spans: list[Span]) -> dict[str, Any]:
    durations = [float(s.duration_nanos) for s in spans]
    errors = sum(s.status_code == StatusCode.ERROR for s in spans)
    decode = sum(
        s.duration_nanos - (s.time_to_first_token_nanos or 0)
        if s.time_to_first_token_nanos is not None
        else s.duration_nanos
        for s in spans
    )
    out_tokens = sum(s.output_tokens or 0 for s in spans)
    batches = [s.batch_size for s in spans if s.batch_size is not None]
    gpus = [s.gpu_utilization for s in spans if s.gpu_utilization is not None]
    return {
        "requests": len(spans),
        "errors": errors,
        "error_rate": errors / len(spans),
        "latency_p50_ns": percentile(durations, 50),
        "latency_p90_ns": percentile(durations, 90),
        "latency_p95_ns": percentile(durations, 95),
        "latency_p99_ns": percentile(durations, 99),
        "latency_max_ns": max(s.duration_nanos for s in spans),
        "input_tokens": sum(s.input_tokens or 0 for s in spans),
        "output_tokens": out_tokens,
        "output_tokens_per_second": out_tokens / (decode / 1e9),
        "mean_batch_size": sum(batches) / len(batches),
        "mean_gpu_utilization": sum(gpus) / len(gpus),
    }


@pytest.mark.parametrize("group_by", list(KEYS))
@pytest.mark.parametrize("window", [None, (10, 30)], ids=["all", "minutes 10-30"])
def test_model_analytics_match_an_independent_computation(
    fed: Fed, group_by: str, window: tuple[int, int] | None
) -> None:
    params: dict[str, Any] = {"group_by": group_by}
    lo, hi = -(2**63), 2**63
    if window is not None:
        lo, hi = START + window[0] * MINUTE, START + window[1] * MINUTE
        params |= {"since": str(lo), "until": str(hi)}
    doc = fed.ok("/api/analytics/models", **params)
    groups: dict[str, list[Span]] = defaultdict(list)
    for s in fed.spans:
        if s.model_name is not None and lo <= s.start_time_unix_nano < hi:
            groups[KEYS[group_by](s)].append(s)
    assert doc["group_by"] == group_by
    assert [g["key"] for g in doc["groups"]] == sorted(groups)
    for row in doc["groups"]:
        want = expected_group(groups[row["key"]])
        for name, value in want.items():
            assert row[name] == pytest.approx(value, rel=1e-9), (row["key"], name)
        assert row["latency_p95_ms"] == pytest.approx(want["latency_p95_ns"] / 1e6)


SERIES: dict[str, Callable[[list[Span]], float]] = {
    "requests": lambda g: float(len(g)),
    "errors": lambda g: float(sum(s.status_code == StatusCode.ERROR for s in g)),
    "tokens_out": lambda g: float(sum(s.output_tokens or 0 for s in g)),
    "latency_p95": lambda g: percentile([float(s.duration_nanos) for s in g], 95),
    "latency_p50": lambda g: percentile([float(s.duration_nanos) for s in g], 50),
}


@pytest.mark.parametrize("metric", list(SERIES))
@pytest.mark.parametrize("model", [None, M70])
def test_timeseries_buckets(fed: Fed, metric: str, model: str | None) -> None:
    step = 5 * MINUTE
    lo, hi = START, START + 45 * MINUTE
    params: dict[str, Any] = {"metric": metric, "step": "5m", "since": str(lo), "until": str(hi)}
    if model:
        params["model"] = model
    doc = fed.ok("/api/analytics/timeseries", **params)
    buckets: dict[int, list[Span]] = defaultdict(list)
    for s in fed.spans:
        t = s.start_time_unix_nano
        if s.model_name and lo <= t < hi and (model is None or s.model_name == model):
            buckets[t - t % step].append(s)
    starts = [p["bucket_start_unix_nano"] for p in doc["points"]]
    assert starts == list(range(lo - lo % step, hi, step)), "one point per bucket, no gaps"
    for point in doc["points"]:
        group = buckets.get(point["bucket_start_unix_nano"])
        if group:
            assert point["value"] == pytest.approx(SERIES[metric](group), rel=1e-9)
        elif metric.startswith("latency"):
            assert point["value"] is None
        else:
            assert point["value"] == 0


@pytest.mark.parametrize("by", ["requests", "errors", "tokens_out", "latency_p95"])
def test_leaderboard_ranks_models(fed: Fed, by: str) -> None:
    groups: dict[str, list[Span]] = defaultdict(list)
    for s in fed.spans:
        if s.model_name:
            groups[s.model_name].append(s)
    ranked = sorted(((-SERIES[by](g), m) for m, g in groups.items()))
    doc = fed.ok("/api/analytics/leaderboard", by=by, limit=3)
    assert doc["by"] == by
    assert [e["model_name"] for e in doc["entries"]] == [m for _, m in ranked[:3]]
    for entry, (neg, _) in zip(doc["entries"], ranked, strict=False):
        assert entry["value"] == pytest.approx(-neg)


def test_stats_count_what_was_sent(fed: Fed) -> None:
    doc = fed.ok("/api/stats")
    assert doc["spans"]["count"] == len(fed.spans)
    assert doc["logs"]["count"] == len(fed.logs)
    assert doc["metrics"]["count"] == len(fed.points)
    assert doc["spans"]["distinct_traces"] == len({s.trace_id for s in fed.spans})
    assert doc["total_bytes"] == sum(doc[k]["total_bytes"] for k in ("spans", "logs", "metrics"))


def test_docs_and_openapi_list_the_api(fed: Fed) -> None:
    paths = fed.ok("/openapi.json")["paths"]
    for path in (
        "/api/traces/{trace_id}",
        "/api/spans",
        "/api/logs",
        "/api/metrics",
        "/api/metrics/names",
        "/api/services",
        "/api/services/{service}/operations",
        "/api/models",
        "/api/analytics/models",
        "/api/analytics/timeseries",
        "/api/analytics/leaderboard",
        "/api/stats",
    ):
        assert "get" in paths[path], path
    span_params = {p["name"] for p in paths["/api/spans"]["get"]["parameters"]}
    assert {"service", "model", "operation", "since", "until", "min_duration"} <= span_params
    assert fed.get("/docs").status_code == 200


def test_concurrent_queries_during_ingest(fed: Fed) -> None:
    """Readers hammer the API while a writer ingests; every answer is whole and 200."""
    # Timed from this test's start, not the module's import: the check below asks for
    # the last 2 minutes, and a long run reaches this test well after import.
    extra = Workload(seed=7, start_ns=time.time_ns() - MINUTE, rate=50).spans(1800)
    trace_hex = fed.spans[0].trace_id.hex()
    failures: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        with httpx.Client(base_url=fed.url) as client:
            while not stop.is_set():
                for path, params in (
                    (f"/api/traces/{trace_hex}", {}),
                    ("/api/spans", {"service": "vllm-llama-8b", "limit": 50}),
                    ("/api/analytics/models", {"since": "1h"}),
                ):
                    r = client.get(path, params=params)
                    if r.status_code != 200:
                        failures.append(f"{path}: {r.status_code}")
                    elif path.startswith("/api/traces") and r.json()["span_count"] != 6:
                        failures.append("trace lost spans")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=fed.url) as client:
            for i in range(0, len(extra), 300):
                body = encode_spans(extra[i : i + 300]).SerializeToString()
                assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
        fed.spans.extend(extra)  # the other tests compare with everything sent
    assert failures == []
    ids = {s["span_id"] for s in fed.ok("/api/spans", since="2m", limit=10_000)["spans"]}
    assert {s.span_id.hex() for s in extra} <= ids
