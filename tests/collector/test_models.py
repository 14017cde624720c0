"""Model resolution: span, resource, pod, config, in that order (issue 11 item 2).

The requests are shaped as vLLM V1 sends them. vllm/v1/engine/output_processor.py,
``OutputProcessor.do_tracing``: one ``llm_request`` span of SpanKind.SERVER per
finished request, scope ``vllm.llm_engine``, with the vllm/tracing.py SpanAttributes
(``gen_ai.usage.prompt_tokens`` / ``completion_tokens``, ``gen_ai.latency.*`` in float
seconds, ``gen_ai.request.id``, the sampling parameters ``gen_ai.request.top_p`` /
``max_tokens`` / ``temperature`` / ``n``) and no model attribute. Its metrics
(vllm/v1/metrics/loggers.py, PrometheusStatLogger) label every series with
``model_name`` (and ``engine``): ``vllm:num_requests_running{model_name=...,engine="0"}``
is a gauge. The resource is whatever the deployment sets (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``); the OpenTelemetry Operator and the k8s attributes
processor add ``k8s.pod.name`` and ``service.instance.id``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from infertrace.collector.models import ModelResolver, instance_of
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.model import MetricPoint, MetricType, Span
from infertrace.telemetry.batches import MetricBatch, SpanBatch
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.memory import MemoryStore

T0 = 1_700_000_000_000_000_000
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-14B-Instruct"
MAPPED = "mapped/Model-From-Config"
SERVICE = "vllm-llama-8b"
POD = {"service.name": SERVICE, "service.instance.id": "vllm-llama-8b-7d9f-0"}
OTHER_POD = {"service.name": SERVICE, "service.instance.id": "vllm-llama-8b-7d9f-1"}

_ids = itertools.count(1)


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    out = []
    for key, value in attrs.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        out.append(KeyValue(key=key, value=any_value))
    return out


def llm_request(**extra: Any) -> PbSpan:
    """A vLLM V1 ``llm_request`` span; ``extra`` attributes added (a model, for the span rule)."""
    n = next(_ids)
    attrs = {
        "gen_ai.request.id": f"chatcmpl-{n:032x}",
        "gen_ai.usage.prompt_tokens": 812,
        "gen_ai.usage.completion_tokens": 256,
        "gen_ai.request.top_p": 0.95,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.n": 1,
        "gen_ai.latency.time_in_queue": 0.0042,
        "gen_ai.latency.time_to_first_token": 0.0953,
        "gen_ai.latency.e2e": 2.3094,
        "gen_ai.latency.time_in_model_prefill": 0.0881,
        "gen_ai.latency.time_in_model_decode": 2.2017,
        "gen_ai.latency.time_in_model_inference": 2.2898,
    } | extra
    return PbSpan(
        trace_id=n.to_bytes(16, "big"),
        span_id=n.to_bytes(8, "big"),
        name="llm_request",
        kind=PbSpan.SPAN_KIND_SERVER,
        start_time_unix_nano=T0 + n,
        end_time_unix_nano=T0 + n + 2_311_000_000,
        attributes=kvs(attrs),
    )


def health_check() -> PbSpan:
    """A span with no inference data (an HTTP instrumentation's ``GET /health``)."""
    n = next(_ids)
    return PbSpan(
        trace_id=n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"), name="GET /health",
        kind=PbSpan.SPAN_KIND_SERVER, start_time_unix_nano=T0 + n, end_time_unix_nano=T0 + n + 9,
        attributes=kvs({"http.request.method": "GET", "http.route": "/health"}),
    )  # fmt: skip


def traces(resource: dict[str, Any], *spans: PbSpan) -> bytes:
    scope = InstrumentationScope(name="vllm.llm_engine")
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=kvs(resource)),
                scope_spans=[ScopeSpans(scope=scope, spans=list(spans))],
            )
        ]
    )
    return request.SerializeToString()


def running_gauge(resource: dict[str, Any], *models: str, label: str = "model_name") -> bytes:
    """``vllm:num_requests_running``, one point per model (as vLLM labels its series)."""
    points = [
        NumberDataPoint(time_unix_nano=T0, as_double=1.0, attributes=kvs({label: m, "engine": "0"}))
        for m in models
    ]
    metric = Metric(name="vllm:num_requests_running", gauge=Gauge(data_points=points))
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=kvs(resource)),
                scope_metrics=[ScopeMetrics(metrics=[metric])],
            )
        ]
    )
    return request.SerializeToString()


@dataclass
class Case:
    """Requests sent in order; the last span sent is the one checked."""

    sends: list[tuple[Signal, bytes]]
    expected: tuple[str | None, str | None]
    mapping: dict[str, str] = field(default_factory=dict)


