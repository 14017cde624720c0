"""Analytics in SQL: one aggregation per group, finished in Python.

The database does the heavy part (filtering, the request rule, grouping,
``percentile_cont``, sums and means) and returns one row per group; Python only
turns a row into a GroupStats or a series value, with the same arithmetic as the
reference (:mod:`analytics_ref`), so both stores give the same figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infertrace.model import StatusCode
from infertrace.telemetry.analytics import (
    POD_ATTRIBUTES,
    QUANTILES,
    GroupBy,
    GroupStats,
    LeaderboardEntry,
    SeriesMetric,
    SeriesPoint,
    SpanScope,
)
from infertrace.telemetry.postgres.queries import NoMatch, Where

Query = Callable[[str, list[Any]], list[tuple[Any, ...]]]


def _pod_expr() -> str:
    parts = [
        f"CASE WHEN jsonb_typeof(resource_attributes -> '{k}') = 'string'"
        f" AND resource_attributes ->> '{k}' <> '' THEN resource_attributes ->> '{k}' END"
        for k in POD_ATTRIBUTES
    ]
    return f"COALESCE({', '.join(parts)}, 'unknown')"


KEY_EXPR = {
    GroupBy.MODEL: "model_name",
    GroupBy.SERVICE: "service_name",
    GroupBy.OPERATION: "operation_name",
    GroupBy.POD: _pod_expr(),
}
"""Fixed SQL for each group key (``POD_ATTRIBUTES`` are constants, not user text)."""

_ELAPSED = "coalesce(e2e_time_nanos, duration_nanos)"
DECODE = f"""coalesce(decode_time_nanos, CASE WHEN time_to_first_token_nanos IS NULL
    THEN {_ELAPSED} ELSE greatest(0, {_ELAPSED} - time_to_first_token_nanos) END)"""
"""A request's decode time (see :mod:`analytics`): the decode column, else its time
(end-to-end, else the duration) less TTFT, else its time."""
TPOT = f"""CASE WHEN output_tokens > 1
    AND (decode_time_nanos IS NOT NULL OR time_to_first_token_nanos IS NOT NULL)
    THEN ({DECODE})::float8 / (output_tokens - 1) END"""
"""A request's time per output token, NULL when it has none."""

_P50_P95 = "percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY {})"

_AGGREGATES = f"""
    count(*),
    count(*) FILTER (WHERE status_code = {int(StatusCode.ERROR)}),
    percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_nanos::float8),
    max(duration_nanos),
    coalesce(sum(input_tokens), 0),
    coalesce(sum(output_tokens), 0),
    count(output_tokens),
    coalesce(sum({DECODE}) FILTER (WHERE output_tokens IS NOT NULL), 0),
    avg(batch_size)::float8,
    avg(gpu_utilization),
    {_P50_P95.format("queue_time_nanos::float8")},
    {_P50_P95.format("time_to_first_token_nanos::float8")},
    {_P50_P95.format(TPOT)}
"""
"""One row of aggregates per group; percentile_cont skips NULLs (unknown timings) and
is NULL over none."""

Pair = tuple[float | None, float | None]


def _pair(p: list[float] | None) -> Pair:
    return (None, None) if p is None else (float(p[0]), float(p[1]))


