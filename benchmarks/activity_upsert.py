"""Skip and replace batches of the activity store: one atomic ``upsert_batch`` against
the way the REST route wrote them before (look up the stored keys under the read
lock, insert the rest as a batch, then one ``update`` per stored key).

A store of 100,000 developers and 1,000,000 commits (``--quick``: a tenth) takes
batches of 10,000 commits: replace with every key stored (their times moved),
skip with half of them stored, and a developer replace batch (the unique email
index kept in step). Each figure is the median of 5 batches of fresh records, in
records per second of wall and of CPU time (the machine is shared: CPU time says
more about the code), with the load average beside them. The write lock is held
for the whole of an upsert, so its per-batch time bounds how long a reader waits.

Run: ``python -m benchmarks.activity_upsert [--quick]``; writes
``benchmarks/results/activity_upsert.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from benchmarks.report import report
from infertrace.activity import Commit, Developer, MemoryActivityStore
from infertrace.activity.generate import generate
from infertrace.activity.records import DAY_NS, Record
from infertrace.errors import RecordNotFound

BATCH = 10_000
ROUNDS = 5


def _old_way(store: MemoryActivityStore, records: Sequence[Record], mode: str) -> None:
    """The route's former skip/replace: look, insert the fresh ones, update one by one."""
    key = "sha" if isinstance(records[0], Commit) else "id"
    kind = type(records[0])
    chosen: dict[Any, Record] = {}
    for r in records:
        if mode == "skip":
            chosen.setdefault(getattr(r, key), r)
        else:
            chosen[getattr(r, key)] = r
    with store.reading() as view:
        stored = {k for k in chosen if view.get(kind, k) is not None}
    fresh = [r for k, r in chosen.items() if k not in stored]
    if fresh:
        store.save_batch(fresh)
    if mode == "replace":
        for k in stored:
            try:
                store.update(chosen[k])
            except RecordNotFound:
                store.save(chosen[k])


def _upsert(store: MemoryActivityStore, batches: list[Any], mode: Any, r: int) -> None:
    store.upsert_batch(batches[r], mode)


def _old(store: MemoryActivityStore, batches: list[Any], mode: str, r: int) -> None:
    _old_way(store, batches[r], mode)


def _rate(work: Callable[[int], object]) -> tuple[float, float, float]:
    """Median records/s (wall, CPU) and median ms per batch over ROUNDS batches."""
    walls, cpus = [], []
    for r in range(ROUNDS):
        t, c = time.perf_counter(), time.process_time()
        work(r)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return BATCH / wall, BATCH / max(cpu, 1e-9), wall * 1e3


def run(scale: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    p = generate(100_000 // scale, 365, commits=1_000_000 // scale, changes=0, seed=13)
    stores = {name: MemoryActivityStore() for name in ("upsert", "old")}
    for store in stores.values():
        for records in (p.developers, p.commits):
            for i in range(0, len(records), BATCH):
                store.save_batch(records[i : i + BATCH])

    def moved(r: int) -> list[Commit]:  # every key stored, each batch different keys
        part = p.commits[r * BATCH : (r + 1) * BATCH]
        return [dataclasses.replace(c, timestamp=c.timestamp + DAY_NS) for c in part]

    def half_stored(r: int, tag: str) -> list[Commit]:
        part = p.commits[(ROUNDS + r) * BATCH : (ROUNDS + r) * BATCH + BATCH // 2]
        fresh = [dataclasses.replace(c, sha=f"{tag}{r:02d}{n:06d}".ljust(40, "0"))
                 for n, c in enumerate(part)]  # fmt: skip
        return [*part, *fresh]

    def renamed(r: int) -> list[Developer]:
        part = p.developers[r * BATCH : (r + 1) * BATCH] or p.developers[:BATCH]
        return [dataclasses.replace(d, team=f"t{r}") for d in part]

    cases: list[tuple[str, Callable[[int], list[Any]], Callable[[int], list[Any]], str]] = [
        ("replace 10k commits, all stored", moved, moved, "replace"),
        ("skip 10k commits, half stored",
         lambda r: half_stored(r, "a"), lambda r: half_stored(r, "b"), "skip"),
        ("replace 10k developers, all stored", renamed, renamed, "replace"),
    ]  # fmt: skip
    for title, new_batch, old_batch, mode in cases:
        batches = [new_batch(r) for r in range(ROUNDS)]
        olds = [old_batch(r) for r in range(ROUNDS)]
        up = _rate(partial(_upsert, stores["upsert"], batches, mode))
        old = _rate(partial(_old, stores["old"], olds, mode))
        load = os.getloadavg()[0]
        rows += [
            {"metric": f"{title}: upsert_batch", "value": up[0], "unit": "records/s",
             "baseline": old[0], "load": load},
            {"metric": f"{title}: upsert_batch, per CPU second", "value": up[1],
             "unit": "records/s", "baseline": old[1]},
            {"metric": f"{title}: ms a batch (upsert: one write-lock hold)", "value": up[2],
             "unit": "ms", "baseline": old[2]},
        ]  # fmt: skip
    for store in stores.values():
        store._check()
    assert stores["upsert"].list(Commit, limit=50) == stores["old"].list(Commit, limit=50)
    rows.append({"metric": "load average (1 min) at the end", "value": os.getloadavg()[0],
                 "unit": "", "baseline": None})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.activity_upsert")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    report("activity_upsert", "Activity skip/replace batches (baseline: look, insert, "
           "update one by one)", run(10 if args.quick else 1))  # fmt: skip


if __name__ == "__main__":
    main()
