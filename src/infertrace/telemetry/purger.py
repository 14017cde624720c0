"""A background thread that runs a purge at a fixed interval until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Self


def seconds(value: timedelta | float, what: str) -> float:
    """Seconds of a timedelta or a number, checked positive."""
    s = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not s > 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return s


class Purger:
    """Calls ``purge()`` every ``interval`` seconds on a daemon thread.

    ``stop()`` wakes the thread and waits for it; safe to call twice.
    """

    def __init__(
        self, purge: Callable[[], object], interval: float, name: str = "infertrace-purge"
    ):
        self._purge = purge
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._purge()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


class PurgeOwner:
    """Mixin for stores with a background purge and a close() that stops it.

    The store implements ``purge_older_than``; this gives it ``start_purge``,
    ``close`` (safe to call twice) and ``with`` support.
    """

    _purger: Purger | None = None
    _closed: bool = False

    def purge_older_than(self, max_age: timedelta | float) -> int:
        raise NotImplementedError

    def start_purge(self, interval: timedelta | float, max_age: timedelta | float) -> None:
        """Purge every ``interval`` in the background until close()."""
        age = seconds(max_age, "max_age")
        if self._purger is not None:
            self._purger.stop()
        self._purger = Purger(lambda: self.purge_older_than(age), seconds(interval, "interval"))

    def close(self) -> None:
        """Stop the purger and refuse further writes. Safe to call twice."""
        if self._purger is not None:
            self._purger.stop()
            self._purger = None
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
