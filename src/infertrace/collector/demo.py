"""``infertrace demo``: the synthetic LLM-serving workload, sent over real OTLP/HTTP.

Requests (traces of six spans) are generated along the wall clock at ``rate``
per second, with a log line per request and a metrics collection (gauge,
counter, histogram per pod) every second, and posted as OTLP protobuf to a
running collector, so a new user sees live data within seconds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from google.protobuf.message import DecodeError

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.pipeline import Signal
from infertrace.errors import InferTraceError
from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.workload import Workload, pods

TICK_SECONDS = 0.25
METRIC_ROUNDS_PER_BATCH = 60
"""Metric points are generated a minute at a time so counters stay monotonic."""


class DemoError(InferTraceError):
    """The demo cannot reach or talk to the collector."""


@dataclass(slots=True)
class DemoStats:
    """What the demo sent and what the collector said about it, per signal."""

    sent: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in Signal})
    rejected: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in Signal})
    failed_requests: int = 0
    last_error: str = ""


class DemoSender:
    """Posts encoded records to ``endpoint`` and tallies the answers."""

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.stats = DemoStats()
        self._client = httpx.Client(timeout=timeout)

    def send(self, signal: Signal, payload: bytes, count: int) -> None:
        """POST one export request; refusals are counted, unreachable raises DemoError."""
        try:
            response = self._client.post(
                self.endpoint + signal.path,
                content=payload,
                headers={"Content-Type": "application/x-protobuf"},
            )
        except httpx.TransportError as exc:
            raise DemoError(
                f"cannot reach a collector at {self.endpoint} ({exc}); "
                "start one with `infertrace serve`"
            ) from exc
        self.stats.sent[signal.label] += count
        if response.status_code != 200:
            self.stats.failed_requests += 1
            self.stats.last_error = f"{signal.path}: HTTP {response.status_code}"
            return
        try:
            answer = signal.response_type.FromString(response.content)
        except DecodeError:
            return
        if answer.HasField("partial_success"):
            partial = answer.partial_success
            self.stats.rejected[signal.label] += getattr(partial, signal.rejected_field)
            self.stats.last_error = partial.error_message

    def close(self) -> None:
        self._client.close()


def _due(points: list[MetricPoint], now: int) -> list[MetricPoint]:
    """The leading points (they are in time order) whose time has come."""
    return list(itertools.takewhile(lambda p: p.time_unix_nano <= now, points))


def run_demo(
    endpoint: str,
    rate: float,
    duration: float,
    seed: int = 0,
    on_tick: Callable[[float, DemoStats], None] | None = None,
) -> DemoStats:
    """Send the workload for ``duration`` seconds at ``rate`` requests/s; the final stats.

    ``on_tick(elapsed_seconds, stats)`` is called after every send round (progress bars).
    """
    start_ns = time.time_ns()
    traces, logs, metrics = (Workload(seed + i, start_ns, rate) for i in range(3))
    pending_points: list[MetricPoint] = []
    sender = DemoSender(endpoint)
    started = time.monotonic()
    try:
        while True:
            elapsed = time.monotonic() - started
            now = start_ns + int(min(elapsed, duration) * 1e9)
            spans: list[Span] = []
            while traces.now_ns <= now:
                spans.extend(traces.trace())
            records: list[LogRecord] = []
            while logs.now_ns <= now:
                records.extend(logs.logs(1))
            if not pending_points:
                pending_points = metrics.metrics(
                    METRIC_ROUNDS_PER_BATCH * len(pods()) * 3, interval_ns=1_000_000_000
                )
            due = _due(pending_points, now)
            pending_points = pending_points[len(due) :]
            if spans:
                sender.send(Signal.TRACES, encode_spans(spans).SerializeToString(), len(spans))
            if records:
                sender.send(Signal.LOGS, encode_logs(records).SerializeToString(), len(records))
            if due:
                sender.send(Signal.METRICS, encode_metrics(due).SerializeToString(), len(due))
            if on_tick is not None:
                on_tick(min(elapsed, duration), sender.stats)
            if elapsed >= duration:
                return sender.stats
            time.sleep(min(TICK_SECONDS, max(0.0, duration - elapsed)))
    finally:
        sender.close()
