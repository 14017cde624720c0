"""Telemetry health: a pod's error-rate window, the staleness/error-rate rule, the sweeper.

A pod that sends telemetry is judged by it, unless it has a health-check URL
(then active checks govern it) or is draining (sticky until set otherwise):

- no telemetry (nor heartbeat) for ``stale_after`` -> unhealthy;
- else, at least ``min_requests`` spans in the error window and more than
  ``degraded_error_rate`` of them errors -> degraded;
- else healthy.

:class:`ErrorWindow` counts spans and error spans in a ring of one-second
buckets, so its memory is fixed (``width`` buckets) whatever the traffic.
:class:`Periodic` is the background thread that calls the sweep.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from infertrace.registry.records import ServiceStatus

log = logging.getLogger(__name__)

SECOND = 1_000_000_000


class ErrorWindow:
    """Spans and error spans over the last ``width`` seconds, one bucket a second.

    Not thread-safe: the registry service calls it under its lock. ``add`` and
    the totals are O(width) at worst (the totals sum every bucket).
    """

    __slots__ = ("_errors", "_seconds", "_spans", "width")

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError(f"width {width!r} must be at least 1 second")
        self.width = width
        self._seconds = [-1] * width
        self._spans = [0] * width
        self._errors = [0] * width

    @classmethod
    def for_window(cls, window: float) -> ErrorWindow:
        """A window covering ``window`` seconds (rounded up to whole buckets)."""
        return cls(max(1, math.ceil(window)))

    def add(self, second: int, spans: int, errors: int) -> None:
        """Count ``spans`` (``errors`` of them errors) in the bucket of ``second``.
        A second older than the one its bucket holds now is outside the window: ignored."""
        i = second % self.width
        held = self._seconds[i]
        if held != second:
            if held > second:
                return
            self._seconds[i] = second
            self._spans[i] = 0
            self._errors[i] = 0
        self._spans[i] += spans
        self._errors[i] += errors

    def totals(self, second: int) -> tuple[int, int]:
        """(spans, errors) over the ``width`` seconds ending at ``second``."""
        oldest = second - self.width
        spans = errors = 0
        for s, n, e in zip(self._seconds, self._spans, self._errors, strict=True):
            if oldest < s <= second:
                spans += n
                errors += e
        return spans, errors

    def _check(self) -> None:
        """Assert the invariants: every bucket holds a second of its own slot, errors <= spans."""
        for i, (s, n, e) in enumerate(zip(self._seconds, self._spans, self._errors, strict=True)):
            assert s == -1 or s % self.width == i, (i, s)
            assert 0 <= e <= n, (i, n, e)


class PodTelemetry:
    """What telemetry said about each pod: when it was last heard from (exact, unlike
    the store's throttled ``last_seen``) and its error window.

    Not thread-safe: the registry service calls it under its lock. O(1) per call
    but ``totals`` (O(window seconds)) and ``keys``.
    """

    __slots__ = ("_seen", "_width", "_windows")

    def __init__(self, window: float) -> None:
        self._width = ErrorWindow.for_window(window).width
        self._seen: dict[str, int] = {}
        self._windows: dict[str, ErrorWindow] = {}

    def heard(self, key: str, now: int, spans: int = 0, errors: int = 0) -> None:
        """``key`` was heard from at ``now`` (unix ns), with ``spans`` (``errors`` failed)."""
        self._seen[key] = now
        if spans:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = ErrorWindow(self._width)
            window.add(now // SECOND, spans, errors)

    def last_heard(self, key: str) -> int:
        """When ``key`` was last heard from; 0 if never (since this process started)."""
        return self._seen.get(key, 0)

    def totals(self, key: str, now: int) -> tuple[int, int] | None:
        """(spans, errors) of ``key`` in the window ending at ``now``; None without a window."""
        window = self._windows.get(key)
        return None if window is None else window.totals(now // SECOND)

    def keys(self) -> set[str]:
        """Every pod heard from."""
        return set(self._seen)

    def forget(self, key: str) -> None:
        """Drop what is known of ``key``."""
        self._seen.pop(key, None)
        self._windows.pop(key, None)

    def _check(self) -> None:
        """Assert the invariants: a window only for a pod heard from; each window sound."""
        assert self._windows.keys() <= self._seen.keys()
        for window in self._windows.values():
            assert window.width == self._width
            window._check()


def telemetry_status(
    current: ServiceStatus,
    *,
    silent_for: int,
    stale_after: int,
    spans: int,
    errors: int,
    min_requests: int,
    degraded_error_rate: float,
) -> ServiceStatus:
    """The status the telemetry rule gives a pod (see the module docstring). O(1).

    ``silent_for`` and ``stale_after`` are nanoseconds; draining is kept.
    """
    if current is ServiceStatus.DRAINING:
        return current
    if silent_for >= stale_after:
        return ServiceStatus.UNHEALTHY
    if spans >= min_requests and spans and errors / spans > degraded_error_rate:
        return ServiceStatus.DEGRADED
    return ServiceStatus.HEALTHY


class Periodic:
    """A daemon thread calling ``action()`` every ``interval`` seconds until stopped.

    Woken early by :meth:`stop`; an exception in ``action`` is logged and the
    next round runs. ``stop`` is safe to call twice, and before ``start``.
    """

    def __init__(self, interval: float, action: Callable[[], object], name: str) -> None:
        if not interval > 0:
            raise ValueError(f"interval {interval!r} must be > 0 seconds")
        self.interval = interval
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (once)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._action()
            except Exception:  # one failed round must not end the thread
                log.exception("%s failed", self._thread.name)
