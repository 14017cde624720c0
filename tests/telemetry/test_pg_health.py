"""HealthMonitor: cached health and stats, a hung ping reads as down, stoppable."""

from __future__ import annotations

import threading
import time

from infertrace.telemetry.postgres.health import HealthMonitor
from infertrace.telemetry.protocols import SignalStats, StoreStats

EMPTY = SignalStats(None, 0, 0, 0, 0, 0)
STATS = StoreStats(EMPTY, EMPTY, EMPTY)


def _until(check: object, bound: float = 5.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + bound
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_state_follows_the_ping_and_stats_survive_an_outage() -> None:
    down = threading.Event()

    def ping() -> None:
        if down.is_set():
            raise OSError("connection refused\nsecond line")

    def stats() -> StoreStats:
        if down.is_set():
            raise OSError("no stats")
        return STATS

    monitor = HealthMonitor(ping, stats, interval=0.02)
    try:
        _until(lambda: monitor.state().ok and monitor.stats() is STATS)
        down.set()
        _until(lambda: not monitor.state().ok)
        state = monitor.state()
        assert state.reason == "database unavailable: connection refused"
        assert state.checked_unix > 0
        assert monitor.stats() is STATS  # the last snapshot stays for /metrics
        down.clear()
        _until(lambda: monitor.state().ok)
    finally:
        monitor.close()
        monitor.close()


def test_a_hung_ping_reads_as_down_without_waiting_for_it() -> None:
    release = threading.Event()
    calls = 0

    def ping() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            release.wait(10)

    monitor = HealthMonitor(ping, lambda: STATS, interval=0.01, ping_timeout=0.2)
    try:
        _until(lambda: calls > 1)
        started = time.monotonic()
        _until(lambda: not monitor.state().ok)
        assert "within 0.2 s" in monitor.state().reason
        assert time.monotonic() - started < 1.0
        t = time.perf_counter()
        for _ in range(1000):
            monitor.state()
        assert time.perf_counter() - t < 0.1  # readers never wait on the ping
    finally:
        release.set()
        monitor.close()
