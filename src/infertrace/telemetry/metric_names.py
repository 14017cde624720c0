"""What the metrics of real inference servers mean for per-model analytics.

Each :class:`Source` says which metric answers which :class:`Measure`, with which
statistic, over which series. The names are the producers' own:

- vLLM, ``vllm/v1/metrics/loggers.py`` (PrometheusStatLogger; labels ``model_name``,
  ``engine``): histograms ``vllm:e2e_request_latency_seconds``,
  ``vllm:time_to_first_token_seconds``, ``vllm:time_per_output_token_seconds`` (newer
  releases: ``vllm:inter_token_latency_seconds`` and the per-request
  ``vllm:request_time_per_output_token_seconds``), ``vllm:request_queue_time_seconds``,
  ``vllm:request_decode_time_seconds``; counters ``vllm:prompt_tokens_total``,
  ``vllm:generation_tokens_total``, ``vllm:request_success_total`` (label
  ``finished_reason``, one of ``FINISH_REASON_STRINGS`` in ``vllm/v1/engine/__init__.py``:
  stop, length, abort, error, repetition); gauges ``vllm:num_requests_running``,
  ``vllm:num_requests_waiting``, ``vllm:gpu_cache_usage_perc`` (later
  ``vllm:kv_cache_usage_perc``), fractions of 1.
- SGLang, ``python/sglang/srt/metrics/collector.py`` (label ``model_name``):
  histograms ``sglang:e2e_request_latency_seconds``, ``sglang:time_to_first_token_seconds``,
  ``sglang:time_per_output_token_seconds`` / ``sglang:inter_token_latency_seconds``,
  ``sglang:queue_time_seconds``; counters ``sglang:prompt_tokens_total``,
  ``sglang:generation_tokens_total``, ``sglang:num_requests_total``,
  ``sglang:num_aborted_requests_total``; gauges ``sglang:num_running_reqs``,
  ``sglang:num_queue_reqs``, ``sglang:token_usage`` (KV pool use, a fraction).
- OpenTelemetry GenAI metrics
  (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/): histograms in
  seconds ``gen_ai.server.request.duration``, ``gen_ai.server.time_to_first_token``,
  ``gen_ai.server.time_per_output_token``, ``gen_ai.client.operation.duration``,
  ``gen_ai.client.operation.time_to_first_chunk``,
  ``gen_ai.client.operation.time_per_output_chunk``; a failed operation carries
  ``error.type``; ``gen_ai.client.token.usage`` (histogram of tokens per operation,
  ``gen_ai.token.type`` = ``input`` / ``output``).

Prometheus counters end in ``_total``; over OTLP (a Collector's Prometheus receiver,
or a Prometheus-to-OTLP bridge) the suffix may be kept or dropped, so a counter is
known by its name without it (:func:`sources_of` accepts both).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from infertrace.model import AttributeValue, MetricType


class Measure(enum.StrEnum):
    """What a metric tells about a group's requests."""

    LATENCY = "latency"
    """Distribution of a request's end-to-end time (s)."""
    TTFT = "ttft"
    QUEUE = "queue"
    TPOT = "tpot"
    REQUESTS = "requests"
    """Finished requests."""
    ERRORS = "errors"
    """Finished requests that failed or were aborted."""
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"
    DECODE_SECONDS = "decode_seconds"
    """Total time spent decoding (s): the denominator of output tokens per second."""
    RUNNING = "running"
    WAITING = "waiting"
    KV_CACHE = "kv_cache"


class Stat(enum.StrEnum):
    """Which number of a series a source takes."""

    DISTRIBUTION = "distribution"
    """A histogram's bucket counts increase over the window."""
    COUNT = "count"
    """A histogram's count increase."""
    SUM = "sum"
    """A histogram's sum increase."""
    INCREASE = "increase"
    """A counter's increase."""
    LATEST = "latest"
    """A gauge's latest value."""


_HISTOGRAM_STATS = (Stat.DISTRIBUTION, Stat.COUNT, Stat.SUM)

PRESENT: frozenset[str] = frozenset()
"""A label filter's values meaning "the label is present, whatever its value"."""


@dataclass(frozen=True, slots=True)
class Source:
    """One metric answering one measure.

    ``label`` keeps only the series whose attribute ``label[0]`` is one of
    ``label[1]`` (:data:`PRESENT`: has the attribute at all); None keeps every series.
    """

    name: str
    measure: Measure
    stat: Stat
    label: tuple[str, frozenset[str]] | None = None

    def accepts(self, attributes: Mapping[str, AttributeValue]) -> bool:
        """Whether a series with ``attributes`` counts for this source. O(1)."""
        if self.label is None:
            return True
        key, values = self.label
        value = attributes.get(key)
        if value is None:
            return False
        return not values or (isinstance(value, str) and value in values)

    @property
    def metric_type(self) -> MetricType:
        """The OTLP type a point must have to be read by this source."""
        if self.stat in _HISTOGRAM_STATS:
            return MetricType.HISTOGRAM
        return MetricType.SUM if self.stat is Stat.INCREASE else MetricType.GAUGE


FAILED = frozenset({"abort", "error"})
"""vLLM ``finished_reason`` values counted as errors: ``abort`` ("aborted for another
reason") and ``error`` (a request-level internal error); stop, length and repetition
are normal ends."""

