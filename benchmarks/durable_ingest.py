"""Durable ingest: OTLP/HTTP spans end to end under each fsync policy, beside no persistence.

Each run starts a real ``infertrace serve`` (memory store) on a fresh data
directory (or none), and a separate load process sends pre-encoded 500-span
requests over ``--connections`` keep-alive connections; a run ends when every
request is answered (an answer comes only once the request's log records are
durable under the policy). The four settings run alternately,
``--rounds`` times, so that the load of this shared machine falls on all of
them alike; the table shows each one's median rate, the collector's CPU per
span (what logging costs in work, apart from waiting) and the log bytes per span.

Targets (issue 14): ``interval=100ms`` within 15% of no persistence, ``always``
within 50%. Run: ``python -m benchmarks.durable_ingest [--spans N] [--quick]``;
writes ``benchmarks/results/durable_ingest.json``.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_spans
from infertrace.testing import ServedProcess
from infertrace.workload import Workload

BATCH = 500
MODES: dict[str, list[str]] = {
    "no persistence": [],
    "--fsync off": ["--fsync", "off"],
    "--fsync interval=100ms": ["--fsync", "interval=100ms"],
    "--fsync always": ["--fsync", "always"],
}
TARGETS = {"--fsync interval=100ms": 0.85, "--fsync always": 0.50}
"""The least share of the no-persistence rate each policy should reach."""


def _bodies(total: int, seed: int) -> list[bytes]:
    w = Workload(seed=seed, start_ns=time.time_ns() - total * 10**7)
    return [
        encode_spans(w.spans(min(BATCH, total - i))).SerializeToString()
        for i in range(0, total, BATCH)
    ]


def _load(port: int, bodies: list[bytes], connections: int, out: Any) -> None:
    """Load process: send ``bodies`` over ``connections`` connections; report the time."""
    lock = threading.Lock()
    pending = list(reversed(bodies))
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not pending:
                    break
                body = pending.pop()
            conn.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                errors.append(f"HTTP {answer.status}")
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"seconds": time.perf_counter() - started, "errors": errors[:5]})


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _log_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in (directory / "wal").glob("*.wal"))


def run_once(mode: str, bodies: list[bytes], connections: int, scratch: Path) -> dict[str, Any]:
    """One server, one load: spans/s, server CPU µs per span, log bytes per span."""
    spans = sum(1 for _ in bodies) * BATCH
    data_dir = scratch / f"d{time.monotonic_ns()}"
    args = ["--span-capacity", str(2 * spans)]
    if MODES[mode]:
        # no snapshot during the run: this measures the log, not a capture
        args += ["--data-dir", str(data_dir), "--snapshot-interval", "1h", *MODES[mode]]
    with ServedProcess(*args, grace=120) as served:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        cpu0 = _cpu_seconds(served.proc.pid)
        proc = ctx.Process(target=_load, args=(served.http_port, bodies, connections, out))
        proc.start()
        result = out.get(timeout=900)
        proc.join()
        cpu = _cpu_seconds(served.proc.pid) - cpu0
        logged = _log_bytes(data_dir) if MODES[mode] else 0
    shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "per_second": spans / result["seconds"],
        "cpu_us_per_span": cpu / spans * 1e6,
        "log_bytes_per_span": logged / spans,
        "errors": result["errors"],
    }


def store_only(mode: str, batches: list[Any], threads: int, scratch: Path) -> float:
    """Spans/s of MemoryStore.write_batch from ``threads`` threads, in this process, with
    no collector around it: the store and log path alone (decode and HTTP excluded)."""
    from infertrace.engine.datadir import DataDir
    from infertrace.telemetry.memory import MemoryStore

    store = MemoryStore(span_capacity=2 * sum(map(len, batches)))
    data_dir = None
    if MODES[mode]:
        path = scratch / f"s{time.monotonic_ns()}"
        data_dir = DataDir(path, [store], fsync=MODES[mode][1], snapshot_interval=3600)
    pending = list(reversed(batches))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                batch = pending.pop()
            store.write_batch(batch)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    seconds = time.perf_counter() - started
    if data_dir is not None:
        data_dir.close(snapshot=False)
    store.close()
    return sum(map(len, batches)) / seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000, help="spans per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting")
    parser.add_argument("--connections", type=int, default=32, help="concurrent senders")
    parser.add_argument("--quick", action="store_true", help="20,000 spans, 1 round, not saved")
    args = parser.parse_args(argv)
    if args.quick:
        args.spans, args.rounds = 20_000, 1
    bodies = _bodies(args.spans, seed=5)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    scratch = Path(tempfile.mkdtemp(prefix="durable-ingest-", dir=os.environ.get("BENCH_DIR")))
    try:
        names = list(MODES)
        for r in range(args.rounds):
            for mode in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                runs[mode].append(run_once(mode, bodies, args.connections, scratch))
        # what the pipeline hands the store: the decoder's checked column batches
        decoder = TraceDecoder()
        batches = [decoder.decode(body).records for body in _bodies(args.spans, seed=9)]
        inproc: dict[str, list[float]] = {mode: [] for mode in MODES}
        for r in range(args.rounds):
            for mode in names[r % len(names) :] + names[: r % len(names)]:
                inproc[mode].append(store_only(mode, batches, args.connections, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = statistics.median(x["per_second"] for x in runs["no persistence"])
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"base": base}
    for mode, results in runs.items():
        rate = statistics.median(x["per_second"] for x in results)
        cpu = statistics.median(x["cpu_us_per_span"] for x in results)
        logged = statistics.median(x["log_bytes_per_span"] for x in results)
        errors = [e for x in results for e in x["errors"]]
        target = f">= {TARGETS[mode]:.0%} of none" if mode in TARGETS else ""
        each = ", ".join(f"{x['per_second']:,.0f}" for x in results)
        rows.append(
            {
                "metric": f"{mode}: spans/s (runs: {each})" + (" ERRORS" if errors else ""),
                "value": round(rate),
                "unit": "spans/s",
                "target": target,
                "baseline": round(base),
            }
        )
        rows.append({"metric": f"{mode}: collector CPU", "value": round(cpu, 2), "unit": "µs/span"})
        if logged:
            rows.append({"metric": f"{mode}: log", "value": round(logged, 1), "unit": "B/span"})
        summary[mode] = {"rate": rate, "share": rate / base, "errors": errors}
    store_base = statistics.median(inproc["no persistence"])
    for mode, rates in inproc.items():
        target = f">= {TARGETS[mode]:.0%} of none" if mode in TARGETS else ""
        rows.append(
            {
                "metric": f"store only, {mode}: spans/s",
                "value": round(statistics.median(rates)),
                "unit": "spans/s",
                "target": target,
                "baseline": round(store_base),
            }
        )
        summary[f"store only, {mode}"] = statistics.median(rates) / store_base
    title = (
        f"Durable ingest: {args.spans:,} spans per run, {args.connections} senders x {BATCH}"
        f" spans, median of {args.rounds}"
    )
    report("durable_ingest_quick" if args.quick else "durable_ingest", title, rows)
    return summary


if __name__ == "__main__":
    main()
