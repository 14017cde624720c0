"""Durability pieces of issue 14: write-ahead log throughput and snapshot size/speed.

WAL: 64 KiB records (an OTLP batch of ~1,000 spans is ~100-300 KiB) appended by
1, 4 and 16 threads under each fsync policy for a fixed time; each append waits
until its record is durable under the policy, as an OTLP answer will. The
grouping factor is appends per fsync. ``interval`` also shows the bare append
rate (no wait), which is what a writer pays when it does not hold the answer.

Snapshot: a real span table (MemoryStore filled by the Workload generator,
1,000,000 spans; ``--quick`` 100,000): its RingTable state plus the attribute
arena and dictionaries the span table keeps beside it, saved as Arrow IPC with
zstd and loaded back (verify + decode), and rebuilt into a RingTable.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from benchmarks.report import report
from infertrace import MemoryStore
from infertrace.engine import snapfile
from infertrace.engine.ringsnap import ObjectCodec, from_table_state, to_table_state
from infertrace.engine.snapfile import TableState
from infertrace.engine.table import RingTable
from infertrace.engine.wal import WriteAheadLog
from infertrace.model import SpanEvent, SpanLink
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


def _plain_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return dict(attrs)


def _encode_extras(x: tuple[Any, ...]) -> tuple[Any, ...]:
    msg, events, links, *rest = x
    ev = tuple((e.name, e.time_unix_nano, _plain_attrs(e.attributes)) for e in events)
    lk = tuple(
        (k.trace_id, k.span_id, _plain_attrs(k.attributes), k.trace_state, k.flags) for k in links
    )
    return (msg, ev, lk, *rest)


def _decode_extras(x: tuple[Any, ...]) -> tuple[Any, ...]:
    msg, events, links, *rest = x
    ev = tuple(SpanEvent(n, t, MappingProxyType(a) if a else {}) for n, t, a in events)
    lk = tuple(
        SpanLink(tid, sid, MappingProxyType(a) if a else {}, st, fl)
        for tid, sid, a, st, fl in links
    )
    return (msg, ev, lk, *rest)


EXTRAS = {"extras": ObjectCodec(_encode_extras, _decode_extras)}
"""The span table's adapter: events and links as plain tuples."""


def _span_tables(store: MemoryStore) -> dict[str, TableState]:
    spans = store._spans
    codec = spans.codec
    offsets = np.arange(codec.arena.tail, codec.arena.head, dtype=np.int64)
    attrs = TableState(
        {"floor": codec.floor, "tail": codec.arena.tail, "head": codec.arena.head},
        {
            "arena": {"value": codec.arena.take(offsets)},
            "dict.values": {"value": list(codec.values.values)},
            "dict.shapes": {"value": list(codec.shapes.values)},
        },
    )
    return {"spans": to_table_state(spans.table.state(), EXTRAS), "span_attrs": attrs}


def snapshot_rows(n_spans: int) -> list[dict[str, Any]]:
    store = MemoryStore(span_capacity=n_spans)
    t = time.perf_counter()
    for batch in Workload(1).span_batches(n_spans, 1024):
        store.write_batch(batch)
    fill = time.perf_counter() - t
    directory = Path(tempfile.mkdtemp(prefix="bench-snap-"))
    try:
        t = time.perf_counter()
        tables = _span_tables(store)
        state_s = time.perf_counter() - t
        info = snapfile.save(directory, tables, lsn=1)
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        snap = snapfile.load_latest(directory)
        assert snap is not None
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        state = from_table_state(snap.tables["spans"], EXTRAS)
        decode_s = time.perf_counter() - t
        t = time.perf_counter()
        table = RingTable.from_state(store._spans.table.spec, state)
        rebuild_s = time.perf_counter() - t
        check = RingTable._check
        RingTable._check = lambda self: None  # type: ignore[method-assign]
        try:  # the same rebuild without the invariant check from_state ends with
            t = time.perf_counter()
            RingTable.from_state(store._spans.table.spec, state)
            unchecked_s = time.perf_counter() - t
        finally:
            RingTable._check = check  # type: ignore[method-assign]
        assert len(table) == n_spans
        sizes = {f: int(m["bytes"]) for f, m in info.files.items()}
        raw = sum(
            c.nbytes for c in store._spans.table.state()["columns"].values() if hasattr(c, "nbytes")
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    per_span = info.bytes / n_spans
    rows: list[dict[str, Any]] = [
        {"metric": f"fill MemoryStore with {n_spans:,} spans (setup)", "value": fill, "unit": "s"},
        {"metric": "snapshot save (state + Arrow IPC zstd + fsync)", "value": save_s, "unit": "s",
         "target": "<= 2 s at 1M"},
        {"metric": "  of which state() and adapter", "value": state_s, "unit": "s"},
        {"metric": "snapshot load (sha256 verify + Arrow read)", "value": load_s, "unit": "s"},
        {"metric": "  + decode to RingTable state", "value": decode_s, "unit": "s"},
        {"metric": "  + RingTable.from_state (incl. its _check)", "value": rebuild_s, "unit": "s"},
        {"metric": "  (from_state without its _check)", "value": unchecked_s, "unit": "s"},
        {"metric": "restore total (load + decode + from_state)",
         "value": load_s + decode_s + rebuild_s, "unit": "s", "target": "<= 2 s at 1M"},
        {"metric": "snapshot bytes on disk per span", "value": per_span, "unit": "B/span",
         "target": "<= 80", "baseline": raw / n_spans},
    ]  # fmt: skip
    for fname, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:6]:
        rows.append({"metric": f"  {fname}", "value": size / n_spans, "unit": "B/span"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.durability")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    seconds, n_spans = (0.5, 100_000) if args.quick else (2.0, 1_000_000)
    rows = wal_rows(seconds) + snapshot_rows(n_spans)
    report(
        "durability",
        f"Durability: WAL of {PAYLOAD // 1024} KiB records, snapshot of {n_spans:,} spans",
        rows,
    )


if __name__ == "__main__":
    main()
