"""A writer-preferring reader–writer lock.

Many readers may hold it at once; a writer holds it alone. A waiting writer
blocks new readers, so a steady stream of queries cannot starve ingest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple


class LockState(NamedTuple):
    """What an RWLock is doing at one instant (see ``RWLock._state``)."""

    readers: int
    """Threads holding it to read."""
    writing: bool
    """Whether a writer holds it."""
    waiting_readers: int
    """Readers blocked, by a writer holding or waiting."""
    waiting_writers: int
    """Writers blocked, or about to take it."""


class RWLock:
    """Reader–writer lock; use ``with lock.read():`` / ``with lock.write():``.

    Not reentrant: a thread holding it must not acquire it again. Uncontended,
    either side costs one mutex round trip on entry and one on exit.
    """

    def __init__(self) -> None:
        mutex = threading.Lock()
        self._cond = threading.Condition(mutex)
        self._readers = 0
        self._writer = False
        self._waiting_readers = 0
        self._waiting_writers = 0
        # Test seam: ``_await_state`` waits here; it shares the mutex, so the
        # state it reads is consistent, and it wakes no reader or writer.
        self._observed = threading.Condition(mutex)
        self._observers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator[None]:
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()

    def acquire_read(self) -> None:
        """Take the lock to read; pair with :meth:`release_read` in ``try/finally``.

        :meth:`read` without the context manager's cost, for hot paths.
        """
        with self._cond:
            if self._writer or self._waiting_writers:
                self._waiting_readers += 1
                self._changed()
                try:
                    while self._writer or self._waiting_writers:
                        self._cond.wait()
                finally:
                    self._waiting_readers -= 1
            self._readers += 1
            self._changed()

    def release_read(self) -> None:
        """Let go of a read taken with :meth:`acquire_read`."""
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()
            self._changed()

    def acquire_write(self) -> None:
        """Take the lock alone; pair with :meth:`release_write` in ``try/finally``."""
        with self._cond:
            self._waiting_writers += 1
            self._changed()
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
            self._changed()

    def release_write(self) -> None:
        """Let go of a write taken with :meth:`acquire_write`."""
        with self._cond:
            self._writer = False
            self._cond.notify_all()
            self._changed()

    def _changed(self) -> None:
        """Wake ``_await_state`` callers; a no-op (one attribute read) when none wait.
        Called with the mutex held."""
        if self._observers:
            self._observed.notify_all()

    def _state(self) -> LockState:
        """The lock's state, read atomically. For tests and ``_check``."""
        with self._cond:
            return self._snapshot()

    def _snapshot(self) -> LockState:
        return LockState(self._readers, self._writer, self._waiting_readers, self._waiting_writers)

    def _await_state(self, wanted: LockState, timeout: float = 10.0) -> bool:
        """Test seam: block until the state is ``wanted``; False after ``timeout`` s.

        Every change of the state (a thread starts waiting, takes the lock or
        lets it go) wakes this, so a test can tell that a thread is blocked
        without sleeping: a reader counted in ``waiting_readers`` is inside the
        lock's wait and cannot get in until the state changes again. The
        timeout only turns a bug into a failure instead of a hang.
        """
        with self._cond:
            self._observers += 1
            try:
                return self._observed.wait_for(lambda: self._snapshot() == wanted, timeout)
            finally:
                self._observers -= 1

    def _check(self) -> None:
        with self._cond:
            assert self._readers >= 0
            assert self._waiting_readers >= 0 and self._waiting_writers >= 0
            assert self._observers >= 0
            assert not (self._writer and self._readers)
