"""Per-model analytics: the records and the protocol every store implements.

Analytics count *requests*. A request is a span that carries a model
(``model_name`` set) and whose parent is not a span of the same service carrying
the same model. Instrumentations repeat the model on a request's child spans
(the OpenTelemetry GenAI conventions put ``gen_ai.request.model`` on them), and
those children are parts of the request, not requests of their own; a child
with another model, or in another service (a gateway calling a model server),
is a request. The parent is looked up among every stored span, whatever the
window; a parent no longer stored (evicted, purged, or never received) does not
count, so its child is then a request. ``SpanScope.ALL`` asks about every span
that carries a model instead. Percentiles use linear interpolation between
closest ranks (numpy's default ``linear`` method, PostgreSQL's
``percentile_cont``), so every backend gives the same figures.

The inference timings, per request (every store computes them so):

- A request's *time* is its end-to-end time (``e2e_time_nanos``) when the server
  reports one, else the span's duration.
- Its *decode time* is ``decode_time_nanos`` when known; else, when TTFT is
  known, its time less TTFT (at least 0); else its whole time.
- Its *time per output token* (TPOT), when it has more than one output token and
  its decode time or its TTFT is known: decode time / (output tokens - 1), the
  gap between consecutive tokens after the first (vLLM's and the GenAI
  conventions' definition). Otherwise it has none.

Queue time, TTFT and TPOT percentiles are over the requests that have the value
(None when none has). Output tokens per second is the sum of output tokens over
the sum of decode time, over the requests that report output tokens (None when
that time is 0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from infertrace.telemetry.filters import TimeBound


class GroupBy(enum.StrEnum):
    """What analytics rows are keyed by."""

    MODEL = "model"
    SERVICE = "service"
    OPERATION = "operation"
    POD = "pod"


class SpanScope(enum.StrEnum):
    """Which spans with a model analytics look at."""

    REQUESTS = "requests"
    """Requests only: spans whose parent is not a span of the same service and model."""
    ALL = "all"
    """Every span that carries a model."""


class SeriesMetric(enum.StrEnum):
    """What a time series or a leaderboard measures."""

    REQUESTS = "requests"
    ERRORS = "errors"
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    TOKENS_OUT = "tokens_out"
    TOKENS_PER_SECOND = "tokens_per_second"
    QUEUE_P50 = "queue_p50"
    QUEUE_P95 = "queue_p95"
    TTFT_P50 = "ttft_p50"
    TTFT_P95 = "ttft_p95"
    TPOT_P50 = "tpot_p50"
    TPOT_P95 = "tpot_p95"


QUANTILES: dict[SeriesMetric, tuple[str, int]] = {
    SeriesMetric.LATENCY_P50: ("latency", 50),
    SeriesMetric.LATENCY_P95: ("latency", 95),
    SeriesMetric.LATENCY_P99: ("latency", 99),
    SeriesMetric.QUEUE_P50: ("queue", 50),
    SeriesMetric.QUEUE_P95: ("queue", 95),
    SeriesMetric.TTFT_P50: ("ttft", 50),
    SeriesMetric.TTFT_P95: ("ttft", 95),
    SeriesMetric.TPOT_P50: ("tpot", 50),
    SeriesMetric.TPOT_P95: ("tpot", 95),
}
"""The percentile metrics: what each is a percentile of (a request's duration, queue
time, TTFT or TPOT) and which percentile."""

POD_ATTRIBUTES = ("k8s.pod.name", "service.instance.id", "host.name")
"""Resource attributes that name a pod, in the order they are tried."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Aggregates of the requests (or model spans, by :class:`SpanScope`) of one group."""

    key: str
    requests: int
    errors: int
    error_rate: float
    latency_p50_ns: float
    latency_p90_ns: float
    latency_p95_ns: float
    latency_p99_ns: float
    latency_max_ns: int
    queue_p50_ns: float | None
    queue_p95_ns: float | None
    ttft_p50_ns: float | None
    ttft_p95_ns: float | None
    tpot_p50_ns: float | None
    tpot_p95_ns: float | None
    input_tokens: int
    output_tokens: int
    output_tokens_per_second: float | None
    mean_batch_size: float | None
    mean_gpu_utilization: float | None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One bucket of a time series: ``[bucket_start, bucket_start + step)``."""

    bucket_start_unix_nano: int
    value: float | None


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One model's place on a leaderboard."""

    model_name: str
    value: float


@runtime_checkable
class AnalyticsStore(Protocol):
    """Analytics over requests (or every model span), computed where the data lives."""

    def model_analytics(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        group_by: GroupBy = GroupBy.MODEL,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[GroupStats]: ...

    def timeseries(
        self,
        metric: SeriesMetric,
        step_ns: int,
        since: TimeBound = None,
        until: TimeBound = None,
        model_name: str | None = None,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[SeriesPoint]: ...

    def leaderboard(
        self,
        by: SeriesMetric,
        since: TimeBound = None,
        until: TimeBound = None,
        limit: int = 10,
        spans: SpanScope = SpanScope.REQUESTS,
    ) -> list[LeaderboardEntry]: ...
