"""Activity store at issue 13's scale: inserts, lookups, ranges, aggregations, memory,
snapshots (the activity snapshot file, and a data directory's snapshot of the
store's captured state).

100,000 developers, 1,000,000 commits, 1,000,000 changes and 100,000 sessions over
365 days from the seeded generator (``--quick``: a tenth of each). Each figure is
timed with the collector on, as a server runs; lookups and queries are the best
of 5 rounds over varied arguments (a descheduled round does not count). The
baselines do the same work without the engine: a plain dict insert, a dict
lookup, and a full scan for the one-day range. Bytes per record come from
``memory_stats()`` (measured from the structures) and, as a check, from the
process's resident size before and after loading.

Run: ``python -m benchmarks.activity [--quick] [--profile]``; writes
``benchmarks/results/activity.json``. ``--profile`` prints cProfile's top
functions for the insert and the restore.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import report
from infertrace.activity import (
    ActivityAnalytics,
    Commit,
    Developer,
    MemoryActivityStore,
    restore_snapshot,
    write_snapshot,
)
from infertrace.activity.generate import Population, generate
from infertrace.activity.records import DAY_NS
from infertrace.engine import snapfile

FIRST_DAY = 20_000
DAYS = 365
BATCH = 10_000


CPU: dict[str, float] = {}
"""The CPU time of the last :func:`_best_ms` (ms per call) and :func:`_clock` (s):
on a shared, loaded machine wall time says more about the neighbours."""


def _best_ms(work: Callable[[int], object], rounds: int = 5, calls: int = 20) -> float:
    """Best of ``rounds`` of ``calls`` calls of ``work(i)``, in ms per call (wall; the
    best CPU time per call goes to ``CPU["ms"]``)."""
    best = cpu = float("inf")
    for r in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        for i in range(calls):
            work(r * calls + i)
        best = min(best, (time.perf_counter() - t) / calls)
        cpu = min(cpu, (time.process_time() - c) / calls)
    CPU["ms"] = cpu * 1e3
    return best * 1e3


def _clock() -> Callable[[], float]:
    """Start timing; the returned function gives wall seconds since and leaves the
    CPU seconds in ``CPU["s"]``."""
    t, c = time.perf_counter(), time.process_time()

    def stop() -> float:
        CPU["s"] = time.process_time() - c
        return time.perf_counter() - t

    return stop


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _load(store: MemoryActivityStore, p: Population) -> float:
    """Seconds to save every record in batches of BATCH."""
    t = time.perf_counter()
    for records in (p.developers, p.commits, p.changes, p.sessions):
        for i in range(0, len(records), BATCH):
            store.save_batch(records[i : i + BATCH])
    return time.perf_counter() - t


def _profile(title: str, work: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    print(f"--- cProfile: {title}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(10)


def _data_dir(add: Callable[..., None], store: Any, data_dir: Path, records: int) -> None:
    """Time a data directory's snapshot of the captured state, and its restore."""
    stop = _clock()
    saved = snapfile.save(data_dir, store.capture(), lsn=0)
    add(f"data-dir snapshot: capture + save, zstd ({saved.bytes / 1e6:,.0f} MB)",
        stop(), "s", "<= 3")  # fmt: skip
    add("data-dir snapshot, CPU time", CPU["s"], "s")
    stop = _clock()
    loaded = snapfile.load_latest(data_dir)
    assert loaded is not None
    durable = MemoryActivityStore()
    durable.restore(loaded.tables)
    add("data-dir restore: load + restore", stop(), "s", "<= 3")
    add("data-dir restore, CPU time", CPU["s"], "s")
    assert durable.count(Commit) == records


