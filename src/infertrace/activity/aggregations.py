"""Adoption metrics computed from the stored records, never stored themselves.

The question they answer: who uses coding agents, how much of their work is
accepted, what share of commits they touch, by region and team, at what cost.
One :class:`Metrics` shape serves every grouping (a day, a developer-day, a
region, a team, the whole organisation over a range). Days are UTC day numbers
(``time // DAY_NS``); a session counts on the day it started. Region, team and
division are the developer's current ones; records whose developer is missing
count under :data:`UNASSIGNED`.

Each computation runs under one read lock, so it sees every table at one
instant. :class:`ActivityAnalytics` sums columns (NumPy group-bys in
:mod:`infertrace.activity.grouping`); :func:`tally` does the same sums over
records, for callers that hold records already.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import numpy as np

from infertrace.activity.cache import MISSING, RangeCache
from infertrace.activity.grouping import (
    DeveloperKeys,
    attribute_groups,
    metrics_args,
    read,
    totals,
)
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import DAY_NS, Change, ChangeKind, Commit, Developer, Session
from infertrace.activity.view import ActivityView
from infertrace.engine.planner import Between
from infertrace.errors import InvalidParameter

UNASSIGNED = "(unassigned)"
"""The group of records whose developer is not stored (or has no team)."""

MAX_DAYS = 3660
"""The longest range one call may cover (ten years): bounds the work of a request."""


@dataclass(frozen=True, slots=True)
class Metrics:
    """Activity over some records. Ratios are 0.0 when their denominator is 0."""

    active_developers: int = 0
    commits: int = 0
    ai_assisted_commits: int = 0
    agent_edits: int = 0
    accepted_edits: int = 0
    agent_lines_added: int = 0
    """Lines added by accepted agent edits."""
    manual_changes: int = 0
    sessions: int = 0
    tokens: int = 0
    cost_usd: float = 0.0

    @property
    def ai_commit_share(self) -> float:
        """AI-assisted commits / commits."""
        return self.ai_assisted_commits / self.commits if self.commits else 0.0

    @property
    def acceptance_rate(self) -> float:
        """Accepted agent edits / agent edits."""
        return self.accepted_edits / self.agent_edits if self.agent_edits else 0.0


METRICS: tuple[str, ...] = (
    *(f.name for f in fields(Metrics)),
    "ai_commit_share",
    "acceptance_rate",
)
"""Every metric a leaderboard may rank by."""


@dataclass(frozen=True, slots=True)
class DailyMetrics:
    """The metrics of one UTC day."""

    day: int
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class GroupStats:
    """A region's or team's metrics over a range; ``developers`` is its headcount."""

    group: str
    developers: int
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One developer's place: rank from 1, value of the ranked metric."""

    rank: int
    developer_id: str
    value: float


class _Tally:
    """Running totals for one group; :meth:`done` freezes them."""

    __slots__ = ("accepted", "agent", "ai", "commits", "cost", "devs", "lines", "manual",
                 "sessions", "tokens")  # fmt: skip

    def __init__(self) -> None:
        self.devs: set[str] = set()
        self.commits = self.ai = self.agent = self.accepted = self.lines = 0
        self.manual = self.sessions = self.tokens = 0
        self.cost = 0.0

    def done(self) -> Metrics:
        return Metrics(len(self.devs), self.commits, self.ai, self.agent, self.accepted,
                       self.lines, self.manual, self.sessions, self.tokens, self.cost)  # fmt: skip


Rows = tuple[Sequence[Commit], Sequence[Change], Sequence[Session]]
K = TypeVar("K", bound=Hashable)


