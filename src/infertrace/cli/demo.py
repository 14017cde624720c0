"""``infertrace demo``: the synthetic LLM-serving workload, sent over real OTLP/HTTP.

Requests (traces of six spans) are generated along the wall clock at ``rate``
per second, with a log line per request, and posted as OTLP protobuf to a
running collector, so a new user sees live data within seconds. Each span is
sent once it has ended (its start plus duration is not after the demo's
clock), as an SDK's span processor would; every second the pods' vLLM metrics
are computed from the request spans sent so far (:mod:`.demo_metrics`), so
metrics and traces agree. After ``duration`` no request starts; the demo waits
up to ``drain`` seconds for the requests in flight to end and reports the
spans that had not ended by then as not sent (no clock is advanced to end
them). Ids are fresh each run unless a seed is given: a run is replayed with
the seed its final table prints, and a replay is stored once by the
idempotent stores. The command shows a progress bar while it runs and a table
of what was sent at the end.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import click
import httpx
from google.protobuf.message import DecodeError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from infertrace.cli.demo_metrics import VllmMetrics, is_request
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.pipeline import Signal
from infertrace.errors import InferTraceError
from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.workload import Workload

TICK_SECONDS = 0.25
COLLECT_INTERVAL_NS = 1_000_000_000
"""Metrics are collected once a second of demo time."""
DRAIN_SECONDS = 10.0
"""How long, after ``duration``, the demo waits for requests in flight to end."""


class DemoError(InferTraceError):
    """The demo cannot reach or talk to the collector."""


@dataclass(slots=True)
class DemoStats:
    """What the demo sent and what the collector said about it, per signal."""

    sent: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in Signal})
    rejected: dict[str, int] = field(default_factory=lambda: {s.label: 0 for s in Signal})
    failed_requests: int = 0
    last_error: str = ""
    seed: int = 0
    requests: int = 0
    """Request spans sent (each ends its trace)."""
    in_flight: int = 0
    """Spans generated and not sent because they had not ended (yet, or by the end)."""


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


class Clock(Protocol):
    """Where the demo reads the time and waits (a fake in tests)."""

    def now_ns(self) -> int:
        """Unix nanoseconds now."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock nanoseconds read once, advanced by the monotonic clock (no jumps)."""

    def __init__(self) -> None:
        self._wall = time.time_ns()
        self._mono = time.monotonic_ns()

    def now_ns(self) -> int:
        return self._wall + time.monotonic_ns() - self._mono

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def new_seed() -> int:
    """A fresh workload seed from the operating system's randomness."""
    return secrets.randbits(32)


