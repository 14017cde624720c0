"""The coding-agent feed: µs per metric point and per event through the processor.

Exports shaped like Claude Code's (https://code.claude.com/docs/en/monitoring-usage),
delta temporality (its default): each export of a session carries tokens
(input, output, cacheRead, cacheCreation), cost, two edit decisions and lines
added/removed, 9 points, as one OTLP request would (a ``MetricBatch``). Measured:

- ``metrics, new, 1 session/request``: fresh points, one export of one session per
  request, as a Claude Code process sends them straight to the collector (counter
  steps, the developer read, the session updated, its changes inserted);
- ``metrics, new, 100 sessions/request``: the same, batched 100 sessions to a
  request (an OpenTelemetry Collector in between); a session's update is one store
  write each (the store has no batch update), the rest one batch per type;
- ``metrics, resent``: the 100-session batches again (every point recognised as
  resent);
- ``metrics, other names``: vLLM-style points of no configured prefix (the cost
  every other metric request pays for the feed);
- ``events``: ``api_request`` and ``tool_decision`` events as a ``LogBatch`` (10 of
  one session per request, and 900 of 100 sessions);
- baseline: a loop that only reads each point's name and two attributes.

Each figure is the best of 3 rounds on fresh stores. Run: ``python -m
benchmarks.agent_feed [--quick]``; writes ``benchmarks/results/agent_feed.json``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from benchmarks.report import report
from infertrace.activity import MemoryActivityStore
from infertrace.activity.agent_feed import CodingAgentProcessor
from infertrace.model import LogRecord, MetricPoint, MetricType, Temporality
from infertrace.telemetry.batches import LogBatch, MetricBatch

T0 = 1_760_000_000_000_000_000
SEC = 1_000_000_000
RESOURCE = {"service.name": "claude-code", "service.version": "2.0.14", "os.type": "linux",
            "department": "engineering", "team.id": "platform", "region": "eu"}  # fmt: skip


def _std(dev: int, session: int) -> dict[str, Any]:
    return {"session.id": f"sess-{dev}-{session}", "user.email": f"dev{dev}@example.com",
            "user.account_uuid": f"acct-{dev}", "organization.id": "org-1",
            "terminal.type": "vscode", "app.version": "2.0.14"}  # fmt: skip


def _export(dev: int, session: int, t: int) -> list[MetricPoint]:
    std = _std(dev, session)

    def p(name: str, value: float, **extra: str) -> MetricPoint:
        return MetricPoint(f"claude_code.{name}", MetricType.SUM, "claude-code", t, value, "",
                           t - 60 * SEC, {**std, **extra}, RESOURCE, None, True, "",
                           Temporality.DELTA)  # fmt: skip

    model = "claude-sonnet-4-5"
    return [
        p("token.usage", 1200, type="input", model=model),
        p("token.usage", 300, type="output", model=model),
        p("token.usage", 40_000, type="cacheRead", model=model),
        p("token.usage", 900, type="cacheCreation", model=model),
        p("cost.usage", 0.021, model=model),
        p("code_edit_tool.decision", 2, tool_name="Edit", decision="accept",
          source="user_temporary", language="Python"),
        p("code_edit_tool.decision", 1, tool_name="Write", decision="reject",
          source="user_reject", language="Python"),
        p("lines_of_code.count", 25, type="added", model=model),
        p("lines_of_code.count", 4, type="removed", model=model),
    ]  # fmt: skip


def _metric_batches(requests: int, sessions: int) -> list[MetricBatch]:
    """``requests`` batches, each one export of ``sessions`` sessions."""
    return [
        MetricBatch.of([pt for s in range(sessions)
                        for pt in _export(s % 50, s, T0 + (r + 1) * 60 * SEC)])
        for r in range(requests)
    ]  # fmt: skip


def _other_batches(requests: int, points: int) -> list[MetricBatch]:
    res = {"service.name": "vllm", "service.instance.id": "pod-1"}
    return [
        MetricBatch.of([MetricPoint("vllm:num_requests_running", MetricType.GAUGE, "vllm",
                                    T0 + r * SEC + i, 3, "", 0, {"model_name": "llama"}, res)
                        for i in range(points)])
        for r in range(requests)
    ]  # fmt: skip


def _event_batches(requests: int, events: int, sessions: int) -> list[LogBatch]:
    out = []
    for r in range(requests):
        recs = []
        for i in range(events):
            t = T0 + (r * events + i) * SEC
            s = (r * sessions + i % sessions) if sessions == 1 else i % sessions
            std = _std(s % 50, s)
            if i % 2:
                attrs = {**std, "event.name": "api_request", "event.sequence": r * events + i,
                         "model": "claude-sonnet-4-5", "cost_usd": 0.004, "duration_ms": 900,
                         "input_tokens": 800, "output_tokens": 120}  # fmt: skip
                body = "claude_code.api_request"
            else:
                attrs = {**std, "event.name": "tool_decision", "event.sequence": r * events + i,
                         "tool_name": "Edit", "decision": "accept", "source": "config",
                         "tool_use_id": f"toolu_{r}_{i}"}  # fmt: skip
                body = "claude_code.tool_decision"
            recs.append(LogRecord(t, "claude-code", body, t, 9, "INFO", attributes=attrs,
                                  resource_attributes=RESOURCE))  # fmt: skip
        out.append(LogBatch.of(recs))
    return out


def _best(rounds: int, fn: Callable[[], int]) -> float:
    """Best of ``rounds`` of ``fn`` (which returns how many items it handled), µs each."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        t = time.perf_counter_ns()
        items = fn()
        best = min(best, (time.perf_counter_ns() - t) / 1e3 / items)
    return best


