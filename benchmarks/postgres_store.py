"""PostgreSQL store benchmarks, all against one throwaway cluster in one run.

1. Loading spans: row-by-row INSERT vs executemany vs binary COPY (same rows,
   same table and indexes, each into a fresh schema).
2. Sustained OTLP/HTTP ingest end to end: protobuf bodies POSTed to a running
   collector backed by PostgresStore, until every span is committed, by 2 and
   by 8 concurrent clients (a 200 means committed, so each client waits for its
   commit; concurrent requests share one).
3. At N stored spans (1,000,000 in the full run): get_trace, a filtered
   list_spans, and per-model analytics over one hour.

``python -m benchmarks.postgres_store [--quick]``; prints a table and writes
benchmarks/results/postgres.json. The server uses PostgreSQL's default
(durable) settings.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from infertrace.telemetry.analytics import GroupBy
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.postgres import PostgresStore, ThrowawayCluster, migrate
from infertrace.telemetry.postgres.copy import copy_rows
from infertrace.telemetry.postgres.partitions import Partitions
from infertrace.telemetry.postgres.rows import SPAN_COLUMNS, Row, span_row
from infertrace.telemetry.postgres.schema import DAY_NS
from infertrace.telemetry.schema import SPAN, FieldType
from infertrace.workload import Workload

RESULTS = Path(__file__).parent / "results" / "postgres.json"
HOUR_NS = 3_600 * 10**9


def _schema_dsn(server: str, name: str) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    dsn = make_conninfo(server, options=f"-c search_path={name}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, use_timescale=False)
    return dsn


_FIELDS = SPAN.in_columns()  # the COPY row's order
_JSONB = [f.type.is_payload for f in _FIELDS]
_TEXT = [f.type is FieldType.TEXT for f in _FIELDS]


def _insert_params(rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """The same rows as plain parameters (text as str, JSONB as its text)."""
    out = []
    for r in rows:
        vals = []
        for v, jsonb, text in zip(r, _JSONB, _TEXT, strict=True):
            if v is not None and jsonb:
                vals.append(v[1:].decode())  # binary JSONB: a version byte, then the text
            elif v is not None and text:
                vals.append(v.decode())
            else:
                vals.append(v)
        out.append(tuple(vals))
    return out


_INSERT = (
    f"INSERT INTO spans ({', '.join(c for c, _ in SPAN_COLUMNS)}) VALUES ("
    + ", ".join("%s::jsonb" if jsonb else "%s" for jsonb in _JSONB)
    + ")"
)


def _timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_load(server: str, n: int) -> dict[str, float]:
    """Rows per second for the three ways of loading the same ``n`` spans."""
    w = Workload(seed=1, start_ns=time.time_ns() - HOUR_NS)
    rows = [span_row(s) for s in SpanBatch.of(w.spans(n)).rows()]
    params = _insert_params(rows)
    out: dict[str, float] = {}

    def single(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            for p in params:
                cur.execute(_INSERT, p)

    def many(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(_INSERT, params)

    def copy(conn: psycopg.Connection[Any]) -> None:
        for i in range(0, len(rows), 20_000):
            with conn.transaction():
                copy_rows(conn, "spans", SPAN_COLUMNS, rows[i : i + 20_000])

    for name, fn in (("insert", single), ("executemany", many), ("copy_binary", copy)):
        dsn = _schema_dsn(server, f"bench_{name}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            Partitions("partitioned").ensure(conn, "spans", {r[6] // DAY_NS for r in rows})
            out[name] = n / _timed(lambda fn=fn, conn=conn: fn(conn))
    return out


def _bodies(w: Workload, total: int, per_request: int) -> list[bytes]:
    from infertrace.collector.otlp.encode import encode_spans

    return [encode_spans(batch).SerializeToString() for batch in w.span_batches(total, per_request)]


def bench_ingest(server: str, n: int, clients: int = 2) -> dict[str, float]:
    """Spans per second through OTLP/HTTP protobuf into PostgreSQL, until committed."""
    import httpx

    from infertrace.api import install_query_api
    from infertrace.collector.server import BackgroundCollector
    from infertrace.config import Settings

    dsn = _schema_dsn(server, f"bench_ingest_{clients}")
    bodies = _bodies(Workload(seed=2, start_ns=time.time_ns() - HOUR_NS), n, 1000)
    store = PostgresStore(dsn, pool_size=4, max_queued_rows=400_000)
    collector = BackgroundCollector(
        store, Settings(store="postgres", dsn=dsn, port=0, grpc_port=0), install_query_api
    )
    url = collector.start().http_url + "/v1/traces"
    retries = 0
    lock = threading.Lock()

    def client(mine: list[bytes]) -> None:
        nonlocal retries
        headers = {"content-type": "application/x-protobuf"}
        with httpx.Client(timeout=30) as http:
            for body in mine:
                while True:
                    r = http.post(url, content=body, headers=headers)
                    if r.status_code == 200:
                        break
                    if r.status_code not in (429, 503):
                        raise RuntimeError(f"collector answered {r.status_code}: {r.text}")
                    with lock:
                        retries += 1
                    time.sleep(float(r.headers.get("retry-after", "0.1")) / 10)

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    store.flush(120)
    elapsed = time.perf_counter() - t
    collector.stop()
    stored = store.stats().spans.count
    store.close()
    if stored != n:
        raise RuntimeError(f"stored {stored} spans of {n}")
    return {"spans_per_s": n / elapsed, "seconds": elapsed, "retries_503": float(retries)}


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _batches(w: Workload, n: int) -> Iterator[list[Any]]:
    yield from w.span_batches(n, 5000)


def bench_queries(server: str, n: int) -> dict[str, float]:
    """Latencies (median ms) at ``n`` stored spans spread over about two hours."""
    dsn = _schema_dsn(server, "bench_queries")
    traces = n // 6
    w = Workload(seed=3, start_ns=time.time_ns() - 3 * HOUR_NS, rate=traces / 7_200)
    store = PostgresStore(dsn, pool_size=3, max_queued_rows=2_000_000)
    t0 = w.now_ns
    ids: list[bytes] = []
    t = time.perf_counter()
    for batch in _batches(w, n):
        store.write_batch(batch)
        ids.append(batch[0].trace_id)
    store.flush(600)
    load = time.perf_counter() - t
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    rng = random.Random(0)
    sample = [rng.choice(ids) for _ in range(200)]
    it = iter(sample * 2)
    model = "meta-llama/Llama-3.1-8B-Instruct"
    flt = SpanFilter(
        service_name="vllm-llama-8b",
        model_name=model,
        since=t0 + HOUR_NS // 2,
        until=t0 + HOUR_NS,
        min_duration_ns=100_000_000,
        limit=100,
    )
    out = {
        "rows": float(store.stats().spans.count),
        "load_spans_per_s": n / load,
        "get_trace_ms": _median_ms(lambda: store.get_trace(next(it)), 200),
        "list_filtered_ms": _median_ms(lambda: store.list_spans(flt), 50),
        "list_recent_ms": _median_ms(lambda: store.list_spans(SpanFilter(limit=100)), 50),
        "analytics_hour_ms": _median_ms(
            lambda: store.model_analytics(t0, t0 + HOUR_NS, GroupBy.MODEL), 5
        ),
    }
    store.close()
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="benchmarks.postgres_store")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(list(argv) if argv is not None else [])
    sizes = (
        {"load": 20_000, "ingest": 30_000, "query": 100_000}
        if args.quick
        else {"load": 200_000, "ingest": 200_000, "query": 1_000_000}
    )
    with ThrowawayCluster() as cluster:
        server = cluster.dsn
        load = bench_load(server, sizes["load"])
        ingest = bench_ingest(server, sizes["ingest"])
        ingest_8 = bench_ingest(server, sizes["ingest"], clients=8)
        queries = bench_queries(server, sizes["query"])
    result = {
        "quick": args.quick,
        "sizes": sizes,
        "load": load,
        "ingest": ingest,
        "ingest_8_clients": ingest_8,
        "queries": queries,
    }
    _print(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _print(r: dict[str, Any]) -> None:
    load, ingest, q = r["load"], r["ingest"], r["queries"]
    n = r["sizes"]
    print(f"PostgreSQL store ({'quick' if r['quick'] else 'full'} run)")
    print(f"  load {n['load']:,} spans        rows/s   vs INSERT")
    for k in ("insert", "executemany", "copy_binary"):
        print(f"    {k:<20} {load[k]:>10,.0f}   {load[k] / load['insert']:>5.1f}x")
    print(f"  OTLP/HTTP ingest end to end: {ingest['spans_per_s']:,.0f} spans/s (2 clients)")
    eight = r["ingest_8_clients"]["spans_per_s"]
    print(f"  OTLP/HTTP ingest end to end: {eight:,.0f} spans/s (8 clients)")
    print(f"  at {q['rows']:,.0f} spans:")
    for k in ("get_trace_ms", "list_filtered_ms", "list_recent_ms", "analytics_hour_ms"):
        print(f"    {k:<20} {q[k]:>8.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