@dataclass(frozen=True, slots=True)
class _Agg:
    requests: int
    errors: int
    percentiles: tuple[float, float, float, float]
    max_ns: int
    input_tokens: int
    output_tokens: int
    with_output: int
    decode_ns: int
    mean_batch: float | None
    mean_gpu: float | None
    queue: Pair
    ttft: Pair
    tpot: Pair

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> _Agg:
        p = row[2]
        return cls(
            int(row[0]),
            int(row[1]),
            (float(p[0]), float(p[1]), float(p[2]), float(p[3])),
            int(row[3]),
            int(row[4]),
            int(row[5]),
            int(row[6]),
            int(row[7]),
            row[8],
            row[9],
            _pair(row[10]),
            _pair(row[11]),
            _pair(row[12]),
        )

    def tokens_per_second(self) -> float | None:
        if self.with_output == 0 or self.decode_ns == 0:
            return None
        return self.output_tokens / (self.decode_ns / 1e9)

    def stats(self, key: str) -> GroupStats:
        return GroupStats(
            key=key,
            requests=self.requests,
            errors=self.errors,
            error_rate=self.errors / self.requests,
            latency_p50_ns=self.percentiles[0],
            latency_p90_ns=self.percentiles[1],
            latency_p95_ns=self.percentiles[2],
            latency_p99_ns=self.percentiles[3],
            latency_max_ns=self.max_ns,
            queue_p50_ns=self.queue[0],
            queue_p95_ns=self.queue[1],
            ttft_p50_ns=self.ttft[0],
            ttft_p95_ns=self.ttft[1],
            tpot_p50_ns=self.tpot[0],
            tpot_p95_ns=self.tpot[1],
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            output_tokens_per_second=self.tokens_per_second(),
            mean_batch_size=self.mean_batch,
            mean_gpu_utilization=self.mean_gpu,
        )

    def value(self, metric: SeriesMetric) -> float | None:
        m = SeriesMetric(metric)
        if m is SeriesMetric.REQUESTS:
            return float(self.requests)
        if m is SeriesMetric.ERRORS:
            return float(self.errors)
        if m is SeriesMetric.TOKENS_OUT:
            return float(self.output_tokens)
        if m is SeriesMetric.TOKENS_PER_SECOND:
            return self.tokens_per_second()
        measure, q = QUANTILES[m]
        if measure == "latency":
            return self.percentiles[{50: 0, 90: 1, 95: 2, 99: 3}[q]]
        pair = {"queue": self.queue, "ttft": self.ttft, "tpot": self.tpot}[measure]
        return pair[{50: 0, 95: 1}[q]]


REQUEST = """(s.parent_span_id = ''::bytea OR NOT EXISTS (
    SELECT 1 FROM spans p
    WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
      AND p.service_name = s.service_name AND p.model_name = s.model_name))"""
"""The request rule (see :mod:`analytics`) on a span ``s`` with a model: an
anti-join on the parent, found in any partition (whatever the window) through
the (trace_id, start_time, span_id) index; a root has no parent to look up."""


def _grouped(
    query: Query,
    key_sql: str,
    key_params: list[Any],
    since: int,
    until: int,
    model: str | None,
    scope: SpanScope,
) -> list[tuple[Any, _Agg]]:
    w = Where()
    w.add("model_name IS NOT NULL")
    try:
        w.text("model_name", model)
        w.window("start_time_unix_nano", since, until)
    except NoMatch:
        return []
    if scope is SpanScope.REQUESTS:
        w.add(REQUEST)
    sql = f"SELECT {key_sql} AS k, {_AGGREGATES} FROM spans s WHERE {w.sql()} GROUP BY k"
    return [(row[0], _Agg.of(row[1:])) for row in query(sql, key_params + w.params)]


def model_analytics(
    query: Query,
    since: int,
    until: int,
    group_by: GroupBy,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[GroupStats]:
    """One GroupStats per group of counted spans in [since, until), sorted by key."""
    rows = _grouped(query, KEY_EXPR[GroupBy(group_by)], [], since, until, None, SpanScope(scope))
    return [agg.stats(key) for key, agg in sorted(rows, key=lambda r: r[0])]


def timeseries(
    query: Query,
    metric: SeriesMetric,
    step: int,
    since: int,
    until: int,
    model: str | None,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[SeriesPoint]:
    """Non-empty buckets aligned to multiples of ``step``, oldest first."""
    rows = _grouped(
        query,
        "(start_time_unix_nano - start_time_unix_nano %% %s::bigint)",
        [step],
        since,
        until,
        model,
        SpanScope(scope),
    )
    return [SeriesPoint(int(b), agg.value(metric)) for b, agg in sorted(rows, key=lambda r: r[0])]


def leaderboard(
    query: Query,
    by: SeriesMetric,
    since: int,
    until: int,
    limit: int,
    scope: SpanScope = SpanScope.REQUESTS,
) -> list[LeaderboardEntry]:
    """Models ranked by ``by``, highest first, ties by name; no value means left out."""
    out = []
    for name, agg in _grouped(query, "model_name", [], since, until, None, SpanScope(scope)):
        v = agg.value(by)
        if v is not None:
            out.append(LeaderboardEntry(name, v))
    out.sort(key=lambda e: (-e.value, e.model_name))
    return out[:limit]
