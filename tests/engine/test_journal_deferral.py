"""Deferred durability waits (engine/journal.py) and the GroupWaiter (engine/groupwait.py)."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

import pytest

from infertrace.engine.groupwait import GroupWaiter
from infertrace.engine.journal import (
    DEFERRED_WAITS,
    CollectWaits,
    Waits,
    wait_for,
)


class Journal:
    """Counts LSNs; ``wait`` records what was asked, fails for ``bad`` LSNs, and blocks
    until ``gate`` is set."""

    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self._lock = threading.Lock()
        self.next = 0
        self.waited: list[int] = []
        self.bad = bad
        self.gate = threading.Event()
        self.gate.set()

    def append(self, table: str, payload: bytes | memoryview) -> int:
        with self._lock:
            self.next += 1
            return self.next

    def wait(self, lsn: int) -> None:
        self.gate.wait(10)
        with self._lock:
            self.waited.append(lsn)
        if lsn in self.bad:
            raise OSError(errno.EIO, f"fsync failed for {lsn}")


def test_outside_a_block_wait_for_waits_at_once() -> None:
    journal = Journal()
    wait_for(journal, journal.append("t", b""))
    assert journal.waited == [1]


def _deferred() -> AbstractContextManager[object]:
    return DEFERRED_WAITS


# Each case: the blocks opened (outermost first), how many LSNs are logged inside the
# innermost, what the journal was asked at the innermost exit and at the outermost exit.
NESTINGS: list[tuple[str, list[Callable[[], AbstractContextManager[object]]], list[int]]] = [
    ("deferred", [_deferred], [1, 2, 3]),
    ("deferred in deferred", [_deferred, _deferred], [1, 2, 3]),
    ("deferred in collect", [CollectWaits, _deferred], []),
    ("collect in deferred", [_deferred, CollectWaits], []),
    ("collect", [CollectWaits], []),
]


@pytest.mark.parametrize(("blocks", "expected_after"), [c[1:] for c in NESTINGS],
                         ids=[c[0] for c in NESTINGS])  # fmt: skip
def test_nested_blocks_wait_once_at_the_outermost_settling_exit(
    blocks: list[Callable[[], AbstractContextManager[object]]], expected_after: list[int]
) -> None:
    journal = Journal()
    collected: list[Waits] = []
    with ExitStack() as stack:
        for make in blocks:
            entered = stack.enter_context(make())
            if isinstance(entered, Waits):
                collected.append(entered)
        for _ in range(3):
            wait_for(journal, journal.append("t", b""))
        assert journal.waited == [], "nothing waits inside a block"
    assert journal.waited == expected_after
    if collected:  # the collecting block holds every LSN; settling asks for each, in order
        [waits] = collected
        waits._check()
        assert [lsn for _, lsn in waits.highest()] == [3]
        waits.settle()
        assert journal.waited == [1, 2, 3]


def test_a_collect_block_sees_only_its_own_thread() -> None:
    journal = Journal()
    threads, per_thread, seen = 8, 50, {}
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        start.wait()
        with CollectWaits() as waits:
            mine = [journal.append("t", b"") for _ in range(per_thread)]
            for lsn in mine:
                wait_for(journal, lsn)
        waits._check()
        seen[n] = (mine, waits)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    assert journal.waited == [] and len(seen) == threads
    for mine, waits in seen.values():
        assert waits.highest() == [(journal, max(mine))]
    every = sorted(lsn for mine, _ in seen.values() for lsn in mine)
    assert every == list(range(1, threads * per_thread + 1))


def test_settle_asks_about_every_record_and_names_the_first_unsure_one() -> None:
    journal = Journal(bad=frozenset({2, 4}))
    waits = Waits()
    for lsn in (4, 1, 2, 3):
        waits.add(journal, lsn)
    assert waits.unsure() is not None and waits.unsure()[0] == 2  # type: ignore[index]
    journal.waited.clear()
    with pytest.raises(OSError, match="log record 2: fsync failed for 2") as info:
        waits.settle()
    assert info.value.errno == errno.EIO
    assert journal.waited == [1, 2, 3, 4]


def test_a_deferred_block_left_by_an_exception_still_waits_and_keeps_that_exception() -> None:
    journal = Journal(bad=frozenset({1}))
    with pytest.raises(KeyError), DEFERRED_WAITS:
        wait_for(journal, journal.append("t", b""))
        raise KeyError("the caller's own error")
    assert journal.waited == [1]


def test_a_deferred_block_raises_a_failed_wait_at_its_exit() -> None:
    journal = Journal(bad=frozenset({2}))
    with pytest.raises(OSError, match="log record 2"), DEFERRED_WAITS:
        for _ in range(3):
            wait_for(journal, journal.append("t", b""))
    assert journal.waited == [1, 2, 3]


def test_group_waiter_answers_only_after_the_wait_returns() -> None:
    journal = Journal()
    journal.gate.clear()
    answered = threading.Event()
    results: list[OSError | None] = []
    waits = Waits()
    waits.add(journal, journal.append("t", b""))
    with GroupWaiter() as waiter:
        waiter.submit(waits, lambda err: (results.append(err), answered.set()))
        assert not answered.wait(0.3), "answered before the journal's wait returned"
        journal.gate.set()
        assert answered.wait(10)
        waiter._check()
    assert results == [None]


def test_group_waiter_hammered_by_threads_answers_each_submission_once() -> None:
    bad = frozenset(range(7, 400, 37))
    journal = Journal(bad=bad)
    threads, each = 8, 40
    answers: dict[int, list[OSError | None]] = {}
    lsns: dict[int, list[int]] = {}
    lock = threading.Lock()
    with GroupWaiter() as waiter:

        def worker(n: int) -> None:
            for i in range(each):
                waits = Waits()
                mine = [journal.append("t", b"") for _ in range(1 + i % 3)]
                for lsn in mine:
                    waits.add(journal, lsn)
                key = n * each + i
                lsns[key] = mine

                def done(err: OSError | None, key: int = key) -> None:
                    with lock:
                        answers.setdefault(key, []).append(err)

                waiter.submit(waits, done)

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(30)
    # close() settled everything queued: one answer per submission, failing exactly
    # when one of its records is a bad LSN
    assert sorted(answers) == sorted(lsns)
    for key, got in answers.items():
        [err] = got
        unsure = [lsn for lsn in lsns[key] if lsn in bad]
        if unsure:
            assert isinstance(err, OSError) and f"log record {min(unsure)}:" in str(err)
        else:
            assert err is None
    assert 1 <= waiter.rounds <= threads * each


def test_a_submission_after_close_is_settled_by_the_caller() -> None:
    journal = Journal()
    waiter = GroupWaiter()
    waiter.close()
    waiter.close()
    got: list[OSError | None] = []
    waits = Waits()
    waits.add(journal, journal.append("t", b""))
    waiter.submit(waits, got.append)
    assert got == [None] and journal.waited == [1]
