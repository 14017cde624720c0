"""Metric points and log events shaped like Claude Code's, for the agent feed's tests.

Names, attributes and values follow Claude Code's monitoring documentation,
https://code.claude.com/docs/en/monitoring-usage ("Standard attributes",
"Metrics", "Metric details", "Events"): every counter is a sum with the
standard attributes on the data point and ``OTEL_RESOURCE_ATTRIBUTES`` keys on the
resource; events are log records whose body is the event name and whose
``event.name`` attribute is the short name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infertrace.model import LogRecord, MetricPoint, MetricType, Temporality

T0 = 1_760_000_000_000_000_000
"""A time (2025-10-09) the tests count from, unix ns."""
SECOND = 1_000_000_000

RESOURCE: Mapping[str, Any] = {
    "service.name": "claude-code",
    "service.version": "2.0.14",
    "os.type": "linux",
    "host.arch": "amd64",
    # The documentation's OTEL_RESOURCE_ATTRIBUTES example, plus a region key.
    "department": "engineering",
    "team.id": "platform",
    "cost_center": "eng-123",
    "region": "eu",
}


def standard(session: str = "sess-1", email: str | None = "ada@example.com",
             account: str = "6f1c2a3b-0000-4000-8000-00000000ada1") -> dict[str, Any]:  # fmt: skip
    """The standard attributes every metric and event carries."""
    attrs: dict[str, Any] = {
        "session.id": session,
        "app.version": "2.0.14",
        "organization.id": "0b7d5e2c-1111-4111-8111-000000000001",
        "user.account_uuid": account,
        "user.id": "a" * 64,
        "terminal.type": "vscode",
    }
    if email is not None:
        attrs["user.email"] = email
    return attrs


def point(
    metric: str, value: float, time: int, attrs: Mapping[str, Any], *,
    start: int = T0, temporality: Temporality = Temporality.DELTA,
    resource: Mapping[str, Any] = RESOURCE, prefix: str = "claude_code",
) -> MetricPoint:  # fmt: skip
    """A counter point of ``<prefix>.<metric>``."""
    units = {"cost.usage": "USD", "token.usage": "tokens", "active_time.total": "s"}
    return MetricPoint(
        f"{prefix}.{metric}", MetricType.SUM, "claude-code", time, value,
        units.get(metric, "count"), start, dict(attrs), dict(resource), None, True, "",
        temporality,
    )  # fmt: skip


def event(
    name: str, time: int, attrs: Mapping[str, Any], *, sequence: int = 0,
    resource: Mapping[str, Any] = RESOURCE, prefix: str = "claude_code",
) -> LogRecord:  # fmt: skip
    """An event ``<prefix>.<name>`` as an OTLP log record."""
    stamp = datetime.fromtimestamp(time / 1e9, UTC).isoformat().replace("+00:00", "Z")
    full = {"event.name": name, "event.timestamp": stamp, "event.sequence": sequence,
            **attrs}  # fmt: skip
    return LogRecord(time, "claude-code", f"{prefix}.{name}", time, 9, "INFO",
                     attributes=full, resource_attributes=dict(resource))  # fmt: skip


def api_request(time: int, session: str, *, tokens_in: int, tokens_out: int, cost: float,
                sequence: int = 0, email: str = "ada@example.com") -> LogRecord:  # fmt: skip
    """A ``claude_code.api_request`` event (its numbers as Claude Code sends them)."""
    attrs = {**standard(session, email), "model": "claude-sonnet-4-5", "cost_usd": cost,
             "duration_ms": 1843, "input_tokens": tokens_in, "output_tokens": tokens_out,
             "cache_read_tokens": 20_000, "cache_creation_tokens": 1_200,
             "request_id": f"req_011{sequence:06d}"}  # fmt: skip
    return event("api_request", time, attrs, sequence=sequence)


def tool_decision(time: int, session: str, tool: str, decision: str, *, sequence: int = 0,
                  email: str = "ada@example.com") -> LogRecord:  # fmt: skip
    """A ``claude_code.tool_decision`` event."""
    source = "user_temporary" if decision == "accept" else "user_reject"
    attrs = {**standard(session, email), "tool_name": tool, "decision": decision,
             "source": source, "tool_use_id": f"toolu_{sequence:08d}"}  # fmt: skip
    return event("tool_decision", time, attrs, sequence=sequence)