_GENAI_FAILED = ("error.type", PRESENT)
_D, _C, _S, _I, _L = Stat.DISTRIBUTION, Stat.COUNT, Stat.SUM, Stat.INCREASE, Stat.LATEST

SOURCES: dict[Measure, tuple[Source, ...]] = {
    m: tuple(Source(name, m, stat, label) for name, stat, label in rows)
    for m, rows in {
        Measure.LATENCY: (
            ("vllm:e2e_request_latency_seconds", _D, None),
            ("sglang:e2e_request_latency_seconds", _D, None),
            ("gen_ai.server.request.duration", _D, None),
            ("gen_ai.client.operation.duration", _D, None),
        ),
        Measure.TTFT: (
            ("vllm:time_to_first_token_seconds", _D, None),
            ("sglang:time_to_first_token_seconds", _D, None),
            ("gen_ai.server.time_to_first_token", _D, None),
            ("gen_ai.client.operation.time_to_first_chunk", _D, None),
        ),
        Measure.QUEUE: (
            ("vllm:request_queue_time_seconds", _D, None),
            ("sglang:queue_time_seconds", _D, None),
        ),
        Measure.TPOT: (
            ("vllm:request_time_per_output_token_seconds", _D, None),
            ("vllm:time_per_output_token_seconds", _D, None),
            ("vllm:inter_token_latency_seconds", _D, None),
            ("sglang:time_per_output_token_seconds", _D, None),
            ("sglang:inter_token_latency_seconds", _D, None),
            ("gen_ai.server.time_per_output_token", _D, None),
            ("gen_ai.client.operation.time_per_output_chunk", _D, None),
        ),
        Measure.REQUESTS: (
            ("vllm:e2e_request_latency_seconds", _C, None),
            ("sglang:e2e_request_latency_seconds", _C, None),
            ("gen_ai.server.request.duration", _C, None),
            ("gen_ai.client.operation.duration", _C, None),
            ("vllm:request_success", _I, None),
            ("sglang:num_requests", _I, None),
        ),
        Measure.ERRORS: (
            ("vllm:request_success", _I, ("finished_reason", FAILED)),
            ("sglang:num_aborted_requests", _I, None),
            ("gen_ai.server.request.duration", _C, _GENAI_FAILED),
            ("gen_ai.client.operation.duration", _C, _GENAI_FAILED),
        ),
        Measure.INPUT_TOKENS: (
            ("vllm:prompt_tokens", _I, None),
            ("sglang:prompt_tokens", _I, None),
            ("gen_ai.client.token.usage", _S, ("gen_ai.token.type", frozenset({"input"}))),
        ),
        Measure.OUTPUT_TOKENS: (
            ("vllm:generation_tokens", _I, None),
            ("sglang:generation_tokens", _I, None),
            ("gen_ai.client.token.usage", _S, ("gen_ai.token.type", frozenset({"output"}))),
        ),
        Measure.DECODE_SECONDS: (("vllm:request_decode_time_seconds", _S, None),),
        Measure.RUNNING: (
            ("vllm:num_requests_running", _L, None),
            ("sglang:num_running_reqs", _L, None),
        ),
        Measure.WAITING: (
            ("vllm:num_requests_waiting", _L, None),
            ("sglang:num_queue_reqs", _L, None),
        ),
        Measure.KV_CACHE: (
            ("vllm:kv_cache_usage_perc", _L, None),
            ("vllm:gpu_cache_usage_perc", _L, None),
            ("sglang:token_usage", _L, None),
        ),
    }.items()
}
"""Per measure, its sources in the order they are tried: a group's measure comes from
the first source with a series in the group (so a producer's old and new names for
one thing, both exported, are never added together)."""

BY_NAME: dict[str, tuple[Source, ...]] = {}
for _sources in SOURCES.values():
    for _s in _sources:
        BY_NAME[_s.name] = (*BY_NAME.get(_s.name, ()), _s)


def sources_of(name: str, mtype: MetricType) -> tuple[Source, ...]:
    """The sources a series named ``name`` of type ``mtype`` feeds; a counter's name
    is accepted with or without Prometheus's ``_total`` suffix. O(1)."""
    found = BY_NAME.get(name)
    if found is None and mtype is MetricType.SUM and name.endswith("_total"):
        found = BY_NAME.get(name[: -len("_total")])
    if found is None:
        return ()
    return tuple(s for s in found if s.metric_type is mtype)


def stored_names(names: list[str]) -> list[str]:
    """Of the stored metric names, those some source reads (either counter spelling)."""
    return [
        n
        for n in names
        if n in BY_NAME or (n.endswith("_total") and n[: -len("_total")] in BY_NAME)
    ]


UNIT_NANOS: dict[str, float] = {"": 1e9, "s": 1e9, "ms": 1e6, "us": 1e3, "\u00b5s": 1e3, "ns": 1.0}
"""Nanoseconds per unit of a timing histogram; no unit means seconds (the producers'
names end in ``_seconds``, and Prometheus carries no unit field)."""


__all__ = [
    "BY_NAME",
    "FAILED",
    "PRESENT",
    "SOURCES",
    "UNIT_NANOS",
    "Measure",
    "Source",
    "Stat",
    "sources_of",
    "stored_names",
]
