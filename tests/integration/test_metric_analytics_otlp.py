"""Analytics from metrics end to end: producer-shaped metrics over OTLP/HTTP to a real
collector (memory store and PostgreSQL), answered by the REST API and the CLI.

The OTLP requests are built with the OpenTelemetry proto classes (not InferTrace's
encoder), one per scrape, as an OpenTelemetry Collector scraping vLLM and SGLang
(prometheus receiver) and a GenAI-instrumented app (delta temporality) send them.
Expected rows come from the observations the simulated pods recorded
(``tests.telemetry.metric_producers``), never from the code under test.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from tests.collector.helpers import running
from tests.telemetry.metric_producers import GPT, LLAMA, QWEN, Fleet, Truth, expected

from infertrace.cli import main
from infertrace.model import MetricPoint, MetricType, Span, Temporality
from infertrace.telemetry.memory import MemoryStore

PB = {"Content-Type": "application/x-protobuf"}
_TEMPORALITY = {
    Temporality.CUMULATIVE: pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
    Temporality.DELTA: pb.AGGREGATION_TEMPORALITY_DELTA,
}


def _kv(attrs: Any) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(string_value=str(v))) for k, v in attrs.items()]


def _fill(metric: pb.Metric, p: MetricPoint) -> None:
    common: dict[str, Any] = {"attributes": _kv(p.attributes), "time_unix_nano": p.time_unix_nano,
              "start_time_unix_nano": p.start_time_unix_nano}  # fmt: skip
    if p.type is MetricType.GAUGE:
        metric.gauge.data_points.append(pb.NumberDataPoint(as_double=p.value or 0.0, **common))
    elif p.type is MetricType.SUM:
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = _TEMPORALITY[p.temporality]
        metric.sum.data_points.append(pb.NumberDataPoint(as_double=p.value or 0.0, **common))
    else:
        h = p.histogram
        assert h is not None
        metric.histogram.aggregation_temporality = _TEMPORALITY[p.temporality]
        metric.histogram.data_points.append(
            pb.HistogramDataPoint(
                count=h.count,
                sum=h.sum or 0.0,
                explicit_bounds=list(h.bounds),
                bucket_counts=list(h.bucket_counts),
                **common,
            )
        )


def otlp_requests(points: list[MetricPoint]) -> list[bytes]:
    """One request per scrape time: a ResourceMetrics per pod, a Metric per name."""
    by_time: dict[int, list[MetricPoint]] = defaultdict(list)
    for p in points:
        by_time[p.time_unix_nano].append(p)
    bodies = []
    for t in sorted(by_time):
        request = ExportMetricsServiceRequest()
        by_resource: dict[tuple[Any, ...], list[MetricPoint]] = defaultdict(list)
        for p in by_time[t]:
            by_resource[tuple(sorted(p.resource_attributes.items()))].append(p)
        for res, pts in by_resource.items():
            rm = request.resource_metrics.add(resource=Resource(attributes=_kv(dict(res))))
            sm = rm.scope_metrics.add(scope=InstrumentationScope(name="otelcol/prometheus"))
            metrics: dict[str, pb.Metric] = {}
            for p in pts:
                m = metrics.get(p.name)
                if m is None:
                    m = metrics[p.name] = sm.metrics.add(name=p.name, unit=p.unit)
                _fill(m, p)
        bodies.append(request.SerializeToString())
    return bodies


def request_span(fleet: Fleet) -> Span:
    """One request from spans for the vLLM model: ``auto`` answers that model from spans."""
    return Span(b"\x01" * 16, b"\x02" * 8, "vllm", "chat", fleet.since + 60 * 10**9,
                250_000_000, model_name=LLAMA)  # fmt: skip


@pytest.fixture(scope="module", params=["memory", "postgres"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Fleet]]:
    fleet = Fleet()
    if request.param == "postgres":
        from infertrace.telemetry.postgres import PostgresStore

        store: Any = PostgresStore(request.getfixturevalue("pg_server_schema"))
    else:
        store = MemoryStore(metric_capacity=100_000)
    with running(store) as endpoints:
        for body in otlp_requests(fleet.points):
            r = httpx.post(endpoints.http_url + "/v1/metrics", content=body, headers=PB, timeout=30)
            assert r.status_code == 200, r.text
        store.write_batch([request_span(fleet)])
        yield endpoints.http_url, fleet
    store.close()


@pytest.fixture(scope="module")
def pg_server_schema(pg_server: str) -> Iterator[str]:
    from tests.pg_schema import fresh_schema

    with fresh_schema(pg_server) as dsn:
        yield dsn


def get(url: str, path: str, **params: Any) -> Any:
    r = httpx.get(url + path, params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def window(fleet: Fleet) -> dict[str, str]:
    return {"since": str(fleet.since), "until": str(fleet.until)}


def llama(fleet: Fleet) -> Truth:
    t = Truth()
    t.add(fleet.a)
    t.add(fleet.b)
    return t


def test_metrics_rows_over_otlp(served: tuple[str, Fleet]) -> None:
    url, fleet = served
    doc = get(url, "/api/analytics/models", source="metrics", **window(fleet))
    assert doc["source"] == "metrics"
    rows = {g["key"]: g for g in doc["groups"]}
    assert list(rows) == sorted([LLAMA, QWEN, GPT])
    t = llama(fleet)
    want = {
        LLAMA: expected(t, t.reasons.count("abort"), fleet.seconds),
        QWEN: expected(fleet.c, fleet.c.reasons.count("abort"), fleet.seconds, sglang=True),
        GPT: expected(fleet.g, fleet.g_failed, fleet.seconds, genai=True),
    }
    for model, fields in want.items():
        row = rows[model]
        assert row["source"] == "metrics"
        assert {k: row[k] for k in fields} == fields, model
        assert row["latency_max_ns"] is None and row["mean_batch_size"] is None
        p95 = fields["latency_p95_ns"]
        assert row["latency_p95_ms"] == pytest.approx(p95.expected / 1e6)
    last = [s[-1] for s in fleet.scrapes.values()]
    assert rows[LLAMA]["running_requests"] == sum(s.running for s in last)
    assert rows[LLAMA]["kv_cache_usage"] == pytest.approx(sum(s.cache for s in last) / 2)


def test_auto_answers_each_model_from_its_spans_else_its_metrics(
    served: tuple[str, Fleet],
) -> None:
    url, fleet = served
    doc = get(url, "/api/analytics/models", **window(fleet))
    assert doc["source"] == "auto"
    rows = {g["key"]: g for g in doc["groups"]}
    assert {k: r["source"] for k, r in rows.items()} == {
        LLAMA: "spans",
        QWEN: "metrics",
        GPT: "metrics",
    }
    assert rows[LLAMA]["requests"] == 1 and rows[LLAMA]["latency_p50_ns"] == 250_000_000
    # the span row still shows the model's gauges
    last = [s[-1] for s in fleet.scrapes.values()]
    assert rows[LLAMA]["waiting_requests"] == sum(s.waiting for s in last)
    spans_only = get(url, "/api/analytics/models", source="spans", **window(fleet))
    assert [g["key"] for g in spans_only["groups"]] == [LLAMA]
    assert spans_only["groups"][0]["running_requests"] is None


def test_leaderboard_ranks_metrics_models_beside_span_models(served: tuple[str, Fleet]) -> None:
    url, fleet = served
    doc = get(url, "/api/analytics/leaderboard", by="requests", **window(fleet))
    want = sorted(
        [(LLAMA, 1.0, "spans"), (QWEN, float(len(fleet.c.e2e)), "metrics"),
         (GPT, float(len(fleet.g.e2e)), "metrics")],
        key=lambda e: (-e[1], e[0]),
    )  # fmt: skip
    assert [(e["model_name"], e["value"], e["source"]) for e in doc["entries"]] == want
    top = get(url, "/api/analytics/leaderboard", by="requests", limit=1, source="metrics",
              **window(fleet))  # fmt: skip
    busiest = max((len(llama(fleet).e2e), LLAMA), (len(fleet.c.e2e), QWEN), (len(fleet.g.e2e), GPT))
    assert [e["model_name"] for e in top["entries"]] == [busiest[1]]


def test_models_known_only_from_metrics_are_listed(served: tuple[str, Fleet]) -> None:
    url, _ = served
    assert set(get(url, "/api/models")["models"]) >= {LLAMA, QWEN, GPT}


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"source": "metrics", "group_by": "operation"}, "group_by"),
        ({"source": "traces"}, "source"),
    ],
)
def test_bad_source_parameters_are_422_naming_them(
    served: tuple[str, Fleet], params: dict[str, str], names: str
) -> None:
    url, _ = served
    r = httpx.get(url + "/api/analytics/models", params=params, timeout=30)
    assert r.status_code == 422
    assert names in r.text


def test_auto_with_operation_groups_is_spans_only(served: tuple[str, Fleet]) -> None:
    url, fleet = served
    doc = get(url, "/api/analytics/models", group_by="operation", **window(fleet))
    assert [(g["key"], g["source"]) for g in doc["groups"]] == [("chat", "spans")]


def test_cli_models_shows_source_and_gauges(served: tuple[str, Fleet]) -> None:
    url, fleet = served
    runner = CliRunner(env={"COLUMNS": "400"})
    args = ["models", "--since", str(fleet.since), "--until", str(fleet.until), "--url", url]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(x for x in lines if x.startswith("┃"))
    names = [c.strip() for c in header.strip("┃").split("┃")]
    rows = {
        r["model"]: r
        for r in (
            dict(zip(names, (c.strip() for c in x.strip("│").split("│")), strict=True))
            for x in lines
            if x.startswith("│")
        )
    }
    assert {k: r["source"] for k, r in rows.items()} == {LLAMA: "spans", QWEN: "metrics",
                                                          GPT: "metrics"}  # fmt: skip
    last = [s[-1] for s in fleet.scrapes.values()]
    assert rows[LLAMA]["running"] == f"{sum(s.running for s in last):,}"
    assert rows[LLAMA]["KV cache"] == f"{sum(s.cache for s in last) / 2:.0%}"
    assert rows[QWEN]["requests"] == f"{len(fleet.c.e2e):,}"
    assert rows[GPT]["errors"] == f"{fleet.g_failed:,}"
    assert rows[GPT]["running"] == ""
    doc = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    assert {g["key"]: g["source"] for g in doc["groups"]}[QWEN] == "metrics"


@pytest.mark.parametrize(
    ("model", "source", "used"),
    [(QWEN, "auto", "metrics"), (LLAMA, "auto", "spans"), (LLAMA, "metrics", "metrics"),
     (QWEN, "spans", "spans")],
)  # fmt: skip
def test_timeseries_from_metrics_add_up_to_the_window(
    served: tuple[str, Fleet], model: str, source: str, used: str
) -> None:
    url, fleet = served
    doc = get(url, "/api/analytics/timeseries", metric="requests", step="1m", model=model,
              source=source, **window(fleet))  # fmt: skip
    assert doc["source"] == used
    requests = {
        (LLAMA, "spans"): 1,
        (LLAMA, "metrics"): len(fleet.a.e2e) + len(fleet.b.e2e),
        (QWEN, "metrics"): len(fleet.c.e2e),
        (QWEN, "spans"): 0,
    }[model, used]
    assert sum(p["value"] for p in doc["points"]) == requests
    assert len(doc["points"]) == len(range(fleet.since - fleet.since % 60_000_000_000,
                                           fleet.until, 60_000_000_000))  # fmt: skip


def test_cli_models_source_option(served: tuple[str, Fleet]) -> None:
    url, fleet = served
    runner = CliRunner(env={"COLUMNS": "400"})
    base = ["models", "--since", str(fleet.since), "--until", str(fleet.until), "--url", url]
    result = runner.invoke(main, [*base, "--source", "metrics", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "metrics"
    assert {g["key"]: (g["source"], g["requests"]) for g in doc["groups"]} == {
        LLAMA: ("metrics", len(fleet.a.e2e) + len(fleet.b.e2e)),
        QWEN: ("metrics", len(fleet.c.e2e)),
        GPT: ("metrics", len(fleet.g.e2e)),
    }
    bad = runner.invoke(main, [*base, "--source", "metrics", "--group-by", "operation"])
    assert bad.exit_code == 1 and "group_by" in bad.output
    assert runner.invoke(main, [*base, "--source", "traces"]).exit_code == 2
