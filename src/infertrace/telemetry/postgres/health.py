"""A background watch on the database: health and stats from a cache, never a wait.

:class:`HealthMonitor` runs ``ping`` every ``interval`` seconds on a daemon
thread and keeps the outcome; every ``stats_interval`` seconds while the
database answers it also refreshes a stats snapshot (exact row counts: on a
big database that takes a while, so never more often than 20 times what the
last refresh took, keeping it under 5% of one database core). Readers (``/readyz``,
``/metrics``, the query API's fail-fast check) read both under a lock that is
never held across a database call, so they answer in microseconds whatever
the database does. A ping that hangs is itself news: after ``ping_timeout``
the state reads as down, without waiting for the ping to return.

Threading: ``state``/``stats`` from any thread; ``close()`` stops the thread
(safe to call twice).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from infertrace.telemetry.protocols import Health, StoreStats

log = logging.getLogger("infertrace.postgres")


def reason_of(exc: BaseException) -> str:
    """The first line of an exception's message, or its repr when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)


class HealthMonitor:
    """Pings a backend in the background and caches (ok, reason, checked_at) and stats."""

    def __init__(
        self,
        ping: Callable[[], None],
        stats: Callable[[], StoreStats],
        interval: float = 1.0,
        stats_interval: float = 15.0,
        ping_timeout: float = 3.0,
        initial: Health | None = None,
        name: str = "infertrace-pg-health",
    ) -> None:
        self._ping = ping
        self._stats = stats
        self._interval = interval
        self._stats_interval = stats_interval
        self._ping_timeout = ping_timeout
        self._lock = threading.Lock()
        self._health = initial or Health(False, "not checked yet")
        self._snapshot: StoreStats | None = None
        self._snapshot_at = 0.0
        self._snapshot_took = 0.0
        self._pinging_since: float | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def state(self) -> Health:
        """The last outcome; down once a ping has hung past ``ping_timeout``. O(1)."""
        with self._lock:
            health, since = self._health, self._pinging_since
        if since is not None and time.monotonic() - since > self._ping_timeout:
            return Health(
                False,
                f"database did not answer a health check within {self._ping_timeout:g} s",
                health.checked_unix,
            )
        return health

    def stats(self) -> StoreStats | None:
        """The last stats snapshot (None before the first). O(1)."""
        with self._lock:
            return self._snapshot

    def check_now(self) -> None:
        """Wake the thread for a check now (e.g. after a write failed); returns at once."""
        self._wake.set()

    def check(self) -> Health:
        """One ping in the caller's thread, recorded; for start-up and tests."""
        with self._lock:
            self._pinging_since = time.monotonic()
        try:
            self._ping()
        except Exception as exc:  # any failure of the ping means down, with its reason
            health = Health(False, f"database unavailable: {reason_of(exc)}", time.time())
        else:
            health = Health(True, "", time.time())
        with self._lock:
            if health.ok != self._health.ok:
                log.warning("database health: %s", health.reason or "available")
            self._health = health
            self._pinging_since = None
        return health

    def _stats_due(self) -> bool:
        every = max(self._stats_interval, 20 * self._snapshot_took)
        return time.monotonic() - self._snapshot_at >= every

    def _refresh_stats(self) -> None:
        started = time.monotonic()
        try:
            snapshot = self._stats()
        except Exception as exc:  # keep the last snapshot; health says why
            log.info("stats snapshot not refreshed: %s", reason_of(exc))
            return
        with self._lock:
            self._snapshot = snapshot
            self._snapshot_at = time.monotonic()
            self._snapshot_took = self._snapshot_at - started

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.check().ok and self._stats_due():
                self._refresh_stats()
            self._wake.wait(self._interval)
            self._wake.clear()

    def close(self) -> None:
        """Stop the thread (it finishes a ping in progress, bounded by its timeouts)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self._ping_timeout + 1.0)