def tally(rows: Rows, group_of: Callable[[str, int], K]) -> dict[K, _Tally]:
    """Totals per group; ``group_of(developer_id, day)`` names a record's group. O(rows)."""
    commits, changes, sessions = rows
    out: dict[K, _Tally] = {}

    def get(developer_id: str, time: int) -> _Tally:
        key = group_of(developer_id, time // DAY_NS)
        t = out.get(key)
        if t is None:
            t = out[key] = _Tally()
        t.devs.add(developer_id)
        return t

    for c in commits:
        t = get(c.developer_id, c.timestamp)
        t.commits += 1
        t.ai += c.ai_assisted
    agent = ChangeKind.AGENT_EDIT
    for ch in changes:
        t = get(ch.developer_id, ch.timestamp)
        if ch.kind is agent:
            t.agent += 1
            if ch.accepted:
                t.accepted += 1
                t.lines += ch.lines_added
        else:
            t.manual += 1
    for s in sessions:
        t = get(s.developer_id, s.started_at)
        t.sessions += 1
        t.tokens += s.input_tokens + s.output_tokens
        t.cost += s.cost_usd
    return out


def check_days(first_day: object, last_day: object) -> None:
    """InvalidParameter unless ``0 <= first_day <= last_day < first_day + MAX_DAYS``."""
    for name, value in (("first_day", first_day), ("last_day", last_day)):
        if type(value) is not int or value < 0:
            raise InvalidParameter(name, f"{name} {value!r} must be a UTC day number (int >= 0)")
    assert isinstance(first_day, int) and isinstance(last_day, int)
    if last_day < first_day:
        raise InvalidParameter("last_day", f"last_day {last_day} is before first_day {first_day}")
    if last_day - first_day >= MAX_DAYS:
        raise InvalidParameter(
            "last_day", f"range {first_day}..{last_day} is longer than {MAX_DAYS} days"
        )


def rows_in_days(
    view: ActivityView, first_day: int, last_day: int, developer_id: str | None = None
) -> Rows:
    """Commits, changes and sessions of days ``first_day..last_day``, optionally one
    developer's (the planner then reads that developer's buckets)."""
    low, high = first_day * DAY_NS, (last_day + 1) * DAY_NS

    def read(kind: type[Any], time: str) -> list[Any]:
        filters: dict[str, object] = {time: Between(time, low, high)}
        if developer_id is not None:
            filters["developer_id"] = developer_id
        return view.query(kind, filters)

    return read(Commit, "timestamp"), read(Change, "timestamp"), read(Session, "started_at")


def _metric(name: str) -> Callable[[Metrics], float]:
    if name not in METRICS:
        raise InvalidParameter("metric", f"metric {name!r} is not one of {', '.join(METRICS)}")
    return lambda m: float(getattr(m, name))


class ActivityAnalytics:
    """Aggregations over a :class:`MemoryActivityStore`, with an optional cache that
    writes to the covered days invalidate (``cache_size`` entries; 0: no cache).

    Sums come from the columns (:mod:`infertrace.activity.grouping`): one day of
    two million records is a few thousand rows of NumPy work, a 90-day team
    leaderboard a vector filter of the range's rows. A cache listens to the
    store's writes until :meth:`close`; make one analytics object per store, not
    one per request (it also keeps the developer-id maps the group-bys share).
    Thread-safe: each computation takes the store's read lock, the cache its own
    mutex."""

    def __init__(self, store: MemoryActivityStore, *, cache_size: int = 0) -> None:
        self.store = store
        self.keys = DeveloperKeys()
        self.cache: RangeCache | None = None
        if cache_size:
            self.cache = RangeCache(cache_size)
            store.subscribe(self.cache.invalidate)

    def close(self) -> None:
        """Stop listening to the store (the cache is dropped); safe to call twice."""
        if self.cache is not None:
            self.store.unsubscribe(self.cache.invalidate)
            self.cache = None

    def _cached(self, key: tuple[Hashable, ...], first: int, last: int,
                compute: Callable[[ActivityView], Any]) -> Any:  # fmt: skip
        cache = self.cache
        if cache is not None:
            value = cache.get(key)
            if value is not MISSING:
                return value
            generation = cache.generation
        with self.store.reading() as view:
            value = compute(view)
        if cache is not None:
            cache.put(key, first, last, value, generation)
        return value

    def _by_day(self, view: ActivityView, first_day: int, last_day: int,
                developer_id: str | None = None) -> list[DailyMetrics]:  # fmt: skip
        """Every day of the range, empty ones included."""
        cols = read(view.tables, self.keys, first_day, last_day, developer_id)
        days = last_day - first_day + 1
        t = totals(cols, lambda _d, day: day - first_day, days, len(self.keys))
        return [DailyMetrics(first_day + i, Metrics(*metrics_args(t, i))) for i in range(days)]

    def daily_metrics(self, day: int) -> DailyMetrics:
        """The metrics of one day. O(log n + the day's records) vectorised."""
        return self.daily_series(day, day)[0]

    def daily_series(self, first_day: int, last_day: int) -> list[DailyMetrics]:
        """One entry per day of ``first_day..last_day``, days without activity included."""
        check_days(first_day, last_day)

        def compute(view: ActivityView) -> tuple[DailyMetrics, ...]:
            return tuple(self._by_day(view, first_day, last_day))

        return list(self._cached(("daily", first_day, last_day), first_day, last_day, compute))

    def developer_daily(
        self, developer_id: str, first_day: int, last_day: int
    ) -> list[DailyMetrics]:
        """One developer's metrics for each day they were active in the range, by day.
        O(their records) through the developer indexes."""
        check_days(first_day, last_day)
        with self.store.reading() as view:
            days = self._by_day(view, first_day, last_day, developer_id)
        return [d for d in days if d.metrics.active_developers]

    def range_stats(self, first_day: int, last_day: int) -> Metrics:
        """The whole organisation's metrics over the range (distinct active developers)."""
        check_days(first_day, last_day)

        def compute(view: ActivityView) -> Metrics:
            cols = read(view.tables, self.keys, first_day, last_day)
            t = totals(cols, lambda d, _day: np.zeros(len(d), dtype=np.int64), 1, len(self.keys))
            return Metrics(*metrics_args(t, 0))

        result: Metrics = self._cached(("range", first_day, last_day), first_day, last_day, compute)
        return result

    def region_stats(self, first_day: int, last_day: int) -> dict[str, GroupStats]:
        """Per region (and :data:`UNASSIGNED`): headcount and metrics over the range."""
        return self._group_stats("region", first_day, last_day)

    def team_stats(self, first_day: int, last_day: int) -> dict[str, GroupStats]:
        """Per team (and :data:`UNASSIGNED`): headcount and metrics over the range."""
        return self._group_stats("team", first_day, last_day)

    def _group_stats(self, column: str, first_day: int, last_day: int) -> dict[str, GroupStats]:
        check_days(first_day, last_day)

        def compute(view: ActivityView) -> tuple[GroupStats, ...]:
            cols = read(view.tables, self.keys, first_day, last_day)
            group_of_dev, names, heads = attribute_groups(
                view.tables[Developer], self.keys, column, UNASSIGNED
            )
            t = totals(cols, lambda d, _day: group_of_dev[d], len(names), len(self.keys))
            return tuple(
                GroupStats(name, int(heads[i]), Metrics(*metrics_args(t, i)))
                for i, name in enumerate(names)
                if heads[i] or t.seen[i]
            )

        stats = self._cached((column, first_day, last_day), first_day, last_day, compute)
        return {s.group: s for s in stats}

    def leaderboard(
        self, metric: str, first_day: int, last_day: int, *, team: str | None = None,
        region: str | None = None, division: str | None = None, limit: int = 10,
    ) -> list[LeaderboardEntry]:  # fmt: skip
        """Developers active in the range, ranked by ``metric`` descending, ties by
        developer id; only those of ``team`` / ``region`` / ``division`` when given.
        O(the range's records) vectorised."""
        value_of = _metric(metric)
        check_days(first_day, last_day)
        if type(limit) is not int or limit < 1:
            raise InvalidParameter("limit", f"limit {limit!r} must be an int >= 1")
        scope = {k: v for k, v in (("team", team), ("region", region), ("division", division))
                 if v is not None}  # fmt: skip
        key = ("leaders", first_day, last_day, tuple(sorted(scope.items())))

        def compute(view: ActivityView) -> tuple[tuple[str, Metrics], ...]:
            members = None
            if scope:
                members = [d.id for d in view.query(Developer, scope)]
            cols = read(view.tables, self.keys, first_day, last_day, developer_ids=members)
            developers = len(self.keys)
            t = totals(cols, lambda d, _day: d, developers, developers)
            ids = self.keys.ids
            return tuple((ids[i], Metrics(*metrics_args(t, i)))
                         for i in np.flatnonzero(t.seen).tolist())  # fmt: skip

        everyone = self._cached(key, first_day, last_day, compute)
        ranked = sorted(everyone, key=lambda e: (-value_of(e[1]), e[0]))[:limit]
        return [LeaderboardEntry(n, i, value_of(m)) for n, (i, m) in enumerate(ranked, 1)]
