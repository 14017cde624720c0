"""Collector ingest: end-to-end OTLP rates, and where the per-span time goes.

1. Decode cost, in process: microseconds per span to parse a 500-span OTLP
   request with the standard protobuf classes (the baseline), and to parse,
   decode and normalise it into Span records with InferTrace's decoder.
2. End to end: a real ``infertrace serve`` (memory store) in its own process,
   and a separate load process sending pre-encoded 500-record requests over 4
   connections, OTLP/HTTP for spans, logs and metric points and OTLP/gRPC for
   spans. The clock stops when the collector's ``/metrics`` shows every record
   in the store (the collector acknowledges a request only after its store
   write, so they are queryable).

Run: ``python -m benchmarks.collector_ingest [--spans N]``; writes
``benchmarks/results/collector.json``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.workload import Workload

RESULTS = Path(__file__).parent / "results" / "collector.json"
BATCH = 500
CONNECTIONS = 4
PATHS = {"spans": "/v1/traces", "logs": "/v1/logs", "metric_points": "/v1/metrics"}
GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _encoded(kind: str, total: int, seed: int = 7) -> list[bytes]:
    # Timed within the collector's accepted window (now - 7 d .. now + 5 min), ending
    # before now: the workload advances ~5 ms per span trace or log record at its
    # rate, and 10 s per round of 36 metric points.
    back = (total // 30 + 10) * 10 * 10**9 if kind == "metrics" else total * 10**7
    w = Workload(seed=seed, start_ns=time.time_ns() - back)
    out = []
    for start in range(0, total, BATCH):
        n = min(BATCH, total - start)
        if kind == "spans":
            msg: Any = encode_spans(w.spans(n))
        elif kind == "logs":
            msg = encode_logs(w.logs(n))
        else:
            msg = encode_metrics(w.metrics(n))
        out.append(msg.SerializeToString())
    return out


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def decode_cost(spans: int) -> dict[str, float]:
    """µs per span: standard protobuf parse vs InferTrace parse + decode + normalise."""
    bodies = _encoded("spans", spans)
    decoder = TraceDecoder()

    def parse() -> None:
        for b in bodies:
            ExportTraceServiceRequest.FromString(b)

    def decode() -> None:
        for b in bodies:
            decoder.decode(b)

    gc.collect()
    return {
        "plain_parse_us_per_span": _best(parse) / spans * 1e6,
        "decode_normalise_us_per_span": _best(decode) / spans * 1e6,
    }


def _load_http(port: int, path: str, bodies: list[bytes], out: Any) -> None:
    """Load process body: send ``bodies`` over CONNECTIONS keep-alive connections."""
    lock = threading.Lock()
    pending = list(reversed(bodies))
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/x-protobuf"}
        while True:
            with lock:
                if not pending:
                    break
                body = pending.pop()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
        conn.close()

    _run_workers(worker, out, errors)


def _load_grpc(port: int, bodies: list[bytes], out: Any) -> None:
    import grpc

    lock = threading.Lock()
    pending = list(reversed(bodies))
    errors: list[str] = []

    def worker() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(GRPC_METHOD)
            while True:
                with lock:
                    if not pending:
                        break
                    body = pending.pop()
                try:
                    export(body, timeout=60)
                except grpc.RpcError as exc:
                    errors.append(str(exc.code()))

    _run_workers(worker, out, errors)


def _run_workers(worker: Callable[[], None], out: Any, errors: list[str]) -> None:
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"started": started, "finished": time.time(), "errors": errors[:5]})


class Server:
    """``infertrace serve`` in a child process on free ports."""

    def __init__(self, capacity: int) -> None:
        cmd = [sys.executable, "-m", "infertrace.cli", "serve", "--port", "0", "--grpc-port", "0"]
        cmd += ["--span-capacity", str(capacity), "--log-capacity", str(capacity)]
        cmd += ["--metric-capacity", str(capacity)]
        env = dict(os.environ, COLUMNS="200")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        http_port = grpc_port = 0
        for line in self.proc.stdout:
            if m := re.search(r"OTLP/HTTP\s+http://127\.0\.0\.1:(\d+)", line):
                http_port = int(m.group(1))
            if m := re.search(r"OTLP/gRPC\s+127\.0\.0\.1:(\d+)", line):
                grpc_port = int(m.group(1))
                break
        if not (http_port and grpc_port):
            self.stop()
            raise RuntimeError("infertrace serve did not report its ports")
        self.http_port, self.grpc_port = http_port, grpc_port

    def stored(self, signal: str) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        m = re.search(rf'infertrace_store_records\{{signal="{signal}"\}} (\S+)', text)
        return int(float(m.group(1))) if m else -1

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _ingest(
    server: Server, signal: str, bodies: list[bytes], total: int, grpc: bool = False
) -> dict[str, Any]:
    before = server.stored(signal)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    target, args = (
        (_load_grpc, (server.grpc_port, bodies, out))
        if grpc
        else (_load_http, (server.http_port, PATHS[signal], bodies, out))
    )
    proc = ctx.Process(target=target, args=args)
    proc.start()
    report = out.get(timeout=600)
    proc.join()
    while server.stored(signal) < before + total and time.time() - report["finished"] < 30:
        time.sleep(0.005)
    done = time.time()
    stored = server.stored(signal) - before
    elapsed = done - report["started"]
    return {
        "records": total,
        "stored": stored,
        "seconds": round(elapsed, 3),
        "per_second": round(total / elapsed),
        "errors": report["errors"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every measurement, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per ingest run")
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument(
        "--quick", action="store_true", help="20,000 of each, results not saved: a smoke run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.spans = args.logs = args.points = 20_000
    results: dict[str, Any] = {"batch": BATCH, "connections": CONNECTIONS}
    results["decode"] = decode_cost(min(args.spans, 50_000))
    span_bodies = _encoded("spans", args.spans)
    server = Server(capacity=2 * max(args.spans, args.logs, args.points))
    try:
        results["http_spans"] = _ingest(server, "spans", span_bodies, args.spans)
        # other spans (other ids) for gRPC: the store keeps one copy of a resent span
        grpc_bodies = _encoded("spans", args.spans, seed=8)
        results["grpc_spans"] = _ingest(server, "spans", grpc_bodies, args.spans, grpc=True)
        log_bodies = _encoded("logs", args.logs)
        results["http_logs"] = _ingest(server, "logs", log_bodies, args.logs)
        point_bodies = _encoded("metrics", args.points)
        results["http_metric_points"] = _ingest(server, "metric_points", point_bodies, args.points)
    finally:
        server.stop()
    _print(results)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _print(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    d = results["decode"]
    table = Table(title="Collector ingest (500 records/request, 4 connections)")
    table.add_column("measurement")
    table.add_column("rate", justify="right")
    for key in ("http_spans", "grpc_spans", "http_logs", "http_metric_points"):
        r = results[key]
        flag = "" if r["stored"] == r["records"] and not r["errors"] else " (INCOMPLETE)"
        table.add_row(key.replace("_", " "), f"{r['per_second']:,}/s{flag}")
    table.add_row("plain protobuf parse", f"{d['plain_parse_us_per_span']:.2f} µs/span")
    table.add_row("decode + normalise", f"{d['decode_normalise_us_per_span']:.2f} µs/span")
    Console().print(table)


if __name__ == "__main__":
    main()
