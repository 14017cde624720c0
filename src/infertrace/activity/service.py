"""What a server holds of the activity database: the store, its analytics, snapshots.

``infertrace serve`` opens one :class:`ActivityService` and hands it to the
collector (``run(..., activity=...)``), which puts it on ``app.state.activity``
for the REST routes; the coding-agent feed writes into the same store. One
analytics object per store (its cache listens to the store's writes), made here
so requests never make their own. Snapshots go to ``snapshot_dir``: the one
given, or a temporary directory made at start and removed by :meth:`close`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infertrace.activity.aggregations import ActivityAnalytics
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Change, Commit, Developer, Record, Session
from infertrace.errors import InvalidParameter

KINDS: dict[str, type[Record]] = {
    "developers": Developer,
    "commits": Commit,
    "changes": Change,
    "sessions": Session,
}
"""The record types by the plural name the REST paths, limits and options use."""

CACHE_SIZE = 64
"""Aggregation results kept (a dashboard asks a handful per view and range)."""


def parse_limits(limits: Mapping[str, int]) -> dict[type[Record] | str, int]:
    """Per-type record limits keyed by plural kind name (``{"developers": 100000}``);
    InvalidParameter naming an unknown kind or a bad number."""
    out: dict[type[Record] | str, int] = {}
    for name, limit in limits.items():
        kind = KINDS.get(name)
        if kind is None:
            raise InvalidParameter(
                "activity_limit", f"activity limit for {name!r}: not one of {', '.join(KINDS)}"
            )
        if type(limit) is not int or limit < 0:
            raise InvalidParameter(
                "activity_limit", f"activity limit {limit!r} of {name!r} must be an int >= 0"
            )
        out[kind] = limit
    return out


@dataclass
class ActivityService:
    """The activity store, its analytics and the snapshot directory of one server.

    Thread-safe as its parts are; :meth:`close` is safe to call twice."""

    store: MemoryActivityStore
    analytics: ActivityAnalytics
    snapshot_dir: Path
    temporary_dir: bool = False
    """Whether ``snapshot_dir`` was made here (and is removed by :meth:`close`)."""
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls,
        limits: Mapping[str, int] | None = None,
        snapshot_dir: str | Path | None = None,
        *,
        cache_size: int = CACHE_SIZE,
    ) -> ActivityService:
        """A new empty store with ``limits`` (plural kind -> records) and analytics
        over it; ``snapshot_dir`` is created if missing (None: a temporary one)."""
        store = MemoryActivityStore(limits=parse_limits(limits or {}))
        if snapshot_dir is None:
            directory = Path(tempfile.mkdtemp(prefix="infertrace-activity-"))
            temporary = True
        else:
            directory = Path(snapshot_dir)
            directory.mkdir(parents=True, exist_ok=True)
            temporary = False
        analytics = ActivityAnalytics(store, cache_size=cache_size)
        return cls(store, analytics, directory, temporary)

    def close(self) -> None:
        """Stop the analytics cache; remove a temporary snapshot directory."""
        if self._closed:
            return
        self._closed = True
        self.analytics.close()
        if self.temporary_dir:
            shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    def __enter__(self) -> ActivityService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