class PendingSpans:
    """Generated spans not sent yet, handed out in end-time order once they have ended.

    A heap keyed by (end time, arrival order): ``add`` is O(log n) a span,
    ``pop_ended`` O(k log n) for k spans.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Span]] = []
        self._order = itertools.count()

    def add(self, spans: Iterable[Span]) -> None:
        for span in spans:
            heapq.heappush(self._heap, (span.end_time_unix_nano, next(self._order), span))

    def pop_ended(self, now_ns: int) -> list[Span]:
        """The spans that end at or before ``now_ns``, earliest end first, removed."""
        heap, out = self._heap, []
        while heap and heap[0][0] <= now_ns:
            out.append(heapq.heappop(heap)[2])
        return out

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[Span]:
        """The pending spans, in no particular order."""
        return (item[2] for item in self._heap)

    def _check(self) -> None:
        for i, item in enumerate(self._heap):
            assert item[0] == item[2].end_time_unix_nano
            for child in (2 * i + 1, 2 * i + 2):
                assert child >= len(self._heap) or self._heap[child] >= item


@dataclass(slots=True)
class Outbox:
    """What one clock reading has made ready to send."""

    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)


class DemoRun:
    """The demo's clockwork, free of I/O: what is ready to send at each clock reading.

    Requests start from ``start_ns`` at ``rate`` per second until ``end_ns``;
    their spans wait in :class:`PendingSpans` until they end. Metrics are
    collected on the one-second grid from ``start_ns``: a collection at ``t``
    follows the spans that ended by ``t``, so it counts exactly the requests
    sent before it. Readings must not go backwards.
    """

    def __init__(self, seed: int, start_ns: int, end_ns: int, rate: float) -> None:
        self.start_ns, self.end_ns = start_ns, end_ns
        self.pending = PendingSpans()
        self._traces = Workload(seed, start_ns, rate)
        self._logs = Workload(seed + 1, start_ns, rate)
        self._metrics = VllmMetrics(start_ns, seed + 2)
        self._next_collection = start_ns + COLLECT_INTERVAL_NS
        self._last_collection = start_ns

    def tick(self, now_ns: int) -> Outbox:
        """Generate up to ``now_ns`` (not past ``end_ns``); release what has ended; collect."""
        out = Outbox()
        until = min(now_ns, self.end_ns)
        while self._traces.now_ns <= until:
            self.pending.add(self._traces.trace())
        while self._logs.now_ns <= until:
            out.logs.extend(self._logs.logs(1))
        while self._next_collection <= now_ns:
            self._release(self._next_collection, out)
            self._collect(self._next_collection, out)
            self._next_collection += COLLECT_INTERVAL_NS
        self._release(now_ns, out)
        return out

    def finish(self, now_ns: int) -> list[MetricPoint]:
        """After ``tick(now_ns)``: a last collection at ``now_ns``, unless one was made there."""
        out = Outbox()
        if self._last_collection != now_ns:
            self._collect(now_ns, out)
        return out.points

    def _release(self, now_ns: int, out: Outbox) -> None:
        spans = self.pending.pop_ended(now_ns)
        for span in spans:
            self._metrics.observe(span)
        out.spans.extend(spans)

    def _collect(self, time_ns: int, out: Outbox) -> None:
        out.points.extend(self._metrics.collect(time_ns, self.pending))
        self._last_collection = time_ns


def run_demo(
    endpoint: str,
    rate: float,
    duration: float,
    seed: int | None = None,
    on_tick: Callable[[float, DemoStats], None] | None = None,
    *,
    drain: float = DRAIN_SECONDS,
    clock: Clock | None = None,
) -> DemoStats:
    """Send the workload for ``duration`` seconds at ``rate`` requests/s; the final stats.

    ``seed`` None draws a fresh one (:func:`new_seed`); the stats name it.
    After ``duration`` the demo waits up to ``drain`` seconds for requests in
    flight to end; ``stats.in_flight`` counts the spans that had not.
    ``on_tick(elapsed_seconds, stats)`` is called after every send round (progress bars).
    """
    clock = SystemClock() if clock is None else clock
    seed = new_seed() if seed is None else seed
    start = clock.now_ns()
    end = start + int(duration * 1e9)
    deadline = end + int(max(0.0, drain) * 1e9)
    run = DemoRun(seed, start, end, rate)
    sender = DemoSender(endpoint)
    stats = sender.stats
    stats.seed = seed
    try:
        while True:
            now = min(clock.now_ns(), deadline)
            out = run.tick(now)
            done = now >= end and (now >= deadline or not run.pending)
            if done:
                out.points.extend(run.finish(now))
            if out.spans:
                body = encode_spans(out.spans).SerializeToString()
                sender.send(Signal.TRACES, body, len(out.spans))
                stats.requests += sum(1 for s in out.spans if is_request(s))
            if out.logs:
                body = encode_logs(out.logs).SerializeToString()
                sender.send(Signal.LOGS, body, len(out.logs))
            if out.points:
                body = encode_metrics(out.points).SerializeToString()
                sender.send(Signal.METRICS, body, len(out.points))
            stats.in_flight = len(run.pending)
            if on_tick is not None:
                on_tick(min(now - start, end - start) / 1e9, stats)
            if done:
                return stats
            wait_until = end if now < end else deadline
            clock.sleep(min(TICK_SECONDS, (wait_until - now) / 1e9))
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
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Workload random seed, to replay a run (its ids too). Default: a fresh one each run.",
)
@click.option(
    "--drain",
    type=float,
    default=DRAIN_SECONDS,
    show_default=True,
    help="Seconds to wait after --duration for requests in flight to end (a span is sent "
    "when it ends).",
)
def demo(rate: float, duration: float, endpoint: str, seed: int | None, drain: float) -> None:
    """Send synthetic LLM-serving telemetry (traces, logs, metrics) to a collector."""
    if rate <= 0 or duration <= 0:
        raise click.UsageError("--rate and --duration must be positive")
    if drain < 0:
        raise click.UsageError("--drain must not be negative")
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
                f"{sent['metric_points']:,} points, {stats.in_flight:,} spans in flight",
            )

        try:
            stats = run_demo(endpoint, rate, duration, seed, tick, drain=drain)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from None
    table = Table(
        title=f"Sent to {endpoint}",
        caption=f"seed {stats.seed}",
    )
    for column in ("signal", "sent", "rejected"):
        table.add_column(column, justify="right" if column != "signal" else "left")
    for label, sent in stats.sent.items():
        table.add_row(label, f"{sent:,}", f"{stats.rejected[label]:,}")
    console.print(table)
    console.print(f"Replay this run (same ids, stored once) with --seed {stats.seed}")
    if stats.in_flight:
        console.print(
            f"{stats.in_flight:,} spans not sent: their requests had not ended "
            f"{drain:g} s after the run (see --drain)"
        )
    if stats.failed_requests:
        console.print(f"[red]{stats.failed_requests} requests failed[/red] ({stats.last_error})")