def _single_batches(requests: int) -> list[MetricBatch]:
    """One export of one session per request (session r % 200, export r // 200)."""
    return [MetricBatch.of(_export(r % 50, r % 200, T0 + (r // 200 + 1) * 60 * SEC))
            for r in range(requests)]  # fmt: skip


def run(requests: int, sessions: int) -> list[dict[str, Any]]:
    batches = _metric_batches(requests, sessions)
    points = sum(map(len, batches))
    singles = _single_batches(requests * 10)
    single_points = sum(map(len, singles))
    others = _other_batches(requests, 9 * sessions)
    events = _event_batches(requests, 9 * sessions, sessions)
    single_events = _event_batches(requests * 10, 10, 1)
    n_events = sum(map(len, events))

    def fresh(todo: list[Any], items: int, logs: bool = False) -> Callable[[], int]:
        def go() -> int:
            feed = CodingAgentProcessor(MemoryActivityStore())
            for b in todo:
                (feed.on_logs if logs else feed.on_metrics)(b, [])
            return items

        return go

    feed = CodingAgentProcessor(MemoryActivityStore())
    for b in batches:
        feed.on_metrics(b, [])

    def metrics_resent() -> int:
        for b in batches:
            feed.on_metrics(b, [])
        return points

    def metrics_other() -> int:
        for b in others:
            feed.on_metrics(b, [])
        return sum(map(len, others))

    def baseline() -> int:
        total = 0
        for b in batches:
            for pt in b:
                total += pt.name.startswith("claude_code.") and "session.id" in pt.attributes
                total += "user.email" in pt.attributes
        return points

    base = _best(3, baseline)
    return [
        {"metric": "metrics, new, 1 session/request", "unit": "µs/point", "target": "<= 50",
         "value": _best(3, fresh(singles, single_points)), "baseline": base},
        {"metric": f"metrics, new, {sessions} sessions/request", "unit": "µs/point",
         "target": "<= 50", "value": _best(3, fresh(batches, points)), "baseline": base},
        {"metric": f"metrics, resent, {sessions} sessions/request", "unit": "µs/point",
         "value": _best(3, metrics_resent), "baseline": base},
        {"metric": "metrics, other names", "value": _best(3, metrics_other),
         "unit": "µs/point", "target": "<= 0.5"},
        {"metric": "events, new, 1 session/request", "unit": "µs/event", "target": "<= 50",
         "value": _best(3, fresh(single_events, 10 * len(single_events), logs=True))},
        {"metric": f"events, new, {sessions} sessions/request", "unit": "µs/event",
         "target": "<= 50", "value": _best(3, fresh(events, n_events, logs=True))},
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.agent_feed")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    requests, sessions = (5, 20) if args.quick else (30, 100)
    title = "Coding-agent feed: µs per point or event (Claude Code-shaped, delta)"
    report("agent_feed", title, run(requests, sessions))


if __name__ == "__main__":
    main()
