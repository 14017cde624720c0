"""A processor remembering who sent telemetry and which models served, and when.

:class:`SeenProcessor` keeps, per producing instance (service name, plus the
instance named as :func:`~infertrace.collector.models.instance_of` names it), the
last time it sent a batch and how many spans, log records and metric points
it sent; and per model (a span's lifted ``model_name``) the last time a span
of it was stored and how many. It is the seed of the pod registry (DESIGN.md
§5), which will replace it, and proves the processor shape end to end.

Cost: O(resources) per batch for instances, plus O(spans) for models (a set of
the batch's model names: one hash per span). Both tables are bounded: past
``capacity`` entries the least recently seen one is forgotten. Thread-safe:
one lock, never held while calling out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infertrace.collector.models import instance_of
from infertrace.collector.processors import BaseProcessor
from infertrace.model import Attributes, LogRecord, MetricPoint, Span


@dataclass(frozen=True, slots=True)
class SeenInstance:
    """One producing instance: ``instance`` is '' when the resource names none."""

    service_name: str
    instance: str
    last_seen_unix_nano: int
    spans: int
    logs: int
    metric_points: int


@dataclass(frozen=True, slots=True)
class SeenModel:
    """One model: when a span of it was last stored, and how many were."""

    model_name: str
    last_seen_unix_nano: int
    spans: int


class SeenProcessor(BaseProcessor):
    """Last-seen times and counts per instance and per model; see the module doc."""

    def __init__(self, capacity: int = 10_000, clock: Callable[[], int] = time.time_ns) -> None:
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._instances: dict[tuple[str, str], SeenInstance] = {}
        self._models: dict[str, SeenModel] = {}

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        """Count ``spans`` against their instances and models. O(resources + spans)."""
        now = self._clock()
        per_resource = self._per_resource(spans, resources)
        models: dict[str, int] = {}
        for span in spans:
            name = span.model_name
            if name is not None:
                models[name] = models.get(name, 0) + 1
        with self._lock:
            for key, n in per_resource.items():
                self._touch(key, now, spans=n)
            table = self._models
            for name, n in models.items():
                old = table.pop(name, None)
                table[name] = SeenModel(name, now, n + (old.spans if old else 0))
            while len(table) > self._capacity:
                del table[next(iter(table))]

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        """Count ``records`` against their instances. O(resources), O(records) if several."""
        now = self._clock()
        per_resource = self._per_resource(records, resources)
        with self._lock:
            for key, n in per_resource.items():
                self._touch(key, now, logs=n)

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        """Count ``points`` against their instances. O(resources), O(points) if several."""
        now = self._clock()
        per_resource = self._per_resource(points, resources)
        with self._lock:
            for key, n in per_resource.items():
                self._touch(key, now, metric_points=n)

    @staticmethod
    def _per_resource(
        records: Sequence[Span | LogRecord | MetricPoint], resources: Sequence[Attributes]
    ) -> dict[tuple[str, str], int]:
        """Records per instance; one resource (the usual request) needs no pass over them."""
        if len(resources) == 1:
            return {instance_of(resources[0]): len(records)}
        counts: dict[tuple[str, str], int] = {}
        by_map: dict[int, tuple[str, str]] = {}
        for record in records:
            attrs = record.resource_attributes
            key = by_map.get(id(attrs))
            if key is None:
                key = by_map[id(attrs)] = instance_of(attrs)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _touch(
        self, key: tuple[str, str], now: int, spans: int = 0, logs: int = 0, metric_points: int = 0
    ) -> None:
        """Update one instance (caller holds the lock); most recent last, oldest dropped."""
        table = self._instances
        old = table.pop(key, None)
        if old is not None:
            spans += old.spans
            logs += old.logs
            metric_points += old.metric_points
        table[key] = SeenInstance(key[0], key[1], now, spans, logs, metric_points)
        while len(table) > self._capacity:
            del table[next(iter(table))]

    def instances(self) -> list[SeenInstance]:
        """Every remembered instance, most recently seen first. O(instances)."""
        with self._lock:
            return list(reversed(self._instances.values()))

    def models(self) -> list[SeenModel]:
        """Every remembered model, most recently seen first. O(models)."""
        with self._lock:
            return list(reversed(self._models.values()))
