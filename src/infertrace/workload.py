"""A synthetic LLM-serving workload: traces, logs and metrics that look real.

Each request is a trace of a root span (the inference request, carrying the
model columns and GenAI attributes) and five children: queue, tokenize,
prefill, decode, detokenize. Several services, pods and models; 1% of requests
fail. Used by the benchmarks, the ``demo`` command and tests. Deterministic for
a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

from infertrace.model import (
    Attributes,
    HistogramData,
    LogRecord,
    MetricPoint,
    MetricType,
    Span,
    SpanEvent,
    SpanKind,
    StatusCode,
    Temporality,
)

MODELS = (
    ("meta-llama/Llama-3.1-70B-Instruct", "vllm-llama-70b", 900.0),
    ("meta-llama/Llama-3.1-8B-Instruct", "vllm-llama-8b", 250.0),
    ("mistralai/Mistral-7B-Instruct-v0.3", "tgi-mistral-7b", 300.0),
    ("Qwen/Qwen2.5-14B-Instruct", "vllm-qwen-14b", 450.0),
)
"""(model, serving service, typical request latency in ms)."""

PODS_PER_SERVICE = 3
CHILD_OPERATIONS = ("queue", "tokenize", "prefill", "decode", "detokenize")
ERROR_RATE = 0.01
_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class Pod:
    """One model-serving pod and the resource attributes it reports."""

    service: str
    name: str
    model: str
    latency_ms: float
    resource: Attributes


def pods() -> list[Pod]:
    """Every pod of the workload, with shared (interned) resource attribute maps."""
    out = []
    for model, service, latency in MODELS:
        for i in range(PODS_PER_SERVICE):
            name = f"{service}-{i:02d}"
            resource = MappingProxyType(
                {
                    "service.name": service,
                    "service.instance.id": name,
                    "k8s.pod.name": name,
                    "k8s.namespace.name": "inference",
                    "telemetry.sdk.language": "python",
                }
            )
            out.append(Pod(service, name, model, latency, resource))
    return out


class Workload:
    """Generates requests (traces) one after another along a clock.

    ``rate`` is requests per second of simulated time; ``start_ns`` the first
    request's start.
    """

    def __init__(
        self, seed: int = 0, start_ns: int = 1_700_000_000_000_000_000, rate: float = 200.0
    ):
        self._rng = random.Random(seed)
        self._pods = pods()
        self._now = start_ns
        self._gap = int(1e9 / rate)
        self._static = {
            op: MappingProxyType({"component": "engine", "engine.stage": op})
            for op in CHILD_OPERATIONS
        }

    @property
    def now_ns(self) -> int:
        return self._now

    def trace(self) -> list[Span]:
        """One request: the root span first, then its five children."""
        rng = self._rng
        pod = self._pods[rng.randrange(len(self._pods))]
        trace_id = rng.randbytes(16)
        root_id = rng.randbytes(8)
        start = self._now
        self._now += max(1, int(rng.expovariate(1.0) * self._gap))
        in_tok = rng.randint(20, 2000)
        out_tok = rng.randint(10, 800)
        batch = rng.randint(1, 64)
        queue = int(rng.expovariate(1 / 20) * _MS)
        prefill = int(in_tok * 0.05 * _MS * pod.latency_ms / 300)
        tokenize = int(rng.uniform(0.2, 2.0) * _MS)
        decode = int(out_tok * pod.latency_ms / 300 * rng.uniform(8, 14) * _MS / 10)
        detok = int(rng.uniform(0.1, 1.0) * _MS)
        ttft = queue + tokenize + prefill
        total = ttft + decode + detok
        failed = rng.random() < ERROR_RATE
        attrs = {
            "gen_ai.system": "vllm" if pod.service.startswith("vllm") else "tgi",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.temperature": rng.choice((0.0, 0.2, 0.7, 1.0)),
            "gen_ai.request.max_tokens": rng.choice((256, 512, 1024)),
            "gen_ai.response.finish_reasons": ("error",) if failed else ("stop",),
            "gen_ai.latency.time_in_queue": queue / 1e9,
        }
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            service_name=pod.service,
            operation_name=f"chat {pod.model.split('/')[-1]}",
            start_time_unix_nano=start,
            duration_nanos=total,
            kind=SpanKind.SERVER,
            status_code=StatusCode.ERROR if failed else StatusCode.OK,
            status_message="CUDA out of memory" if failed else "",
            model_name=pod.model,
            model_version="2024-07",
            batch_size=batch,
            input_tokens=in_tok,
            output_tokens=0 if failed else out_tok,
            gpu_utilization=round(rng.uniform(0.35, 0.98), 3),
            time_to_first_token_nanos=ttft,
            queue_time_nanos=queue,  # the columns its attributes lift into
            finish_reason="error" if failed else "stop",
            model_source="span",  # as the collector records a model its span names
            attributes=attrs,
            resource_attributes=pod.resource,
            events=(SpanEvent("first_token", start + ttft),) if not failed else (),
        )
        spans = [root]
        t = start
        for op, dur in zip(
            CHILD_OPERATIONS, (queue, tokenize, prefill, decode, detok), strict=True
        ):
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=rng.randbytes(8),
                    parent_span_id=root_id,
                    service_name=pod.service,
                    operation_name=op,
                    start_time_unix_nano=t,
                    duration_nanos=dur,
                    kind=SpanKind.INTERNAL,
                    attributes=self._static[op],
                    resource_attributes=pod.resource,
                )
            )
            t += dur
        return spans

    def spans(self, count: int) -> list[Span]:
        """At least ``count`` spans, whole traces only, trimmed to ``count``."""
        out: list[Span] = []
        while len(out) < count:
            out.extend(self.trace())
        return out[:count]

    def span_batches(self, total: int, batch_size: int = 512) -> Iterator[list[Span]]:
        """``total`` spans in batches of ``batch_size`` (made lazily, to keep memory flat)."""
        pending: list[Span] = []
        made = 0
        while made < total:
            while len(pending) < batch_size:
                pending.extend(self.trace())
            n = min(batch_size, total - made)
            yield pending[:n]
            pending = pending[n:]
            made += n

    def logs(self, count: int) -> list[LogRecord]:
        """Log records of requests: one line each, some tied to a trace."""
        rng = self._rng
        out = []
        for _ in range(count):
            pod = self._pods[rng.randrange(len(self._pods))]
            self._now += max(1, int(rng.expovariate(1.0) * self._gap))
            failed = rng.random() < ERROR_RATE
            out.append(
                LogRecord(
                    time_unix_nano=self._now,
                    observed_time_unix_nano=self._now + 1000,
                    service_name=pod.service,
                    severity_number=17 if failed else 9,
                    severity_text="ERROR" if failed else "INFO",
                    body=(
                        f"request failed: CUDA out of memory (model={pod.model})"
                        if failed
                        else f"finished request model={pod.model} tokens={rng.randint(10, 800)}"
                    ),
                    trace_id=rng.randbytes(16),
                    span_id=rng.randbytes(8),
                    attributes={"logger": "vllm.engine", "pod": pod.name},
                    resource_attributes=pod.resource,
                )
            )
        return out

    def metrics(self, count: int, interval_ns: int = 10_000_000_000) -> list[MetricPoint]:
        """Points of per-pod series (gauge, counter, histogram), one collection per interval."""
        rng = self._rng
        out: list[MetricPoint] = []
        bounds = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
        start = self._now
        served = {p.name: 0 for p in self._pods}
        while len(out) < count:
            self._now += interval_ns
            for pod in self._pods:
                attrs = MappingProxyType({"model": pod.model, "pod": pod.name})
                served[pod.name] += rng.randint(50, 500)
                buckets = tuple(rng.randint(0, 100) for _ in range(len(bounds) + 1))
                out.append(
                    MetricPoint(
                        name="vllm:gpu_cache_usage_perc",
                        type=MetricType.GAUGE,
                        service_name=pod.service,
                        time_unix_nano=self._now,
                        value=round(rng.uniform(0.1, 0.95), 4),
                        unit="1",
                        attributes=attrs,
                        resource_attributes=pod.resource,
                    )
                )
                out.append(
                    MetricPoint(
                        name="vllm:request_success_total",
                        type=MetricType.SUM,
                        service_name=pod.service,
                        time_unix_nano=self._now,
                        start_time_unix_nano=start,
                        value=float(served[pod.name]),
                        is_monotonic=True,
                        temporality=Temporality.CUMULATIVE,
                        attributes=attrs,
                        resource_attributes=pod.resource,
                    )
                )
                out.append(
                    MetricPoint(
                        name="vllm:e2e_request_latency_seconds",
                        type=MetricType.HISTOGRAM,
                        service_name=pod.service,
                        time_unix_nano=self._now,
                        start_time_unix_nano=start,
                        unit="s",
                        attributes=attrs,
                        resource_attributes=pod.resource,
                        temporality=Temporality.CUMULATIVE,
                        histogram=HistogramData(
                            count=sum(buckets),
                            sum=round(sum(buckets) * rng.uniform(0.2, 2.0), 3),
                            min=0.01,
                            max=9.5,
                            bounds=bounds,
                            bucket_counts=buckets,
                        ),
                    )
                )
        return out[:count]
