"""The collector on ``--store postgres`` end to end, with the OpenTelemetry SDK exporter."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from infertrace.api import install_query_api
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.factory import build_store
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.postgres import PostgresStore


def test_otlp_exporter_to_postgres_survives_a_restart(pg_dsn: str) -> None:
    settings = Settings(store="postgres", dsn=pg_dsn, port=0, grpc_port=0)
    store = build_store(settings)
    collector = BackgroundCollector(store, settings, install_query_api)
    url = collector.start().http_url
    try:
        provider = TracerProvider(resource=Resource.create({"service.name": "e2e-svc"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10))
        )
        tracer = provider.get_tracer("e2e")
        attrs = {"gen_ai.request.model": "m-e2e", "gen_ai.usage.output_tokens": 5}
        with tracer.start_as_current_span("chat", attributes=attrs) as root:
            with tracer.start_as_current_span("decode"):
                pass
            trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
        provider.shutdown()
        assert [s.operation_name for s in store.get_trace(trace_id)] == ["chat", "decode"]
    finally:
        collector.stop()
        store.close()
    with PostgresStore(pg_dsn, run_migrations=False) as reopened:  # a process restart
        spans = reopened.get_trace(trace_id)
        assert [s.operation_name for s in spans] == ["chat", "decode"]
        assert spans[0].model_name == "m-e2e" and spans[0].output_tokens == 5
        assert reopened.models() == ["m-e2e"]
        assert len(reopened.list_spans(SpanFilter(service_name="e2e-svc"))) == 2
