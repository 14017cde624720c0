"""The demo's vLLM metrics, computed from the request spans the demo has sent.

A pod's metrics must agree with its traces, so they are not drawn at random:
each request span the demo sends (a root SERVER span carrying a model) is
observed once, and a collection turns the running totals into metric points,
per pod and model, with cumulative temporality starting at the demo's start.

Names, labels and histogram bounds are vLLM's, as its Prometheus endpoint
publishes them (vllm/v1/metrics/loggers.py, ``PrometheusStatLogger``: label
names ``model_name`` and ``engine``, ``finished_reason`` on
``vllm:request_success``; bounds from vllm/v1/metrics/buckets.py,
``REQUEST_LATENCY_BUCKETS`` and ``TIME_TO_FIRST_TOKEN_BUCKETS``; finish reasons
from vllm/v1/engine/__init__.py, ``FINISH_REASON_STRINGS``). Counter names
carry the ``_total`` suffix Prometheus exposes them with. Every pod of the
workload reports vLLM's names, the TGI pods too, so the demo has one metric
vocabulary. Two simplifications, both so that totals equal sums over spans:
token counters grow when a request ends (vLLM counts each engine step), and
``vllm:gpu_cache_usage_perc`` is a bounded random walk in [0.02, 0.95], not
derived from anything.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType

from infertrace.model import (
    Attributes,
    HistogramData,
    MetricPoint,
    MetricType,
    Span,
    SpanKind,
    Temporality,
)
from infertrace.workload import pods

REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
"""vLLM's bounds for ``vllm:e2e_request_latency_seconds`` (seconds)."""

TIME_TO_FIRST_TOKEN_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
"""vLLM's bounds for ``vllm:time_to_first_token_seconds`` (seconds)."""

FINISHED_REASONS = ("stop", "error")
"""The ``finished_reason`` series every pod reports from the start (the workload's two)."""

ENGINE = "0"
"""vLLM V1's ``engine`` label: the index of the engine core; the demo's pods have one."""

SUCCESS = "vllm:request_success_total"
E2E = "vllm:e2e_request_latency_seconds"
TTFT = "vllm:time_to_first_token_seconds"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
RUNNING = "vllm:num_requests_running"
CACHE_USAGE = "vllm:gpu_cache_usage_perc"
FINISH_REASONS_KEY = "gen_ai.response.finish_reasons"


def is_request(span: Span) -> bool:
    """A request span: a root span of SERVER kind carrying a model."""
    return not span.parent_span_id and span.kind == SpanKind.SERVER and bool(span.model_name)


def finished_reason(span: Span) -> str:
    """The span's finish reason: its column where the model has one, else the first of
    its ``gen_ai.response.finish_reasons``; ``stop`` when neither says."""
    column = getattr(span, "finish_reason", None)
    if isinstance(column, str) and column:
        return column
    reasons = span.attributes.get(FINISH_REASONS_KEY)
    if isinstance(reasons, tuple) and reasons:
        return str(reasons[0])
    return reasons if isinstance(reasons, str) and reasons else "stop"


def has_first_token(span: Span) -> bool:
    """Whether vLLM would have observed a time to first token: a TTFT and no error."""
    return span.time_to_first_token_nanos is not None and not span.is_error


def _series_key(span: Span) -> tuple[str, str]:
    """(the sending pod's ``service.instance.id``, else its service; the span's model)."""
    instance = span.resource_attributes.get("service.instance.id", span.service_name)
    return str(instance), span.model_name or ""


@dataclass(slots=True)
class _Histogram:
    """An explicit-bounds histogram, cumulative over time (OTLP bucket semantics)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        """Count ``value`` in the bucket ``(bounds[i-1], bounds[i]]``. O(log buckets)."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def data(self) -> HistogramData:
        return HistogramData(
            count=self.count, sum=self.total, bounds=self.bounds, bucket_counts=tuple(self.counts)
        )


@dataclass(slots=True)
class _Series:
    """The running totals of one pod serving one model."""

    service: str
    resource: Attributes
    labels: Attributes
    success: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINISHED_REASONS, 0))
    e2e: _Histogram = field(default_factory=lambda: _Histogram(REQUEST_LATENCY_BUCKETS))
    ttft: _Histogram = field(default_factory=lambda: _Histogram(TIME_TO_FIRST_TOKEN_BUCKETS))
    prompt_tokens: int = 0
    generation_tokens: int = 0
    cache_usage: float = 0.1


