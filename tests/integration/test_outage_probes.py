"""Health, readiness, metrics and the query API answer within a second during an outage."""

from __future__ import annotations

import asyncio
import time

import httpx

from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.postgres import PostgresStore, ThrowawayCluster

PROBES = 50
BOUND_SECONDS = 1.0


async def _fire(base: str) -> list[tuple[str, int, float, httpx.Headers, str]]:
    paths = [
        *["/readyz"] * PROBES,
        "/metrics",
        "/healthz",
        "/api/spans",
        "/api/services",
        "/jaeger/api/services",
    ]
    limits = httpx.Limits(max_connections=len(paths))
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def one(path: str) -> tuple[str, int, float, httpx.Headers, str]:
            started = time.perf_counter()
            r = await client.get(path)
            return path, r.status_code, time.perf_counter() - started, r.headers, r.text

        return list(await asyncio.gather(*(one(p) for p in paths)))


def test_probes_and_api_answer_fast_while_the_database_is_down(
    own_cluster: ThrowawayCluster,
) -> None:
    store = PostgresStore(own_cluster.dsn, health_interval=0.5)
    settings = Settings(store="postgres", dsn=own_cluster.dsn, port=0, grpc_port=0)
    collector = BackgroundCollector(store, settings, install_query_api)
    base = collector.start().http_url
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/readyz").status_code == 200
            assert http.get("/api/spans").status_code == 200
            own_cluster.stop("immediate")
            deadline = time.monotonic() + 10
            while http.get("/readyz").status_code == 200:
                assert time.monotonic() < deadline, "readiness never noticed the outage"
                time.sleep(0.1)
        for _ in range(2):  # twice: the first round must not have exhausted anything
            answers = asyncio.run(_fire(base))
            slow = [(p, round(t, 3)) for p, _, t, _, _ in answers if t > BOUND_SECONDS]
            assert not slow, f"answers slower than {BOUND_SECONDS} s: {slow}"
            for path, status, _, headers, text in answers:
                if path == "/readyz":
                    assert status == 503 and "database" in text, text
                elif path in ("/metrics", "/healthz"):
                    assert status == 200, (path, status)
                else:
                    assert status == 503, (path, status, text)
                    assert int(headers["retry-after"]) >= 1
                    assert "unavailable" in text
            metrics = next(t for p, _, _, _, t in answers if p == "/metrics")
            assert "infertrace_store_up 0.0" in metrics
    finally:
        collector.stop()
        store.close(timeout=1.0)
        own_cluster.start()
