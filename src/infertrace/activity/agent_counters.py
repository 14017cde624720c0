"""What each counter point adds, for a feed that sees a series one batch at a time.

The same rules as :mod:`infertrace.telemetry.metric_window` (which reads a whole
window at once), applied point by point with a little state per series:

- DELTA: the point's value is the increase.
- CUMULATIVE (and a sum of unspecified temporality): the increase is the value
  less the series' previous value; a value lower than the previous one, or
  another start time, is a reset (the producer restarted) and the increase is
  the value itself. A series' first point adds its whole value when its start
  time is known (non-zero) and later than every start time this tracker has
  forgotten (see below), else nothing: it is the baseline.
- A resent point adds nothing. A delta point is taken as resent when its time is
  one of the last :data:`RECENT` times taken for its series, or older than all of
  them once there are that many (delta points of one series may arrive a little
  out of order from concurrent requests, and each still counts); a cumulative
  point when it is no newer than the last one taken (an older cumulative value is
  already inside the newer one).

State is one small tuple per series, bounded: at most ``max_series`` (least
recently used first out) and none idle longer than ``idle_seconds``. Forgetting
a cumulative series could count its whole value again when it comes back, so
the tracker keeps one number, the latest start time it has forgotten: a series
first seen with a start time not after it is taken as a baseline. Thread-safe;
:meth:`step` is O(1).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from infertrace.errors import InvalidParameter
from infertrace.model import Temporality

_DELTA = Temporality.DELTA
_State = tuple[int, float, int, float, tuple[int, ...]]
"""(start time, last value, last point time, last touched by the clock, the
latest delta point times)."""

RECENT = 16
"""How many point times of a delta series are kept to recognise a resent point."""


class CounterTracker:
    """Per-series counter state: :meth:`step` answers a point's increase."""

    def __init__(
        self, max_series: int = 65_536, idle_seconds: float = 6 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        if type(max_series) is not int or max_series < 1:
            raise InvalidParameter("max_series", f"max_series {max_series!r} must be an int >= 1")
        if not isinstance(idle_seconds, int | float) or not idle_seconds > 0:
            raise InvalidParameter(
                "idle_seconds", f"idle_seconds {idle_seconds!r} must be a number > 0"
            )
        self.max_series = max_series
        self.idle_seconds = float(idle_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._series: OrderedDict[Hashable, _State] = OrderedDict()
        self._forgotten_start = 0
        """The latest start time of a forgotten series (0: none forgotten)."""
        self._next_sweep = clock() + self.idle_seconds / 4
        self.forgotten = 0
        """How many series were forgotten (evicted or idle)."""

    def __len__(self) -> int:
        return len(self._series)

    def step(
        self, key: Hashable, temporality: Temporality, start: int, time_unix_nano: int,
        value: float, first_counts: bool = True,
    ) -> float:  # fmt: skip
        """The increase ``value`` at ``time_unix_nano`` brings to series ``key``
        (>= 0; a NaN or negative value adds nothing). ``first_counts`` False makes a
        cumulative series' first point a baseline whatever its start (the caller knows
        its total may be stored already). O(1) amortised."""
        if not value >= 0 or math.isinf(value):  # NaN, negative or infinite
            value = 0.0
        now = self._clock()
        with self._lock:
            series = self._series
            old = series.get(key)
            recent: tuple[int, ...] = ()
            if temporality == _DELTA:
                if old is not None:
                    recent = old[4]
                    if time_unix_nano in recent or (
                        len(recent) == RECENT and time_unix_nano < min(recent)
                    ):
                        series[key] = (*old[:3], now, recent)
                        series.move_to_end(key)
                        return 0.0
                increase = value
                recent = (*recent[-(RECENT - 1) :], time_unix_nano)
            elif old is not None and time_unix_nano <= old[2]:
                series[key] = (*old[:3], now, old[4])
                series.move_to_end(key)
                return 0.0
            elif old is None:
                known = first_counts and start and start > self._forgotten_start
                increase = value if known else 0.0
            elif start != old[0] or value < old[1]:
                increase = value
            else:
                increase = value - old[1]
            last = max(time_unix_nano, old[2]) if old is not None else time_unix_nano
            series[key] = (start, value, last, now, recent)
            series.move_to_end(key)
            if len(series) > self.max_series:
                self._forget(series.popitem(last=False)[1])
            if now >= self._next_sweep:
                self._sweep(now)
            return increase

    def _forget(self, state: _State) -> None:
        self.forgotten += 1
        if state[0] > self._forgotten_start:
            self._forgotten_start = state[0]

    def _sweep(self, now: float) -> None:
        """Forget series idle past ``idle_seconds`` (oldest first: the dict is in
        least-recently-used order, so the sweep stops at the first fresh one)."""
        self._next_sweep = now + self.idle_seconds / 4
        series = self._series
        horizon = now - self.idle_seconds
        while series:
            key, state = next(iter(series.items()))
            if state[3] > horizon:
                break
            del series[key]
            self._forget(state)

    def _check(self) -> None:
        with self._lock:
            assert len(self._series) <= self.max_series
            touched = [s[3] for s in self._series.values()]
            assert touched == sorted(touched), "least recently used first"
            for start, value, _, _, recent in self._series.values():
                assert value >= 0 and start >= 0 and len(recent) <= RECENT
