"""Model resolution across requests: what each pod serves, and the configured mapping.

The decoder applies the first two rules of
:data:`~infertrace.telemetry.semconv.FROM_SPAN` (the span's attributes, then its
resource's) and notes the spans that carry inference data but still no model (vLLM
V1's ``llm_request`` span names none). :class:`ModelResolver` holds what the other
two rules need, state across requests, and the pipeline calls it before the store
write:

- ``pod``: the models each service instance is known to serve, learned from every
  decoded batch: its spans' models and its metric points' model labels
  (``model_name``, ``model``: ``vllm:num_requests_running{model_name=...}``). An
  instance is the resource's ``service.instance.id``, else
  ``k8s.pod.name``, else ``host.name`` (else the service's telemetry naming none),
  within its ``service.name``. It names a span's model only when exactly one model
  is known for the instance; an instance seen with two is ambiguous until forgotten.
- ``config``: ``infertrace serve --model-for SERVICE=MODEL``.

Knowledge comes in arrival order: a span that arrives before anything of its pod
named a model falls to the mapping, or stays without a model (spans are not
revisited). Bounded: ``capacity`` instances, the least recently taught forgotten
first. Thread-safe: one lock, held for dictionary work only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from operator import methodcaller
from typing import Any

from infertrace.collector.otlp.common import UNKNOWN_SERVICE
from infertrace.model import Attributes
from infertrace.telemetry.batches import MetricBatch, SpanBatch
from infertrace.telemetry.semconv import FROM_CONFIG, FROM_POD, instance_name

METRIC_MODEL_LABELS = ("model_name", "model")
"""Metric labels naming a model: vLLM's and SGLang's ``model_name``, Triton's ``model``.
Both count when a point carries both. Each name costs a pass over the batch's points
(~0.1 µs a point), so the GenAI metrics' ``gen_ai.*.model`` attributes are left to the
spans that come with them."""
_LABEL_GETTERS = tuple(methodcaller("get", name) for name in METRIC_MODEL_LABELS)

_AMBIGUOUS = 2
"""Models known for an instance from which it names none: no need to remember more."""

_MODEL = SpanBatch.schema.names.index("model_name")
_SOURCE = SpanBatch.schema.names.index("model_source")
_SERVICE = SpanBatch.schema.names.index("service_name")
_RESOURCE = SpanBatch.schema.names.index("resource_attributes")

Instance = tuple[str, str]
"""(service name, instance name); the instance is '' when the resource names none."""


def instance_of(resource: Attributes) -> Instance:
    """The instance a resource's attributes describe. O(1)."""
    service = resource.get("service.name")
    if not isinstance(service, str) or not service:
        service = UNKNOWN_SERVICE
    return service, instance_name(resource)


def _usable(model: Any) -> bool:
    return isinstance(model, str) and bool(model) and "\x00" not in model


def _label_models(labels: Sequence[Attributes]) -> set[str]:
    """The models the label maps name, by :data:`METRIC_MODEL_LABELS`: one C-level pass
    per label name (a per-point Python loop cost 1.1 µs a point, this ~0.2)."""
    found: set[Any] = set()
    for get in _LABEL_GETTERS:
        found.update(map(get, labels))
    return {m for m in found if isinstance(m, str) and m}


