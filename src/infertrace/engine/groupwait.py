"""GroupWaiter: one thread settling many callers' durability waits at once.

A caller that must not block (an event loop) hands its collected
:class:`~infertrace.engine.journal.Waits` to :meth:`GroupWaiter.submit` with a
callback. The waiter thread takes everything queued, waits once for the highest
LSN of each journal among them (a durable LSN covers the earlier ones), then
settles each caller's waits, which answer at once by then (or name the failed
fsync that left a record unsure), and calls its callback with None or the
OSError. Callers that arrive during a wait are served by the next round, so
under ``--fsync interval`` a whole flush's worth of requests costs one thread
wake-up, not one per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from infertrace.engine.journal import Waits

log = logging.getLogger(__name__)

Done = Callable[[OSError | None], None]
"""Told None once every record of a submission is durable, else the OSError."""


class GroupWaiter:
    """Settles submitted waits on one daemon thread (started on first use).

    Thread-safe. Callbacks run on the waiter thread and must be quick (hand the
    result over, e.g. ``loop.call_soon_threadsafe``). ``close()`` stops the thread
    after the queued submissions are settled; safe to call twice; a submission
    after it is settled on the caller's thread.
    """

    def __init__(self, name: str = "durable-wait") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[tuple[Waits, Done]] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self.rounds = 0
        """Rounds run so far (submissions / rounds is the grouping factor)."""

    def submit(self, waits: Waits, done: Done) -> None:
        """Settle ``waits`` on the waiter thread, then call ``done``. O(1)."""
        with self._lock:
            if not self._closed:
                self._queue.append((waits, done))
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
                self._wake.notify()
                return
        _settle_one(waits, done)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                batch, self._queue = self._queue, []
                if not batch and self._closed:
                    return
            self.rounds += 1
            merged = Waits()
            for waits, _ in batch:
                merged.merge(waits)
            asked: dict[tuple[int, int], OSError | None] = {}
            for journal, lsn in merged.highest():
                try:
                    journal.wait(lsn)
                    asked[id(journal), lsn] = None
                except OSError as exc:  # each submission it concerns is told below
                    asked[id(journal), lsn] = exc
            for waits, done in batch:
                _settle_one(waits, done, asked)

    def close(self) -> None:
        """Settle what is queued and stop the thread; safe to call twice."""
        with self._lock:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> GroupWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> None:
        with self._lock:
            thread = self._thread
            stopped = thread is not None and not thread.is_alive()
            assert not (stopped and self._queue), "queued waits left unsettled"
            for waits, done in self._queue:
                assert waits and callable(done)


def _settle_one(
    waits: Waits, done: Done, asked: dict[tuple[int, int], OSError | None] | None = None
) -> None:
    error: OSError | None = None
    try:
        waits.settle(asked)
    except OSError as exc:
        error = exc
    try:
        done(error)
    except Exception:  # a broken callback must not stop the waiter for everyone else
        log.exception("a durability callback failed")


__all__ = ["Done", "GroupWaiter"]
