"""Aggregations: each number computed again by hand from the records saved, and
different routes to the same number (daily sums, range, regions, teams) agreeing."""

from __future__ import annotations

import dataclasses
import math

import pytest

from infertrace.activity import ActivityAnalytics, ChangeKind, MemoryActivityStore, Metrics
from infertrace.activity.aggregations import METRICS, UNASSIGNED
from infertrace.activity.generate import Population, generate
from infertrace.activity.records import DAY_NS
from infertrace.errors import InvalidParameter
from tests.activity.conftest import DAY0, change, commit, dev

FIRST = 20_000
DAYS = 12


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(60, DAYS, commits=900, changes=900, sessions=200, seed=7, first_day=FIRST)


@pytest.fixture
def analytics(population: Population) -> ActivityAnalytics:
    store = MemoryActivityStore()
    for records in (population.developers, population.commits, population.changes,
                    population.sessions):  # fmt: skip
        store.save_batch(records)
    return ActivityAnalytics(store)


def by_hand(p: Population, keep: object) -> Metrics:
    """The metrics of the records ``keep(developer_id, day)`` accepts, counted plainly."""
    commits = [c for c in p.commits if keep(c.developer_id, c.timestamp // DAY_NS)]  # type: ignore[operator]
    changes = [c for c in p.changes if keep(c.developer_id, c.timestamp // DAY_NS)]  # type: ignore[operator]
    sessions = [s for s in p.sessions if keep(s.developer_id, s.started_at // DAY_NS)]  # type: ignore[operator]
    agent = [c for c in changes if c.kind == ChangeKind.AGENT_EDIT]
    accepted = [c for c in agent if c.accepted]
    active = {r.developer_id for r in [*commits, *changes, *sessions]}
    return Metrics(
        active_developers=len(active),
        commits=len(commits),
        ai_assisted_commits=sum(1 for c in commits if c.ai_assisted),
        agent_edits=len(agent),
        accepted_edits=len(accepted),
        agent_lines_added=sum(c.lines_added for c in accepted),
        manual_changes=len(changes) - len(agent),
        sessions=len(sessions),
        tokens=sum(s.input_tokens + s.output_tokens for s in sessions),
        cost_usd=sum(s.cost_usd for s in sessions),
    )


def same(a: Metrics, b: Metrics) -> None:
    for f in dataclasses.fields(Metrics):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), (f.name, x, y)


@pytest.mark.parametrize("day", [FIRST, FIRST + 5, FIRST + DAYS - 1, FIRST + DAYS + 3])
def test_daily_metrics(analytics: ActivityAnalytics, population: Population, day: int) -> None:
    got = analytics.daily_metrics(day)
    assert got.day == day
    same(got.metrics, by_hand(population, lambda _d, d: d == day))


def test_daily_sums_agree_with_range_stats(analytics: ActivityAnalytics) -> None:
    series = analytics.daily_series(FIRST, FIRST + DAYS - 1)
    assert [d.day for d in series] == list(range(FIRST, FIRST + DAYS))
    whole = analytics.range_stats(FIRST, FIRST + DAYS - 1)
    for name in ("commits", "ai_assisted_commits", "agent_edits", "accepted_edits",
                 "agent_lines_added", "manual_changes", "sessions", "tokens"):  # fmt: skip
        assert sum(getattr(d.metrics, name) for d in series) == getattr(whole, name), name
    assert math.isclose(sum(d.metrics.cost_usd for d in series), whole.cost_usd)
    # a developer active on two days is one active developer over the range
    assert max(d.metrics.active_developers for d in series) <= whole.active_developers
    assert whole.active_developers <= sum(d.metrics.active_developers for d in series)


@pytest.mark.parametrize("column", ["region", "team"])
def test_group_stats_partition_the_range(
    analytics: ActivityAnalytics, population: Population, column: str
) -> None:
    last = FIRST + DAYS - 1
    stats = (analytics.region_stats if column == "region" else analytics.team_stats)(FIRST, last)
    group_of = {d.id: str(getattr(d, column)) for d in population.developers}
    assert {g: s.developers for g, s in stats.items()} == {
        g: list(group_of.values()).count(g) for g in set(group_of.values())
    }
    for group, s in stats.items():
        same(s.metrics, by_hand(population, lambda dev, _day, g=group: group_of.get(dev) == g))
    whole = analytics.range_stats(FIRST, last)
    assert sum(s.metrics.commits for s in stats.values()) == whole.commits
    assert sum(s.metrics.active_developers for s in stats.values()) == whole.active_developers


def test_records_without_a_developer_count_as_unassigned() -> None:
    store = MemoryActivityStore()
    store.save(dev(1, region="EU"))
    store.save_batch([commit(1, 1, 0), commit(2, 99, 0)])  # d099 is not stored
    stats = ActivityAnalytics(store).region_stats(DAY0, DAY0)
    assert stats["EU"].metrics.commits == 1 and stats[UNASSIGNED].metrics.commits == 1
    assert stats[UNASSIGNED].developers == 0


@pytest.mark.parametrize("metric", ["commits", "acceptance_rate", "cost_usd", "tokens"])
@pytest.mark.parametrize("team", [None, "team-0000"])
def test_leaderboard_order(
    analytics: ActivityAnalytics, population: Population, metric: str, team: str | None
) -> None:
    last = FIRST + DAYS - 1
    members = {d.id for d in population.developers if team is None or d.team == team}
    values = {}
    for d in members:
        m = by_hand(population, lambda dev, _day, d=d: dev == d)
        if m.active_developers:
            values[d] = float(getattr(m, metric))
    want = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    got = analytics.leaderboard(metric, FIRST, last, team=team, limit=5)
    assert [e.developer_id for e in got] == [d for d, _ in want]
    assert [e.value for e in got] == pytest.approx([v for _, v in want])
    assert [e.rank for e in got] == list(range(1, len(want) + 1))


def test_leaderboard_ties_break_by_developer_id() -> None:
    store = MemoryActivityStore()
    store.save_batch([dev(i) for i in (3, 1, 2)])
    store.save_batch([commit(10 + i, i, 0) for i in (3, 1, 2)] + [commit(20, 2, 1)])
    board = ActivityAnalytics(store).leaderboard("commits", DAY0, DAY0 + 1)
    assert [(e.developer_id, e.value) for e in board] == [("d002", 2), ("d001", 1), ("d003", 1)]


def test_developer_daily_reads_one_developer(analytics: ActivityAnalytics,
                                            population: Population) -> None:  # fmt: skip
    target = population.commits[0].developer_id
    rows = analytics.developer_daily(target, FIRST, FIRST + DAYS - 1)
    for entry in rows:
        same(entry.metrics, by_hand(population, lambda d, day, e=entry: d == target
                                    and day == e.day))  # fmt: skip
    assert sum(r.metrics.commits for r in rows) == sum(
        1 for c in population.commits if c.developer_id == target
    )


def test_the_cache_serves_repeats_and_a_write_to_its_range_invalidates_it() -> None:
    store = MemoryActivityStore()
    store.save(dev(1))
    analytics = ActivityAnalytics(store, cache_size=8)
    assert analytics.cache is not None
    assert analytics.daily_metrics(DAY0).metrics.commits == 0
    assert analytics.daily_metrics(DAY0 + 5).metrics.commits == 0
    assert analytics.daily_metrics(DAY0).metrics.commits == 0
    assert analytics.cache.hits == 1
    store.save(commit(1, 1, 0))  # day 0: drops day 0, keeps day 5
    assert len(analytics.cache) == 1
    assert analytics.daily_metrics(DAY0).metrics.commits == 1
    store.save(change(1, 1, 0))
    assert analytics.daily_metrics(DAY0).metrics.agent_edits == 1
    store.update(dataclasses.replace(dev(1), team="infra"))  # developers: every day
    assert len(analytics.cache) == 0
    assert analytics.team_stats(DAY0, DAY0)["infra"].metrics.commits == 1
    analytics.cache._check()
    analytics.close()
    analytics.close()
    assert analytics.cache is None and store._listeners == []
    assert analytics.daily_metrics(DAY0).metrics.commits == 1


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda a: a.daily_metrics(-1), "first_day -1"),
        (lambda a: a.daily_series(5, 4), "last_day 4 is before first_day 5"),
        (lambda a: a.daily_series(0, 10**6), "longer than"),
        (lambda a: a.leaderboard("happiness", 0, 1), "metric 'happiness'"),
        (lambda a: a.leaderboard("commits", 0, 1, limit=0), "limit 0"),
    ],
)
def test_bad_arguments_are_named(call: object, named: str) -> None:
    with pytest.raises(InvalidParameter, match=named):
        call(ActivityAnalytics(MemoryActivityStore()))  # type: ignore[operator]


def test_every_metric_is_rankable() -> None:
    store = MemoryActivityStore()
    store.save_batch([commit(1, 1, 0, ai=True)])
    analytics = ActivityAnalytics(store)
    for metric in METRICS:
        (entry,) = analytics.leaderboard(metric, DAY0, DAY0)
        assert entry.developer_id == "d001"
    assert analytics.leaderboard("ai_commit_share", DAY0, DAY0)[0].value == 1.0
