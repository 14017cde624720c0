"""A background thread that runs a purge at a fixed interval until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta


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
