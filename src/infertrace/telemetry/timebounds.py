"""The accepted window of record times, the same rule in every store.

A telemetry store keeps recent hours. A record stamped in 1970 or in 2262 (a
broken clock, a fuzzer, a unit mix-up of seconds for nanoseconds) is not
recent telemetry: in PostgreSQL each one creates a daily partition that
retention never removes, and in any store it sits at the top or bottom of
every time-ordered answer. :class:`TimeBounds` says how far before and after
the store's clock a record's time may lie; each store checks every record of
a write against it, at write time, and refuses the ones outside with a reason
naming the bound (the collector reports them one by one in
``partial_success``). The record time checked is the one the stores order and
partition by: a span's start, a log record's time, a metric point's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.telemetry.batches import ColumnBatch

DEFAULT_FUTURE_SECONDS = 300.0
"""How far ahead of the collector's clock a record may be: 5 minutes of clock skew."""

DEFAULT_PAST_SECONDS = 7 * 86400.0
"""How far back a record may be when no retention is set: a week."""

RETENTION_MARGIN_SECONDS = 3600.0
"""With retention (max age) set, records may be this much older than it (late exports)."""


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """Records are accepted when ``now - past <= time <= now + future``.

    ``past_seconds`` / ``future_seconds`` of None leave that side unbounded
    (the record-level limits 0 and 2**63-1 still hold). ``TimeBounds()`` accepts
    every valid time: the stores' default, so the store API takes history and
    test data; ``infertrace serve`` sets bounds (:meth:`for_retention`).
    """

    past_seconds: float | None = None
    future_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("past_seconds", "future_seconds"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value!r}")

    @classmethod
    def for_retention(
        cls,
        max_age_seconds: float | None,
        past_seconds: float | None = None,
        future_seconds: float | None = DEFAULT_FUTURE_SECONDS,
    ) -> TimeBounds:
        """The collector's default: retention plus a margin (a week without
        retention) into the past, five minutes into the future; ``past_seconds``
        overrides the past side."""
        if past_seconds is None:
            past_seconds = (
                DEFAULT_PAST_SECONDS
                if max_age_seconds is None
                else max_age_seconds + RETENTION_MARGIN_SECONDS
            )
        return cls(past_seconds, future_seconds)

    @property
    def unbounded(self) -> bool:
        return self.past_seconds is None and self.future_seconds is None

    def window(self, now: int) -> tuple[int, int]:
        """The accepted times ``[lo, hi]`` (inclusive) at clock ``now`` (ns)."""
        lo = 0 if self.past_seconds is None else max(0, now - int(self.past_seconds * 1e9))
        hi = 2**63 - 1 if self.future_seconds is None else now + int(self.future_seconds * 1e9)
        return lo, min(hi, 2**63 - 1)

    def problems(self, times: Sequence[object], what: str, now: int) -> list[tuple[int, str]]:
        """``(index, reason)`` of each time outside the window. O(n)."""
        if self.unbounded:
            return []
        lo, hi = self.window(now)
        out: list[tuple[int, str]] = []
        for i, t in enumerate(times):
            if not isinstance(t, int) or isinstance(t, bool):  # the record checks name it
                continue
            if t < lo:
                out.append((i, f"{what} {t} ({_iso(t)}) is more than "
                               f"{_span(self.past_seconds or 0)} in the past "
                               f"(accepted from {_iso(lo)})"))  # fmt: skip
            elif t > hi:
                out.append((i, f"{what} {t} ({_iso(t)}) is more than "
                               f"{_span(self.future_seconds or 0)} in the future "
                               f"(accepted until {_iso(hi)})"))  # fmt: skip
        return out

    def check_array(self, times: npt.NDArray[np.int64], what: str, now: int) -> None:
        """:meth:`check_spans` for times already in an int64 array: vectorised. O(n)."""
        if self.unbounded or not len(times):
            return
        lo, hi = self.window(now)
        if int(times.min()) >= lo and int(times.max()) <= hi:
            return
        _raise(self.problems(times.tolist(), what, now))

    def _check(self, records: Sequence[object], name: str, what: str, now: int) -> None:
        """Raise InvalidRecord naming each record whose field ``name`` is outside the window.

        A checked batch's times are valid int64s: its column is tested in one
        vectorised pass. Anything else is read record by record.
        """
        if self.unbounded:
            return
        if isinstance(records, ColumnBatch) and records.checked:
            self.check_array(np.array(records.column(name), dtype=np.int64), what, now)
            return
        _raise(self.problems([getattr(r, name, None) for r in records], what, now))

    def check_spans(self, spans: Sequence[Span], now: int) -> None:
        """Raise InvalidRecord naming every span that starts outside the window."""
        self._check(spans, "start_time_unix_nano", "start time", now)

    def check_logs(self, records: Sequence[LogRecord], now: int) -> None:
        """Raise InvalidRecord naming every log record timed outside the window."""
        self._check(records, "time_unix_nano", "time", now)

    def check_metrics(self, points: Sequence[MetricPoint], now: int) -> None:
        """Raise InvalidRecord naming every metric point timed outside the window."""
        self._check(points, "time_unix_nano", "time", now)


def _raise(problems: list[tuple[int, str]]) -> None:
    if problems:
        index, reason = problems[0]
        raise InvalidRecord(index, reason, problems)


UNBOUNDED = TimeBounds()

__all__ = ["DEFAULT_FUTURE_SECONDS", "DEFAULT_PAST_SECONDS", "UNBOUNDED", "TimeBounds"]
