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

Cost: a batch from one resource (the usual OTLP request) is read column-wise in
C: ``set()`` of the model column, ``count()`` of the status column, O(spans)
but no per-span Python step; several resources take one Python step per record.
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
"""id(resource) -> [resource, providers set, spans, errors]."""


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


def _column(records: Sequence[Any], name: str) -> Sequence[Any]:
    """One field of every record: the batch's own column, or read off the records."""
    if isinstance(records, ColumnBatch):
        return records.column(name)
    return [getattr(r, name) for r in records]


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
        owners = _column(spans, "resource_attributes")
        for owner, model, status in zip(owners, models, statuses, strict=True):
            entry = counts.get(id(owner))
            if entry is None:
                entry = counts[id(owner)] = [owner, set(), 0, 0]
            if model is not None:
                entry[1].add(model)
            entry[2] += 1
            if status == _ERROR:
                entry[3] += 1
        for owner, found, n, errors in counts.values():
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
            self._observe(resources[0], _labelled_models(labels), 0, 0)
            return
        per_owner: dict[int, tuple[Attributes, list[Attributes]]] = {}
        for owner, attrs in zip(_column(points, "resource_attributes"), labels, strict=True):
            entry = per_owner.get(id(owner))
            if entry is None:
                entry = per_owner[id(owner)] = (owner, [])
            entry[1].append(attrs)
        for owner, owned in per_owner.values():
            self._observe(owner, _labelled_models(owned), 0, 0)

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
