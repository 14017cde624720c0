"""The store under many threads: no lost writes, no torn batches, invariants hold."""

from __future__ import annotations

import threading

from infertrace.activity import Commit, Developer, MemoryActivityStore
from tests.activity.conftest import commit, dev

TIMEOUT = 30.0


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread did not finish in time"


def test_100_threads_write_concurrently() -> None:
    """The seed's 100-goroutine test: each thread saves its developer and 10 commits."""
    store = MemoryActivityStore()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            store.save(dev(i))
            for n in range(10):
                store.save(commit(i * 100 + n + 1, i, n))
            assert store.count(Commit, {"developer_id": f"d{i:03d}"}) == 10
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    _run([threading.Thread(target=work, args=(i,)) for i in range(100)])
    assert errors == []
    assert store.count(Developer) == 100 and store.count(Commit) == 1000
    store._check()


def test_readers_see_a_batch_whole_or_not_at_all() -> None:
    """Writers add batches of 50 commits; readers count them meanwhile: every count
    they see is a multiple of 50, and a day's list and count agree."""
    store = MemoryActivityStore()
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for b in range(20):
                base = (w * 20 + b) * 50 + 1
                store.save_batch([commit(base + k, w, day=0) for k in range(50)])
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                with store.reading() as view:
                    n = view.count(Commit)
                    listed = view.query(Commit, {"day": 20_000})
                seen.append(n)
                assert n % 50 == 0 and len(listed) == n, (n, len(listed))
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for r in readers:
        r.start()
    _run([threading.Thread(target=write, args=(w,)) for w in range(4)])
    done.set()
    for r in readers:
        r.join(TIMEOUT)
    assert errors == []
    assert seen and store.count(Commit) == 4 * 20 * 50
    store._check()
