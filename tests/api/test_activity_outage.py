"""The activity routes keep answering while the telemetry store is known down.

The query API fails fast (503 + Retry-After) while a background-watched store
(PostgreSQL) is down; the activity database lives in memory beside it, so its
routes must not be refused with it. A memory store that reports itself down
stands in for the database outage.
"""

from __future__ import annotations

import httpx

from infertrace.activity.service import ActivityService
from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.protocols import Health, Monitored, StoreStats


class DownStore(MemoryStore):
    """A memory store whose background health check says the database is down."""

    def health(self) -> Health:
        return Health(False, "connection refused", 1.0)

    def cached_stats(self) -> StoreStats | None:
        return None


def test_activity_routes_answer_while_the_telemetry_store_is_down() -> None:
    store = DownStore(span_capacity=16)
    assert isinstance(store, Monitored)
    service = ActivityService.open()
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, activity=service
    )
    endpoints = collector.start()
    try:
        with httpx.Client(base_url=endpoints.http_url, timeout=10) as client:
            refused = client.get("/api/spans")
            assert refused.status_code == 503
            assert "connection refused" in refused.json()["detail"]
            made = client.post("/api/activity/developers",
                               json={"id": "d1", "email": "d1@example.com"})  # fmt: skip
            assert made.status_code == 201
            listed = client.get("/api/activity/developers").json()
            assert [d["id"] for d in listed["items"]] == ["d1"]
    finally:
        collector.stop()
        service.close()
        store.close()
