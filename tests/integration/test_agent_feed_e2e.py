"""End to end: Claude Code-shaped telemetry from the official OpenTelemetry SDK, sent to
a real ``infertrace serve``, read back as adoption numbers over REST.

Three developers, as three Claude Code processes would export them (metric and event
names, attributes and the resource's ``OTEL_RESOURCE_ATTRIBUTES`` keys from
https://code.claude.com/docs/en/monitoring-usage):

- ada: metrics only, signed in (``user.email``), department/team/region on the resource;
- bob: metrics only, known by ``user.account_uuid`` alone;
- cy: events only (``claude_code.api_request``, ``claude_code.tool_decision``).

Metrics go out in two exports (``force_flush``) with delta temporality (Claude
Code's default) over OTLP/HTTP, or cumulative over OTLP/gRPC. The test computes
every expected number from what it sent and compares it with
``/api/activity/metrics/daily``, ``/leaderboard`` and ``/developers``.

A second test restarts the server over its data directory between two cumulative
exports of one process (raw OTLP protobuf built from tests/activity/agent_shapes.py:
one SDK meter provider cannot follow a server to new ports).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from tests.activity.agent_shapes import SECOND, T0, point, standard

from infertrace.activity.identity import account_email, developer_id_for
from infertrace.collector.otlp.encode import encode_metrics
from infertrace.model import Temporality
from infertrace.testing import ServedProcess

POLL_SECONDS = 20.0


@dataclass
class Sent:
    """What one developer's process sent, summed by the test."""

    email: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    accepted: int = 0
    rejected: int = 0
    lines_added: int = 0
    times: list[int] = field(default_factory=list)


def _resource(extra: dict[str, str]) -> Resource:
    return Resource.create({"service.name": "claude-code", "service.version": "2.0.14",
                            "os.type": "linux", **extra})  # fmt: skip


def _standard(session: str, email: str | None, account: str) -> dict[str, str]:
    attrs = {
        "session.id": session,
        "organization.id": "0b7d5e2c-1111-4111-8111-000000000001",
        "user.account_uuid": account,
        "terminal.type": "vscode",
        "app.version": "2.0.14",
    }
    if email is not None:
        attrs["user.email"] = email
    return attrs  # fmt: skip


def _metric_exporter(served: ServedProcess, transport: str,
                     temporality: AggregationTemporality) -> Any:  # fmt: skip
    prefer: dict[type, AggregationTemporality] = {Counter: temporality}
    if transport == "grpc":  # the protocol of the documentation's quick start
        return GrpcMetricExporter(endpoint=f"http://{served.grpc_target}", insecure=True,
                                  timeout=10, preferred_temporality=prefer)  # fmt: skip
    return OTLPMetricExporter(endpoint=f"{served.url}/v1/metrics", timeout=10,
                              preferred_temporality=prefer)  # fmt: skip


def _log_exporter(served: ServedProcess, transport: str) -> Any:
    if transport == "grpc":
        return GrpcLogExporter(endpoint=f"http://{served.grpc_target}", insecure=True, timeout=10)
    return OTLPLogExporter(endpoint=f"{served.url}/v1/logs", timeout=10)


