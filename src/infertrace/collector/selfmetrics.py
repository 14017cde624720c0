"""Prometheus metrics about the collector itself, served at ``/metrics``.

Counters of accepted and rejected items per signal, requests by transport and
outcome, request latency, and the store's size read from ``stats()`` at scrape
time, or, for a store watched in the background (PostgreSQL), from its cached
stats snapshot plus ``infertrace_store_up``: a scrape never waits on a database.
Each collector owns a private registry, so several can live in one process
(tests) and nothing leaks into the global default registry.
Label children are bound once: recording costs a lock and an add, not a label
lookup, on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from infertrace.telemetry.protocols import Maintenance, Monitored, StoreStats

SIGNALS = ("spans", "logs", "metric_points")
TRANSPORTS = ("http", "grpc")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

log = logging.getLogger(__name__)


class _StoreCollector(Collector):
    """Reads ``store.stats()`` at scrape time; a failing store yields no samples."""

    def __init__(self, store: Maintenance) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats: StoreStats | None
        if isinstance(self._store, Monitored):
            health = self._store.health()
            up = GaugeMetricFamily(
                "infertrace_store_up", "1 when the store's database answered its last check"
            )
            up.add_metric([], 1.0 if health.ok else 0.0)
            yield up
            stats = self._store.cached_stats()
            if stats is None:
                return
        else:
            try:
                stats = self._store.stats()
            except Exception:  # a closed or unreachable store must not break /metrics
                log.warning("store stats unavailable for /metrics", exc_info=True)
                return
        records = GaugeMetricFamily("infertrace_store_records", "Records held", labels=["signal"])
        capacity = GaugeMetricFamily(
            "infertrace_store_capacity",
            "Records the store can hold (absent when unbounded, e.g. PostgreSQL)",
            labels=["signal"],
        )
        size = GaugeMetricFamily(
            "infertrace_store_bytes", "Measured bytes of data and indexes", labels=["signal"]
        )
        evicted = CounterMetricFamily(
            "infertrace_store_evicted", "Records evicted by capacity or age", labels=["signal"]
        )
        for name, s in zip(SIGNALS, (stats.spans, stats.logs, stats.metrics), strict=True):
            records.add_metric([name], s.count)
            if s.capacity is not None:  # unbounded (PostgreSQL): no sample rather than 0
                capacity.add_metric([name], s.capacity)
            size.add_metric([name], s.total_bytes)
            evicted.add_metric([name], s.evicted)
        yield from (records, capacity, size, evicted)


class CollectorMetrics:
    """The collector's counters; thread-safe (prometheus_client locks each child)."""

    def __init__(self, store: Maintenance | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        accepted = Counter(
            "infertrace_accepted_items",
            "Spans, log records and metric points stored",
            ["signal"],
            registry=self.registry,
        )
        rejected = Counter(
            "infertrace_rejected_items",
            "Spans, log records and metric points refused as invalid",
            ["signal"],
            registry=self.registry,
        )
        self._requests = Counter(
            "infertrace_requests",
            "OTLP export requests by signal, transport and status code",
            ["signal", "transport", "code"],
            registry=self.registry,
        )
        latency = Histogram(
            "infertrace_request_duration_seconds",
            "Time to receive, decode and store an OTLP export request",
            ["signal", "transport"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._processor_errors = Counter(
            "infertrace_processor_errors",
            "Exceptions raised by pipeline processors (the requests still succeeded)",
            ["processor"],
            registry=self.registry,
        )
        self._accepted = {s: accepted.labels(s) for s in SIGNALS}
        self._rejected = {s: rejected.labels(s) for s in SIGNALS}
        self._latency = {(s, t): latency.labels(s, t) for s in SIGNALS for t in TRANSPORTS}
        for s in SIGNALS:  # export zeros from the start, so rates work from the first scrape
            self._rejected[s].inc(0)
        if store is not None:
            self.registry.register(_StoreCollector(store))

    def items(self, signal: str, accepted: int, rejected: int) -> None:
        """Count the outcome of one request's records."""
        if accepted:
            self._accepted[signal].inc(accepted)
        if rejected:
            self._rejected[signal].inc(rejected)

    def processor_error(self, processor: str) -> None:
        """Count one exception raised by the processor named ``processor``."""
        self._processor_errors.labels(processor).inc()

    def request(self, signal: str, transport: str, code: str, seconds: float) -> None:
        """Count one finished request and its latency."""
        self._requests.labels(signal, transport, code).inc()
        self._latency[(signal, transport)].observe(seconds)
