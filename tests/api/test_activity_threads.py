"""Batches from many threads at once, over REST: overlapping idempotent imports.

Eight threads post overlapping commit batches with ``on_conflict=skip`` (as
parallel ``import-git`` runs of the same history would). Every answer must be
200, each commit stored once, the inserted counts must add up to the distinct
commits sent, and the store's invariants must hold afterwards.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx

from infertrace.activity.records import Commit
from tests.api.activity_server import DAY0, day_ns, serving

THREADS = 8
BATCHES = 6
PER_BATCH = 200
POOL = 1_500


def commit(n: int) -> dict[str, Any]:
    return {"sha": f"{n + 1:040x}", "developer_id": f"d{n % 17}", "repo": "api",
            "timestamp": day_ns(DAY0 + n % 5, n)}  # fmt: skip


def test_overlapping_skip_batches_from_threads_store_each_commit_once() -> None:
    with serving() as server:
        results: list[tuple[int, Any]] = []
        sent: set[int] = set()
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            with httpx.Client(base_url=server.url, timeout=60) as client:
                start.wait(timeout=30)
                for _ in range(BATCHES):
                    picks = rng.sample(range(POOL), PER_BATCH)
                    body = {"records": [commit(n) for n in picks]}
                    response = client.post(
                        "/api/activity/commits/batch?on_conflict=skip", json=body
                    )
                    with lock:
                        sent.update(picks)
                        results.append((response.status_code, response.json()))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert [status for status, _ in results] == [200] * (THREADS * BATCHES), results[:3]
        inserted = sum(body["inserted"] for _, body in results)
        assert inserted == len(sent)
        assert sum(body["inserted"] + body["skipped"] for _, body in results) == (
            THREADS * BATCHES * PER_BATCH
        )
        assert server.service.store.count(Commit) == len(sent)
        server.service.store._check()
