"""Per-model analytics: the records and the protocol every store implements.

Analytics look at *model spans*: spans whose ``model_name`` is set (the request
span an inference server emits). Percentiles use linear interpolation between
closest ranks (numpy's default ``linear`` method, PostgreSQL's
``percentile_cont``), so every backend gives the same figures.
Tokens per second is the sum of output tokens over the sum of decode time, where
decode time is ``duration - time_to_first_token`` when TTFT is known and the
whole duration otherwise.
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


class SeriesMetric(enum.StrEnum):
    """What a time series or a leaderboard measures."""

    REQUESTS = "requests"
    ERRORS = "errors"
    LATENCY_P50 = "latency_p50"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    TOKENS_OUT = "tokens_out"
    TOKENS_PER_SECOND = "tokens_per_second"


POD_ATTRIBUTES = ("k8s.pod.name", "service.instance.id", "host.name")
"""Resource attributes that name a pod, in the order they are tried."""


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Aggregates of the model spans of one group."""

    key: str
    requests: int
    errors: int
    error_rate: float
    latency_p50_ns: float
    latency_p90_ns: float
    latency_p95_ns: float
    latency_p99_ns: float
    latency_max_ns: int
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
    """Analytics over model spans, computed where the data lives."""

    def model_analytics(
        self, since: TimeBound = None, until: TimeBound = None, group_by: GroupBy = GroupBy.MODEL
    ) -> list[GroupStats]: ...

    def timeseries(
        self,
        metric: SeriesMetric,
        step_ns: int,
        since: TimeBound = None,
        until: TimeBound = None,
        model_name: str | None = None,
    ) -> list[SeriesPoint]: ...

    def leaderboard(
        self,
        by: SeriesMetric,
        since: TimeBound = None,
        until: TimeBound = None,
        limit: int = 10,
    ) -> list[LeaderboardEntry]: ...
