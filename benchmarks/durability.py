"""Durability pieces of issue 14: write-ahead log throughput and snapshot size/speed.

WAL: 64 KiB records (an OTLP batch of ~1,000 spans is ~100-300 KiB) appended by
1, 4 and 16 threads under each fsync policy for a fixed time; each append waits
until its record is durable under the policy, as an OTLP answer will. The
grouping factor is appends per fsync. ``interval`` also shows the bare append
rate (no wait), which is what a writer pays when it does not hold the answer.

Logged form: encode and decode of the WAL record of a span batch (1,024
Workload spans; :mod:`infertrace.telemetry.memory.durable`), next to the
engine's plain encoding of the same columns.

Snapshot: a MemoryStore filled by the Workload generator (1,000,000 spans;
``--quick`` 100,000): ``capture()`` (every table's state with what it keeps
beside its RingTable) and ``snapfile.save`` (Arrow IPC, zstd, fsync), then
``snapfile.load_latest`` (sha256 verify, Arrow read) and ``restore()`` into a
fresh store; bytes on disk per span.
"""

from __future__ import annotations

import argparse
import marshal
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import report
from infertrace import MemoryStore
from infertrace.engine import plain, snapfile
from infertrace.engine.gcpause import gc_paused
from infertrace.engine.wal import WriteAheadLog
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.memory import durable
from infertrace.workload import Workload

PAYLOAD = 64 * 1024
POLICIES = ("off", "interval=100ms", "always")
THREADS = (1, 4, 16)


def _wal_run(
    policy: str, threads: int, seconds: float, wait: bool, size: int = PAYLOAD
) -> tuple[float, float]:
    """(appends per second, appends per fsync) for ``threads`` appenders."""
    directory = Path(tempfile.mkdtemp(prefix="bench-wal-"))
    payload = np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes()
    counts = [0] * threads
    try:
        with WriteAheadLog(directory, policy, segment_bytes=64 * 2**20) as wal:
            start = threading.Barrier(threads + 1)
            stop = time.perf_counter() + seconds + 0.05

            def work(i: int) -> None:
                start.wait()
                n = 0
                while time.perf_counter() < stop:
                    lsn = wal.append(payload)
                    if wait:
                        wal.wait_durable(lsn)
                    n += 1
                counts[i] = n

            pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for t in pool:
                t.start()
            start.wait()
            began = time.perf_counter()
            for t in pool:
                t.join()
            took = time.perf_counter() - began
            syncs = wal.syncs
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    total = sum(counts)
    return total / took, (total / syncs if syncs else float("inf"))


