"""Small builders for records in tests."""

from __future__ import annotations

from typing import Any

from infertrace.model import LogRecord, MetricPoint, MetricType, Span


def tid(n: int) -> bytes:
    return n.to_bytes(16, "big") if n else bytes(15) + b"\x01"


def sid(n: int) -> bytes:
    return (n + 1).to_bytes(8, "big")


def span(trace: int, n: int, **kw: Any) -> Span:
    fields: dict[str, Any] = {
        "trace_id": tid(trace),
        "span_id": sid(n),
        "service_name": "svc",
        "operation_name": "op",
        "start_time_unix_nano": 1_000 + n,
        "duration_nanos": 10,
    }
    fields.update(kw)
    return Span(**fields)


def log(n: int, **kw: Any) -> LogRecord:
    fields: dict[str, Any] = {
        "time_unix_nano": 1_000 + n,
        "service_name": "svc",
        "body": f"line {n}",
    }
    fields.update(kw)
    return LogRecord(**fields)


def point(n: int, **kw: Any) -> MetricPoint:
    fields: dict[str, Any] = {
        "name": "m",
        "type": MetricType.GAUGE,
        "service_name": "svc",
        "time_unix_nano": 1_000 + n,
        "value": float(n),
    }
    fields.update(kw)
    return MetricPoint(**fields)
