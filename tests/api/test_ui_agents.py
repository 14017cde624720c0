"""The web UI's Agents view in headless Chromium, on a server holding activity.

Records are posted over REST; the rendered view must rank first the developer
the test finds first from what it posted, draw the daily charts, show the
date picker's range and ask the API for exactly that range (the server records
the query strings of the activity requests it gets); a range without activity
shows the empty state.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from infertrace.activity.service import ActivityService
from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore
from tests.api.browser import needs_chromium, rendered_dom

DAY_NS = 86_400 * 10**9
TODAY = time.time_ns() // DAY_NS
FIRST = TODAY - 12
"""The records fall on days FIRST .. FIRST + 6 (inside the default last 30 days)."""


def _day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def records() -> dict[str, list[dict[str, Any]]]:
    devs = [{"id": f"d{i}", "email": f"d{i}@example.com", "name": f"Developer {i}",
             "region": ["US", "EU", "APAC"][i % 3], "team": f"team-{i % 2}"}
            for i in range(6)]  # fmt: skip
    changes = []
    for i in range(60):  # developer d(i % 6) on day FIRST + i % 7; more edits for higher ids early
        dev = (i * i) % 6
        changes.append({"id": f"c{i}", "developer_id": f"d{dev}",
                        "timestamp": (FIRST + i % 7) * DAY_NS + i * 10**9,
                        "accepted": i % 3 != 0, "lines_added": 5})  # fmt: skip
    commits = [{"sha": f"{i + 1:040x}", "developer_id": f"d{i % 6}", "repo": "api",
                "timestamp": (FIRST + i % 7) * DAY_NS + 5, "ai_assisted": i % 2 == 0}
               for i in range(20)]  # fmt: skip
    sessions = [{"id": f"s{i}", "developer_id": f"d{i % 4}", "tool": "claude-code",
                 "started_at": (FIRST + i) * DAY_NS, "ended_at": (FIRST + i) * DAY_NS + 60,
                 "cost_usd": 1.5 * (i + 1)} for i in range(5)]  # fmt: skip
    return {"developers": devs, "changes": changes, "commits": commits, "sessions": sessions}


def top_by_edits(data: dict[str, list[dict[str, Any]]], first: int, last: int) -> str:
    """The name of the developer with the most agent edits on days first..last (ties by id)."""
    edits = Counter(c["developer_id"] for c in data["changes"]
                    if first <= c["timestamp"] // DAY_NS <= last)  # fmt: skip
    best = sorted(edits, key=lambda d: (-edits[d], d))[0]
    return str(next(d["name"] for d in data["developers"] if d["id"] == best))


class Seen:
    """Query strings of the activity requests the server got."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, dict[str, list[str]]]] = []

    def install(self, app: FastAPI) -> None:
        install_query_api(app)

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            if request.url.path.startswith("/api/activity/"):
                self.queries.append((request.url.path, parse_qs(request.url.query)))
            response: Response = await call_next(request)
            return response


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Seen, dict[str, list[dict[str, Any]]]]]:
    store = MemoryStore(span_capacity=16)
    service = ActivityService.open()
    seen = Seen()
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), seen.install, activity=service
    )
    endpoints = collector.start()
    data = records()
    try:
        for kind, items in data.items():
            sent = httpx.post(f"{endpoints.http_url}/api/activity/{kind}/batch",
                              json={"records": items})  # fmt: skip
            assert sent.status_code == 200, sent.text
        yield endpoints.http_url, seen, data
    finally:
        collector.stop()
        service.close()
        store.close()


class _View(HTMLParser):
    """Leaderboard names, chart line paths, date inputs, nav links, text."""

    def __init__(self) -> None:
        super().__init__()
        self.leaders: list[str] = []
        self.lines: list[str] = []
        self.inputs: dict[str, str] = {}
        self.nav: list[str] = []
        self.text: list[str] = []
        self._list: str | None = None
        self._name = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "ol" and "agents-leaderboard" in classes:
            self._list = "leaders"
        elif tag == "span" and "lb-name" in classes and self._list == "leaders":
            self._name = True
        elif tag == "path" and "line" in classes:
            self.lines.append(a.get("d", ""))
        elif tag == "input" and a.get("type") == "date":
            self.inputs[a.get("name", "")] = a.get("value", "")
        elif tag == "a" and a.get("data-route"):
            self.nav.append(a.get("href", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "ol":
            self._list = None
        elif tag == "span":
            self._name = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._name:
            self.leaders.append(data.strip())


def view(url: str) -> _View:
    parsed = _View()
    parsed.feed(rendered_dom(url))
    return parsed


def ranges_asked(seen: Seen, since: int) -> set[tuple[str, str]]:
    return {(q["from"][0], q["to"][0]) for _, q in seen.queries[since:] if "from" in q}


@needs_chromium
def test_the_agents_view_shows_the_top_developer_and_the_charts(server: Any) -> None:
    url, seen, data = server
    before = len(seen.queries)
    shown = view(f"{url}/#/agents")
    assert "#/agents" in shown.nav
    assert shown.leaders, "no leaderboard rendered"
    assert shown.leaders[0] == top_by_edits(data, TODAY - 29, TODAY)
    assert len(shown.lines) >= 2 and all(len(d) > 10 for d in shown.lines)
    assert shown.inputs == {"from": _day(TODAY - 29), "to": _day(TODAY)}
    assert ranges_asked(seen, before) == {(_day(TODAY - 29), _day(TODAY))}
    paths = {p for p, _ in seen.queries[before:]}
    assert {"/api/activity/metrics/daily", "/api/activity/leaderboard",
            "/api/activity/stats/teams", "/api/activity/stats/regions"} <= paths  # fmt: skip


@needs_chromium
@pytest.mark.parametrize(("first", "last"), [(FIRST, FIRST + 1), (FIRST + 4, FIRST + 6)])
def test_the_picked_range_is_the_range_requested_and_ranked(
    server: Any, first: int, last: int
) -> None:
    url, seen, data = server
    before = len(seen.queries)
    shown = view(f"{url}/#/agents?from={_day(first)}&to={_day(last)}")
    assert shown.inputs == {"from": _day(first), "to": _day(last)}
    assert ranges_asked(seen, before) == {(_day(first), _day(last))}
    assert shown.leaders[0] == top_by_edits(data, first, last)


@needs_chromium
def test_a_range_without_activity_shows_the_empty_state(server: Any) -> None:
    url, _, _ = server
    shown = view(f"{url}/#/agents?from={_day(FIRST - 40)}&to={_day(FIRST - 35)}")
    assert "No coding-agent activity" in "".join(shown.text)
    assert shown.leaders == []
    assert shown.lines == []
