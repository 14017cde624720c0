"""Metric points shaped as vLLM, SGLang and GenAI-instrumented apps send them over OTLP.

vLLM and SGLang expose Prometheus metrics; an OpenTelemetry Collector scraping them
(prometheus receiver) sends cumulative sums and histograms whose start time is the
process start, with the Prometheus labels as attributes. Names, labels and bucket
bounds are the producers' own: vLLM ``vllm/v1/metrics/loggers.py``
(PrometheusStatLogger: labels ``model_name``, ``engine``; ``request_success`` by
``finished_reason``); SGLang ``python/sglang/srt/metrics/collector.py``; the GenAI
metrics from https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/
(explicit bucket advice for durations and token usage; ``error.type`` on failures).

Each simulated pod records what happened between scrapes (:class:`Interval`) and
keeps the expected figures itself (:class:`Truth`), by plain loops, so tests never
take an expected figure from the code under test.
"""

from __future__ import annotations

import bisect
import random
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest

from infertrace.model import HistogramData, MetricPoint, MetricType, Temporality

S = 1_000_000_000
VLLM_LATENCY = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
                50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
VLLM_TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
             5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
VLLM_TPOT = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
             7.5, 10.0, 20.0, 40.0, 80.0)  # fmt: skip
GENAI_DURATION = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                  40.96, 81.92)  # fmt: skip
GENAI_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                16777216, 67108864)  # fmt: skip


@dataclass
class Interval:
    """What one pod served between two scrapes."""

    e2e: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)
    queue: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    prompt: int = 0
    generation: int = 0


def random_interval(rng: random.Random, requests: int) -> Interval:
    iv = Interval()
    for _ in range(requests):
        iv.e2e.append(rng.uniform(0.2, 6.0))
        iv.ttft.append(rng.uniform(0.005, 0.9))
        iv.tpot.append(rng.uniform(0.01, 0.3))
        iv.queue.append(rng.uniform(0.0, 1.2))
        iv.reasons.append(rng.choice(("stop", "stop", "stop", "length", "abort")))
        iv.prompt += rng.randint(10, 900)
        iv.generation += rng.randint(1, 400)
    return iv


@dataclass
class Truth:
    """The expected figures of what a window saw, from the raw observations."""

    e2e: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    tpot: list[float] = field(default_factory=list)
    queue: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    prompt: int = 0
    generation: int = 0

    def add(self, iv: Interval | Truth) -> None:
        self.e2e += iv.e2e
        self.ttft += iv.ttft
        self.tpot += iv.tpot
        self.queue += iv.queue
        self.reasons += iv.reasons
        self.prompt += iv.prompt
        self.generation += iv.generation


def bucket_counts(values: list[float], bounds: tuple[float, ...]) -> list[int]:
    """Prometheus buckets: a value goes to the first bound it does not exceed."""
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[bisect.bisect_left(bounds, v)] += 1
    return counts


def quantile(q: float, values: list[float], bounds: tuple[float, ...]) -> float | None:
    """Prometheus ``histogram_quantile`` over ``values`` bucketed by ``bounds``, in a
    plain loop (the README's rule), in seconds."""
    counts = bucket_counts(values, bounds)
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if seen + c >= rank and c:
            if i == len(bounds):
                return bounds[-1]
            lower = 0.0 if i == 0 else bounds[i - 1]
            return lower + (bounds[i] - lower) * (rank - seen) / c
        seen += c
    return bounds[-1]


