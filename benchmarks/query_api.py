"""Query API latency over HTTP at 1,000,000 stored spans.

A child process fills a memory store with the synthetic workload, written
straight into the store (so set-up is quick) and spread over the last hour. It
times the same queries on the store itself (the baseline column: what HTTP and
JSON add is the difference), then serves the HTTP app. This process sends
requests one at a time over a keep-alive connection and times each until its
last byte (JSON parsing on the client is not counted). ``since=1h`` analytics
run over every stored model span."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import multiprocessing
import random
import time
from typing import Any
from urllib.parse import urlencode

from benchmarks.report import report
from benchmarks.timing import p50_p99, timed_ms

MODEL = "meta-llama/Llama-3.1-70B-Instruct"
SPAN_QUERY = {"service": "vllm-llama-70b", "model": MODEL, "since": "1h"}
SECOND = 1_000_000_000


def _serve(spans: int, conn: Any) -> None:
    """Child: fill a store, time store-level queries, serve until told to stop."""
    import gc

    from infertrace.api import install_query_api
    from infertrace.collector.server import Collector
    from infertrace.config import Settings
    from infertrace.telemetry.filters import SpanFilter
    from infertrace.telemetry.memory import MemoryStore
    from infertrace.workload import Workload

    store = MemoryStore(span_capacity=spans)
    traces = spans / 6
    start = time.time_ns() - 56 * 60 * SECOND  # 55 minutes of data, ending a minute ago
    w = Workload(seed=11, start_ns=start, rate=traces / (55 * 60))
    rng = random.Random(5)
    ids: list[str] = []
    for batch in w.span_batches(spans, 512):
        store.write_batch(batch)
        if rng.random() < 0.2:
            ids.append(batch[rng.randrange(len(batch))].trace_id.hex())
    gc.collect()
    gc.freeze()
    hour_ago = time.time_ns() - 3600 * SECOND
    flt = SpanFilter(service_name="vllm-llama-70b", model_name=MODEL, since=hour_ago)
    it = itertools.cycle(ids)
    baseline = {
        "trace": p50_p99(timed_ms(lambda: store.get_trace(next(it)), 2000))[0],
        "spans": p50_p99(timed_ms(lambda: store.list_spans(flt), 200))[0],
        "analytics": p50_p99(timed_ms(lambda: store.model_analytics(since=hour_ago), 20))[0],
        "dependencies": p50_p99(timed_ms(lambda: store.dependencies(hour_ago, time.time_ns()), 20))[
            0
        ],
    }

    async def main() -> None:
        collector = Collector(store, Settings(port=0, grpc_port=0), install_query_api)
        endpoints = await collector.start()
        conn.send({"port": endpoints.http_port, "ids": ids, "baseline": baseline})
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        await collector.stop()

    asyncio.run(main())
    store.close()


class Client:
    """One keep-alive HTTP connection; ``get`` returns the parsed JSON body."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        url = path + ("?" + urlencode(params) if params else "")
        self.conn.request("GET", url)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
        return body

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return json.loads(self.raw(path, params))


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 spans")
    args = parser.parse_args(argv)
    spans = 100_000 if args.quick else args.spans
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(spans, child), daemon=True)
    proc.start()
    try:
        ready = parent.recv()
        rows = _measure(Client(ready["port"]), ready["ids"], ready["baseline"], spans)
    finally:
        parent.send("stop")
        proc.join(timeout=60)
    report("query_api", f"Query API over HTTP, {spans:,} stored spans", rows)
    return rows


