"""The pod registry's samples on ``/metrics``: its counters and its pods per status.

Read at scrape time from the :class:`~infertrace.registry.service.RegistryService`:
``infertrace_registry_<name>_total`` for each of its counters (notifications
delivered, failed, dropped and retried, health checks, events published) and
``infertrace_registry_pods{status=...}``, with every status present (0 when
none), so a dashboard can graph a status before the first pod enters it.
A failing registry (its database down) yields no samples rather than breaking
the scrape.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from infertrace.registry import ServiceStatus
from infertrace.registry.service import RegistryService

PREFIX = "infertrace_registry_"

log = logging.getLogger(__name__)


def metric_name(counter: str) -> str:
    """The Prometheus name of a registry counter: prefixed, other characters as ``_``."""
    return PREFIX + re.sub(r"[^a-zA-Z0-9_]", "_", counter)


class RegistryCollector(Collector):
    """Yields the registry's samples on each scrape. O(pods) per scrape."""

    def __init__(self, service: RegistryService) -> None:
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            counters = dict(self._service.counters())
            statuses = Counter(info.status for info in self._service.pods())
        except Exception:  # a closed or unreachable registry must not break /metrics
            log.warning("registry samples unavailable for /metrics", exc_info=True)
            return
        for name, value in sorted(counters.items()):
            family = CounterMetricFamily(metric_name(name), f"Registry: {name.replace('_', ' ')}")
            family.add_metric([], value)
            yield family
        pods = GaugeMetricFamily(PREFIX + "pods", "Registered pods by status", labels=["status"])
        for status in ServiceStatus:
            pods.add_metric([status.value], statuses.get(status, 0))
        yield pods
