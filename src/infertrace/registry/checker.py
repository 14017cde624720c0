"""Active health checks: GET each pod's health-check URL; 2xx is healthy.

Every ``interval`` seconds :class:`HealthChecker` asks for the pods with a
health-check URL and hands each one that is not already being checked to a
pool of ``workers`` threads. A check tries the URL with a ``timeout``, up to
``retries`` more times after a failure, sleeping ``backoff`` seconds before
the first retry and twice as long before each next one; the pod is healthy on
the first 2xx, unhealthy when every attempt failed. A slow pod holds one
worker, never the round: the others are checked on time while it is in flight
(and it is not queued again until its check ends).

The HTTP call is :func:`infertrace.registry.outbound.http_ok` (http and https only).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from infertrace.registry.outbound import check_positive, http_ok
from infertrace.registry.records import ServiceInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckSettings:
    """How active health checks run; times in seconds. Validated on construction."""

    interval: float = 10.0
    timeout: float = 2.0
    retries: int = 2
    backoff: float = 0.5
    workers: int = 4

    def __post_init__(self) -> None:
        check_positive("check_interval", self.interval)
        check_positive("check_timeout", self.timeout)
        check_positive("check_retries", self.retries, integer=True, zero=True)
        check_positive("check_backoff", self.backoff, zero=True)
        check_positive("check_workers", self.workers, integer=True)


class HealthChecker:
    """Checks the pods ``targets()`` returns, reporting with ``report(key, ok)``.

    ``probe(url, timeout)`` is :func:`http_ok` unless a test passes another.
    Thread-safe; :meth:`stop` is safe to call twice.
    """

    def __init__(
        self,
        targets: Callable[[], list[ServiceInfo]],
        report: Callable[[str, bool], object],
        settings: CheckSettings | None = None,
        probe: Callable[[str, float], bool] = http_ok,
    ) -> None:
        self.settings = settings or CheckSettings()
        self._targets = targets
        self._report = report
        self._probe = probe
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._counts = {
            "health_checks_ok": 0,
            "health_checks_failed": 0,
            "health_checks_retried": 0,
        }
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread = threading.Thread(
            target=self._run, name="registry-health-checks", daemon=True
        )

    def start(self) -> None:
        """Start checking: a round now, then one every ``interval``."""
        if self._pool is None and not self._stop.is_set():
            self._pool = ThreadPoolExecutor(self.settings.workers, "registry-health-check")
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop: no new round or retry; checks in flight end within their timeout."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def counters(self) -> dict[str, int]:
        """Checks that ended healthy, ended unhealthy, and retries made."""
        with self._lock:
            return dict(self._counts)

    def run_round(self) -> int:
        """Queue a check of every target not already in flight; how many were queued."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("the health checker is not started")
        queued = 0
        for info in self._targets():
            url = info.health_check_url
            if not url:
                continue
            with self._lock:
                if info.key in self._in_flight:
                    continue
                self._in_flight.add(info.key)
            try:
                pool.submit(self._check, info.key, url)
            except RuntimeError:  # the pool is shutting down
                with self._lock:
                    self._in_flight.discard(info.key)
                return queued
            queued += 1
        return queued

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_round()
            except Exception:  # a failed round (the store was unreachable) must not end checks
                log.exception("health-check round failed")
            self._stop.wait(self.settings.interval)

    def _check(self, key: str, url: str) -> None:
        settings = self.settings
        try:
            for attempt in range(settings.retries + 1):
                if self._probe(url, settings.timeout):
                    self._finish(key, True)
                    return
                if attempt == settings.retries:
                    break
                with self._lock:
                    self._counts["health_checks_retried"] += 1
                if self._stop.wait(settings.backoff * 2**attempt):
                    return
            self._finish(key, False)
        except Exception:
            log.exception("health check of %s failed", key)
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def _finish(self, key: str, ok: bool) -> None:
        with self._lock:
            self._counts["health_checks_ok" if ok else "health_checks_failed"] += 1
        if not self._stop.is_set():
            self._report(key, ok)
