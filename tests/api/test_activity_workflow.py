"""The seed's integration workflow, over REST: 100 developers, 500 commits, changes.

Records go in as JSON batches; the test counts, from what it posted, the
developers active on each day and every total, and the server's daily series,
range totals, leaderboard and consistency report must say the same.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from tests.api.activity_server import DAY0, day_ns, serving

DAYS = 14
DAY_S = 86_400


def _day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def population(seed: int = 11) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    devs = [{"id": f"dev-{i:03d}", "email": f"d{i}@corp.example", "name": f"Dev {i}",
             "region": rng.choice(["US", "EU", "APAC", "other"]), "team": f"t{i % 7}",
             "created_at": day_ns(DAY0)} for i in range(100)]  # fmt: skip
    commits = []
    for i in range(500):
        ai = rng.random() < 0.4
        commits.append({"sha": f"{rng.getrandbits(160):040x}",
                        "developer_id": rng.choice(devs)["id"], "repo": f"r{i % 9}",
                        "timestamp": day_ns(DAY0 + rng.randrange(DAYS), rng.randrange(DAY_S)),
                        "additions": rng.randrange(300), "deletions": rng.randrange(90),
                        "ai_assisted": ai, "ai_tool": "claude-code" if ai else None})  # fmt: skip
    changes = []
    for i in range(800):
        agent = rng.random() < 0.7
        changes.append({"id": f"ch-{i}", "developer_id": rng.choice(devs)["id"],
                        "timestamp": day_ns(DAY0 + rng.randrange(DAYS), rng.randrange(DAY_S)),
                        "kind": "agent_edit" if agent else "manual", "tool": "claude-code",
                        "language": "go", "lines_added": rng.randrange(1, 80),
                        "lines_removed": rng.randrange(20),
                        "accepted": rng.random() < 0.6})  # fmt: skip
    return {"developers": devs, "commits": commits, "changes": changes}


def test_integration_workflow_over_rest() -> None:
    data = population()
    with serving() as server:
        for kind, records in data.items():
            assert server.batch(kind, records)["inserted"] == len(records)
        report = server.client.get("/api/activity/consistency").json()
        assert report["ok"] is True, report["summary"]
        assert report["counts"] == {"developers": 100, "commits": 500, "changes": 800,
                                    "sessions": 0}  # fmt: skip

        active: dict[int, set[str]] = defaultdict(set)
        for record in (*data["commits"], *data["changes"]):
            active[record["timestamp"] // (DAY_S * 10**9)].add(record["developer_id"])
        span = {"from": _day(DAY0), "to": _day(DAY0 + DAYS - 1)}
        days = server.client.get("/api/activity/metrics/daily", params=span).json()["days"]
        assert [d["active_developers"] for d in days] == [
            len(active[DAY0 + k]) for k in range(DAYS)]  # fmt: skip

        whole = server.client.get("/api/activity/metrics/range", params=span).json()
        for metric in ("commits", "ai_assisted_commits", "agent_edits", "accepted_edits",
                       "agent_lines_added", "manual_changes"):  # fmt: skip
            assert sum(d[metric] for d in days) == whole[metric], metric
        assert whole["commits"] == 500
        assert whole["ai_assisted_commits"] == sum(c["ai_assisted"] for c in data["commits"])
        assert whole["active_developers"] == len(set().union(*active.values()))

        edits: dict[str, int] = defaultdict(int)
        for ch in data["changes"]:
            edits[ch["developer_id"]] += ch["kind"] == "agent_edit"
        top = sorted(edits, key=lambda d: (-edits[d], d))[:5]
        query = {"metric": "agent_edits", "limit": 5, **span}
        board = server.client.get("/api/activity/leaderboard", params=query).json()
        assert [e["key"] for e in board["entries"]] == top
        assert [e["value"] for e in board["entries"]] == [edits[d] for d in top]
