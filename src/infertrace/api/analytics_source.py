"""Where analytics rows come from: spans, metrics, or each group's best (``source``).

``auto`` (the default) answers a group from its spans when it has requests from
spans in the window, else from its metrics; every row says which in ``source``.
Rows from metrics have the span rows' fields (null where metrics cannot say: the
latency maximum, batch size, GPU use) plus ``request_rate``, ``output_token_rate``
and the gauges ``running_requests``, ``waiting_requests``, ``kv_cache_usage``; a span
row carries the gauges too when its group's metrics have them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from infertrace.api.params import BadParameter
from infertrace.api.serialize import group_json
from infertrace.errors import InvalidFilter
from infertrace.telemetry.analytics import (
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
)
from infertrace.telemetry.metric_analytics import MetricGroupStats, metric_analytics
from infertrace.telemetry.protocols import MetricStore


class AnalyticsSource(enum.StrEnum):
    """What analytics rows are computed from."""

    SPANS = "spans"
    METRICS = "metrics"
    AUTO = "auto"


SOURCE_DOC = (
    "What rows are computed from. `spans`: requests (spans with a model). `metrics`: the "
    "metrics vLLM, SGLang and GenAI-instrumented apps export (end-to-end latency, TTFT, "
    "TPOT and queue-time histograms; token and request counters; running/waiting requests "
    "and KV-cache gauges): counts are increases over the window (resets and delta "
    "temporality handled), percentiles interpolate linearly within histogram buckets as "
    "Prometheus's histogram_quantile does. `auto` (default): spans for a group with "
    "requests from spans in the window, else metrics. Each row's `source` says which; "
    "`group_by=operation` has no metrics rows (422 with `source=metrics`). The README's "
    "'Analytics from metrics' section names every metric and rule."
)
"""The ``source`` parameter's description in the OpenAPI document."""

GAUGES = ("running_requests", "waiting_requests", "kv_cache_usage")
_METRIC_ONLY = ("request_rate", "output_token_rate", *GAUGES)
_SPAN_ONLY = ("latency_max_ns", "mean_batch_size", "mean_gpu_utilization")
_MS = ("latency_p50", "latency_p90", "latency_p95", "latency_p99", "latency_max",
       "queue_p50", "queue_p95", "ttft_p50", "ttft_p95", "tpot_p50", "tpot_p95")  # fmt: skip


def metric_row_json(row: MetricGroupStats) -> dict[str, Any]:
    """A row from metrics, with the span rows' fields (null where unknown)."""
    out: dict[str, Any] = dataclasses.asdict(row)
    out["metric_names"] = list(row.metric_names)
    out.update(dict.fromkeys(_SPAN_ONLY))
    for name in _MS:
        ns = out[f"{name}_ns"]
        out[f"{name}_ms"] = None if ns is None else ns / 1e6
    out["source"] = AnalyticsSource.METRICS.value
    return out


def span_row_json(row: GroupStats, metrics: MetricGroupStats | None) -> dict[str, Any]:
    """A row from spans, with its group's gauges from metrics when known."""
    out = group_json(row)
    out.update(dict.fromkeys(_METRIC_ONLY))
    if metrics is not None:
        out.update({g: getattr(metrics, g) for g in GAUGES})
    out["metric_names"] = []
    out["source"] = AnalyticsSource.SPANS.value
    return out


def metric_rows(
    store: MetricStore, lo: int | None, hi: int | None, group_by: GroupBy, source: AnalyticsSource
) -> dict[str, MetricGroupStats]:
    """The metrics rows by key; none for ``spans``; ``operation`` is a 422 only when
    metrics alone were asked for."""
    if source is AnalyticsSource.SPANS:
        return {}
    try:
        return {r.key: r for r in metric_analytics(store, lo, hi, group_by)}
    except InvalidFilter as exc:
        if source is AnalyticsSource.METRICS:
            raise BadParameter("group_by", str(exc)) from exc
        return {}


def merged_rows(
    spans: list[GroupStats], metrics: dict[str, MetricGroupStats], source: AnalyticsSource
) -> list[dict[str, Any]]:
    """The rows ``source`` asks for, sorted by key (see the module doc)."""
    if source is AnalyticsSource.METRICS:
        return [metric_row_json(metrics[k]) for k in sorted(metrics)]
    rows = {g.key: span_row_json(g, metrics.get(g.key)) for g in spans if g.requests}
    if source is AnalyticsSource.AUTO:
        rows.update((k, metric_row_json(m)) for k, m in metrics.items() if k not in rows)
    return [rows[k] for k in sorted(rows)]


_FIELDS = {
    SeriesMetric.REQUESTS: "requests",
    SeriesMetric.ERRORS: "errors",
    SeriesMetric.TOKENS_OUT: "output_tokens",
    SeriesMetric.TOKENS_PER_SECOND: "output_tokens_per_second",
    **{m: f"{m.value}_ns" for m in SeriesMetric if m.value[-3:] in ("p50", "p95", "p99")},
}
"""The row field a leaderboard measure reads (percentiles in nanoseconds, as spans)."""


def metric_leaderboard(
    spans: list[LeaderboardEntry],
    span_models: set[str],
    metrics: dict[str, MetricGroupStats],
    by: SeriesMetric,
    limit: int,
) -> list[tuple[LeaderboardEntry, AnalyticsSource]]:
    """The span entries of models with span requests, and the metrics value of every
    other model, highest first, ties by name."""
    field = _FIELDS[SeriesMetric(by)]
    rows = [(e, AnalyticsSource.SPANS) for e in spans]
    for key, row in metrics.items():
        value = getattr(row, field)
        if key not in span_models and value is not None:
            rows.append((LeaderboardEntry(key, float(value)), AnalyticsSource.METRICS))
    rows.sort(key=lambda r: (-r[0].value, r[0].model_name))
    return rows[:limit]


__all__ = [
    "SOURCE_DOC",
    "AnalyticsSource",
    "merged_rows",
    "metric_leaderboard",
    "metric_row_json",
    "metric_rows",
    "span_row_json",
]