class ModelResolver:
    """The ``pod`` and ``config`` rules of model resolution; see the module doc.

    ``mapping`` is (service, model) pairs, a later pair for a service winning.
    ``pod_models(service, instance)`` (the registry's ``models_of``) is asked when
    the resolver has learned nothing for an instance, so a pod registered with one
    provider names the model of its spans; it must be cheap and thread-safe.
    """

    def __init__(
        self,
        mapping: Iterable[tuple[str, str]] = (),
        capacity: int = 10_000,
        pod_models: Callable[[str, str], frozenset[str]] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.mapping: dict[str, str] = dict(mapping)
        self._pod_models = pod_models
        self._capacity = capacity
        self._lock = threading.Lock()
        self._known: dict[Instance, frozenset[str]] = {}

    def learn_spans(self, spans: SpanBatch, resources: Sequence[Attributes]) -> None:
        """Remember the models of ``spans`` against their instances.

        O(spans) in C for one resource (the usual request), one Python step per span
        for several.
        """
        models = spans.columns[_MODEL]
        if len(resources) == 1:
            found = set(models)
            found.discard(None)
            if found:
                self._teach({instance_of(resources[0]): found})
            return
        by_id = {id(r): r for r in resources}
        taught: dict[Instance, set[str]] = {}
        for key, model in set(zip(map(id, spans.columns[_RESOURCE]), models, strict=True)):
            if model is not None:
                taught.setdefault(instance_of(by_id[key]), set()).add(model)
        if taught:
            self._teach(taught)

    def learn_metrics(self, points: MetricBatch, resources: Sequence[Attributes]) -> None:
        """Remember the models the labels of ``points`` name against their instances.

        O(points), in C but for one step per run of points of one resource (a
        decoded batch holds one run per resource).
        """
        labels = points.column("attributes")
        owners = points.column("resource_attributes")
        if len(resources) == 1:  # the usual request: one run, no grouping
            found = _label_models(labels)
            if found:
                self._teach({instance_of(resources[0]): found})
            return
        taught: dict[Instance, set[str]] = {}
        start = 0
        for _, run in groupby(map(id, owners)):
            end = start + len(list(run))
            found = _label_models(labels[start:end])
            if found:
                taught.setdefault(instance_of(owners[start]), set()).update(found)
            start = end
        if taught:
            self._teach(taught)

    def _teach(self, taught: dict[Instance, set[str]]) -> None:
        with self._lock:
            known = self._known
            for instance, models in taught.items():
                merged = known.pop(instance, frozenset())
                if len(merged) < _AMBIGUOUS:
                    fresh = sorted(m for m in models if m not in merged and _usable(m))
                    merged = merged.union(fresh[: _AMBIGUOUS - len(merged)])
                if merged:
                    known[instance] = merged  # most recently taught last
            while len(known) > self._capacity:
                del known[next(iter(known))]

    def model_for(self, resource: Attributes, service: str) -> tuple[str, str] | None:
        """(model, source) for a span of ``service`` from ``resource``, or None. O(1)."""
        instance = instance_of(resource)
        with self._lock:
            models = self._known.get(instance)
        if models is None and self._pod_models is not None and instance[1]:
            models = self._pod_models(*instance)
        if models is not None and len(models) == 1:
            return next(iter(models)), FROM_POD
        model = self.mapping.get(service)
        return None if model is None else (model, FROM_CONFIG)

    def resolve(self, spans: SpanBatch, positions: Sequence[int]) -> SpanBatch:
        """``spans`` with the spans at ``positions`` given a model where a rule names one.

        The batch is immutable: a new one shares every column but ``model_name`` and
        ``model_source``. O(len(spans)) to copy those two columns, O(len(positions))
        lookups (one per distinct resource and service).
        """
        columns = spans.columns
        owners, services = columns[_RESOURCE], columns[_SERVICE]
        answers: dict[tuple[int, str], tuple[str, str] | None] = {}
        models: list[Any] | None = None
        sources: list[Any] = []
        for i in positions:
            resource, service = owners[i], services[i]
            key = (id(resource), service)
            if key in answers:
                answer = answers[key]
            else:
                answer = answers[key] = self.model_for(resource, service)
            if answer is None:
                continue
            if models is None:
                models, sources = list(columns[_MODEL]), list(columns[_SOURCE])
            models[i], sources[i] = answer
        if models is None:
            return spans
        new = list(columns)
        new[_MODEL], new[_SOURCE] = tuple(models), tuple(sources)
        return SpanBatch(new, checked=spans.checked)

    def known(self) -> dict[Instance, frozenset[str]]:
        """Every remembered instance and its models (ambiguous ones hold two). O(instances)."""
        with self._lock:
            return dict(self._known)

    def _check(self) -> None:
        with self._lock:
            assert len(self._known) <= self._capacity
            for models in self._known.values():
                assert 1 <= len(models) <= _AMBIGUOUS
                assert all(_usable(m) for m in models)