class VllmMetrics:
    """Per-pod vLLM metrics of the request spans observed so far, cumulative from ``start_ns``.

    Every pod of :func:`infertrace.workload.pods` reports from the first
    collection on (zeros until its first request ends); a request from a pod or
    model not in that list starts its own series. ``seed`` drives the KV cache
    gauge only. Not thread-safe: one demo loop owns it.
    """

    def __init__(self, start_ns: int, seed: int) -> None:
        self.start_ns = start_ns
        self._rng = random.Random(seed)
        self._series: dict[tuple[str, str], _Series] = {}
        self._success_labels: dict[tuple[str, str], Attributes] = {}
        for pod in pods():
            self._series_for(pod.name, pod.model, pod.service, pod.resource)

    def _series_for(self, instance: str, model: str, service: str, resource: Attributes) -> _Series:
        series = self._series.get((instance, model))
        if series is None:
            labels = MappingProxyType({"model_name": model, "engine": ENGINE})
            series = _Series(service, resource, labels)
            self._series[instance, model] = series
        return series

    def observe(self, span: Span) -> None:
        """Count ``span`` if it is a request (:func:`is_request`); call once per ended span.

        O(log buckets).
        """
        if not is_request(span):
            return
        instance, model = _series_key(span)
        series = self._series_for(instance, model, span.service_name, span.resource_attributes)
        reason = finished_reason(span)
        series.success[reason] = series.success.get(reason, 0) + 1
        series.e2e.observe(span.duration_nanos / 1e9)
        if has_first_token(span):
            series.ttft.observe((span.time_to_first_token_nanos or 0) / 1e9)
        series.prompt_tokens += span.input_tokens or 0
        series.generation_tokens += span.output_tokens or 0

    def collect(self, time_ns: int, in_flight: Iterable[Span]) -> list[MetricPoint]:
        """Every series' points at ``time_ns``.

        ``in_flight`` are the spans generated and not yet observed; a request
        among them that has started by ``time_ns`` and not ended is running.
        O(series + in_flight).
        """
        running: dict[tuple[str, str], int] = {}
        for span in in_flight:
            if is_request(span) and span.start_time_unix_nano <= time_ns < span.end_time_unix_nano:
                key = _series_key(span)
                running[key] = running.get(key, 0) + 1
        out: list[MetricPoint] = []
        for key, series in self._series.items():
            series.cache_usage = min(
                0.95, max(0.02, series.cache_usage + self._rng.uniform(-0.05, 0.05))
            )
            out.extend(self._points(series, time_ns, running.get(key, 0)))
        return out

    def _points(self, s: _Series, time_ns: int, running: int) -> list[MetricPoint]:
        def point(
            name: str,
            kind: MetricType,
            unit: str,
            labels: Attributes,
            value: float | None = None,
            histogram: HistogramData | None = None,
        ) -> MetricPoint:
            return MetricPoint(
                name=name,
                type=kind,
                service_name=s.service,
                time_unix_nano=time_ns,
                value=value,
                unit=unit,
                start_time_unix_nano=0 if kind == MetricType.GAUGE else self.start_ns,
                attributes=labels,
                resource_attributes=s.resource,
                histogram=histogram,
                is_monotonic=kind == MetricType.SUM,
                temporality=(
                    Temporality.UNSPECIFIED if kind == MetricType.GAUGE else Temporality.CUMULATIVE
                ),
            )

        def counter(name: str, value: int, unit: str, labels: Attributes) -> MetricPoint:
            return point(name, MetricType.SUM, unit, labels, value)

        def gauge(name: str, value: float, unit: str) -> MetricPoint:
            return point(name, MetricType.GAUGE, unit, s.labels, value)

        def histogram(name: str, h: _Histogram) -> MetricPoint:
            return point(name, MetricType.HISTOGRAM, "s", s.labels, None, h.data())

        out = [
            counter(SUCCESS, n, "{request}", self._labels_with_reason(s.labels, reason))
            for reason, n in s.success.items()
        ]
        out += [
            histogram(E2E, s.e2e),
            histogram(TTFT, s.ttft),
            counter(PROMPT_TOKENS, s.prompt_tokens, "{token}", s.labels),
            counter(GENERATION_TOKENS, s.generation_tokens, "{token}", s.labels),
            gauge(RUNNING, running, "{request}"),
            gauge(CACHE_USAGE, round(s.cache_usage, 4), "1"),
        ]
        return out

    def _labels_with_reason(self, labels: Attributes, reason: str) -> Attributes:
        key = (str(labels["model_name"]), reason)
        cached = self._success_labels.get(key)
        if cached is None:
            cached = MappingProxyType({**labels, "finished_reason": reason})
            self._success_labels[key] = cached
        return cached


__all__ = [
    "REQUEST_LATENCY_BUCKETS",
    "TIME_TO_FIRST_TOKEN_BUCKETS",
    "VllmMetrics",
    "finished_reason",
    "has_first_token",
    "is_request",
]