def cases() -> Iterator[Any]:
    own = {"gen_ai.response.model": LLAMA}
    yield pytest.param(Case([(Signal.TRACES, traces(POD, llm_request(**own)))], (LLAMA, "span")),
                       id="span attribute")  # fmt: skip
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, QWEN)),
                (Signal.TRACES, traces(POD | {"gen_ai.request.model": QWEN}, llm_request(**own))),
            ],
            (LLAMA, "span"),
            {SERVICE: MAPPED},
        ),
        id="the span's own attribute wins over every other rule",
    )
    for key in ("gen_ai.request.model", "model_name", "llm.model_name"):
        yield pytest.param(
            Case([(Signal.TRACES, traces(POD | {key: LLAMA}, llm_request()))], (LLAMA, "resource")),
            id=f"resource {key}",
        )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, QWEN)),
                (Signal.TRACES, traces(POD | {"model_name": LLAMA}, llm_request())),
            ],
            (LLAMA, "resource"),
            {SERVICE: MAPPED},
        ),
        id="the resource wins over pod and config",
    )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, LLAMA)),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (LLAMA, "pod"),
        ),
        id="pod from vllm:num_requests_running{model_name}",
    )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, LLAMA, label="model")),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (LLAMA, "pod"),
        ),
        id="pod from a model label",
    )
    yield pytest.param(
        Case(
            [
                (Signal.TRACES, traces(POD, llm_request(**own))),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (LLAMA, "pod"),
        ),
        id="pod from an earlier span of the instance",
    )
    yield pytest.param(
        Case([(Signal.TRACES, traces(POD, llm_request(**own), llm_request()))], (LLAMA, "pod")),
        id="pod from a span of the same request",
    )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, LLAMA)),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (LLAMA, "pod"),
            {SERVICE: MAPPED},
        ),
        id="pod wins over config",
    )
    for what, sends in (
        ("metrics", [(Signal.METRICS, running_gauge(POD, LLAMA, QWEN))]),
        (
            "spans",
            [(Signal.TRACES, traces(POD, llm_request(**own), llm_request(**{"model_name": QWEN})))],
        ),
        (
            "spans and metrics",
            [
                (Signal.TRACES, traces(POD, llm_request(**own))),
                (Signal.METRICS, running_gauge(POD, QWEN)),
            ],
        ),
    ):
        last = [(Signal.TRACES, traces(POD, llm_request()))]
        yield pytest.param(Case(sends + last, (None, None)), id=f"two models known ({what})")
        yield pytest.param(
            Case(sends + last, (MAPPED, "config"), {SERVICE: MAPPED}),
            id=f"two models known ({what}), then config",
        )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(OTHER_POD, LLAMA)),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (None, None),
        ),
        id="another instance's model is not this one's",
    )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD | {"service.name": "other"}, LLAMA)),
                (Signal.TRACES, traces(POD, llm_request())),
            ],
            (None, None),
        ),
        id="the instance is within its service",
    )
    yield pytest.param(Case([(Signal.TRACES, traces(POD, llm_request()))], (None, None)),
                       id="nothing known")  # fmt: skip
    yield pytest.param(
        Case([(Signal.TRACES, traces(POD, llm_request()))], (MAPPED, "config"), {SERVICE: MAPPED}),
        id="config",
    )
    yield pytest.param(
        Case([(Signal.TRACES, traces(POD, llm_request()))], (None, None), {"other": MAPPED}),
        id="config of another service",
    )
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(POD, LLAMA)),
                (Signal.TRACES, traces(POD | {"model_name": LLAMA}, health_check())),
            ],
            (None, None),
            {SERVICE: MAPPED},
        ),
        id="a span without inference data is never given a model",
    )
    for key in ("k8s.pod.name", "host.name"):
        pod = {"service.name": SERVICE, key: "vllm-0"}
        yield pytest.param(
            Case(
                [
                    (Signal.METRICS, running_gauge(pod, LLAMA)),
                    (Signal.TRACES, traces(pod, llm_request())),
                ],
                (LLAMA, "pod"),
            ),
            id=f"instance named by {key}",
        )
    bare = {"service.name": SERVICE}
    yield pytest.param(
        Case(
            [
                (Signal.METRICS, running_gauge(bare, LLAMA)),
                (Signal.TRACES, traces(bare, llm_request())),
            ],
            (LLAMA, "pod"),
        ),
        id="a service whose telemetry names no instance",
    )


def last_span(store: MemoryStore) -> Span:
    spans = store.list_spans(SpanFilter(limit=1000))
    return max(spans, key=lambda s: s.start_time_unix_nano)


@pytest.mark.parametrize("case", list(cases()))
def test_model_resolution(case: Case) -> None:
    store = MemoryStore()
    resolver = ModelResolver(case.mapping.items())
    pipeline = Pipeline(store, models=resolver)
    for signal, body in case.sends:
        outcome = pipeline.export(signal, body)
        assert outcome.rejected == 0, outcome.message
    span = last_span(store)
    assert (span.model_name, span.model_source) == case.expected
    assert span.input_tokens == (None if span.operation_name == "GET /health" else 812)
    resolver._check()
    store.close()


