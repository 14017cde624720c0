"""The ``infertrace_shed`` counter: connections and calls closed to protect the collector.

Registered on the collector's own Prometheus registry (served at ``/metrics``
with :mod:`infertrace.collector.selfmetrics`) by the connection guard and the
gRPC call gate. Every label pair is exported from the start, at zero.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

SHED_REASONS = {
    "http": ("refused", "evicted", "receive_timeout"),
    "grpc": ("receive_timeout", "evicted", "busy"),
}
"""Why an HTTP connection or a gRPC call was ended: ``refused`` (over the cap, none
idle), ``evicted`` (the oldest idle connection, slowest body or stalled call, to make room),
``receive_timeout`` (HTTP headers or body, or the gRPC message, too slow), ``busy``
(in-flight limit)."""


class ShedCounter:
    """``infertrace_shed`` on one registry; :meth:`http` and :meth:`grpc` count one each.

    O(1) per call (children bound once), thread-safe (prometheus_client locks).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        counter = Counter(
            "infertrace_shed",
            "HTTP connections and gRPC calls the collector closed or refused to protect "
            "itself: over the connection cap, idle or stalled too long, or busy",
            ["transport", "reason"],
            registry=registry,
        )
        self._children = {
            (t, r): counter.labels(t, r) for t, reasons in SHED_REASONS.items() for r in reasons
        }
        for child in self._children.values():
            child.inc(0)

    def http(self, reason: str) -> None:
        """Count one HTTP connection closed or refused for ``reason``."""
        self._children[("http", reason)].inc()

    def grpc(self, reason: str) -> None:
        """Count one gRPC call ended for ``reason``."""
        self._children[("grpc", reason)].inc()