def _metrics_process(
    exporter: Any, resource: Resource, std: dict[str, str], sent: Sent,
    exports: list[dict[str, int]],
) -> None:  # fmt: skip
    """One Claude Code process exporting its counters ``len(exports)`` times."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("com.anthropic.claude_code", "2.0.14")
    session = meter.create_counter("claude_code.session.count", unit="count")
    tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
    cost = meter.create_counter("claude_code.cost.usage", unit="USD")
    decision = meter.create_counter("claude_code.code_edit_tool.decision", unit="count")
    lines = meter.create_counter("claude_code.lines_of_code.count", unit="count")
    commits = meter.create_counter("claude_code.commit.count", unit="count")
    model = {"model": "claude-sonnet-4-5"}
    try:
        session.add(1, {**std, "start_type": "fresh"})
        for e in exports:
            tokens.add(e["in"], {**std, **model, "type": "input"})
            tokens.add(e["out"], {**std, **model, "type": "output"})
            tokens.add(e["in"] * 20, {**std, **model, "type": "cacheRead"})  # not counted
            cost.add(e["cents"] / 100, {**std, **model})
            edit = {**std, "tool_name": "Edit", "language": "Python"}
            decision.add(e["accept"], {**edit, "decision": "accept", "source": "user_temporary"})
            decision.add(e["reject"], {**edit, "decision": "reject", "source": "user_reject"})
            lines.add(e["added"], {**std, **model, "type": "added"})
            lines.add(e["added"] // 3, {**std, **model, "type": "removed"})
            commits.add(1, std)  # a count only: commits come from import-git
            sent.input_tokens += e["in"]
            sent.output_tokens += e["out"]
            sent.cost += e["cents"] / 100
            sent.accepted += e["accept"]
            sent.rejected += e["reject"]
            sent.lines_added += e["added"]
            assert provider.force_flush(10_000)
            sent.times.append(time.time_ns())
    finally:
        provider.shutdown()


def _events_process(exporter: Any, resource: Resource, std: dict[str, str], sent: Sent) -> None:
    """One Claude Code process exporting events only (``OTEL_LOGS_EXPORTER=otlp``)."""
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events", "2.0.14")
    seq = 0

    def emit(name: str, **attrs: Any) -> None:
        nonlocal seq
        seq += 1
        now = time.time_ns()
        stamp = datetime.fromtimestamp(now / 1e9, UTC).isoformat().replace("+00:00", "Z")
        logger.emit(timestamp=now, body=f"claude_code.{name}",
                    attributes={**std, "event.name": name, "event.timestamp": stamp,
                                "event.sequence": seq, **attrs})  # fmt: skip
        sent.times.append(now)

    try:
        emit("user_prompt", prompt_length=42, prompt="<REDACTED>")
        for i, (tin, tout, c) in enumerate([(1200, 340, 0.021), (800, 90, 0.0113)]):
            emit("api_request", model="claude-sonnet-4-5", cost_usd=c, duration_ms=1800 + i,
                 input_tokens=tin, output_tokens=tout, cache_read_tokens=30_000,
                 cache_creation_tokens=900)  # fmt: skip
            sent.input_tokens += tin
            sent.output_tokens += tout
            sent.cost += c
        for i, (tool, verdict) in enumerate([("Edit", "accept"), ("Write", "reject"),
                                             ("Edit", "accept"), ("Read", "accept")]):  # fmt: skip
            source = "user_temporary" if verdict == "accept" else "user_reject"
            emit("tool_decision", tool_name=tool, decision=verdict, source=source,
                 tool_use_id=f"toolu_{i:04d}")  # fmt: skip
            if tool != "Read":  # only edit tools are changes to code
                sent.accepted += verdict == "accept"
                sent.rejected += verdict == "reject"
        emit("tool_result", tool_name="Edit", success="true", duration_ms=12,
             decision_type="accept", decision_source="user_temporary")  # fmt: skip
    finally:
        provider.shutdown()


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def served() -> Iterator[ServedProcess]:
    with ServedProcess("--accept-past", "off", grace=20) as s:
        yield s


@pytest.mark.parametrize(
    ("temporality", "transport"),
    [(AggregationTemporality.DELTA, "http"), (AggregationTemporality.CUMULATIVE, "grpc")],
)
def test_adoption_numbers_read_back_over_rest(
    served: ServedProcess, temporality: AggregationTemporality, transport: str
) -> None:
    url = served.url
    tag = temporality.name.lower()
    ada = Sent(f"ada.{tag}@example.com")
    bob_account = f"4c2b7e10-0000-4000-8000-{'b0b' if tag == 'delta' else 'c0c'}000000000"
    bob = Sent(account_email(bob_account))
    cy = Sent(f"cy.{tag}@example.com")
    _metrics_process(
        _metric_exporter(served, transport, temporality),
        _resource({"department": "engineering", "team.id": f"platform-{tag}", "region": "eu"}),
        _standard(f"ada-{tag}", ada.email, "6f1c2a3b-0000-4000-8000-00000000ada1"), ada,
        [{"in": 1500, "out": 400, "cents": 3, "accept": 3, "reject": 1, "added": 60},
         {"in": 700, "out": 210, "cents": 2, "accept": 2, "reject": 0, "added": 25}],
    )  # fmt: skip
    _metrics_process(
        _metric_exporter(served, transport, temporality),
        _resource({"team.id": f"mobile-{tag}", "region": "US"}),
        _standard(f"bob-{tag}", None, bob_account), bob,
        [{"in": 300, "out": 50, "cents": 1, "accept": 1, "reject": 2, "added": 9}],
    )  # fmt: skip
    _events_process(_log_exporter(served, transport),
                    _resource({"team.id": f"mobile-{tag}", "region": "apac"}),
                    _standard(f"cy-{tag}", cy.email, "acct-cy"), cy)  # fmt: skip
    people = (ada, bob, cy)
    ids = {p.email: developer_id_for(p.email) for p in people}
    first, last = min(min(p.times) for p in people), max(max(p.times) for p in people)
    params = {"from": _day(first - 60 * 10**9), "to": _day(last + 60 * 10**9)}

    def totals() -> dict[str, Any]:
        days = httpx.get(f"{url}/api/activity/metrics/daily", params=params, timeout=10).json()
        out: dict[str, Any] = {}
        for d in days["days"]:
            for k in ("sessions", "tokens", "agent_edits", "accepted_edits",
                      "agent_lines_added", "cost_usd"):  # fmt: skip
                out[k] = out.get(k, 0) + d[k]
        return out

    # Expected, from what was sent (this test's developers only: the server is shared
    # by both parametrisations, so compare the difference this run made).
    expected = {
        "sessions": 3,
        "tokens": sum(p.input_tokens + p.output_tokens for p in people),
        "agent_edits": sum(p.accepted + p.rejected for p in people),
        "accepted_edits": sum(p.accepted for p in people),
        "agent_lines_added": sum(p.lines_added for p in people),
    }
    board: dict[str, Any] = {}
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:  # the feed runs after the write: poll, bounded
        board = httpx.get(f"{url}/api/activity/leaderboard", timeout=10, params={
            **params, "metric": "tokens", "by": "developer", "limit": 1000}).json()  # fmt: skip
        mine = {e["key"]: e for e in board["entries"] if e["key"] in ids.values()}
        if len(mine) == 3 and sum(e["tokens"] for e in mine.values()) == expected["tokens"]:
            break
        time.sleep(0.1)
    mine = {e["key"]: e for e in board["entries"] if e["key"] in ids.values()}
    for p in people:
        e = mine[ids[p.email]]
        assert e["tokens"] == p.input_tokens + p.output_tokens, p.email
        assert e["cost_usd"] == pytest.approx(p.cost), p.email
        assert (e["agent_edits"], e["accepted_edits"]) == (p.accepted + p.rejected, p.accepted)
        assert e["agent_lines_added"] == p.lines_added, p.email
        assert e["sessions"] == 1 and e["commits"] == 0
    ranked = [e["key"] for e in board["entries"] if e["key"] in ids.values()]
    assert ranked == sorted(ids.values(), key=lambda k: (-mine[k]["tokens"], k))

    whole = totals()
    if tag == "delta":  # the first run: the server holds this run's records only
        for k, v in expected.items():
            assert whole[k] == v, k
        assert whole["cost_usd"] == pytest.approx(sum(p.cost for p in people))

    devs = httpx.get(f"{url}/api/activity/developers", timeout=10,
                     params={"limit": 1000}).json()["items"]  # fmt: skip
    by_email = {d["email"]: d for d in devs}
    assert by_email[ada.email]["id"] == ids[ada.email]
    assert (by_email[ada.email]["division"], by_email[ada.email]["team"],
            by_email[ada.email]["region"]) == ("engineering", f"platform-{tag}", "EU")  # fmt: skip
    assert (by_email[bob.email]["team"], by_email[bob.email]["region"]) == (f"mobile-{tag}", "US")
    assert by_email[cy.email]["region"] == "APAC"


def _session(url: str, sid: str) -> dict[str, Any] | None:
    found = httpx.get(f"{url}/api/activity/sessions/{sid}", timeout=10)
    return found.json() if found.status_code == 200 else None


def _send_and_wait(url: str, points: list[Any], sid: str, tokens: int) -> dict[str, Any] | None:
    body = encode_metrics(points).SerializeToString()
    sent = httpx.post(f"{url}/v1/metrics", content=body, timeout=10,
                      headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + POLL_SECONDS
    s = _session(url, sid)
    while (s is None or s["input_tokens"] < tokens) and time.monotonic() < deadline:
        time.sleep(0.05)
        s = _session(url, sid)
    return s


def test_a_restart_over_the_data_directory_counts_no_running_total_twice(
    tmp_path: Path,
) -> None:
    """One Claude Code process exporting cumulative totals (its start time fixed) to a
    server that restarts over its data directory in between: the session's tokens are
    the rise the process reported, never its running total twice."""
    attrs = {**standard("sess-restart", "ada.restart@example.com"), "type": "input"}

    def tokens(value: int, t: int, session: str = "sess-restart") -> Any:
        return point("token.usage", value, T0 + t * SECOND, {**attrs, "session.id": session},
                     temporality=Temporality.CUMULATIVE)  # fmt: skip

    args = ("--data-dir", str(tmp_path / "data"), "--accept-past", "off")
    with ServedProcess(*args, grace=30) as first:
        s = _send_and_wait(first.url, [tokens(400, 1), tokens(900, 2)], "sess-restart", 900)
        assert s is not None and s["input_tokens"] == 900  # from the known start: all of it
    with ServedProcess(*args, grace=30) as again:
        s = _session(again.url, "sess-restart")
        assert s is not None and s["input_tokens"] == 900, "restored from the data directory"
        s = _send_and_wait(again.url, [tokens(1000, 3), tokens(50, 3, "sess-new")],
                           "sess-new", 50)  # fmt: skip
        assert s is not None and s["input_tokens"] == 50  # a new session counts from start
        s = _send_and_wait(again.url, [tokens(1200, 4)], "sess-restart", 1100)
        # the first point after the restart is the baseline: 900 + (1200 - 1000)
        assert s is not None and s["input_tokens"] == 900 + 1200 - 1000
