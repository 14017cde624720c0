"""RWLock: readers share, a writer is alone, a waiting writer blocks new readers.

No test sleeps or counts on thread timing. Threads report with events and a
queue; a blocked thread is seen in the lock's own state (``_await_state``),
which changes only when a thread starts waiting, takes the lock or leaves it.
Timeouts are there only to turn a deadlock into a failure.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.engine.rwlock import LockState, RWLock

TIMEOUT = 10.0
IDLE = LockState(0, False, 0, 0)


class Worker:
    """A thread that takes the lock in ``mode``, logs ``<name> in``, stays until
    told to ``leave``, logs ``<name> out`` while still holding it, and goes."""

    def __init__(self, lock: RWLock, name: str, mode: str, log: list[str]) -> None:
        self.lock, self.name, self.mode, self.log = lock, name, mode, log
        self.inside = threading.Event()
        self._leave = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        held = self.lock.read() if self.mode == "read" else self.lock.write()
        with held:
            self.log.append(f"{self.name} in")
            self.inside.set()
            self._leave.wait(TIMEOUT)
            self.log.append(f"{self.name} out")

    def enters(self) -> bool:
        return self.inside.wait(TIMEOUT)

    def leave(self) -> None:
        self._leave.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), f"{self.name} did not leave"


@pytest.fixture
def lock() -> Iterator[RWLock]:
    lock = RWLock()
    yield lock
    assert lock._state() == IDLE
    lock._check()


def test_readers_share(lock: RWLock) -> None:
    log: list[str] = []
    r1, r2 = Worker(lock, "r1", "read", log), Worker(lock, "r2", "read", log)
    assert r1.enters() and r2.enters()
    assert lock._state() == LockState(2, False, 0, 0)  # both inside at once
    r1.leave()
    r2.leave()


def test_a_reader_blocks_a_writer(lock: RWLock) -> None:
    log: list[str] = []
    r = Worker(lock, "r", "read", log)
    assert r.enters()
    w = Worker(lock, "w", "write", log)
    assert lock._await_state(LockState(1, False, 0, 1))
    assert not w.inside.is_set()
    r.leave()
    assert w.enters()
    w.leave()
    assert log == ["r in", "r out", "w in", "w out"]


def test_a_writer_is_alone_and_writers_go_before_readers(lock: RWLock) -> None:
    log: list[str] = []
    w1 = Worker(lock, "w1", "write", log)
    assert w1.enters()
    r = Worker(lock, "r", "read", log)
    assert lock._await_state(LockState(0, True, 1, 0))
    w2 = Worker(lock, "w2", "write", log)
    assert lock._await_state(LockState(0, True, 1, 1))
    assert not r.inside.is_set() and not w2.inside.is_set()
    w1.leave()
    assert w2.enters()
    assert lock._await_state(LockState(0, True, 1, 0))  # the reader still waits
    w2.leave()
    assert r.enters()
    r.leave()
    assert log == ["w1 in", "w1 out", "w2 in", "w2 out", "r in", "r out"]


def test_a_waiting_writer_blocks_new_readers(lock: RWLock) -> None:
    """Writer preference: with a reader inside and a writer waiting, a new reader
    waits although readers could share; the writer goes first."""
    log: list[str] = []
    r1 = Worker(lock, "r1", "read", log)
    assert r1.enters()
    w = Worker(lock, "w", "write", log)
    assert lock._await_state(LockState(1, False, 0, 1))
    r2 = Worker(lock, "r2", "read", log)
    assert lock._await_state(LockState(1, False, 1, 1))  # r2 is blocked, behind w
    assert not r2.inside.is_set()
    r1.leave()
    assert w.enters()
    assert lock._state() == LockState(0, True, 1, 0) and not r2.inside.is_set()
    w.leave()
    assert r2.enters()
    r2.leave()
    assert log == ["r1 in", "r1 out", "w in", "w out", "r2 in", "r2 out"]


def test_readers_waiting_on_a_writer_enter_together(lock: RWLock) -> None:
    log: list[str] = []
    w = Worker(lock, "w", "write", log)
    assert w.enters()
    readers = [Worker(lock, f"r{i}", "read", log) for i in range(3)]
    assert lock._await_state(LockState(0, True, 3, 0))
    w.leave()
    assert all(r.enters() for r in readers)
    assert lock._state() == LockState(3, False, 0, 0)
    for r in readers:
        r.leave()
    assert log[:2] == ["w in", "w out"]


@pytest.mark.parametrize("mode", ["read", "write"])
def test_an_exception_inside_releases_the_lock(lock: RWLock, mode: str) -> None:
    held = lock.read() if mode == "read" else lock.write()
    with pytest.raises(RuntimeError), held:
        raise RuntimeError("boom")
    assert lock._state() == IDLE
    with lock.write():
        assert lock._state() == LockState(0, True, 0, 0)


def test_await_state_times_out_on_a_state_never_reached(lock: RWLock) -> None:
    assert not lock._await_state(LockState(5, False, 0, 0), timeout=0.01)
    assert lock._state() == IDLE


def test_stress_never_overlaps() -> None:
    """Random reads and writes from four threads: a writer never overlaps anyone.

    Only safety is asserted (it holds under every interleaving), with
    ``_check()`` after each acquisition; nothing depends on how threads interleave.
    """
    lock = RWLock()
    inside = {"readers": 0, "writers": 0}
    bad: list[str] = []
    guard = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(400):
            writing = rng.random() < 0.3
            held: AbstractContextManager[None] = lock.write() if writing else lock.read()
            role = "writers" if writing else "readers"
            with held:
                lock._check()
                with guard:
                    inside[role] += 1
                    if inside["writers"] > 1 or (inside["writers"] and inside["readers"]):
                        bad.append(repr(inside))
                with guard:
                    inside[role] -= 1

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
    assert lock._state() == IDLE
    lock._check()


ACTORS = ("a", "b", "c", "d")


class Actor:
    """A thread driven one command at a time: ``read`` / ``write`` take the lock
    (reported as ``(name, mode)`` once inside), ``leave`` lets it go (reported as
    ``(name, "left")``), ``stop`` ends the thread."""

    def __init__(self, lock: RWLock, name: str, reports: queue.Queue[tuple[str, str]]) -> None:
        self.lock, self.name, self.reports = lock, name, reports
        self.commands: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (mode := self.commands.get()) != "stop":
            held = self.lock.read() if mode == "read" else self.lock.write()
            with held:
                self.reports.put((self.name, mode))
                self.commands.get()  # leave
            self.reports.put((self.name, "left"))


class LockModel(RuleBasedStateMachine):
    """Four threads take and leave the lock in an order hypothesis chooses; after
    every step the lock's state is the model's: who holds it, who waits."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = RWLock()
        self.reports: queue.Queue[tuple[str, str]] = queue.Queue()
        self.actors = {n: Actor(self.lock, n, self.reports) for n in ACTORS}
        self.holding: dict[str, str] = {}
        self.waiting_readers: set[str] = set()
        self.waiting_writers: set[str] = set()

    def _idle(self) -> list[str]:
        busy = self.holding.keys() | self.waiting_readers | self.waiting_writers
        return [n for n in ACTORS if n not in busy]

    def _writing(self) -> bool:
        return "write" in self.holding.values()

    def _expect_reports(self, n: int) -> list[tuple[str, str]]:
        got = []
        for _ in range(n):
            try:
                got.append(self.reports.get(timeout=TIMEOUT))
            except queue.Empty:
                raise AssertionError(f"expected {n} reports, got {got}") from None
        return got

    @precondition(lambda self: bool(self._idle()))
    @rule(data=st.data(), mode=st.sampled_from(["read", "write"]))
    def take(self, data: st.DataObject, mode: str) -> None:
        name = data.draw(st.sampled_from(self._idle()))
        if mode == "read":
            blocked = self._writing() or bool(self.waiting_writers)
            waiting = self.waiting_readers
        else:
            blocked = bool(self.holding)
            waiting = self.waiting_writers
        self.actors[name].commands.put(mode)
        if blocked:
            waiting.add(name)
        else:
            assert self._expect_reports(1) == [(name, mode)]
            self.holding[name] = mode

    @precondition(lambda self: bool(self.holding))
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        self._leave(data.draw(st.sampled_from(sorted(self.holding))))

    def _leave(self, name: str) -> None:
        del self.holding[name]
        self.actors[name].commands.put("leave")
        if self.holding:
            granted = 0  # readers still inside: nobody new gets in
        elif self.waiting_writers:
            granted = 1  # one writer, whichever the lock wakes first
        else:
            granted = len(self.waiting_readers)  # every waiting reader at once
        reports = self._expect_reports(1 + granted)
        assert (name, "left") in reports
        for who, what in reports:
            if what == "left":
                continue
            assert (what == "write" and who in self.waiting_writers) or (
                what == "read" and who in self.waiting_readers and not self.waiting_writers
            ), (who, what, reports)
            (self.waiting_writers if what == "write" else self.waiting_readers).discard(who)
            self.holding[who] = what

    @invariant()
    def lock_state_is_the_model(self) -> None:
        wanted = LockState(
            sum(1 for m in self.holding.values() if m == "read"),
            self._writing(),
            len(self.waiting_readers),
            len(self.waiting_writers),
        )
        assert self.lock._await_state(wanted, TIMEOUT), (self.lock._state(), wanted)
        assert self.reports.empty()
        self.lock._check()

    def teardown(self) -> None:
        try:
            while self.holding:  # each leave lets waiting threads in, until all are idle
                self._leave(min(self.holding))
            assert not self.waiting_readers and not self.waiting_writers
        finally:
            for actor in self.actors.values():
                actor.commands.put("stop")
        for actor in self.actors.values():
            actor.thread.join(TIMEOUT)
            assert not actor.thread.is_alive()
        assert self.lock._state() == IDLE


LockModel.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("INFERTRACE_HYPOTHESIS_EXAMPLES", "60")),
    stateful_step_count=30,
    deadline=None,
)
TestLockModel = LockModel.TestCase