def wal_rows(seconds: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    single: dict[str, float] = {}
    for policy in POLICIES:
        for threads in THREADS:
            rate, per_sync = _wal_run(policy, threads, seconds, wait=True)
            single.setdefault(policy, rate)
            rows.append(
                {
                    "metric": f"WAL {policy}, {threads} thread(s), append+durable",
                    "value": rate,
                    "unit": f"records/s ({rate * PAYLOAD / 2**20:,.0f} MiB/s)",
                    "target": "" if policy != "always" or threads == 1 else f"~{threads}x 1 thread",
                    "baseline": single[policy] if threads > 1 else None,
                }
            )
            if policy != "off":
                rows.append(
                    {
                        "metric": f"  appends per fsync ({policy}, {threads} thread(s))",
                        "value": per_sync,
                        "unit": "records",
                    }
                )
    small: float | None = None
    for threads in THREADS:  # small records: fsync latency, not bandwidth, bounds them
        rate, per_sync = _wal_run("always", threads, seconds, wait=True, size=1024)
        small = small or rate
        rows.append(
            {
                "metric": f"WAL always, {threads} thread(s), 1 KiB records",
                "value": rate,
                "unit": f"records/s ({per_sync:.1f} per fsync)",
                "target": "" if threads == 1 else f"~{threads}x 1 thread",
                "baseline": small if threads > 1 else None,
            }
        )
    for threads in (1, 16):
        rate, _ = _wal_run("interval=100ms", threads, seconds, wait=False)
        rows.append(
            {
                "metric": f"WAL interval=100ms, {threads} thread(s), append only",
                "value": rate,
                "unit": f"records/s ({rate * PAYLOAD / 2**20:,.0f} MiB/s)",
            }
        )
    return rows


def _cpu_per_span(work: Any, n: int, repeats: int = 3) -> tuple[float, Any]:
    """Best CPU µs per span of ``work()`` over ``repeats`` runs, and its last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.process_time()
        out = work()
        best = min(best, time.process_time() - t)
    return best / n * 1e6, out


def _logged_rows(n_spans: int) -> list[dict[str, Any]]:
    """Encode + decode of the logged form of span batches (1,024 spans each), against
    the engine's plain encoding of the same plain columns (the next candidate). CPU
    time, best of 3: wall time on this shared VM mostly measures the queue for a core."""
    batches = [SpanBatch.of(b) for b in Workload(2).span_batches(min(n_spans, 32_768), 1024)]
    n = sum(len(b) for b in batches)
    enc, records = _cpu_per_span(lambda: [durable.encode_write("spans", b) for b in batches], n)
    dec, _ = _cpu_per_span(lambda: [durable.decode("spans", r) for r in records], n)
    size = sum(len(r) for r in records)
    cols = [marshal.loads(bytes(r[16:])) for r in records[:8]]
    m = sum(len(b) for b in batches[:8])
    plain_enc, encoded = _cpu_per_span(lambda: [plain.encode(c) for c in cols], m, 1)
    plain_dec, _ = _cpu_per_span(lambda: [plain.decode(e) for e in encoded], m, 1)
    return [
        {"metric": "WAL record of a span batch: encode (marshal)", "value": enc,
         "unit": "µs/span CPU", "baseline": plain_enc},
        {"metric": "WAL record of a span batch: decode (marshal)", "value": dec,
         "unit": "µs/span CPU", "baseline": plain_dec},
        {"metric": "WAL record of a span batch: size", "value": size / n, "unit": "B/span",
         "baseline": sum(map(len, encoded)) / m},
    ]  # fmt: skip


class _Timer:
    """Wall and CPU seconds of a block: on a shared, loaded machine the CPU time of
    this process is the steadier figure (wall time includes waiting for a core)."""

    def __enter__(self) -> _Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def snapshot_rows(n_spans: int, repeats: int = 3) -> list[dict[str, Any]]:
    """A MemoryStore of ``n_spans`` spans: capture + save, then load + restore; the
    best of ``repeats`` runs of each (the first pays for fresh pages)."""
    store = MemoryStore(span_capacity=n_spans)
    t = time.perf_counter()
    for batch in Workload(1).span_batches(n_spans, 1024):
        store.write_batch(batch)
    fill = time.perf_counter() - t
    runs: list[dict[str, _Timer]] = []
    directory = Path(tempfile.mkdtemp(prefix="bench-snap-"))
    try:
        for _ in range(repeats):
            timers = {k: _Timer() for k in ("capture", "save", "load", "restore")}
            with timers["capture"]:
                tables = store.capture()
            with timers["save"]:
                info = snapfile.save(directory, tables, lsn=1, keep=1)
            del tables
            with timers["load"], gc_paused():  # as the data directory loads it
                snap = snapfile.load_latest(directory)
            assert snap is not None
            restored = MemoryStore(span_capacity=n_spans)
            with timers["restore"]:
                restored.restore(snap.tables)
            assert restored.stats().spans.count == n_spans
            del snap, restored
            runs.append(timers)
        sizes = {f: int(m["bytes"]) for f, m in info.files.items()}
        raw = sum(
            c.nbytes for c in store._spans.table.state()["columns"].values() if hasattr(c, "nbytes")
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    def best(*steps: str) -> tuple[float, float]:
        wall = min(sum(r[s].wall for s in steps) for r in runs)
        cpu = min(sum(r[s].cpu for s in steps) for r in runs)
        return wall, cpu

    rows: list[dict[str, Any]] = [
        {"metric": f"fill MemoryStore with {n_spans:,} spans (setup)", "value": fill, "unit": "s"}
    ]
    for label, steps, target in (
        ("capture + snapfile.save (Arrow IPC zstd + fsync)", ("capture", "save"), "<= 2 s at 1M"),
        ("  MemoryStore.capture()", ("capture",), ""),
        ("  snapfile.save", ("save",), ""),
        ("snapfile.load + MemoryStore.restore()", ("load", "restore"), "<= 2 s at 1M"),
        ("  snapfile.load (sha256 verify + Arrow read)", ("load",), ""),
        ("  MemoryStore.restore()", ("restore",), ""),
    ):
        wall, cpu = best(*steps)
        rows.append({"metric": label, "value": wall, "unit": f"s wall ({cpu:.2f} s CPU)",
                     "target": target})  # fmt: skip
    rows.append(
        {"metric": "snapshot bytes on disk per span", "value": info.bytes / n_spans,
         "unit": "B/span", "target": "<= 80", "baseline": raw / n_spans}
    )  # fmt: skip
    for fname, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
        rows.append({"metric": f"  {fname}", "value": size / n_spans, "unit": "B/span"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.durability")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--snapshot-only", action="store_true", help="skip the WAL runs")
    args = parser.parse_args(argv)
    seconds, n_spans = (0.5, 100_000) if args.quick else (2.0, 1_000_000)
    wal = [] if args.snapshot_only else wal_rows(seconds)
    load = os.getloadavg()[0]
    rows = wal + _logged_rows(n_spans) + snapshot_rows(n_spans)
    rows.append({"metric": "load average (1 min) at the start, 2 cores", "value": load})
    report(
        "durability",
        f"Durability: WAL of {PAYLOAD // 1024} KiB records, snapshot of {n_spans:,} spans",
        rows,
    )


if __name__ == "__main__":
    main()