def _measure(
    client: Client, ids: list[str], baseline: dict[str, float], spans: int
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    stats = client.get("/api/stats")["spans"]
    assert stats["count"] == spans, stats
    it = itertools.cycle(ids)
    client.get(f"/api/traces/{ids[0]}")
    p50, p99 = p50_p99(timed_ms(lambda: client.raw(f"/api/traces/{next(it)}"), 2000))
    rows.append({"metric": "GET /api/traces/{id} p50", "value": p50, "unit": "ms",
                 "baseline": baseline["trace"]})  # fmt: skip
    rows.append({"metric": "GET /api/traces/{id} p99", "value": p99, "unit": "ms"})
    it = itertools.cycle(ids)
    p50, p99 = p50_p99(timed_ms(lambda: client.raw(f"/jaeger/api/traces/{next(it)}"), 500))
    rows.append({"metric": "GET /jaeger/api/traces/{id} p50", "value": p50, "unit": "ms"})
    rows.append({"metric": "GET /jaeger/api/traces/{id} p99", "value": p99, "unit": "ms"})

    assert client.get("/api/spans", SPAN_QUERY)["count"] == 100
    p50, p99 = p50_p99(timed_ms(lambda: client.raw("/api/spans", SPAN_QUERY), 200))
    rows.append({"metric": "GET /api/spans service+model+1h (100) p50", "value": p50,
                 "unit": "ms", "baseline": baseline["spans"]})  # fmt: skip
    rows.append({"metric": "GET /api/spans service+model+1h (100) p99", "value": p99, "unit": "ms"})
    big = SPAN_QUERY | {"limit": 1000}
    p50, _ = p50_p99(timed_ms(lambda: client.raw("/api/spans", big), 50))
    rows.append({"metric": "GET /api/spans ... limit=1000 p50", "value": p50, "unit": "ms"})

    # A search page of 20 traces, as the web UI's trace search asks for it (one
    # summary per trace: each trace read whole) and as Jaeger UI's search does.
    page = {"service": "vllm-llama-70b", "since": "1h", "limit": 20}
    assert client.get("/api/trace-summaries", page)["count"] == 20
    p50, p99 = p50_p99(timed_ms(lambda: client.raw("/api/trace-summaries", page), 200))
    rows.append({"metric": "GET /api/trace-summaries 20 traces p50", "value": p50,
                 "unit": "ms", "target": "<= 20"})  # fmt: skip
    rows.append({"metric": "GET /api/trace-summaries 20 traces p99", "value": p99, "unit": "ms"})
    jaeger = {"service": "vllm-llama-70b", "lookback": "1h", "limit": 20}
    assert len(client.get("/jaeger/api/traces", jaeger)["data"]) == 20
    p50, p99 = p50_p99(timed_ms(lambda: client.raw("/jaeger/api/traces", jaeger), 200))
    rows.append({"metric": "GET /jaeger/api/traces 20 traces p50", "value": p50,
                 "unit": "ms", "target": "<= 20"})  # fmt: skip
    rows.append({"metric": "GET /jaeger/api/traces 20 traces p99", "value": p99, "unit": "ms"})

    doc = client.get("/api/analytics/models", {"since": "1h"})
    requests = sum(g["requests"] for g in doc["groups"])
    assert requests == -(-spans // 6), requests  # one request span per 6 spans
    query = {"since": "1h"}
    p50, p99 = p50_p99(timed_ms(lambda: client.raw("/api/analytics/models", query), 30))
    rows.append({"metric": f"GET /api/analytics/models 1h ({requests:,} requests) p50",
                 "value": p50, "unit": "ms", "target": "<= 50",
                 "baseline": baseline["analytics"]})  # fmt: skip
    rows.append({"metric": "GET /api/analytics/models 1h p99", "value": p99, "unit": "ms"})
    series = {"metric": "latency_p95", "step": "1m", "since": "1h"}
    p50, _ = p50_p99(timed_ms(lambda: client.raw("/api/analytics/timeseries", series), 30))
    rows.append({"metric": "GET /api/analytics/timeseries p95 1m/1h p50", "value": p50,
                 "unit": "ms"})  # fmt: skip

    # The workload's traces stay in one service: every child's parent is looked up
    # (5 of 6 spans), and the answer is empty.
    deps = {"endTs": time.time_ns() // 1_000_000, "lookback": 3_600_000}
    assert client.get("/jaeger/api/dependencies", deps)["data"] == []
    p50, p99 = p50_p99(timed_ms(lambda: client.raw("/jaeger/api/dependencies", deps), 30))
    rows.append({"metric": "GET /jaeger/api/dependencies 1h p50", "value": p50, "unit": "ms",
                 "target": "<= 100", "baseline": baseline["dependencies"]})  # fmt: skip
    rows.append({"metric": "GET /jaeger/api/dependencies 1h p99", "value": p99, "unit": "ms"})

    for fmt in ("jsonl", "csv", "parquet"):
        params = {"format": fmt, "since": "1h", "limit": 100_000}
        t = time.perf_counter()
        body = client.raw("/api/export/spans", params)
        elapsed = time.perf_counter() - t
        rows.append({"metric": f"GET /api/export/spans {fmt} (100,000 rows)",
                     "value": 100_000 / elapsed, "unit": "rows/s",
                     "size": len(body)})  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
