"""Records as JSON-ready dicts: ids in hex, times in unix nanoseconds and RFC 3339.

Keys are the records' own field names (snake_case), so the JSON API, the JSONL
and CSV exports and the Parquet columns all use one vocabulary. Attribute
values keep their JSON type; bytes become base64 (as in OTLP/JSON) and arrays
become lists. Complexity: linear in the record's size.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import time
from collections.abc import Mapping
from typing import Any

from infertrace.model import AttributeValue, LogRecord, MetricPoint, Span, SpanEvent, SpanLink
from infertrace.telemetry.analytics import GroupStats, LeaderboardEntry, SeriesPoint
from infertrace.telemetry.protocols import SignalStats, StoreStats

_NS_PER_S = 1_000_000_000


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
    )


def iso_time(unix_nano: int) -> str:
    """RFC 3339 in UTC with nanosecond precision: ``2026-11-22T10:00:00.123456789Z``.

    Records of one answer share few distinct seconds, so the date part is cached.
    """
    seconds, nanos = divmod(unix_nano, _NS_PER_S)
    return f"{_second(seconds)}{nanos:09d}Z"


def _value(value: AttributeValue) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    return value


def attributes_json(attributes: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """An attribute map with JSON-ready values (most values already are)."""
    out: dict[str, Any] = dict(attributes)
    for key, value in out.items():
        if type(value) is bytes or type(value) is tuple:
            out[key] = _value(value)
    return out


def _event(event: SpanEvent) -> dict[str, Any]:
    return {
        "name": event.name,
        "time_unix_nano": event.time_unix_nano,
        "time": iso_time(event.time_unix_nano),
        "attributes": attributes_json(event.attributes),
    }


def _link(link: SpanLink) -> dict[str, Any]:
    return {
        "trace_id": link.trace_id.hex(),
        "span_id": link.span_id.hex(),
        "trace_state": link.trace_state,
        "flags": link.flags,
        "attributes": attributes_json(link.attributes),
    }


def span_json(span: Span) -> dict[str, Any]:
    """One span; ``parent_span_id`` is null for a root span."""
    start = span.start_time_unix_nano
    end = start + span.duration_nanos
    return {
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent_span_id": span.parent_span_id.hex() or None,
        "service_name": span.service_name,
        "operation_name": span.operation_name,
        "kind": span.kind.name.lower(),
        "start_time_unix_nano": start,
        "start_time": iso_time(start),
        "end_time_unix_nano": end,
        "end_time": iso_time(end),
        "duration_nanos": span.duration_nanos,
        "duration_ms": span.duration_nanos / 1e6,
        "status_code": span.status_code.name.lower(),
        "status_message": span.status_message,
        "model_name": span.model_name,
        "model_version": span.model_version,
        "batch_size": span.batch_size,
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "gpu_utilization": span.gpu_utilization,
        "time_to_first_token_nanos": span.time_to_first_token_nanos,
        "queue_time_nanos": span.queue_time_nanos,
        "prefill_time_nanos": span.prefill_time_nanos,
        "decode_time_nanos": span.decode_time_nanos,
        "e2e_time_nanos": span.e2e_time_nanos,
        "request_id": span.request_id,
        "finish_reason": span.finish_reason,
        "model_source": span.model_source,
        "trace_state": span.trace_state,
        "flags": span.flags,
        "attributes": attributes_json(span.attributes),
        "resource_attributes": attributes_json(span.resource_attributes),
        "events": [_event(e) for e in span.events],
        "links": [_link(link) for link in span.links],
        "dropped_attributes_count": span.dropped_attributes_count,
        "dropped_events_count": span.dropped_events_count,
        "dropped_links_count": span.dropped_links_count,
    }


def log_json(record: LogRecord) -> dict[str, Any]:
    """One log record; empty trace and span ids are null."""
    return {
        "time_unix_nano": record.time_unix_nano,
        "time": iso_time(record.time_unix_nano),
        "observed_time_unix_nano": record.observed_time_unix_nano,
        "service_name": record.service_name,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "body": record.body,
        "trace_id": record.trace_id.hex() or None,
        "span_id": record.span_id.hex() or None,
        "attributes": attributes_json(record.attributes),
        "resource_attributes": attributes_json(record.resource_attributes),
    }


def metric_json(point: MetricPoint) -> dict[str, Any]:
    """One metric point; ``histogram`` is null for gauges and sums."""
    hist = point.histogram
    return {
        "name": point.name,
        "type": point.type.name.lower(),
        "service_name": point.service_name,
        "time_unix_nano": point.time_unix_nano,
        "time": iso_time(point.time_unix_nano),
        "start_time_unix_nano": point.start_time_unix_nano,
        "value": point.value,
        "unit": point.unit,
        "description": point.description,
        "is_monotonic": point.is_monotonic,
        "temporality": point.temporality.name.lower(),
        "attributes": attributes_json(point.attributes),
        "resource_attributes": attributes_json(point.resource_attributes),
        "histogram": None if hist is None else _plain(dataclasses.asdict(hist)),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_TIMINGS = ("queue_p50", "queue_p95", "ttft_p50", "ttft_p95", "tpot_p50", "tpot_p95")


def group_json(group: GroupStats) -> dict[str, Any]:
    """One analytics row; latencies and timings in nanoseconds and milliseconds (an
    unknown timing is null in both)."""
    row: dict[str, Any] = dataclasses.asdict(group)
    for q in ("p50", "p90", "p95", "p99", "max"):
        row[f"latency_{q}_ms"] = row[f"latency_{q}_ns"] / 1e6
    for name in _TIMINGS:
        ns = row[f"{name}_ns"]
        row[f"{name}_ms"] = None if ns is None else ns / 1e6
    return row


def series_point_json(point: SeriesPoint) -> dict[str, Any]:
    """One bucket of a time series."""
    return {
        "bucket_start_unix_nano": point.bucket_start_unix_nano,
        "bucket_start": iso_time(point.bucket_start_unix_nano),
        "value": point.value,
    }


def leaderboard_json(entry: LeaderboardEntry) -> dict[str, Any]:
    """One leaderboard place."""
    return {"model_name": entry.model_name, "value": entry.value}


def signal_stats_json(stats: SignalStats) -> dict[str, Any]:
    """One signal's storage figures, with the byte total."""
    row: dict[str, Any] = dataclasses.asdict(stats)
    row["total_bytes"] = stats.total_bytes
    return row


def store_stats_json(stats: StoreStats) -> dict[str, Any]:
    """The store's figures per signal, with the byte total."""
    return {
        "spans": signal_stats_json(stats.spans),
        "logs": signal_stats_json(stats.logs),
        "metrics": signal_stats_json(stats.metrics),
        "total_bytes": stats.total_bytes,
    }