def test_the_other_columns_are_untouched_by_resolution() -> None:
    store = MemoryStore()
    pipeline = Pipeline(store, models=ModelResolver({SERVICE: MAPPED}.items()))
    pipeline.export(Signal.TRACES, traces(POD, llm_request(), health_check(), llm_request()))
    spans = sorted(store.list_spans(SpanFilter(limit=10)), key=lambda s: s.start_time_unix_nano)
    assert [(s.operation_name, s.model_name, s.model_source) for s in spans] == [
        ("llm_request", MAPPED, "config"),
        ("GET /health", None, None),
        ("llm_request", MAPPED, "config"),
    ]
    assert [s.request_id is not None for s in spans] == [True, False, True]
    assert spans[0].time_to_first_token_nanos == 95_300_000 and spans[0].e2e_time_nanos
    store.close()


def test_instance_keys_in_order() -> None:
    full = {"service.name": "s", "service.instance.id": "i", "k8s.pod.name": "p", "host.name": "h"}
    assert instance_of(full) == ("s", "i")
    assert instance_of({k: v for k, v in full.items() if k != "service.instance.id"}) == ("s", "p")
    assert instance_of({"service.name": "s", "host.name": "h"}) == ("s", "h")
    assert instance_of({"k8s.pod.name": "p"}) == ("unknown_service", "p")


def _batch(models: list[str | None], resource: dict[str, Any]) -> SpanBatch:
    spans = [
        Span(bytes([1]) * 16, bytes([i + 1]) * 8, SERVICE, "op", T0, 1, model_name=m,
             input_tokens=1, resource_attributes=resource)
        for i, m in enumerate(models)
    ]  # fmt: skip
    return SpanBatch.of(spans)


def test_resolve_leaves_a_batch_it_cannot_help_as_it_is() -> None:
    resolver = ModelResolver()
    batch = _batch([None, None], POD)
    assert resolver.resolve(batch, [0, 1]) is batch
    resolver.learn_spans(_batch([LLAMA], POD), [POD])
    resolved = resolver.resolve(batch, [1])
    assert [(s.model_name, s.model_source) for s in resolved] == [(None, None), (LLAMA, "pod")]
    assert resolved.column("span_id") is batch.column("span_id")  # other columns shared
    assert batch.column("model_name") == (None, None)  # the input batch is not changed


def test_the_instance_table_is_bounded_least_recently_taught_first() -> None:
    resolver = ModelResolver(capacity=3)
    pods = [{"service.name": SERVICE, "service.instance.id": f"p{i}"} for i in range(5)]
    for pod in pods:
        resolver.learn_spans(_batch([LLAMA], pod), [pod])
        resolver._check()
    resolver.learn_spans(_batch([QWEN, LLAMA, "third"], pods[2]), [pods[2]])
    resolver._check()
    known = resolver.known()
    assert list(known) == [(SERVICE, "p3"), (SERVICE, "p4"), (SERVICE, "p2")]
    assert known[(SERVICE, "p2")] == {LLAMA, QWEN}  # ambiguous: no need to keep a third
    assert resolver.model_for(pods[2], SERVICE) is None
    assert resolver.model_for(pods[0], SERVICE) is None  # forgotten


def test_several_resources_in_one_batch_teach_their_own_instances() -> None:
    resolver = ModelResolver()
    a, b = _batch([LLAMA], POD), _batch([QWEN, None], OTHER_POD)
    both = SpanBatch([x + y for x, y in zip(a.columns, b.columns, strict=True)])
    resolver.learn_spans(both, [POD, OTHER_POD])
    assert resolver.known() == {
        instance_of(POD): frozenset({LLAMA}),
        instance_of(OTHER_POD): frozenset({QWEN}),
    }


def test_bad_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ModelResolver(capacity=0)


def test_metric_points_of_several_resources_teach_their_own_instances() -> None:
    def point(resource: dict[str, Any], labels: dict[str, Any]) -> MetricPoint:
        return MetricPoint("vllm:num_requests_running", MetricType.GAUGE, SERVICE, T0, 1.0,
                           attributes=labels, resource_attributes=resource)  # fmt: skip

    third = {"service.name": SERVICE, "service.instance.id": "triton-0"}
    points = [
        point(POD, {"model_name": LLAMA, "engine": "0"}),
        point(POD, {}),
        point(OTHER_POD, {"model_name": QWEN}),
        point(third, {"model": "resnet50", "version": "1"}),
        point(third, {"model": "bert", "version": "3"}),
        point(POD, {"model_name": LLAMA}),  # the first resource again, after the others
    ]
    resolver = ModelResolver()
    resolver.learn_metrics(MetricBatch.of(points), [POD, OTHER_POD, third])
    resolver._check()
    assert resolver.known() == {
        instance_of(POD): frozenset({LLAMA}),
        instance_of(OTHER_POD): frozenset({QWEN}),
        instance_of(third): frozenset({"bert", "resnet50"}),
    }
    assert resolver.model_for(OTHER_POD, SERVICE) == (QWEN, "pod")
    assert resolver.model_for(third, SERVICE) is None  # Triton serving two models
