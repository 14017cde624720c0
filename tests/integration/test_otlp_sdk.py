"""The official OpenTelemetry Python SDK, exporting unchanged to a real collector.

An instrumented sample "inference server" emits traces, logs and metrics
through the OTLP/HTTP and OTLP/gRPC exporters (gzip on); every record is read
back from the store and checked field by field.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from tests.collector.helpers import big_store, running

from infertrace.model import MetricType
from infertrace.model import SpanKind as Kind
from infertrace.model import StatusCode as Code
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter
from infertrace.telemetry.memory import MemoryStore

RESOURCE = {"service.name": "vllm-sample", "service.instance.id": "pod-7", "k8s.pod.name": "pod-7"}


@dataclass
class Exporters:
    spans: Any
    logs: Any
    metrics: Any


def exporters(transport: str, http_url: str, grpc_target: str) -> Exporters:
    if transport == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        gz = Compression.Gzip
        return Exporters(
            OTLPSpanExporter(endpoint=f"{http_url}/v1/traces", compression=gz, timeout=10),
            OTLPLogExporter(endpoint=f"{http_url}/v1/logs", compression=gz, timeout=10),
            OTLPMetricExporter(endpoint=f"{http_url}/v1/metrics", compression=gz, timeout=10),
        )
    import grpc
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    gz = grpc.Compression.Gzip
    target = f"http://{grpc_target}"
    return Exporters(
        OTLPSpanExporter(endpoint=target, insecure=True, compression=gz, timeout=10),
        OTLPLogExporter(endpoint=target, insecure=True, compression=gz, timeout=10),
        OTLPMetricExporter(endpoint=target, insecure=True, compression=gz, timeout=10),
    )


@pytest.fixture(params=["http", "grpc"])
def sdk_run(request: pytest.FixtureRequest) -> Iterator[tuple[MemoryStore, dict[str, Any]]]:
    """Run the sample app against a fresh collector; yield (store, what the app did)."""
    store = big_store()
    with running(store) as endpoints:
        ex = exporters(request.param, endpoints.http_url, endpoints.grpc_target)
        resource = Resource.create(RESOURCE)
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(SimpleSpanProcessor(ex.spans))
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ex.logs))
        reader = PeriodicExportingMetricReader(ex.metrics, export_interval_millis=3_600_000)
        meter_provider = MeterProvider(
            resource=resource,
            metric_readers=[reader],
            views=[
                View(instrument_name="ttft", aggregation=ExponentialBucketHistogramAggregation())
            ],
        )
        try:
            facts = sample_app(tracer_provider, logger_provider, meter_provider)
        finally:  # shutdown exports what is pending: metrics exactly once
            tracer_provider.shutdown()
            logger_provider.shutdown()
            meter_provider.shutdown()
        yield store, facts
    store.close()


def sample_app(tracer_provider: Any, logger_provider: Any, meter_provider: Any) -> dict[str, Any]:
    """A tiny instrumented LLM server: one chat request with children, a log, metrics."""
    tracer = tracer_provider.get_tracer("sample.app", "0.3")
    logger = logger_provider.get_logger("sample.app")
    meter = meter_provider.get_meter("sample.app")
    requests = meter.create_counter("requests", unit="1", description="requests served")
    latency = meter.create_histogram("latency", unit="s")
    ttft = meter.create_histogram("ttft", unit="s")
    queue = meter.create_up_down_counter("queue_depth")
    meter.create_observable_gauge(
        "gpu_cache_usage", callbacks=[lambda _options: [_observation(0.42)]]
    )
    with tracer.start_as_current_span("warmup") as warm:
        warm_ctx = warm.get_span_context()
    attrs = {
        "gen_ai.system": "vllm",
        "gen_ai.request.model": "llama-8b",
        "gen_ai.response.model": "llama-8b-instruct",
        "gen_ai.usage.prompt_tokens": 321,
        "gen_ai.usage.completion_tokens": 54,
        "gen_ai.latency.time_to_first_token": 0.125,
        "gen_ai.latency.e2e": 1.5,
        "gen_ai.response.finish_reasons": ("stop",),
        "batch_size": 8,
        "gpu_utilization": 0.91,
        "model_version": "2024-07",
    }
    with tracer.start_as_current_span(
        "chat llama",
        kind=SpanKind.SERVER,
        attributes=attrs,
        links=[Link(warm_ctx, {"why": "warm"})],
    ) as root:
        root.add_event("first_token", {"token.index": 0})
        with tracer.start_as_current_span("decode", kind=SpanKind.INTERNAL) as child:
            child.set_status(Status(StatusCode.ERROR, "CUDA out of memory"))
            logger.emit(
                severity_number=SeverityNumber.ERROR,
                severity_text="ERROR",
                body={"event": "oom", "gpu": 3},
                attributes={"logger": "vllm.engine"},
                context=otel_context.get_current(),
            )
            child_ctx = child.get_span_context()
        root_ctx = root.get_span_context()
    logger.emit(
        severity_number=SeverityNumber.INFO, body="request finished", timestamp=time.time_ns()
    )
    requests.add(3, {"model": "llama-8b"})
    latency.record(0.3, {"model": "llama-8b"})
    latency.record(1.7, {"model": "llama-8b"})
    ttft.record(0.125)
    queue.add(-2)
    return {"root": root_ctx, "child": child_ctx, "warm": warm_ctx, "attrs": attrs}


def _observation(value: float) -> Any:
    from opentelemetry.metrics import Observation

    return Observation(value, {"pod": "pod-7"})


def tid(ctx: trace.SpanContext) -> bytes:
    return ctx.trace_id.to_bytes(16, "big")


def sid(ctx: trace.SpanContext) -> bytes:
    return ctx.span_id.to_bytes(8, "big")


def test_spans_arrive_with_ids_fields_and_inference_columns(
    sdk_run: tuple[MemoryStore, dict[str, Any]],
) -> None:
    store, facts = sdk_run
    root_ctx, child_ctx, warm_ctx = facts["root"], facts["child"], facts["warm"]
    spans = {s.operation_name: s for s in store.get_trace(tid(root_ctx))}
    assert set(spans) == {"chat llama", "decode"}
    root, child = spans["chat llama"], spans["decode"]
    assert (root.span_id, root.parent_span_id) == (sid(root_ctx), b"")
    assert (child.span_id, child.parent_span_id) == (sid(child_ctx), sid(root_ctx))
    assert root.service_name == "vllm-sample" and root.kind is Kind.SERVER
    assert child.kind is Kind.INTERNAL
    assert (child.status_code, child.status_message) == (Code.ERROR, "CUDA out of memory")
    assert root.duration_nanos > child.duration_nanos > 0
    assert (root.model_name, root.model_version, root.batch_size) == (
        "llama-8b-instruct",
        "2024-07",
        8,
    )
    assert (root.input_tokens, root.output_tokens, root.gpu_utilization) == (321, 54, 0.91)
    assert root.time_to_first_token_nanos == 125_000_000
    # every attribute as the SDK sent it (the columns above are copies), plus the scope
    assert dict(root.attributes) == {
        **facts["attrs"],
        "otel.scope.name": "sample.app",
        "otel.scope.version": "0.3",
    }
    assert root.resource_attributes["service.instance.id"] == "pod-7"
    assert root.resource_attributes["telemetry.sdk.language"] == "python"
    assert [(e.name, dict(e.attributes)) for e in root.events] == [
        ("first_token", {"token.index": 0})
    ]
    assert root.events[0].time_unix_nano >= root.start_time_unix_nano
    assert [(ln.trace_id, ln.span_id, dict(ln.attributes)) for ln in root.links] == [
        (tid(warm_ctx), sid(warm_ctx), {"why": "warm"})
    ]
    # the span's model, and the one the run's metrics name in their "model" label
    assert store.models() == ["llama-8b", "llama-8b-instruct"]
    assert len(store.list_spans(SpanFilter(service_name="vllm-sample"))) == 3


def test_logs_arrive_correlated_with_structured_bodies(
    sdk_run: tuple[MemoryStore, dict[str, Any]],
) -> None:
    store, facts = sdk_run
    logs = store.list_logs(LogFilter(service_name="vllm-sample"))
    by_body = {r.body: r for r in logs}
    assert set(by_body) == {'{"event":"oom","gpu":3}', "request finished"}
    oom = by_body['{"event":"oom","gpu":3}']
    assert (oom.severity_number, oom.severity_text) == (17, "ERROR")
    assert (oom.trace_id, oom.span_id) == (tid(facts["child"]), sid(facts["child"]))
    assert oom.attributes["logger"] == "vllm.engine"
    assert oom.time_unix_nano > 0 and oom.resource_attributes["k8s.pod.name"] == "pod-7"
    done = by_body["request finished"]
    assert (done.severity_number, done.trace_id) == (9, b"")
    assert store.list_logs(LogFilter(trace_id=tid(facts["child"]))) == [oom]


def test_metrics_arrive_as_points_of_each_kind(
    sdk_run: tuple[MemoryStore, dict[str, Any]],
) -> None:
    store, _ = sdk_run
    assert set(store.metric_names()) >= {
        "requests",
        "latency",
        "ttft",
        "queue_depth",
        "gpu_cache_usage",
    }

    def one(name: str) -> Any:
        (point,) = store.list_metric_points(MetricFilter(name=name))
        assert point.service_name == "vllm-sample"
        return point

    requests = one("requests")
    assert (requests.type, requests.value, requests.is_monotonic) == (MetricType.SUM, 3.0, True)
    assert (requests.unit, requests.description) == ("1", "requests served")
    assert requests.attributes["model"] == "llama-8b"
    latency = one("latency")
    assert latency.type is MetricType.HISTOGRAM and latency.histogram.count == 2
    assert latency.histogram.sum == pytest.approx(2.0)
    assert (latency.histogram.min, latency.histogram.max) == (0.3, 1.7)
    assert sum(latency.histogram.bucket_counts) == 2
    assert len(latency.histogram.bucket_counts) == len(latency.histogram.bounds) + 1
    ttft = one("ttft")
    assert ttft.type is MetricType.EXPONENTIAL_HISTOGRAM and ttft.histogram.count == 1
    assert sum(ttft.histogram.positive_bucket_counts) == 1
    queue = one("queue_depth")
    assert (queue.type, queue.value, queue.is_monotonic) == (MetricType.SUM, -2.0, False)
    gauge = one("gpu_cache_usage")
    assert (gauge.type, gauge.value, gauge.attributes["pod"]) == (MetricType.GAUGE, 0.42, "pod-7")
