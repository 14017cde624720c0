"""A real server with an activity database, shared by the activity API tests.

:func:`serving` starts a collector (query API installed, an
:class:`~infertrace.activity.service.ActivityService` on ``app.state.activity``)
on free ports and yields an httpx client bound to it; ``post_batch`` and
``day_ns`` keep the tests' record-making short.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from infertrace.activity.records import DAY_NS
from infertrace.activity.service import ActivityService
from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore

DAY0 = 20_400
"""A UTC day number (2025-11-08) the tests put their records on."""


def day_ns(day: int, seconds: int = 0) -> int:
    """Unix ns of ``seconds`` into UTC day ``day``."""
    return day * DAY_NS + seconds * 1_000_000_000


@dataclass
class Server:
    client: httpx.Client
    service: ActivityService
    url: str

    def batch(self, kind: str, records: list[dict[str, Any]], on_conflict: str = "error") -> Any:
        response = self.client.post(
            f"/api/activity/{kind}/batch",
            params={"on_conflict": on_conflict},
            json={"records": records},
        )
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def serving(limits: Mapping[str, int] | None = None, **settings: Any) -> Iterator[Server]:
    """A server with an empty activity database (``limits`` per plural kind)."""
    store = MemoryStore(span_capacity=16)
    service = ActivityService.open(limits)
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0, **settings), install_query_api, activity=service
    )
    endpoints = collector.start()
    try:
        with httpx.Client(base_url=endpoints.http_url, timeout=30) as client:
            yield Server(client, service, endpoints.http_url)
    finally:
        collector.stop()
        service.close()
        store.close()
