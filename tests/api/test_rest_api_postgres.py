"""The REST API over the PostgreSQL store gives the memory store's answers.

Both servers get the same OTLP requests; the memory store's answers are checked
against independent computations in test_rest_api.py, so equality here means
the SQL analytics and searches are right too.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from infertrace.collector.otlp.encode import encode_spans
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.postgres import PostgresStore
from infertrace.workload import Workload
from tests.collector.helpers import running

PB = {"Content-Type": "application/x-protobuf"}
MINUTE = 60 * 10**9

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("/api/services", {}),
    ("/api/services/vllm-llama-70b/operations", {}),
    ("/api/models", {}),
    ("/api/spans", {"service": "vllm-llama-70b", "operation": "decode", "limit": 500}),
    ("/api/spans", {"status": "error", "limit": 500}),
    ("/api/spans", {"min_duration": "1s", "max_duration": "3s", "limit": 500}),
    ("/api/spans", {"attr.gen_ai.request.max_tokens": "256", "limit": 500}),
    ("/api/spans", {"attr.k8s.pod.name": "vllm-llama-8b-0", "limit": 500}),
    ("/api/analytics/models", {}),
    ("/api/analytics/models", {"group_by": "pod"}),
    ("/api/analytics/models", {"group_by": "operation", "since": "20m"}),
    ("/api/analytics/timeseries", {"metric": "latency_p95", "step": "5m", "since": "1h"}),
    ("/api/analytics/timeseries", {"metric": "tokens_out", "step": "2m", "since": "40m"}),
    ("/api/analytics/leaderboard", {"by": "latency_p95"}),
    ("/api/analytics/leaderboard", {"by": "errors", "limit": 2}),
]


def _normal(doc: Any) -> Any:
    """Floats rounded to 9 significant digits: SQL and NumPy sum in different orders."""
    if isinstance(doc, float):
        return float(f"{doc:.9g}")
    if isinstance(doc, dict):
        return {k: _normal(v) for k, v in doc.items() if k not in ("since_unix_nano",)}
    if isinstance(doc, list):
        return [_normal(v) for v in doc]
    return doc


def test_postgres_and_memory_servers_answer_alike(pg_dsn: str) -> None:
    now = time.time_ns()
    spans = Workload(seed=9, start_ns=now - 45 * MINUTE, rate=0.25).spans(3_000)
    bodies = [encode_spans(spans[i : i + 500]).SerializeToString() for i in range(0, 3_000, 500)]
    memory = MemoryStore(span_capacity=10_000)
    postgres = PostgresStore(pg_dsn)
    try:
        with running(memory) as mem_ep, running(postgres) as pg_ep:
            for body in bodies:
                for ep in (mem_ep, pg_ep):
                    r = httpx.post(ep.http_url + "/v1/traces", content=body, headers=PB)
                    assert r.status_code == 200, r.text
            postgres.flush()
            trace_id = spans[600].trace_id.hex()
            queries = [*QUERIES, (f"/api/traces/{trace_id}", {})]
            for path, params in queries:
                # Relative times are read against each server's clock: pin them.
                pinned = dict(params)
                for name in ("since", "until"):
                    if name in pinned:
                        amount = int(pinned[name][:-1]) * MINUTE
                        pinned[name] = str(now - amount)
                if path.endswith("timeseries"):
                    pinned["until"] = str(now)
                answers = [
                    httpx.get(ep.http_url + path, params=pinned, timeout=30)
                    for ep in (mem_ep, pg_ep)
                ]
                assert [a.status_code for a in answers] == [200, 200], (path, answers[1].text)
                mem_doc, pg_doc = (_normal(a.json()) for a in answers)
                assert pg_doc == mem_doc, (path, params)
                assert mem_doc, path
            assert len(httpx.get(pg_ep.http_url + f"/api/traces/{trace_id}").json()["spans"]) == 6
    finally:
        postgres.close()
        memory.close()


@pytest.mark.parametrize("path", ["/api/traces/" + "0" * 32, "/api/traces/xyz"])
def test_postgres_trace_errors(pg_dsn: str, path: str) -> None:
    with PostgresStore(pg_dsn) as store, running(store) as ep:
        response = httpx.get(ep.http_url + path)
    assert response.status_code == (404 if path.endswith("0" * 32) else 400)
