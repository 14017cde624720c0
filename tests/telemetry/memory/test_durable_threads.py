"""Writers on every table while snapshots are captured: each capture plus the replay
of the records after its tables' applied LSNs gives the same store as the writers
left (log-before-visible under the lock makes each table's LSN order its apply order)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from infertrace import MemoryStore
from infertrace.engine.snapfile import TableState
from infertrace.telemetry.memory.capture import applied_lsn
from tests.telemetry.memory.kit import (
    ListJournal,
    answers,
    assert_same_answers,
    rich_logs,
    rich_points,
    rich_spans,
)

THREADS = 6
BATCHES = 30


def test_a_capture_taken_during_writes_plus_the_log_after_it_is_the_final_store() -> None:
    journal = ListJournal()
    store = MemoryStore(400, 300, 350)  # small rings: writers evict while capturing
    store.attach(journal)
    start = threading.Barrier(THREADS + 1)
    halfway = threading.Barrier(THREADS + 1)  # writers pause: one capture surely between
    resume = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []
    writers: list[tuple[Callable[[Any], None], Callable[[int, int], Any]]] = [
        (store.write_batch, rich_spans),
        (store.write_logs, rich_logs),
        (store.write_metrics, rich_points),
    ]

    def work(i: int) -> None:
        write, make = writers[i % 3]
        start.wait()
        try:
            for b in range(BATCHES):
                if b == BATCHES // 2:
                    halfway.wait()
                    resume.wait()
                write(make(1000 * i + b, 20))
                if b % 10 == 9:
                    store.purge_older_than(3600.0)  # nothing that old: logs nothing
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in pool:
        t.start()
    start.wait()
    halfway.wait()
    captures: list[Mapping[str, TableState]] = [store.capture()]
    resume.wait()
    while any(t.is_alive() for t in pool):
        captures.append(store.capture())
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    assert len(journal.records) == THREADS * BATCHES
    final = answers(store)

    last = {t: lsn for lsn, (t, _) in enumerate(journal.records, 1)}

    def between(c: Mapping[str, TableState]) -> bool:
        """Some table already held rows and had more to come when this was taken."""
        return any(0 < applied_lsn(c[t]) < last[t] for t in last)

    mid = [c for c in captures if between(c)]
    assert mid and mid[0] is captures[0]  # the paused one; the others raced the writers
    for states in [mid[0], *mid[1:][:: max(1, len(mid) // 3)]]:
        restored = MemoryStore(400, 300, 350)
        restored.restore(states)
        journal.replay_into(restored)  # records at or below applied_lsn are skipped
        restored._check()
        assert_same_answers(answers(restored), final)