class Histo:
    """A cumulative Prometheus histogram."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, values: list[float]) -> None:
        for i, c in enumerate(bucket_counts(values, self.bounds)):
            self.counts[i] += c
        self.sum += sum(values)

    def data(self) -> HistogramData:
        return HistogramData(
            count=sum(self.counts),
            sum=self.sum,
            bounds=self.bounds,
            bucket_counts=tuple(self.counts),
        )


@dataclass
class Scrape:
    """One gauge reading of a pod."""

    running: int
    waiting: int
    cache: float


def vllm_pod(
    model: str,
    pod: str,
    times: list[int],
    since: int,
    start: int,
    intervals: list[Interval],
    scrapes: list[Scrape],
    restarts: dict[int, int] | None = None,
    total_suffix: bool = True,
    service: str = "vllm",
) -> tuple[list[MetricPoint], Truth]:
    """A vLLM pod scraped at ``times``: interval ``k`` happened just before scrape ``k``;
    ``restarts`` maps a scrape index to the new process start time (counts restart
    from zero). The truth counts what happened in the window: every interval but the
    first, and the first too when the process started inside the window."""
    restarts = restarts or {}
    labels = {"model_name": model, "engine": "0"}
    resource = MappingProxyType({"service.name": service, "k8s.pod.name": pod})
    truth = Truth()
    points: list[MetricPoint] = []
    suffix = "_total" if total_suffix else ""
    state = _VllmState()
    for k, (t, iv, sc) in enumerate(zip(times, intervals, scrapes, strict=True)):
        if k in restarts:
            start, state = restarts[k], _VllmState()
        state.take(iv)
        if k > 0 or start >= since:
            truth.add(iv)

        def pt(name: str, kind: MetricType, value: float | None = None,
               hist: HistogramData | None = None, extra: dict[str, str] | None = None,
               t: int = t, start: int = start) -> MetricPoint:  # fmt: skip
            cumulative = kind is not MetricType.GAUGE
            return MetricPoint(
                name=name,
                type=kind,
                service_name=service,
                time_unix_nano=t,
                value=value,
                unit="s" if name.endswith("_seconds") else "",
                start_time_unix_nano=start if cumulative else 0,
                attributes=MappingProxyType({**labels, **(extra or {})}),
                resource_attributes=resource,
                histogram=hist,
                is_monotonic=kind is MetricType.SUM,
                temporality=Temporality.CUMULATIVE if cumulative else Temporality.UNSPECIFIED,
            )

        H, C, G = MetricType.HISTOGRAM, MetricType.SUM, MetricType.GAUGE
        points += [
            pt("vllm:e2e_request_latency_seconds", H, hist=state.e2e.data()),
            pt("vllm:time_to_first_token_seconds", H, hist=state.ttft.data()),
            pt("vllm:time_per_output_token_seconds", H, hist=state.tpot.data()),
            pt("vllm:request_queue_time_seconds", H, hist=state.queue.data()),
            pt(f"vllm:prompt_tokens{suffix}", C, float(state.prompt)),
            pt(f"vllm:generation_tokens{suffix}", C, float(state.generation)),
            *(
                pt(f"vllm:request_success{suffix}", C, float(n), extra={"finished_reason": r})
                for r, n in state.reasons.items()
            ),
            pt("vllm:num_requests_running", G, float(sc.running)),
            pt("vllm:num_requests_waiting", G, float(sc.waiting)),
            pt("vllm:kv_cache_usage_perc", G, sc.cache),
        ]
    return points, truth


class _VllmState:
    def __init__(self) -> None:
        self.e2e = Histo(VLLM_LATENCY)
        self.ttft = Histo(VLLM_TTFT)
        self.tpot = Histo(VLLM_TPOT)
        self.queue = Histo(VLLM_LATENCY)
        self.prompt = 0
        self.generation = 0
        # vLLM creates one series per finish reason up front (loggers.py)
        self.reasons = {"stop": 0, "length": 0, "abort": 0}

    def take(self, iv: Interval) -> None:
        self.e2e.observe(iv.e2e)
        self.ttft.observe(iv.ttft)
        self.tpot.observe(iv.tpot)
        self.queue.observe(iv.queue)
        self.prompt += iv.prompt
        self.generation += iv.generation
        for r in iv.reasons:
            self.reasons[r] += 1


def genai_delta_app(
    model: str, times: list[int], intervals: list[Interval], service: str = "chat-app"
) -> tuple[list[MetricPoint], Truth, int]:
    """An app instrumented with the GenAI metrics, exporting DELTA temporality (each
    point covers the interval since the previous export). An ``abort`` reason stands
    for a failed call: its duration goes to the series with ``error.type``. Returns
    the points, the truth (every interval: deltas all fall in the window) and the
    number of failed calls."""
    truth, points, failed = Truth(), [], 0
    resource = MappingProxyType({"service.name": service, "service.instance.id": f"{service}-1"})
    base = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
            "gen_ai.system": "openai"}  # fmt: skip
    prev = times[0] - 15 * S
    for t, iv in zip(times, intervals, strict=True):
        truth.add(iv)
        ok = [d for d, r in zip(iv.e2e, iv.reasons, strict=True) if r != "abort"]
        bad = [d for d, r in zip(iv.e2e, iv.reasons, strict=True) if r == "abort"]
        failed += len(bad)

        def hist(name: str, values: list[float], bounds: tuple[float, ...], unit: str,
                 extra: dict[str, str]) -> MetricPoint:  # fmt: skip
            h = Histo(bounds)
            h.observe(values)
            return MetricPoint(
                name=name,
                type=MetricType.HISTOGRAM,
                service_name=service,
                time_unix_nano=t,  # noqa: B023
                unit=unit,
                start_time_unix_nano=prev,  # noqa: B023
                attributes=MappingProxyType({**base, **extra}),
                resource_attributes=resource,
                histogram=h.data(),
                temporality=Temporality.DELTA,
            )

        points += [
            hist("gen_ai.client.operation.duration", ok, GENAI_DURATION, "s", {}),
            hist("gen_ai.client.operation.duration", bad, GENAI_DURATION, "s",
                 {"error.type": "timeout"}),
            hist("gen_ai.client.token.usage", [float(iv.prompt)], GENAI_TOKENS, "{token}",
                 {"gen_ai.token.type": "input"}),
            hist("gen_ai.client.token.usage", [float(iv.generation)], GENAI_TOKENS, "{token}",
                 {"gen_ai.token.type": "output"}),
        ]  # fmt: skip
        prev = t
    return points, truth, failed


def sglang_pod(
    model: str, pod: str, times: list[int], since: int, start: int, intervals: list[Interval]
) -> tuple[list[MetricPoint], Truth]:
    """An SGLang pod scraped at ``times`` (cumulative; counters keep ``_total``)."""
    labels = MappingProxyType({"model_name": model})
    resource = MappingProxyType({"service.name": "sglang", "k8s.pod.name": pod})
    e2e, ttft, queue = Histo(VLLM_LATENCY), Histo(VLLM_TTFT), Histo(VLLM_LATENCY)
    truth, points, n, aborted, prompt, gen = Truth(), [], 0, 0, 0, 0
    for k, (t, iv) in enumerate(zip(times, intervals, strict=True)):
        e2e.observe(iv.e2e)
        ttft.observe(iv.ttft)
        queue.observe(iv.queue)
        n += len(iv.e2e)
        aborted += iv.reasons.count("abort")
        prompt += iv.prompt
        gen += iv.generation
        if k > 0 or start >= since:
            truth.add(iv)
        common = {"service_name": "sglang", "time_unix_nano": t, "start_time_unix_nano": start,
                  "attributes": labels, "resource_attributes": resource,
                  "temporality": Temporality.CUMULATIVE}  # fmt: skip
        points += [
            MetricPoint("sglang:e2e_request_latency_seconds", MetricType.HISTOGRAM,
                        histogram=e2e.data(), unit="s", **common),  # type: ignore[arg-type]
            MetricPoint("sglang:time_to_first_token_seconds", MetricType.HISTOGRAM,
                        histogram=ttft.data(), unit="s", **common),  # type: ignore[arg-type]
            MetricPoint("sglang:queue_time_seconds", MetricType.HISTOGRAM,
                        histogram=queue.data(), unit="s", **common),  # type: ignore[arg-type]
            MetricPoint("sglang:num_requests_total", MetricType.SUM, value=float(n),
                        is_monotonic=True, **common),  # type: ignore[arg-type]
            MetricPoint("sglang:num_aborted_requests_total", MetricType.SUM,
                        value=float(aborted), is_monotonic=True, **common),  # type: ignore[arg-type]
            MetricPoint("sglang:prompt_tokens_total", MetricType.SUM, value=float(prompt),
                        is_monotonic=True, **common),  # type: ignore[arg-type]
            MetricPoint("sglang:generation_tokens_total", MetricType.SUM, value=float(gen),
                        is_monotonic=True, **common),  # type: ignore[arg-type]
        ]  # fmt: skip
    return points, truth


LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
GPT = "gpt-4o-mini"
SCRAPES = 40


class Fleet:
    """Two vLLM pods (one restarts, one sends counters without ``_total``), an SGLang
    pod and a GenAI app, over ten minutes of 15 s scrapes."""

    def __init__(self) -> None:
        rng = random.Random(5)
        now = time.time_ns() // S * S
        self.since = now - 20 * 60 * S
        self.until = now
        times = [self.since + 30 * S + 15 * S * k for k in range(SCRAPES)]

        def intervals() -> list[Any]:
            return [random_interval(rng, rng.randint(0, 6)) for _ in range(SCRAPES)]

        def scrapes() -> list[Scrape]:
            return [Scrape(rng.randint(0, 9), rng.randint(0, 4), rng.random()) for _ in times]

        self.scrapes = {"vllm-a": scrapes(), "vllm-b": scrapes()}
        ivs = {pod: intervals() for pod in ("vllm-a", "vllm-b", "sglang-0", "chat-app-1")}
        a, self.a = vllm_pod(LLAMA, "vllm-a", times, self.since, self.since - 3600 * S,
                             ivs["vllm-a"], self.scrapes["vllm-a"])  # fmt: skip
        b, self.b = vllm_pod(LLAMA, "vllm-b", times, self.since, self.since + 5 * S,
                             ivs["vllm-b"], self.scrapes["vllm-b"],
                             restarts={20: times[19] + 7 * S}, total_suffix=False)  # fmt: skip
        c, self.c = sglang_pod(QWEN, "sglang-0", times, self.since, self.since - 60 * S,
                               ivs["sglang-0"])  # fmt: skip
        g, self.g, self.g_failed = genai_delta_app(GPT, times, ivs["chat-app-1"])
        self.points: list[MetricPoint] = [*a, *b, *c, *g]
        self.seconds = (self.until - self.since) / 1e9
        # what each pod served inside the window, with the time of the scrape that saw it:
        # pods a and c started before the window (their first scrape's counts are older),
        # pod b inside it, and the GenAI app sends deltas
        self.served = {
            pod: [(t, iv) for k, (t, iv) in enumerate(zip(times, ivs[pod], strict=True))
                  if k > 0 or pod in ("vllm-b", "chat-app-1")]
            for pod in ivs
        }  # fmt: skip
        self.model = {"vllm-a": LLAMA, "vllm-b": LLAMA, "sglang-0": QWEN, "chat-app-1": GPT}


def ns(seconds: float | None) -> Any:
    return None if seconds is None else pytest.approx(seconds * 1e9, rel=1e-9)


def expected(truth: Truth, errors: int | None, seconds: float, *, genai: bool = False,
             sglang: bool = False) -> dict[str, Any]:  # fmt: skip
    """The row a user expects from what the pods recorded in the window."""
    lat_bounds = GENAI_DURATION if genai else VLLM_LATENCY
    requests = len(truth.e2e)
    timed = not genai
    decode = sum(truth.e2e) - sum(truth.ttft)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": None if errors is None else pytest.approx(errors / requests),
        "latency_p50_ns": ns(quantile(0.5, truth.e2e, lat_bounds)),
        "latency_p90_ns": ns(quantile(0.9, truth.e2e, lat_bounds)),
        "latency_p95_ns": ns(quantile(0.95, truth.e2e, lat_bounds)),
        "latency_p99_ns": ns(quantile(0.99, truth.e2e, lat_bounds)),
        "queue_p50_ns": ns(quantile(0.5, truth.queue, VLLM_LATENCY)) if timed else None,
        "queue_p95_ns": ns(quantile(0.95, truth.queue, VLLM_LATENCY)) if timed else None,
        "ttft_p50_ns": ns(quantile(0.5, truth.ttft, VLLM_TTFT)) if timed else None,
        "ttft_p95_ns": ns(quantile(0.95, truth.ttft, VLLM_TTFT)) if timed else None,
        "tpot_p50_ns": ns(quantile(0.5, truth.tpot, VLLM_TPOT)) if timed and not sglang else None,
        "tpot_p95_ns": ns(quantile(0.95, truth.tpot, VLLM_TPOT)) if timed and not sglang else None,
        "input_tokens": truth.prompt,
        "output_tokens": truth.generation,
        "output_tokens_per_second": pytest.approx(truth.generation / decode) if timed else None,
        "request_rate": pytest.approx(requests / seconds),
        "output_token_rate": pytest.approx(truth.generation / seconds),
    }
