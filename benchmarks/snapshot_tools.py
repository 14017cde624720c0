"""The data-directory tools and the registry's logging cost.

A data directory holding ``spans`` spans (a snapshot of 90%, the last 10% only in
the log; fsync off) is written once; then, on it:

- ``snapshot verify`` (every file's sha256, the whole log: ``inspect_dir``);
- ``export --data-dir``'s read-only restore and a 100,000-row JSON Lines export;
- ``snapshot save`` (restore, snapshot, drop the covered log).

And the registry: ns per ``save_service`` on a ThreadSafeRegistry detached (the
baseline, in the same run), attached to a journal that only counts (the cost of
encoding and the extra lock work), and attached to a DataDir under ``--fsync off``
(the write-ahead log's write too). Best of 5 rounds each.

Run: ``python -m benchmarks.snapshot_tools [--quick]``; writes
``benchmarks/results/snapshot_tools.json``.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import report
from infertrace.activity.memory import MemoryActivityStore
from infertrace.api.export import ExportFormat, export_file
from infertrace.cli.offline import compacted, restored
from infertrace.cli.persist import participants
from infertrace.config import Settings
from infertrace.engine.datadir import DataDir
from infertrace.engine.dirreport import inspect_dir
from infertrace.registry import ServiceInfo, ThreadSafeRegistry
from infertrace.telemetry.factory import build_store
from infertrace.workload import Workload


def _build(root: Path, spans: int) -> float:
    """Write the directory; seconds spent generating and writing."""
    started = time.perf_counter()
    settings = Settings(span_capacity=spans)
    store = build_store(settings, purge=False)
    w = Workload(seed=1, start_ns=time.time_ns() - 3_600 * 10**9, rate=spans / 1800)
    parts = participants([store, ThreadSafeRegistry(), MemoryActivityStore()])
    data = DataDir(root, parts, fsync="off", snapshot_interval=10**6)
    try:
        logged = spans // 10
        for i in range(0, spans - logged, 10_000):
            store.write_batch(w.spans(min(10_000, spans - logged - i)))
        data.snapshot()
        for i in range(0, logged, 10_000):
            store.write_batch(w.spans(min(10_000, logged - i)))
    finally:
        data.close(snapshot=False)
        store.close()
    return time.perf_counter() - started


def _timed(fn: Any) -> float:
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class _Counting:
    """A journal that only numbers records: the participant's own cost."""

    def __init__(self) -> None:
        self.n = 0

    def append(self, table: str, payload: bytes | memoryview) -> int:
        self.n += 1
        return self.n

    def wait(self, lsn: int) -> None:
        return None


def _save_ns(store: ThreadSafeRegistry, calls: int) -> float:
    pods = [
        ServiceInfo(f"svc{i % 10}", f"pod{i}", port=8000, providers=frozenset({"m"}), last_seen=i)
        for i in range(100)
    ]
    best = float("inf")
    for _ in range(5):
        gc.collect()
        gc.disable()
        try:
            t = time.perf_counter_ns()
            for _ in range(calls):
                for info in pods:
                    store.save_service(info)
            best = min(best, (time.perf_counter_ns() - t) / (calls * len(pods)))
        finally:
            gc.enable()
    return best


def run(spans: int, calls: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-snaptools-"))
    try:
        root = tmp / "data"
        built = _build(root, spans)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        rows.append({"metric": f"build {spans:,} spans (generate + write)", "value": built,
                     "unit": "s"})  # fmt: skip
        rows.append({"metric": "data directory size", "value": size / 2**20, "unit": "MiB"})
        report_ = inspect_dir(root)
        assert report_.ok, report_.problems
        rows.append({"metric": "snapshot verify (inspect_dir)",
                     "value": _timed(lambda: inspect_dir(root)), "unit": "s"})  # fmt: skip
        out = tmp / "spans.jsonl"
        timings: dict[str, float] = {}

        def export() -> None:
            t = time.perf_counter()
            with restored(root) as data:
                timings["restore"] = time.perf_counter() - t
                t = time.perf_counter()
                export_file(data.store, [("limit", 100_000)], ExportFormat.JSONL, out)
                timings["export"] = time.perf_counter() - t

        total = _timed(export)
        rows.append({"metric": "export --data-dir: read-only restore",
                     "value": timings["restore"], "unit": "s"})  # fmt: skip
        rows.append({"metric": "export --data-dir: 100,000 rows JSON Lines",
                     "value": timings["export"], "unit": "s"})  # fmt: skip
        rows.append({"metric": "export --data-dir total", "value": total, "unit": "s"})
        rows.append({"metric": "snapshot save (restore + snapshot + drop log)",
                     "value": _timed(lambda: compacted(root)), "unit": "s"})  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    detached = _save_ns(ThreadSafeRegistry(), calls)
    counting = ThreadSafeRegistry()
    counting.attach(_Counting())
    rows.append({"metric": "registry save, detached", "value": detached, "unit": "ns/op"})
    rows.append({"metric": "registry save, journal that only counts",
                 "value": _save_ns(counting, calls), "unit": "ns/op",
                 "baseline": detached})  # fmt: skip
    wal_dir = Path(tempfile.mkdtemp(prefix="bench-regwal-"))
    try:
        logged = ThreadSafeRegistry()
        with DataDir(wal_dir, [logged], fsync="off", snapshot_interval=10**6):
            value = _save_ns(logged, calls)
        rows.append({"metric": "registry save, DataDir --fsync off", "value": value,
                     "unit": "ns/op", "baseline": detached})  # fmt: skip
    finally:
        shutil.rmtree(wal_dir, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshot_tools")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--spans", type=int, default=None)
    args = parser.parse_args(argv)
    spans = args.spans or (20_000 if args.quick else 500_000)
    calls = 20 if args.quick else 200
    title = f"Data-directory tools ({spans:,} spans) and registry logging cost"
    report("snapshot_tools", title, run(spans, calls))


if __name__ == "__main__":
    main()
