"""RegistryProcessor: the pipeline processor that keeps the pod registry current.

Structurally a collector ``Processor`` (``on_spans``, ``on_logs``,
``on_metrics``, ``shutdown``), without importing the collector (layers). For
each stored batch, once per distinct resource, it tells the
:class:`~infertrace.registry.service.RegistryService` that the pod is alive:

- the pod: ``service.name`` + the instance rule of
  :func:`~infertrace.telemetry.semconv.instance_name`; a resource naming no
  instance (or a name holding ':') is not a pod the registry can key, and is
  only counted (``telemetry_unnamed``);
- its address: ``server.address``, else the first of ``host.ip``;
- providers: the spans' ``model_name`` and the metric points' model labels
  (:data:`~infertrace.telemetry.semconv.METRIC_MODEL_LABELS`);
- spans and error spans, for the error-rate window.

Cost: O(records) but no per-record Python step: the model and status columns are
read in C (``set()``, ``count()``), over the whole batch for one resource (an SDK
exporter's request) or per run of records sharing a resource for several (a
decoded batch holds one run per resource, found by binary search). Metric labels
cost ~0.5 µs a point to read (a lookup per model label name), so at most
:data:`LABEL_SAMPLE` points of a resource are read per batch, evenly spaced from an
offset that turns with every batch: every point position is read within a few
batches, and a pod's models (named on every series by vLLM) are learned at once.
Column batches are read without building records; plain lists of records work too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import methodcaller
from typing import Any

from infertrace.model import Attributes, LogRecord, MetricPoint, Span, StatusCode
from infertrace.registry.service import RegistryService
from infertrace.telemetry.batches import ColumnBatch
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS, instance_name

_ERROR = StatusCode.ERROR
_Counts = dict[int, list[Any]]
"""id(resource) -> [resource, models set, spans, errors]."""


def _address(resource: Attributes) -> str:
    value = resource.get("server.address")
    if isinstance(value, str) and value:
        return value
    ips = resource.get("host.ip")
    if isinstance(ips, str):
        return ips
    if isinstance(ips, list | tuple) and ips and isinstance(ips[0], str):
        return ips[0]
    return ""


def _runs(owners: Sequence[Attributes]) -> list[tuple[Attributes, int, int]]:
    """(resource, start, end) of each run of consecutive records sharing a resource map.

    A decoded batch holds one run per resource, so each run's end is found by a
    binary search that assumes it, then checked in C (``count`` over the run); a
    batch that breaks the assumption falls back to a step per record for that run.
    O(runs x log(records)) plus a C pass, for a decoded batch.
    """
    runs = []
    n = len(owners)
    start = 0
    while start < n:
        owner = owners[start]
        lo, hi = start + 1, n  # owners[lo - 1] is owner; find the first that is not
        while lo < hi:
            mid = (lo + hi) // 2
            if owners[mid] is owner:
                lo = mid + 1
            else:
                hi = mid
        if owners[start:lo].count(owner) != lo - start:  # not one run: walk it
            lo = start + 1
            while lo < n and owners[lo] is owner:
                lo += 1
        runs.append((owner, start, lo))
        start = lo
    return runs


def _column(records: Sequence[Any], name: str) -> Sequence[Any]:
    """One field of every record: the batch's own column, or read off the records."""
    if isinstance(records, ColumnBatch):
        return records.column(name)
    return [getattr(r, name) for r in records]


LABEL_SAMPLE = 16
"""Points of one resource whose labels are read per metric batch (see the module doc)."""

_LABEL_GETTERS = tuple(methodcaller("get", name) for name in METRIC_MODEL_LABELS)


def _labelled_models(labels: Sequence[Attributes]) -> set[Any]:
    """The values of the model labels: one C-level pass per label name, no per-point step."""
    found: set[Any] = set()
    for get in _LABEL_GETTERS:
        found.update(map(get, labels))
    return found


class RegistryProcessor:
    """Upserts the pods of every stored batch into ``service``; see the module docstring.

    Thread-safe (the service is); never raises for telemetry it cannot key.
    """

    def __init__(self, service: RegistryService) -> None:
        self.service = service
        self._turn = 0

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        """Count the batch's spans and errors and learn its models, per pod. O(spans)."""
        if not spans:
            return
        models = _column(spans, "model_name")
        statuses = _column(spans, "status_code")
        if len(resources) == 1:
            found = set(models)
            found.discard(None)
            self._observe(resources[0], found, len(spans), statuses.count(_ERROR))
            return
        counts: _Counts = {}
        for owner, start, end in _runs(_column(spans, "resource_attributes")):
            entry = counts.get(id(owner))
            if entry is None:
                entry = counts[id(owner)] = [owner, set(), 0, 0]
            entry[1].update(models[start:end])
            entry[2] += end - start
            entry[3] += statuses[start:end].count(_ERROR)
        for owner, found, n, errors in counts.values():
            found.discard(None)
            self._observe(owner, found, n, errors)

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        """The pods of the batch are alive. O(resources)."""
        for resource in resources:
            self._observe(resource, (), 0, 0)

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        """The pods of the batch are alive and serve the models their labels name. O(points)."""
        if not points:
            return
        labels = _column(points, "attributes")
        if len(resources) == 1:
            self._observe(resources[0], self._sampled(labels, 0, len(labels)), 0, 0)
            return
        found: dict[int, tuple[Attributes, set[Any]]] = {}
        for owner, start, end in _runs(_column(points, "resource_attributes")):
            entry = found.get(id(owner))
            if entry is None:
                entry = found[id(owner)] = (owner, set())
            entry[1].update(self._sampled(labels, start, end))
        for owner, models in found.values():
            self._observe(owner, models, 0, 0)

    def _sampled(self, labels: Sequence[Attributes], start: int, end: int) -> set[Any]:
        """The models the labels of at most LABEL_SAMPLE points of [start, end) name."""
        n = end - start
        if n <= LABEL_SAMPLE:
            return _labelled_models(labels[start:end])
        step = -(-n // LABEL_SAMPLE)
        self._turn += 1  # a lost increment under a race only repeats an offset
        return _labelled_models(labels[start + self._turn % step : end : step])

    def shutdown(self) -> None:
        """Nothing to release: the service outlives the collector's pipeline."""

    def _observe(
        self, resource: Attributes, models: Iterable[Any], spans: int, errors: int
    ) -> None:
        service = resource.get("service.name")
        pod = instance_name(resource)
        if not (isinstance(service, str) and service and pod) or ":" in service or ":" in pod:
            self.service.count("telemetry_unnamed")
            return
        usable = [m for m in models if isinstance(m, str) and m]
        self.service.observe(
            service, pod, address=_address(resource), providers=usable, spans=spans, errors=errors
        )