def run(scale: int, profile: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rows.append({"metric": "load average (1 min) at start, 2 cores shared", "unit": "",
                 "value": os.getloadavg()[0], "target": "", "baseline": None})  # fmt: skip

    def add(metric: str, value: float, unit: str, target: str = "", base: Any = None) -> None:
        rows.append({"metric": metric, "value": value, "unit": unit, "target": target,
                     "baseline": base})  # fmt: skip

    developers, records = 100_000 // scale, 1_000_000 // scale
    rss0 = _rss_bytes()
    t = time.perf_counter()
    p = generate(developers, DAYS, commits=records, changes=records, sessions=records // 10,
                 seed=1, first_day=FIRST_DAY)  # fmt: skip
    generated = time.perf_counter() - t
    total = developers + 2 * records + records // 10
    print(f"generated {total:,} records in {generated:.1f} s")
    rss1 = _rss_bytes()

    store = MemoryActivityStore()
    cpu0 = time.process_time()
    seconds = _load(store, p)
    insert_cpu = time.process_time() - cpu0
    rss2 = _rss_bytes()
    plain: dict[str, Any] = {}
    t = time.perf_counter()
    for part in (p.developers, p.commits, p.changes, p.sessions):
        for i in range(0, len(part), BATCH):
            plain.update((r.sha if isinstance(r, Commit) else r.id, r) for r in part[i : i + BATCH])
    plain_seconds = time.perf_counter() - t
    del plain
    add(f"batch insert ({total:,} records, batches of {BATCH:,})", total / seconds,
        "records/s", ">= 200,000", total / plain_seconds)  # fmt: skip
    add("batch insert, per CPU second (the process's CPU time)", total / insert_cpu, "records/s")

    rng = random.Random(2)
    emails = [d.email for d in rng.sample(p.developers, 100)]
    by_email: dict[str, Developer] = {d.email: d for d in p.developers}
    find = store.find_developer
    add("lookup by email", _best_ms(lambda i: find(emails[i % 100]), calls=100) * 1e3, "µs",
        "<= 20", _best_ms(lambda i: by_email[emails[i % 100]], calls=100) * 1e3)  # fmt: skip
    add("region page (50 developers, random offset)",
        _best_ms(lambda i: store.list(Developer, {"region": "EU"}, limit=50,
                                      offset=(i * 7919) % 20_000 // scale)),
        "ms", "<= 1")  # fmt: skip

    days = [FIRST_DAY + rng.randrange(DAYS) for _ in range(100)]
    in_range = store.get_commits_in_range
    one_day = _best_ms(lambda i: in_range(days[i % 100] * DAY_NS, (days[i % 100] + 1) * DAY_NS))
    one_day_cpu = CPU["ms"]
    day0 = days[0] * DAY_NS
    scan = _best_ms(lambda i: [c for c in p.commits if day0 <= c.timestamp < day0 + DAY_NS],
                    rounds=2, calls=1)  # fmt: skip
    add(f"one-day commit range (~{records // DAYS:,} commits)", one_day, "ms", "<= 5", scan)
    add("one-day commit range, CPU time", one_day_cpu, "ms")

    analytics = ActivityAnalytics(store)
    add(
        "daily metrics (one day, no cache)",
        _best_ms(lambda i: analytics.daily_metrics(days[i % 100]), calls=5),
        "ms",
        "<= 50",
    )
    teams = sorted({d.team for d in p.developers})
    last = FIRST_DAY + DAYS - 1
    add(f"90-day team leaderboard (~{developers // len(teams)} developers)",
        _best_ms(lambda i: analytics.leaderboard("commits", last - 89, last,
                                                 team=teams[i % len(teams)]), calls=5),
        "ms", "<= 50")  # fmt: skip
    add("90-day team leaderboard, CPU time", CPU["ms"], "ms")
    add(
        "90-day region stats (all developers)",
        _best_ms(lambda i: analytics.region_stats(last - 89, last), rounds=2, calls=1),
        "ms",
    )
    cached = ActivityAnalytics(store, cache_size=64)
    cached.daily_metrics(days[0])
    add("daily metrics (cached)", _best_ms(lambda i: cached.daily_metrics(days[0])), "ms")

    t = time.perf_counter()
    stats = store.memory_stats()
    stats_seconds = time.perf_counter() - t
    for name, s in stats.items():
        add(f"bytes per {name} (memory_stats; index share)", s.bytes_per_record, "B",
            base=s.index_bytes / s.count if s.count else 0)  # fmt: skip
    measured = sum(s.total_bytes for s in stats.values())
    add("bytes per record, all types (memory_stats)", measured / total, "B")
    add("bytes per record, all types (RSS growth: store + records)", (rss2 - rss0) / total,
        "B", base=(rss1 - rss0) / total)  # fmt: skip
    add("memory_stats() time", stats_seconds * 1e3, "ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "activity.snap"
        stop = _clock()
        info = write_snapshot(store, path)
        add(f"snapshot write ({info.bytes / 1e6:,.0f} MB)", stop(), "s", "<= 3")
        add("snapshot write, CPU time", CPU["s"], "s")
        fresh = MemoryActivityStore()
        stop = _clock()
        restore_snapshot(fresh, path)
        add("snapshot restore", stop(), "s", "<= 3")
        add("snapshot restore, CPU time", CPU["s"], "s")
        assert fresh.count(Commit) == records
        del fresh
        gc.collect()
        if hasattr(store, "capture"):  # a data directory's snapshot (absent before #14)
            _data_dir(add, store, Path(tmp) / "data", records)
        if profile:
            _profile("restore", lambda: restore_snapshot(MemoryActivityStore(), path))
    if profile:
        gc.collect()
        _profile("insert", lambda: _load(MemoryActivityStore(), p))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.activity")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    report("activity", "Activity store (issue 13 targets; baseline: plain dict / full scan)",
           run(scale, args.profile))  # fmt: skip


if __name__ == "__main__":
    main()
