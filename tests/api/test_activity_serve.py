"""``infertrace serve`` wires the activity database: options, env, feed, limits, banner.

A real server process (:class:`~infertrace.testing.ServedProcess`) gets coding-agent
metrics under a configured prefix over OTLP/HTTP and must show the developer they
name, with the division its resource attribute mapping gives; its developer limit
answers 507 over REST. The shapes are Claude Code's (tests/activity/agent_shapes.py
cites https://code.claude.com/docs/en/monitoring-usage).
"""

from __future__ import annotations

import time

import httpx

from infertrace.activity.identity import developer_id_for
from infertrace.collector.otlp.encode import encode_metrics
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
