"""The activity REST routes on a real server, route by route.

Each expected value is computed here from the records the test posted, never
read back from the code under test. Error statuses are table-driven; batches
are checked for atomicity (a refused batch stores nothing) and for naming every
failing record by index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.activity_server import DAY0, Server, day_ns, serving

REGIONS = ("US", "EU", "APAC", "other")


@pytest.fixture(scope="module")
def module_server() -> Iterator[Server]:
    with serving(limits={"sessions": 5}) as server:
        yield server


@pytest.fixture
def server(module_server: Server) -> Server:
    module_server.service.store.clear()
    return module_server


def developer(i: int, **over: Any) -> dict[str, Any]:
    body = {
        "id": f"d{i:03d}",
        "email": f"dev{i}@example.com",
        "name": f"Dev {i}",
        "region": REGIONS[i % 4],
        "division": f"div{i % 2}",
        "team": f"team{i % 3}",
        "created_at": day_ns(DAY0, i),
    }
    return {**body, **over}


def commit(i: int, dev: int, day: int = DAY0, **over: Any) -> dict[str, Any]:
    ai = i % 3 == 0
    body = {
        "sha": f"{i:040x}",
        "developer_id": f"d{dev:03d}",
        "repo": f"repo{i % 2}",
        "timestamp": day_ns(day, i),
        "additions": i,
        "deletions": i // 2,
        "ai_assisted": ai,
        "ai_tool": "claude-code" if ai else None,
    }
    return {**body, **over}


def change(i: int, dev: int, day: int = DAY0, **over: Any) -> dict[str, Any]:
    agent = i % 4 != 3
    body = {
        "id": f"c{i}",
        "developer_id": f"d{dev:03d}",
        "timestamp": day_ns(day, i),
        "kind": "agent_edit" if agent else "manual",
        "tool": "claude-code" if agent else "",
        "language": "python",
        "lines_added": 10 + i,
        "lines_removed": i % 5,
        "accepted": i % 2 == 0,
        "commit_sha": None,
    }
    return {**body, **over}


def session(i: int, dev: int, day: int = DAY0, **over: Any) -> dict[str, Any]:
    start = day_ns(day, 100 + i)
    body = {
        "id": f"s{i}",
        "developer_id": f"d{dev:03d}",
        "tool": "claude-code",
        "started_at": start,
        "ended_at": start + 60 * 10**9,
        "input_tokens": 1000 * i,
        "output_tokens": 10 * i,
        "cost_usd": 0.25 * i,
    }
    return {**body, **over}


MAKERS: dict[str, tuple[Callable[[int], dict[str, Any]], str, dict[str, Any]]] = {
    "developers": (lambda i: developer(i), "id", {"team": "renamed"}),
    "commits": (lambda i: commit(i, 1), "sha", {"additions": 999}),
    "changes": (lambda i: change(i, 1), "id", {"accepted": False, "lines_added": 77}),
    "sessions": (lambda i: session(i, 1), "id", {"cost_usd": 9.5}),
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_create_read_replace_delete(server: Server, kind: str) -> None:
    make, key, change_to = MAKERS[kind]
    body = make(1)
    created = server.client.post(f"/api/activity/{kind}", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == body
    path = f"/api/activity/{kind}/{body[key]}"
    assert server.client.get(path).json() == body
    changed = {**body, **change_to}
    replaced = server.client.put(path, json=changed)
    assert replaced.status_code == 200, replaced.text
    assert server.client.get(path).json() == changed
    assert server.client.delete(path).status_code == 204
    assert server.client.get(path).status_code == 404
    assert server.client.get(f"/api/activity/{kind}").json()["total"] == 0


def _loc(response: Any) -> list[str]:
    detail = response.json()["detail"]
    return [str(p) for p in detail[0]["loc"]] if isinstance(detail, list) else []


ERRORS = [
    # (name, setup records {kind: [bodies]}, method, path, body, status, named field or text)
    ("duplicate id", {"developers": [developer(1)]}, "POST", "/api/activity/developers",
     developer(1, email="other@example.com"), 409, "d001"),
    ("duplicate email", {"developers": [developer(1)]}, "POST", "/api/activity/developers",
     developer(2, email="DEV1@example.com"), 409, "dev1@example.com"),
    ("bad email", {}, "POST", "/api/activity/developers", developer(1, email="nobody"), 422,
     "email"),
    ("unknown region", {}, "POST", "/api/activity/developers", developer(1, region="Mars"), 422,
     "region"),
    ("unknown field", {}, "POST", "/api/activity/commits", {**commit(1, 1), "color": "red"}, 422,
     "color"),
    ("string for int", {}, "POST", "/api/activity/commits", commit(1, 1, additions="3"), 422,
     "additions"),
    ("ai_tool without ai", {}, "POST", "/api/activity/commits",
     commit(1, 1, ai_assisted=False, ai_tool="aider"), 422, "ai_tool"),
    ("session ends first", {}, "POST", "/api/activity/sessions",
     session(1, 1, ended_at=0), 422, "ended_at"),
    ("negative lines", {}, "POST", "/api/activity/changes", change(1, 1, lines_added=-1), 422,
     "lines_added"),
    ("unknown key get", {}, "GET", "/api/activity/changes/nope", None, 404, "nope"),
    ("unknown key put", {}, "PUT", "/api/activity/sessions/s1", session(1, 1), 404, "s1"),
    ("unknown key delete", {}, "DELETE", "/api/activity/commits/abcdef1", None, 404, "abcdef1"),
    ("key differs from path", {"changes": [change(1, 1)]}, "PUT", "/api/activity/changes/c2",
     change(1, 1), 422, "id"),
    ("unknown filter", {}, "GET", "/api/activity/developers?colour=red", None, 422, "colour"),
    ("bad bool filter", {}, "GET", "/api/activity/commits?ai_assisted=maybe", None, 422,
     "ai_assisted"),
    ("bad enum filter", {}, "GET", "/api/activity/developers?region=mars", None, 422, "region"),
    ("limit too big", {}, "GET", "/api/activity/developers?limit=10001", None, 422, "limit"),
    ("negative offset", {}, "GET", "/api/activity/developers?offset=-1", None, 422, "offset"),
    ("bad since", {}, "GET", "/api/activity/commits?since=yesterday", None, 422, "since"),
    ("unknown email", {}, "GET", "/api/activity/developers/by-email/x@y.org", None, 404,
     "x@y.org"),
    ("capacity", {"sessions": [session(i, 1) for i in range(5)]}, "POST",
     "/api/activity/sessions", session(9, 1), 507, "limit 5"),
    ("bad metric", {}, "GET", "/api/activity/leaderboard?metric=fame", None, 422,
     "acceptance_rate"),
    ("bad day", {}, "GET", "/api/activity/metrics/daily?from=2025-02-30", None, 422, "from"),
    ("range reversed", {}, "GET", "/api/activity/metrics/range?from=2025-03-02&to=2025-03-01",
     None, 422, "to"),
    ("range too long", {}, "GET", "/api/activity/stats/teams?from=2000-01-01&to=2025-01-01",
     None, 422, "3660"),
    ("unknown developer daily", {}, "GET", "/api/activity/developers/zz/daily", None, 404, "zz"),
    ("bad snapshot name", {}, "POST", "/api/activity/snapshots/notes.txt/restore", None, 422,
     "name"),
    ("unknown snapshot", {}, "POST",
     "/api/activity/snapshots/activity-20250101T000000Z-9.snap/restore", None, 404, "not found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "method", "path", "body", "status", "named"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_error_statuses_name_the_problem(
    server: Server,
    setup: dict[str, list[dict[str, Any]]],
    method: str,
    path: str,
    body: Any,
    status: int,
    named: str,
) -> None:
    for kind, records in setup.items():
        server.batch(kind, records)
    counts = {k: server.service.store.count(t) for k, t in _kinds().items()}
    response = server.client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert named in response.text
    if status == 422 and method in ("POST", "PUT") and "snapshot" not in path:
        assert named in _loc(response)
    assert {k: server.service.store.count(t) for k, t in _kinds().items()} == counts


def _kinds() -> dict[str, type]:
    from infertrace.activity.service import KINDS

    return KINDS


def test_filters_and_paging_match_the_posted_records(server: Server) -> None:
    devs = [developer(i) for i in range(40)]
    server.batch("developers", devs)
    for region in REGIONS:
        expected = sorted(d["id"] for d in devs if d["region"] == region)
        seen: list[str] = []
        for offset in range(0, len(expected) + 3, 3):
            page = server.client.get(
                "/api/activity/developers", params={"region": region, "limit": 3, "offset": offset}
            ).json()
            assert page["total"] == len(expected)
            assert (page["limit"], page["offset"]) == (3, offset)
            seen += [d["id"] for d in page["items"]]
        assert seen == expected
    both = server.client.get("/api/activity/developers?team=team1&division=div0").json()
    expected_both = sorted(
        d["id"] for d in devs if d["team"] == "team1" and d["division"] == "div0"
    )
    assert [d["id"] for d in both["items"]] == expected_both


def test_commit_filters_time_window_and_range_route(server: Server) -> None:
    commits = [commit(i, i % 3, DAY0 + i % 4) for i in range(1, 41)]
    server.batch("commits", commits)
    ai = server.client.get("/api/activity/commits?ai_assisted=true&limit=100").json()
    assert sorted(c["sha"] for c in ai["items"]) == sorted(
        c["sha"] for c in commits if c["ai_assisted"]
    )
    lo, hi = day_ns(DAY0 + 1), day_ns(DAY0 + 3)
    window = server.client.get(f"/api/activity/commits?since={lo}&until={hi}&developer_id=d001")
    expected = sorted(
        c["sha"] for c in commits if lo <= c["timestamp"] < hi and c["developer_id"] == "d001"
    )
    assert sorted(c["sha"] for c in window.json()["items"]) == expected
    ranged = server.client.get(
        "/api/activity/commits/range", params={"start": lo, "end": hi, "limit": 5, "offset": 2}
    )
    in_order = sorted(
        (c for c in commits if lo <= c["timestamp"] < hi), key=lambda c: (c["timestamp"], c["sha"])
    )
    assert [c["sha"] for c in ranged.json()["items"]] == [c["sha"] for c in in_order[2:7]]


def test_by_email_is_case_insensitive(server: Server) -> None:
    server.batch("developers", [developer(7)])
    found = server.client.get("/api/activity/developers/by-email/DEV7@Example.com")
    assert found.status_code == 200
    assert found.json()["id"] == "d007"


BAD_AT = {2: "email", 5: "region", 7: "created_at", 8: None}


def _with_bad_records() -> list[dict[str, Any]]:
    records = [developer(i) for i in range(10)]
    records[2]["email"] = "no-at-sign"
    records[5]["region"] = "Atlantis"
    records[7]["created_at"] = -5
    records[8] = "not an object"  # type: ignore[call-overload]
    return records


def test_invalid_batch_lists_every_failing_record_and_stores_nothing(server: Server) -> None:
    response = server.client.post(
        "/api/activity/developers/batch", json={"records": _with_bad_records()}
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["index"] for e in errors] == sorted(BAD_AT)
    for e in errors:
        if BAD_AT[e["index"]] is not None:
            assert e["field"] == BAD_AT[e["index"]]
        assert e["reason"]
    assert server.service.store.count(_kinds()["developers"]) == 0


def test_duplicate_batch_lists_every_clash_and_stores_nothing(server: Server) -> None:
    server.batch("developers", [developer(1), developer(2)])
    records = [developer(i) for i in range(6)] + [developer(4, email="x@example.com")]
    response = server.client.post("/api/activity/developers/batch", json={"records": records})
    assert response.status_code == 409, response.text
    assert [e["index"] for e in response.json()["errors"]] == [1, 2, 6]
    assert server.service.store.count(_kinds()["developers"]) == 2


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("skip", {"inserted": 3, "skipped": 2, "replaced": 0}),
        ("replace", {"inserted": 3, "skipped": 0, "replaced": 2}),
    ],
)
def test_on_conflict_skip_keeps_and_replace_overwrites(
    server: Server, rule: str, expected: dict[str, int]
) -> None:
    stored = [developer(1), developer(2)]
    server.batch("developers", stored)
    incoming = [developer(i, team="new") for i in range(5)]
    assert server.batch("developers", incoming, on_conflict=rule) == expected
    for i in range(5):
        team = server.client.get(f"/api/activity/developers/d{i:03d}").json()["team"]
        kept = rule == "skip" and i in (1, 2)
        assert team == (developer(i)["team"] if kept else "new")
    again = server.batch("developers", incoming, on_conflict=rule)
    assert again["inserted"] == 0
    assert again["skipped" if rule == "skip" else "replaced"] == 5


def test_replace_refuses_an_email_of_another_developer_before_writing(server: Server) -> None:
    server.batch("developers", [developer(1), developer(2)])
    incoming = [developer(3), developer(1, email="dev2@example.com")]
    response = server.client.post(
        "/api/activity/developers/batch?on_conflict=replace", json={"records": incoming}
    )
    assert response.status_code == 409
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert server.service.store.count(_kinds()["developers"]) == 2


def test_batch_over_the_limit_is_507_and_stores_nothing(server: Server) -> None:
    response = server.client.post(
        "/api/activity/sessions/batch", json={"records": [session(i, 1) for i in range(6)]}
    )
    assert response.status_code == 507
    assert server.service.store.count(_kinds()["sessions"]) == 0


def _seed_day_data(server: Server) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    devs = [developer(i) for i in range(6)]
    commits = [commit(i, i % 5, DAY0 + i % 3) for i in range(1, 31)]
    changes = [change(i, (i * 7) % 6, DAY0 + i % 2) for i in range(40)]
    sessions = [session(i, i % 2, DAY0 + 2) for i in range(4)]
    for kind, records in (
        ("developers", devs),
        ("commits", commits),
        ("changes", changes),
        ("sessions", sessions),
    ):
        server.batch(kind, records)
    return devs, commits, changes, sessions


def _expected(
    commits: list[Any], changes: list[Any], sessions: list[Any], keep: Any = lambda r: True
) -> dict[str, Any]:
    commits = [c for c in commits if keep(c)]
    changes = [c for c in changes if keep(c)]
    sessions = [s for s in sessions if keep(s)]
    agent = [c for c in changes if c["kind"] == "agent_edit"]
    accepted = [c for c in agent if c["accepted"]]
    ai = sum(c["ai_assisted"] for c in commits)
    return {
        "active_developers": len({r["developer_id"] for r in (*commits, *changes, *sessions)}),
        "commits": len(commits),
        "ai_assisted_commits": ai,
        "ai_commit_share": ai / len(commits) if commits else 0.0,
        "agent_edits": len(agent),
        "accepted_edits": len(accepted),
        "acceptance_rate": len(accepted) / len(agent) if agent else 0.0,
        "agent_lines_added": sum(c["lines_added"] for c in accepted),
        "manual_changes": len(changes) - len(agent),
        "sessions": len(sessions),
        "tokens": sum(s["input_tokens"] + s["output_tokens"] for s in sessions),
        "cost_usd": sum(s["cost_usd"] for s in sessions),
    }


def _day(day: int) -> str:
    from datetime import date, timedelta

    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _time(record: dict[str, Any]) -> int:
    return int(record.get("timestamp", record.get("started_at", 0)))


def test_daily_and_range_metrics_equal_the_test_s_own_sums(server: Server) -> None:
    _, commits, changes, sessions = _seed_day_data(server)
    span = {"from": _day(DAY0 - 1), "to": _day(DAY0 + 3)}
    days = server.client.get("/api/activity/metrics/daily", params=span).json()["days"]
    assert [d["day"] for d in days] == [_day(DAY0 + k) for k in range(-1, 4)]
    for k, got in zip(range(-1, 4), days, strict=True):
        want = _expected(
            commits, changes, sessions, lambda r, k=k: _time(r) // (86_400 * 10**9) == DAY0 + k
        )
        assert {m: got[m] for m in want} == pytest.approx(want)
    whole = server.client.get("/api/activity/metrics/range", params=span).json()
    assert whole == pytest.approx(_expected(commits, changes, sessions))
    for metric in ("commits", "agent_edits", "tokens", "sessions", "manual_changes"):
        assert sum(d[metric] for d in days) == whole[metric]


def test_developer_daily_lists_only_active_days(server: Server) -> None:
    _, commits, changes, sessions = _seed_day_data(server)
    span = {"from": _day(DAY0), "to": _day(DAY0 + 2)}
    answer = server.client.get("/api/activity/developers/d001/daily", params=span).json()
    assert answer["developer"] == developer(1)
    mine = [r for r in (*commits, *changes, *sessions) if r["developer_id"] == "d001"]
    active = sorted({_time(r) // (86_400 * 10**9) for r in mine})
    assert [d["day"] for d in answer["days"]] == [_day(d) for d in active]
    for d, got in zip(active, answer["days"], strict=True):
        want = _expected(
            commits,
            changes,
            sessions,
            lambda r, d=d: r["developer_id"] == "d001" and _time(r) // (86_400 * 10**9) == d,
        )
        assert {m: got[m] for m in want} == pytest.approx(want)


@pytest.mark.parametrize("column", ["region", "team"])
def test_group_stats_match_the_test_s_grouping(server: Server, column: str) -> None:
    devs, commits, changes, sessions = _seed_day_data(server)
    route = "regions" if column == "region" else "teams"
    span = {"from": _day(DAY0), "to": _day(DAY0 + 2)}
    groups = server.client.get(f"/api/activity/stats/{route}", params=span).json()["groups"]
    group_of = {d["id"]: d[column] for d in devs}
    heads = Counter(group_of.values())
    assert [g["group"] for g in groups] == sorted(heads)
    for g in groups:
        assert g["developers"] == heads[g["group"]]
        want = _expected(
            commits, changes, sessions, lambda r, g=g: group_of.get(r["developer_id"]) == g["group"]
        )
        assert {m: g[m] for m in want} == pytest.approx(want)


@pytest.mark.parametrize("metric", ["agent_edits", "commits", "cost_usd", "acceptance_rate"])
@pytest.mark.parametrize("by", ["developer", "team", "region"])
def test_leaderboard_ranks_descending_with_ties_by_key(
    server: Server, metric: str, by: str
) -> None:
    devs, commits, changes, sessions = _seed_day_data(server)
    span = {"from": _day(DAY0), "to": _day(DAY0 + 2)}
    board = server.client.get(
        "/api/activity/leaderboard", params={"metric": metric, "by": by, "limit": 4, **span}
    ).json()
    key_of = {d["id"]: (d["id"] if by == "developer" else d[by]) for d in devs}
    keys = {key_of[r["developer_id"]] for r in (*commits, *changes, *sessions)}
    values = {
        k: _expected(commits, changes, sessions, lambda r, k=k: key_of[r["developer_id"]] == k)[
            metric
        ]
        for k in keys
    }
    ranked = sorted(values, key=lambda k: (-values[k], k))[:4]
    assert board["metric"] == metric
    assert [e["key"] for e in board["entries"]] == ranked
    assert [e["rank"] for e in board["entries"]] == list(range(1, len(ranked) + 1))
    for e in board["entries"]:
        assert e["value"] == pytest.approx(values[e["key"]])
        assert e[metric] == pytest.approx(values[e["key"]])
    if by == "developer":
        names = {d["id"]: d["name"] for d in devs}
        assert [e["name"] for e in board["entries"]] == [names[k] for k in ranked]


def test_consistency_reports_orphans_and_repair_drops_them(server: Server) -> None:
    server.batch("developers", [developer(1)])
    server.batch("commits", [commit(1, 1), commit(2, 9), commit(3, 9)])
    report = server.client.get("/api/activity/consistency").json()
    assert report["ok"] is False
    assert sorted(o["key"] for o in report["orphans"]) == [f"{2:040x}", f"{3:040x}"]
    assert report["totals"]["orphans"] == 2
    assert report["counts"] == {"developers": 1, "commits": 3, "changes": 0, "sessions": 0}
    kept = server.client.post("/api/activity/consistency/repair").json()
    assert kept["after"]["ok"] is False
    fixed = server.client.post("/api/activity/consistency/repair?drop_orphans=true").json()
    assert fixed["after"]["ok"] is True
    assert any("2 orphan" in a for a in fixed["actions"])
    assert server.client.get("/api/activity/commits").json()["total"] == 1


def test_memory_counts_what_was_posted(server: Server) -> None:
    server.batch("developers", [developer(i) for i in range(12)])
    server.batch("changes", [change(i, 1) for i in range(7)])
    kinds = server.client.get("/api/activity/memory").json()["kinds"]
    assert {k: v["count"] for k, v in kinds.items()} == {
        "developers": 12,
        "commits": 0,
        "changes": 7,
        "sessions": 0,
    }
    assert kinds["sessions"]["limit"] == 5
    assert kinds["developers"]["limit"] is None
    for v in kinds.values():
        assert v["total_bytes"] == v["data_bytes"] + v["index_bytes"]
    assert kinds["developers"]["data_bytes"] > 0


def test_snapshot_restore_round_trip_and_corrupt_file_is_refused(server: Server) -> None:
    server.batch("developers", [developer(i) for i in range(5)])
    server.batch("commits", [commit(i, 1) for i in range(1, 9)])
    made = server.client.post("/api/activity/snapshot")
    assert made.status_code == 201, made.text
    snap = made.json()
    assert snap["records"] == 13
    assert snap["counts"] == {"developers": 5, "commits": 8, "changes": 0, "sessions": 0}
    listed = server.client.get("/api/activity/snapshots").json()["snapshots"]
    assert [(s["name"], s["sha256"], s["bytes"]) for s in listed] == [
        (snap["name"], snap["sha256"], snap["bytes"])
    ]
    server.client.delete(f"/api/activity/commits/{1:040x}")
    server.batch("developers", [developer(50)])
    restored = server.client.post(f"/api/activity/snapshots/{snap['name']}/restore")
    assert restored.status_code == 200, restored.text
    assert server.client.get("/api/activity/developers").json()["total"] == 5
    assert server.client.get(f"/api/activity/commits/{1:040x}").status_code == 200

    path = server.service.snapshot_dir / snap["name"]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    server.batch("developers", [developer(60)])
    refused = server.client.post(f"/api/activity/snapshots/{snap['name']}/restore")
    assert refused.status_code == 422
    assert "corrupt" in refused.json()["detail"]
    assert server.client.get("/api/activity/developers").json()["total"] == 6
    path.write_bytes(bytes(data[: len(data) // 2]))
    truncated = server.client.post(f"/api/activity/snapshots/{snap['name']}/restore")
    assert truncated.status_code == 422
    assert "truncated" in truncated.json()["detail"]


def test_routes_answer_404_without_an_activity_database() -> None:
    from infertrace.api import install_query_api
    from infertrace.telemetry.memory import MemoryStore
    from tests.collector.helpers import running

    store = MemoryStore(span_capacity=16)
    with running(store) as endpoints:
        import httpx

        for path in (
            "/api/activity/developers",
            "/api/activity/metrics/daily",
            "/api/activity/memory",
        ):
            response = httpx.get(endpoints.http_url + path)
            assert response.status_code == 404
            assert "not running" in response.json()["detail"]
    store.close()
    del install_query_api


def test_activity_routes_need_the_api_token() -> None:
    with serving(api_token="secret") as server:
        assert server.client.get("/api/activity/developers").status_code == 401
        ok = server.client.get(
            "/api/activity/developers", headers={"Authorization": "Bearer secret"}
        )
        assert ok.status_code == 200


def test_openapi_describes_every_contract_route(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    for kind in ("developers", "commits", "changes", "sessions"):
        assert set(paths[f"/api/activity/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/activity/{kind}/{{key}}"]) == {"get", "put", "delete"}
        assert "post" in paths[f"/api/activity/{kind}/batch"]
    for path in (
        "/metrics/daily",
        "/metrics/range",
        "/stats/regions",
        "/stats/teams",
        "/leaderboard",
        "/consistency",
        "/memory",
        "/snapshots",
        "/developers/by-email/{email}",
        "/commits/range",
        "/developers/{developer_id}/daily",
    ):
        assert "get" in paths["/api/activity" + path]
    ok = paths["/api/activity/metrics/daily"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DailySeries"
    }


def test_a_batch_over_100000_records_is_refused_without_echoing_them(server: Server) -> None:
    response = server.client.post(
        "/api/activity/developers/batch", json={"records": [{}] * 100_001}
    )
    assert response.status_code == 422
    assert "100,001" in response.json()["detail"]
    assert len(response.content) < 1_000
    assert server.service.store.count(_kinds()["developers"]) == 0
