"""``infertrace demo``: the synthetic LLM-serving workload, sent over real OTLP/HTTP.

Requests (traces of six spans) are generated along the wall clock at ``rate``
per second, with a log line per request and a metrics collection (gauge,
counter, histogram per pod) every second, and posted as OTLP protobuf to a
running collector, so a new user sees live data within seconds. The command
shows a progress bar while it runs and a table of what was sent at the end.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import click
import httpx
from google.protobuf.message import DecodeError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

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


@click.command()
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Requests (traces) per second."
)
@click.option("--duration", type=float, default=30.0, show_default=True, help="Seconds to run.")
@click.option(
    "--endpoint",
    default="http://127.0.0.1:4318",
    show_default=True,
    envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
    help="OTLP/HTTP base URL of a running collector.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Workload random seed.")
def demo(rate: float, duration: float, endpoint: str, seed: int) -> None:
    """Send synthetic LLM-serving telemetry (traces, logs, metrics) to a collector."""
    if rate <= 0 or duration <= 0:
        raise click.UsageError("--rate and --duration must be positive")
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=duration)

        def tick(elapsed: float, stats: DemoStats) -> None:
            sent = stats.sent
            progress.update(
                task,
                completed=elapsed,
                description=f"{sent['spans']:,} spans, {sent['logs']:,} logs, "
                f"{sent['metric_points']:,} points",
            )

        try:
            stats = run_demo(endpoint, rate, duration, seed, tick)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from None
    table = Table(title=f"Sent to {endpoint}")
    for column in ("signal", "sent", "rejected"):
        table.add_column(column, justify="right" if column != "signal" else "left")
    for label, sent in stats.sent.items():
        table.add_row(label, f"{sent:,}", f"{stats.rejected[label]:,}")
    console.print(table)
    if stats.failed_requests:
        console.print(f"[red]{stats.failed_requests} requests failed[/red] ({stats.last_error})")
