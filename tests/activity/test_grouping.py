"""The column group-bys at a size where every index has a sorted part, before and
after a compaction renumbers the codes: each figure again from the records, by the
record-based ``tally`` (another route to the same numbers)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from infertrace.activity import ActivityAnalytics, Change, Commit, MemoryActivityStore, Metrics
from infertrace.activity.aggregations import rows_in_days, tally
from infertrace.activity.generate import Population, generate
from infertrace.activity.tables import LAYOUTS
from infertrace.engine import colindex

FIRST, DAYS = 20_000, 20
N = 3 * colindex.MIN_TAIL  # past the tail: lookups read the sorted parts too


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(80, DAYS, commits=N, changes=N, sessions=N // 4, seed=11, first_day=FIRST)


def by_records(store: MemoryActivityStore, first: int, last: int, group: object) -> dict:  # type: ignore[type-arg]
    with store.reading() as view:
        totals = tally(rows_in_days(view, first, last), group)  # type: ignore[arg-type]
    return {k: t.done() for k, t in totals.items()}


def same(a: Metrics, b: Metrics) -> bool:
    """Equal counts, and costs equal up to the order a float sum was taken in."""
    return dataclasses.replace(a, cost_usd=0.0) == dataclasses.replace(b, cost_usd=0.0) and (
        math.isclose(a.cost_usd, b.cost_usd, rel_tol=1e-9, abs_tol=1e-9))  # fmt: skip


def same_groups(got: dict, want: dict) -> bool:  # type: ignore[type-arg]
    return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)


def check_every_route(
    store: MemoryActivityStore, analytics: ActivityAnalytics, p: Population
) -> None:
    first, last = FIRST + 3, FIRST + 15
    daily = by_records(store, first, last, lambda _d, day: day)
    series = {d.day: d.metrics for d in analytics.daily_series(first, last)}
    assert same_groups(series, {day: daily.get(day, Metrics()) for day in range(first, last + 1)})
    whole = by_records(store, first, last, lambda _d, _day: 0)[0]
    assert same(analytics.range_stats(first, last), whole)
    team_of = {d.id: d.team for d in store.list(type(p.developers[0]))}
    teams = by_records(store, first, last, lambda dev, _day: team_of.get(dev, "(unassigned)"))
    got = analytics.team_stats(first, last)
    assert same_groups({g: s.metrics for g, s in got.items() if s.metrics != Metrics()}, teams)
    team = p.developers[0].team
    per_dev = by_records(store, first, last, lambda dev, _day: dev)
    want = sorted(((d, m.commits) for d, m in per_dev.items() if team_of.get(d) == team),
                  key=lambda e: (-e[1], e[0]))[:5]  # fmt: skip
    board = analytics.leaderboard("commits", first, last, team=team, limit=5)
    assert [(e.developer_id, e.value) for e in board] == [(d, float(v)) for d, v in want]


def test_group_bys_agree_with_the_records_before_and_after_a_compaction(
    population: Population,
) -> None:
    store = MemoryActivityStore()
    for records in (population.developers, population.commits, population.changes,
                    population.sessions):  # fmt: skip
        store.save_batch(records)
    analytics = ActivityAnalytics(store)
    with store.reading() as view:
        assert all(i.built for i in view.tables[Commit].indexes.values()
                   if isinstance(i, colindex.SortedIndex))  # fmt: skip
    check_every_route(store, analytics, population)
    before = {k: store._tables[k].uid for k in LAYOUTS}
    store.drop(Change, [c.id for c in population.changes[: N * 3 // 4]])  # past half: compacts
    store.drop(Commit, [c.sha for c in population.commits[::2]])
    assert store._tables[Change].uid != before[Change]
    check_every_route(store, analytics, population)
    store._check()
