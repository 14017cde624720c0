"""``infertrace demo``: fresh or replayed ids, each span sent when it ends, metrics that agree.

The demo runs on a fake clock (instantly, deterministically) against a real
collector on 127.0.0.1; what it should have sent is computed here, from the
workload regenerated with the run's seed or from the spans the store holds,
never from the demo's own counters.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.cli.demo import TICK_SECONDS, DemoRun, DemoStats, PendingSpans, run_demo
from infertrace.model import MetricPoint, MetricType, Span, SpanKind, StatusCode
from infertrace.telemetry.filters import MetricFilter, SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import SCOPE_KEYS, big_store, running

SECOND = 1_000_000_000


class FakeClock:
    """A clock that only moves when the demo sleeps."""

    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def now_ns(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += round(seconds * SECOND)


def requests_of(seed: int, rate: float, start: int, duration: float) -> list[list[Span]]:
    """Every trace a demo run generates: those starting by its end, regenerated here."""
    workload, traces = Workload(seed, start, rate), []
    while workload.now_ns <= start + int(duration * SECOND):
        traces.append(workload.trace())
    return traces


def is_request(span: Span) -> bool:
    return not span.parent_span_id and span.kind == SpanKind.SERVER and bool(span.model_name)


# --- the pending list and the demo's clockwork, no server -----------------------------

PENDING: dict[str, tuple[list[tuple[int, int]], int, list[int]]] = {
    # (start, duration) of each span, the clock, the indexes handed out in order
    "nothing has ended": ([(0, 10), (5, 10)], 9, []),
    "a span ending now has ended": ([(0, 10)], 10, [0]),
    "end order, not start order": ([(0, 30), (5, 10), (10, 1)], 30, [2, 1, 0]),
    "only the ended ones": ([(0, 30), (5, 10), (6, 2)], 20, [2, 1]),
    "same end: arrival order": ([(0, 10), (5, 5), (9, 1)], 10, [0, 1, 2]),
    "zero duration": ([(4, 0), (3, 2)], 4, [0]),
}


@pytest.mark.parametrize(("spans", "now", "want"), list(PENDING.values()), ids=list(PENDING))
def test_pending_spans_hand_out_ended_spans_in_end_order(
    spans: list[tuple[int, int]], now: int, want: list[int]
) -> None:
    made = [
        Span(b"t" * 16, bytes([i]) * 8, "svc", f"op{i}", start, duration)
        for i, (start, duration) in enumerate(spans)
    ]
    pending = PendingSpans()
    pending.add(made)
    pending._check()
    assert [s.operation_name for s in pending.pop_ended(now)] == [f"op{i}" for i in want]
    pending._check()
    assert len(pending) == len(spans) - len(want)
    assert all(s.end_time_unix_nano > now for s in pending)
    assert pending.pop_ended(now) == []


@dataclass(frozen=True)
class Clockwork:
    rate: float
    duration: float
    tick: float
    drain: float


CLOCKWORK = {
    "demo's tick, everything drains": Clockwork(rate=25, duration=3, tick=TICK_SECONDS, drain=10),
    "no drain: requests left in flight": Clockwork(rate=25, duration=3, tick=TICK_SECONDS, drain=0),
    "slow irregular ticks": Clockwork(rate=40, duration=2.5, tick=0.7, drain=1.3),
    "fast ticks, high rate": Clockwork(rate=200, duration=1.5, tick=0.05, drain=0.5),
}


@pytest.mark.parametrize("case", list(CLOCKWORK.values()), ids=list(CLOCKWORK))
def test_each_span_is_sent_at_the_first_tick_after_it_ends(case: Clockwork) -> None:
    seed, start = 5, 1_760_000_000 * SECOND
    end = start + int(case.duration * SECOND)
    final = end + int(case.drain * SECOND)
    run = DemoRun(seed, start, end, case.rate)
    clock = FakeClock(start)
    sent_at: dict[bytes, int] = {}
    previous = start - 1
    collections: dict[int, list[MetricPoint]] = defaultdict(list)
    while True:
        now = min(clock.now_ns(), final)
        out = run.tick(now)
        if now == final:
            out.points.extend(run.finish(now))
        for span in out.spans:
            assert previous < span.end_time_unix_nano <= now, "sent before it ended, or late"
            assert span.span_id not in sent_at, "sent twice"
            sent_at[span.span_id] = now
        for point in out.points:
            assert point.time_unix_nano <= now
            collections[point.time_unix_nano].append(point)
        run.pending._check()
        if now == final:
            break
        previous = now
        clock.sleep(case.tick)

    traces = requests_of(seed, case.rate, start, case.duration)
    everything = [s for trace in traces for s in trace]
    assert {s.span_id for s in everything if s.end_time_unix_nano <= final} == set(sent_at)
    assert {s.span_id for s in run.pending} == {
        s.span_id for s in everything if s.end_time_unix_nano > final
    }
    # one collection a second of demo time, and a last one when the run stops
    grid = list(range(start + SECOND, final + 1, SECOND))
    assert sorted(collections) == sorted({*grid, final})
    requests = [t[0] for t in traces]
    for at, points in collections.items():
        ended = sum(1 for r in requests if r.end_time_unix_nano <= at)
        running = sum(1 for r in requests if r.start_time_unix_nano <= at < r.end_time_unix_nano)
        assert total(points, "vllm:request_success_total") == ended, at
        assert total(points, "vllm:num_requests_running") == running, at


def total(points: list[MetricPoint], name: str) -> float:
    return sum(p.value or 0 for p in points if p.name == name)


# --- against a real collector -----------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[MemoryStore, str]]:
    store = big_store()
    with running(store) as endpoints:
        yield store, endpoints.http_url
    store.close()


def demo(
    url: str, seed: int | None, rate: float = 20, duration: float = 2, drain: float = 10
) -> tuple[DemoStats, int]:
    """One run on a fake clock starting now; its stats and its start."""
    clock = FakeClock(time.time_ns())
    start = clock.now
    stats = run_demo(url, rate, duration, seed, drain=drain, clock=clock)
    assert stats.failed_requests == 0, stats.last_error
    return stats, start


def stored_traces(store: MemoryStore) -> set[bytes]:
    return {s.trace_id for s in store.list_spans(SpanFilter(limit=10_000))}


RERUNS = {
    "no --seed: fresh ids, stored twice": ((None, None), False),
    "same --seed: same ids, stored once": ((7, 7), True),
}


@pytest.mark.parametrize(("seeds", "replay"), list(RERUNS.values()), ids=list(RERUNS))
def test_a_second_run_adds_traces_unless_it_replays_a_seed(
    served: tuple[MemoryStore, str], seeds: tuple[int | None, int | None], replay: bool
) -> None:
    store, url = served
    runs: list[DemoStats] = []
    ids: list[set[bytes]] = []
    for seed in seeds:
        stats, start = demo(url, seed)
        runs.append(stats)
        ids.append({t[0].trace_id for t in requests_of(stats.seed, 20, start, 2)})
        assert stats.in_flight == 0
        assert stored_traces(store) == set().union(*ids)
    assert (runs[0].seed == runs[1].seed) is replay
    if replay:
        assert ids[0] == ids[1]
        assert len(stored_traces(store)) == len(ids[0])
    else:
        assert ids[0].isdisjoint(ids[1])
        assert len(stored_traces(store)) == len(ids[0]) + len(ids[1])
    assert store.stats().spans.count == 6 * len(stored_traces(store))


def latest(points: list[MetricPoint]) -> list[MetricPoint]:
    """The newest point of each series (name, pod, labels)."""
    newest: dict[tuple[object, ...], MetricPoint] = {}
    for p in points:
        labels = frozenset((k, v) for k, v in p.attributes.items() if k not in SCOPE_KEYS)
        key = (p.name, p.resource_attributes["service.instance.id"], labels)
        if key not in newest or newest[key].time_unix_nano < p.time_unix_nano:
            newest[key] = p
    return list(newest.values())


def nonzero(values: dict[str, float]) -> dict[str, float]:
    """Without the models whose value is 0 (every pod reports from its first collection)."""
    return {k: v for k, v in values.items() if v}


def per_model(points: list[MetricPoint], name: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for p in points:
        if p.name == name:
            assert p.histogram is None
            out[str(p.attributes["model_name"])] += p.value or 0
    return dict(out)


AGREE = {
    "every request ended": (30, 3, 10),
    "requests in flight at the end": (30, 3, 0),
}


@pytest.mark.parametrize(("rate", "duration", "drain"), list(AGREE.values()), ids=list(AGREE))
def test_metrics_agree_with_the_stored_spans(
    served: tuple[MemoryStore, str], rate: float, duration: float, drain: float
) -> None:
    store, url = served
    stats, start = demo(url, None, rate, duration, drain)
    spans = store.list_spans(SpanFilter(limit=10_000))
    requests = [s for s in spans if is_request(s)]
    assert requests
    points = store.list_metric_points(MetricFilter(limit=10_000))
    now = latest(points)

    def by_model(value: Callable[[Span], float]) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for r in requests:
            out[str(r.model_name)] += value(r)
        return nonzero(out)

    models = by_model(lambda r: 1)
    assert nonzero(per_model(now, "vllm:request_success_total")) == models
    for reason, status in (("stop", StatusCode.OK), ("error", StatusCode.ERROR)):
        with_reason = [p for p in now if p.attributes.get("finished_reason") == reason]
        assert nonzero(per_model(with_reason, "vllm:request_success_total")) == by_model(
            lambda r, status=status: r.status_code == status  # type: ignore[misc]
        )
    assert nonzero(per_model(now, "vllm:prompt_tokens_total")) == by_model(
        lambda r: r.input_tokens or 0
    )
    assert nonzero(per_model(now, "vllm:generation_tokens_total")) == by_model(
        lambda r: r.output_tokens or 0
    )

    hist: dict[str, dict[str, tuple[int, float, int]]] = defaultdict(dict)
    for p in now:
        if p.type == MetricType.HISTOGRAM:
            h = p.histogram
            assert h is not None
            model = str(p.attributes["model_name"])
            count, total_s, buckets = hist[p.name].get(model, (0, 0.0, 0))
            hist[p.name][model] = (
                count + h.count,
                total_s + (h.sum or 0),
                buckets + sum(h.bucket_counts),
            )
    e2e = hist["vllm:e2e_request_latency_seconds"]
    durations = by_model(lambda r: r.duration_nanos / 1e9)
    for model, n in models.items():
        count, seconds, buckets = e2e[model]
        assert count == buckets == n
        assert math.isclose(seconds, durations[model], rel_tol=1e-9)
    ttft = hist["vllm:time_to_first_token_seconds"]
    first_tokens = by_model(lambda r: r.status_code != StatusCode.ERROR)
    ttft_sums = by_model(lambda r: 0 if r.is_error else (r.time_to_first_token_nanos or 0) / 1e9)
    for model, n in first_tokens.items():
        assert ttft[model][0] == ttft[model][2] == n
        assert math.isclose(ttft[model][1], ttft_sums[model], rel_tol=1e-9)

    # the requests still running when the demo stopped are the ones it did not send
    end = start + int((duration + drain) * SECOND)
    generated = requests_of(stats.seed, rate, start, duration)
    in_flight = [t[0] for t in generated if t[0].end_time_unix_nano > end]
    assert len(requests) == len(generated) - len(in_flight)
    assert bool(in_flight) is (drain == 0)
    assert sum(per_model(now, "vllm:num_requests_running").values()) == len(in_flight)
    unsent = [s for t in generated for s in t if s.end_time_unix_nano > end]
    assert stats.in_flight == len(unsent) == 6 * len(generated) - len(spans)

    for p in points:  # cumulative from the demo's start, vLLM's labels, the pod's resource
        assert {"service.name", "service.instance.id", "k8s.pod.name"} <= set(p.resource_attributes)
        assert {"model_name", "engine"} <= set(p.attributes)
        if p.type == MetricType.SUM:
            assert p.is_monotonic and p.start_time_unix_nano == start
        elif p.type == MetricType.HISTOGRAM:
            assert p.start_time_unix_nano == start


def test_counters_never_go_down(served: tuple[MemoryStore, str]) -> None:
    store, url = served
    demo(url, 3, rate=30, duration=4, drain=0)
    series: dict[tuple[object, ...], list[MetricPoint]] = defaultdict(list)
    for p in store.list_metric_points(MetricFilter(limit=10_000)):
        labels = frozenset((k, v) for k, v in p.attributes.items() if k not in SCOPE_KEYS)
        series[p.name, p.resource_attributes["service.instance.id"], labels].append(p)
    for key, points in series.items():
        points.sort(key=lambda p: p.time_unix_nano)
        if points[0].type == MetricType.SUM:
            values = [p.value or 0 for p in points]
        elif points[0].type == MetricType.HISTOGRAM:
            values = [p.histogram.count if p.histogram else 0 for p in points]
        else:
            continue
        assert values == sorted(values), key


CLI = {
    "fresh seed, printed": ([], None),
    "given seed, printed": (["--seed", "42"], 42),
}


@pytest.mark.parametrize(("args", "seed"), list(CLI.values()), ids=list(CLI))
def test_the_final_table_names_the_seed(
    served: tuple[MemoryStore, str], args: list[str], seed: int | None
) -> None:
    _, url = served
    command = ["demo", "--rate", "20", "--duration", "0.5", "--drain", "0", "--endpoint", url]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, [*command, *args])
    assert result.exit_code == 0, result.output
    in_table = re.search(r"^ *seed (\d+) *$", result.output, re.MULTILINE)
    replay = re.search(r"with --seed (\d+)$", result.output, re.MULTILINE)
    assert in_table and replay, result.output
    assert in_table.group(1) == replay.group(1)
    if seed is not None:
        assert int(in_table.group(1)) == seed


def test_a_negative_drain_is_refused() -> None:
    result = CliRunner().invoke(main, ["demo", "--drain", "-1"])
    assert result.exit_code != 0
    assert "--drain must not be negative" in result.output
