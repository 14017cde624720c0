"""Shared test helpers for the collector: stores, requests, a running server."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector, Endpoints
from infertrace.config import Settings
from infertrace.errors import StoreOverloaded
from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.protocols import StoreStats

SCOPE_KEYS = ("otel.scope.name", "otel.scope.version")


def without_scope(span: Span) -> dict[str, Any]:
    """A span's fields with plain-dict attributes and the scope attributes removed."""
    fields = {name: getattr(span, name) for name in Span.__dataclass_fields__}
    fields["attributes"] = {k: v for k, v in span.attributes.items() if k not in SCOPE_KEYS}
    fields["resource_attributes"] = dict(span.resource_attributes)
    fields["events"] = [(e.name, e.time_unix_nano, dict(e.attributes)) for e in span.events]
    return fields


def big_store() -> MemoryStore:
    return MemoryStore(span_capacity=100_000, log_capacity=100_000, metric_capacity=100_000)


@contextmanager
def running(store: Any, **settings: Any) -> Iterator[Endpoints]:
    """A real server (OTLP/HTTP + gRPC, query API) on free 127.0.0.1 ports over ``store``."""
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0, **settings), install_query_api
    )
    endpoints = collector.start()
    try:
        yield endpoints
    finally:
        collector.stop()


class OverloadedStore(MemoryStore):
    """A store whose writes all fail with StoreOverloaded (a full write queue)."""

    def __init__(self, retry_after: float = 2.5) -> None:
        super().__init__()
        self.retry_after = retry_after

    def _overloaded(self) -> None:
        raise StoreOverloaded("write queue is full (test double)", self.retry_after)

    def write_batch(self, spans: Sequence[Span]) -> None:
        self._overloaded()

    def write_logs(self, records: Sequence[LogRecord]) -> None:
        self._overloaded()

    def write_metrics(self, points: Sequence[MetricPoint]) -> None:
        self._overloaded()

    def stats(self) -> StoreStats:
        return super().stats()
