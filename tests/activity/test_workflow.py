"""The seed's integration workflow: 100 developers, 500 commits, consistency, DAU."""

from __future__ import annotations

import random

from infertrace.activity import (
    ActivityAnalytics,
    Commit,
    Developer,
    MemoryActivityStore,
    Region,
    verify_consistency,
)
from infertrace.activity.records import DAY_NS
from tests.activity.conftest import DAY0, at


def test_100_developers_500_commits() -> None:
    rng = random.Random(13)
    regions = list(Region)
    developers = [
        Developer(f"dev{i:03d}", f"dev{i}@corp.example", f"Dev {i}", regions[i % 4], "eng",
                  f"team{i % 10}")
        for i in range(100)
    ]  # fmt: skip
    commits = [
        Commit(f"{rng.getrandbits(160):040x}", f"dev{rng.randrange(100):03d}", "mono",
               at(rng.randrange(7), rng.randrange(24)), rng.randrange(300), rng.randrange(90),
               ai := rng.random() < 0.4, "claude-code" if ai else None)
        for _ in range(500)
    ]  # fmt: skip
    store = MemoryActivityStore()
    assert store.save_batch(developers) == 100
    assert store.save_batch(commits) == 500
    report = verify_consistency(store)
    assert report.ok, report.lines()
    analytics = ActivityAnalytics(store)
    for day in range(DAY0, DAY0 + 7):
        on_day = [c for c in commits if c.timestamp // DAY_NS == day]
        metrics = analytics.daily_metrics(day).metrics
        assert metrics.active_developers == len({c.developer_id for c in on_day})
        assert metrics.commits == len(on_day)
        assert metrics.ai_assisted_commits == sum(c.ai_assisted for c in on_day)
    assert store.count(Developer, {"region": "APAC"}) == 25
    assert sum(store.count(Commit, {"developer_id": d.id}) for d in developers) == 500
    store._check()
