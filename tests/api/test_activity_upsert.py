"""Skip/replace batches over REST: refusals name every clashing record, and a batch a
server acknowledged survives a crash (SIGKILL) through its data directory's log,
replacements included, exactly as it answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from infertrace.testing import ServedProcess
from tests.api.activity_server import DAY0, day_ns, serving


def developer(i: int, team: str = "core", email: str | None = None) -> dict[str, Any]:
    return {"id": f"d{i}", "email": email or f"dev{i}@example.com", "team": team}


def commit(n: int, day: int = 0) -> dict[str, Any]:
    return {"sha": f"{n:040x}", "developer_id": f"d{n % 3}", "repo": "api",
            "timestamp": day_ns(DAY0 + day, n)}  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "batch", "indexes"),
    [
        ("replace", [developer(3, email="dev1@example.com"), developer(4)], [0]),
        ("replace", [developer(2, email="x@example.com"), developer(1, email="dev2@example.com")],
         [1]),
        ("skip", [developer(5, email="e@example.com"), developer(6, email="e@example.com"),
                  developer(7, email="dev2@example.com")], [1, 2]),
    ],
)  # fmt: skip
def test_clashing_emails_refuse_the_batch_naming_each_record(
    rule: str, batch: list[dict[str, Any]], indexes: list[int]
) -> None:
    with serving() as server:
        server.batch("developers", [developer(1), developer(2)])
        response = server.client.post(
            "/api/activity/developers/batch", params={"on_conflict": rule},
            json={"records": batch},
        )  # fmt: skip
        assert response.status_code == 409, response.text
        errors = response.json()["errors"]
        assert [e["index"] for e in errors] == indexes
        assert {e["field"] for e in errors} == {"email"}
        page = server.client.get("/api/activity/developers").json()
        assert [(d["id"], d["team"]) for d in page["items"]] == [("d1", "core"), ("d2", "core")]


def test_an_acknowledged_replace_batch_survives_a_crash(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    answers = []
    with ServedProcess("--data-dir", data, grace=60) as served:
        post = httpx.Client(base_url=served.url, timeout=30)
        batches = [
            ("developers", [developer(i) for i in range(3)], "error"),
            ("commits", [commit(n) for n in range(1, 41)], "error"),
            ("developers", [developer(1, "infra"), developer(3), developer(1, "ml")], "replace"),
            ("commits", [commit(n, day=2) for n in range(30, 61)], "replace"),
            ("commits", [{**commit(n), "repo": "web"} for n in range(50, 71)], "skip"),
        ]
        for kind, records, rule in batches:
            response = post.post(f"/api/activity/{kind}/batch", params={"on_conflict": rule},
                                 json={"records": records})  # fmt: skip
            assert response.status_code == 200, response.text
            answers.append(response.json())
        before = {k: post.get(f"/api/activity/{k}", params={"limit": 500}).json()["items"]
                  for k in ("developers", "commits")}  # fmt: skip
        post.close()
        served.kill()  # no shutdown snapshot: the log alone brings the batches back
    assert answers[2] == {"inserted": 1, "skipped": 1, "replaced": 1}
    assert answers[3] == {"inserted": 20, "skipped": 0, "replaced": 11}
    assert answers[4] == {"inserted": 10, "skipped": 11, "replaced": 0}
    assert {d["id"]: d["team"] for d in before["developers"]}["d1"] == "ml"
    moved = [c for c in before["commits"] if c["timestamp"] >= day_ns(DAY0 + 2)]
    assert len(moved) == 31 and len(before["commits"]) == 70
    with (
        ServedProcess("--data-dir", data, grace=60) as again,
        httpx.Client(base_url=again.url, timeout=30) as get,
    ):
        after = {k: get.get(f"/api/activity/{k}", params={"limit": 500}).json()["items"]
                 for k in ("developers", "commits")}  # fmt: skip
    assert after == before
