"""Attributes come back under the names and with the values the client sent (issue 10).

Before, lifting renamed keys on the way out: a vLLM span's
``gen_ai.usage.prompt_tokens`` came back as ``gen_ai.usage.input_tokens``,
OpenInference's ``llm.model_name`` as ``gen_ai.response.model``, and a span that
only had ``gen_ai.request.model`` gained a ``gen_ai.response.model``. Each
producer's span goes in over OTLP/HTTP and is read back from the REST API, the
export and the Jaeger API, over the memory store and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from tests.collector.helpers import running

from infertrace.collector.otlp.anyvalue import set_any_value
from infertrace.model import AttributeValue
from infertrace.telemetry.memory import MemoryStore

PB = {"Content-Type": "application/x-protobuf"}

PRODUCERS: dict[str, tuple[dict[str, AttributeValue], str, int | None]] = {
    # vLLM V1 llm_request span (vllm/tracing.py SpanAttributes); V1 sends no model
    # attribute at all, older engines send gen_ai.response.model as here
    "vllm": (
        {
            "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
            "gen_ai.usage.prompt_tokens": 512,
            "gen_ai.usage.completion_tokens": 128,
            "gen_ai.latency.time_to_first_token": 0.0315,
            "gen_ai.latency.time_in_queue": 0.002,
            "gen_ai.request.id": "cmpl-1",
        },
        "meta-llama/Llama-3.1-8B-Instruct",
        512,
    ),
    # OpenTelemetry GenAI semantic conventions, a client span before the response
    "genai-request-only": (
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 30,
            "gen_ai.operation.name": "chat",
        },
        "gpt-4o",
        30,
    ),
    # OpenInference semantic conventions (Arize Phoenix instrumentations)
    "openinference": (
        {
            "llm.model_name": "claude-3-5-sonnet",
            "llm.token_count.prompt": 44,
            "llm.token_count.completion": 9,
            "openinference.span.kind": "LLM",
        },
        "claude-3-5-sonnet",
        44,
    ),
    # TGI sends counts as strings
    "tgi": (
        {"gen_ai.request.model": "tgi-mistral", "gen_ai.usage.input_tokens": "12"},
        "tgi-mistral",
        12,
    ),
}


def request(name: str, attrs: dict[str, AttributeValue], now: int) -> tuple[bytes, str]:
    trace_id = bytes([len(name)] * 15) + bytes([sorted(PRODUCERS).index(name) + 1])
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    set_any_value(rs.resource.attributes.add(key="service.name").value, f"svc-{name}")
    span = rs.scope_spans.add().spans.add(
        trace_id=trace_id, span_id=b"\x07" * 8, name="llm_request", kind=PbSpan.SPAN_KIND_SERVER,
        start_time_unix_nano=now, end_time_unix_nano=now + 10**8,
    )  # fmt: skip
    for key, value in attrs.items():
        set_any_value(span.attributes.add(key=key).value, value)
    return req.SerializeToString(), trace_id.hex()


@pytest.fixture(params=["memory", "postgres"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        store: Any = MemoryStore()
    else:
        from infertrace.telemetry.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_dsn"), pool_size=3)
    with running(store) as endpoints:
        yield endpoints.http_url
    store.close()


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_attributes_round_trip_as_sent(url: str, producer: str) -> None:
    attrs, model, input_tokens = PRODUCERS[producer]
    body, trace_hex = request(producer, attrs, time.time_ns() - 10**9)
    assert httpx.post(url + "/v1/traces", content=body, headers=PB).status_code == 200

    (span,) = httpx.get(f"{url}/api/traces/{trace_hex}").json()["spans"]
    shown = {k: v for k, v in span["attributes"].items() if not k.startswith("otel.scope")}
    assert shown == attrs
    assert (span["model_name"], span["input_tokens"]) == (model, input_tokens)

    params = {"format": "jsonl", "service": f"svc-{producer}"}
    export = httpx.get(f"{url}/api/export/spans", params=params)
    (row,) = [json.loads(line) for line in export.text.splitlines()]
    assert {k: v for k, v in row["attributes"].items() if not k.startswith("otel.scope")} == attrs

    (trace,) = httpx.get(f"{url}/jaeger/api/traces/{trace_hex}").json()["data"]
    tags = {t["key"]: t["value"] for t in trace["spans"][0]["tags"]}
    for key, value in attrs.items():
        assert tags[key] == value, key
    renamed = {"gen_ai.usage.input_tokens", "gen_ai.response.model"} - set(attrs)
    assert not renamed & set(tags), "a lifted column must not appear under another name"

    # searches by the names that were sent still find the span
    found = httpx.get(f"{url}/api/spans", params={"model": model}).json()["spans"]
    assert [s["trace_id"] for s in found] == [trace_hex]
    first_key = next(iter(attrs))
    jaeger = httpx.get(f"{url}/jaeger/api/traces", params={
        "service": f"svc-{producer}", "tags": json.dumps({first_key: str(attrs[first_key])}),
    }).json()["data"]  # fmt: skip
    assert [t["traceID"] for t in jaeger] == [trace_hex]
