"""``infertrace serve`` wires the activity database: options, env, feed, limits, banner.

A real server process (:class:`~infertrace.testing.ServedProcess`) gets coding-agent
metrics under a configured prefix over OTLP/HTTP and must show the developer they
name, with the division its resource attribute mapping gives; its developer limit
answers 507 over REST. The shapes are Claude Code's (tests/activity/agent_shapes.py
cites https://code.claude.com/docs/en/monitoring-usage).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from infertrace.activity.identity import developer_id_for
from infertrace.activity.service import ActivityService
from infertrace.collector.otlp.encode import encode_metrics
from infertrace.config import ConfigError, Settings
from infertrace.testing import ServedProcess
from tests.activity.agent_shapes import RESOURCE, SECOND, T0, point, standard

PB = {"Content-Type": "application/x-protobuf"}


def test_serve_feeds_and_serves_the_activity_database() -> None:
    args = (
        "--activity-limit",
        "developers=2",
        "--agent-prefix",
        "opencode",
        "--accept-past",
        "off",
    )
    env = {"INFERTRACE_ACTIVITY_ATTRIBUTE": "cost_center=division"}
    with ServedProcess(*args, env=env, grace=20) as served:
        assert "Activity" in served.banner
        assert "opencode" in served.banner
        attrs = {**standard("sess-9", "Ada@Example.com"), "type": "added"}
        points = [point("lines_of_code.count", 12, T0 + SECOND, attrs, prefix="opencode"),
                  point("session.count", 1, T0 + SECOND, standard("sess-9", "Ada@Example.com"),
                        prefix="opencode")]  # fmt: skip
        body = encode_metrics(points).SerializeToString()
        sent = httpx.post(served.url + "/v1/metrics", content=body, headers=PB, timeout=10)
        assert sent.status_code == 200, sent.text
        expected_id = developer_id_for("ada@example.com")
        deadline = time.monotonic() + 10
        while True:  # the feed runs after the write: poll, bounded
            found = httpx.get(f"{served.url}/api/activity/developers/{expected_id}", timeout=10)
            if found.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert found.status_code == 200, found.text
        assert found.json()["email"] == "ada@example.com"
        assert found.json()["division"] == RESOURCE["cost_center"]

        dev = {"id": "d-extra", "email": "extra@example.com"}
        assert httpx.post(served.url + "/api/activity/developers", json=dev).status_code == 201
        over = httpx.post(served.url + "/api/activity/developers",
                          json={"id": "d-over", "email": "over@example.com"})  # fmt: skip
        assert over.status_code == 507
        assert "limit 2" in over.json()["detail"]


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"INFERTRACE_ACTIVITY_LIMIT": "developers=10, commits=0"}, "activity_limit",
         (("developers", 10), ("commits", 0))),
        ({"INFERTRACE_AGENT_PREFIX": "claude_code,opencode"}, "agent_prefix",
         ("claude_code", "opencode")),
        ({"INFERTRACE_ACTIVITY_ATTRIBUTE": "department=division,geo=region"},
         "activity_attribute", ("department=division", "geo=region")),
        ({"INFERTRACE_ACTIVITY_SNAPSHOT_DIR": "/tmp/snaps"}, "activity_snapshot_dir",
         "/tmp/snaps"),
        ({}, "activity_limit", ()),
    ],
)  # fmt: skip
def test_activity_settings_from_the_environment(
    env: dict[str, str], field: str, expected: object
) -> None:
    assert getattr(Settings.from_env(env), field) == expected


@pytest.mark.parametrize("text", ["developers", "devs=10", "developers=-1", "developers=ten", "=5"])
def test_a_bad_activity_limit_is_named(text: str) -> None:
    with pytest.raises(ConfigError, match="INFERTRACE_ACTIVITY_LIMIT"):
        Settings.from_env({"INFERTRACE_ACTIVITY_LIMIT": text})


def test_limits_reach_the_store_and_a_kind_named_twice_is_refused() -> None:
    settings = Settings.from_env({"INFERTRACE_ACTIVITY_LIMIT": "sessions=3"})
    with ActivityService.open(dict(settings.activity_limit)) as service:
        assert service.store.memory_stats()["session"].limit == 3
        assert service.temporary_dir and service.snapshot_dir.is_dir()
    assert not service.snapshot_dir.exists()
    with pytest.raises(ConfigError, match="twice"):
        Settings(activity_limit=(("sessions", 3), ("sessions", 4)))


def test_serve_with_a_data_dir_keeps_activity_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dev = {"id": "d-keep", "email": "keep@example.com", "team": "infra"}
    sha = "ab" * 20
    commit = {"sha": sha, "developer_id": "d-keep", "repo": "api", "timestamp": T0}
    with ServedProcess("--data-dir", str(data), grace=60) as served:
        assert str(data / "activity") in served.banner
        assert httpx.post(served.url + "/api/activity/developers", json=dev).status_code == 201
        assert httpx.post(served.url + "/api/activity/commits", json=commit).status_code == 201
        snap = httpx.post(served.url + "/api/activity/snapshot", timeout=30)
        assert snap.status_code == 201
        assert (data / "activity" / snap.json()["name"]).is_file()
    with ServedProcess("--data-dir", str(data), grace=60) as again:
        found = httpx.get(f"{again.url}/api/activity/developers/d-keep", timeout=10)
        assert found.status_code == 200
        assert found.json()["team"] == "infra"
        assert httpx.get(f"{again.url}/api/activity/commits/{sha}").status_code == 200
        listed = httpx.get(again.url + "/api/activity/snapshots").json()["snapshots"]
        assert [s["name"] for s in listed] == [snap.json()["name"]]
