"""Semantic conventions: lifting attributes into columns, and showing them back."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.listcache import attribute_entry
from infertrace.model import AttributeValue, Span
from infertrace.telemetry import semconv as lift


def lifted(attrs: dict[str, AttributeValue]) -> tuple[dict[str, object], dict[str, AttributeValue]]:
    """(non-empty columns, the attributes kept) for a span with ``attrs``."""
    candidates: list[lift.Candidate] = []
    for key, value in attrs.items():
        source = lift.LIFT.get(key)
        if source is not None:
            candidates.append((key, value, source, lift.convert(source, value)))
    values = lift.columns(candidates)
    columns = {name: v for name, v in zip(lift.COLUMNS, values, strict=True) if v is not None}
    return columns, dict(attrs)  # lifting copies: every attribute stays as sent


@pytest.mark.parametrize(
    ("attrs", "columns"),
    [
        ({"gen_ai.response.model": "m1"}, {"model_name": "m1"}),
        ({"gen_ai.request.model": "m2"}, {"model_name": "m2"}),
        ({"llm.model_name": "m3"}, {"model_name": "m3"}),
        ({"model_name": "m4"}, {"model_name": "m4"}),
        ({"model_version": "v7"}, {"model_version": "v7"}),
        ({"batch_size": 16}, {"batch_size": 16}),
        ({"gen_ai.usage.input_tokens": 10}, {"input_tokens": 10}),
        ({"gen_ai.usage.prompt_tokens": 11}, {"input_tokens": 11}),
        ({"llm.token_count.prompt": 12}, {"input_tokens": 12}),
        ({"gen_ai.usage.output_tokens": 20}, {"output_tokens": 20}),
        ({"gen_ai.usage.completion_tokens": 21}, {"output_tokens": 21}),
        ({"llm.token_count.completion": 22}, {"output_tokens": 22}),
        ({"gpu_utilization": 0.5}, {"gpu_utilization": 0.5}),
        ({"gpu_utilization": 1}, {"gpu_utilization": 1.0}),
        ({"gen_ai.latency.time_to_first_token": 0.25}, {"time_to_first_token_nanos": 250_000_000}),
        ({"gen_ai.latency.time_to_first_token": 2}, {"time_to_first_token_nanos": 2_000_000_000}),
        ({"gen_ai.usage.input_tokens": 7.0}, {"input_tokens": 7}),
        ({"gen_ai.usage.input_tokens": "42"}, {"input_tokens": 42}),
        # vLLM's request span latencies, in seconds (vllm/tracing.py SpanAttributes)
        ({"gen_ai.latency.time_in_queue": 0.045}, {"queue_time_nanos": 45_000_000}),
        ({"gen_ai.latency.time_in_model_prefill": 0.25}, {"prefill_time_nanos": 250_000_000}),
        ({"gen_ai.latency.time_in_model_decode": 3}, {"decode_time_nanos": 3_000_000_000}),
        ({"gen_ai.latency.e2e": 3.5}, {"e2e_time_nanos": 3_500_000_000}),
        ({"gen_ai.request.id": "cmpl-7"}, {"request_id": "cmpl-7"}),
        # OpenTelemetry GenAI: response id, finish reasons (a string array: the first)
        ({"gen_ai.response.id": "chatcmpl-9"}, {"request_id": "chatcmpl-9"}),
        ({"gen_ai.response.finish_reasons": ("length", "stop")}, {"finish_reason": "length"}),
        ({"gen_ai.response.finish_reasons": "stop"}, {"finish_reason": "stop"}),
        # TGI's router span (router/src/server.rs): durations as Rust's Debug text
        ({"queue_time": "45.1ms"}, {"queue_time_nanos": 45_100_000}),
        ({"queue_time": "350\u00b5s"}, {"queue_time_nanos": 350_000}),
        ({"queue_time": "120ns"}, {"queue_time_nanos": 120}),
        ({"total_time": "1.250003s"}, {"e2e_time_nanos": 1_250_003_000}),
        ({"prompt_tokens": "12"}, {"input_tokens": 12}),
        ({"generated_tokens": "7"}, {"output_tokens": 7}),
        # Triton's trace attributes
        ({"triton.model_name": "resnet50"}, {"model_name": "resnet50"}),
        ({"triton.model_version": 3}, {"model_version": "3"}),
        ({"triton.model_version": "2"}, {"model_version": "2"}),
    ],
)
def test_each_source_feeds_its_column(
    attrs: dict[str, AttributeValue], columns: dict[str, object]
) -> None:
    got, _ = lifted(attrs)
    assert got == columns
    assert type(next(iter(got.values()))) is type(next(iter(columns.values())))


def test_vllm_attributes_as_vllm_emits_them() -> None:
    got, _ = lifted(
        {
            "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
            "gen_ai.request.id": "cmpl-1",
            "gen_ai.usage.prompt_tokens": 512,
            "gen_ai.usage.completion_tokens": 128,
            "gen_ai.latency.time_to_first_token": 0.0315,
            "gen_ai.latency.e2e": 1.5,
            "gen_ai.latency.time_in_queue": 0.002,
        }
    )
    assert got == {
        "model_name": "meta-llama/Llama-3.1-8B-Instruct",
        "input_tokens": 512,
        "output_tokens": 128,
        "time_to_first_token_nanos": 31_500_000,
        "e2e_time_nanos": 1_500_000_000,
        "queue_time_nanos": 2_000_000,
        "request_id": "cmpl-1",
    }


@pytest.mark.parametrize(
    ("attrs", "model"),
    [
        # the first name of the table wins, whatever the order of arrival
        ({"model_name": "plain", "gen_ai.response.model": "resp"}, "resp"),
        ({"gen_ai.request.model": "req", "gen_ai.response.model": "resp"}, "resp"),
        ({"llm.model_name": "oi", "gen_ai.request.model": "req"}, "req"),
        ({"gen_ai.request.model": "same", "gen_ai.response.model": "same"}, "same"),
        # an unusable candidate does not win
        ({"gen_ai.response.model": 7, "model_name": "ok"}, "ok"),
        ({"gen_ai.response.model": ""}, None),
    ],
)
def test_priorities(attrs: dict[str, AttributeValue], model: str | None) -> None:
    got, _ = lifted(attrs)
    assert got.get("model_name") == model


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gen_ai.usage.input_tokens", -1),
        ("gen_ai.usage.input_tokens", 2**31),
        ("gen_ai.usage.input_tokens", True),
        ("gen_ai.usage.input_tokens", 1.5),
        ("gen_ai.usage.input_tokens", "12a"),
        ("gen_ai.usage.input_tokens", "²"),
        ("batch_size", ("1",)),
        ("gpu_utilization", float("nan")),
        ("gpu_utilization", "0.5"),
        ("gen_ai.latency.time_to_first_token", -0.1),
        ("gen_ai.latency.time_to_first_token", float("inf")),
        ("gen_ai.latency.time_to_first_token", 1e12),
        ("gen_ai.latency.time_to_first_token", 1e300),  # x 1e9 is inf: was an OverflowError
        ("model_version", b"v1"),
        ("triton.model_version", -1),
        ("queue_time", "fast"),  # text that is no duration stays an attribute only
        ("queue_time", "45"),  # a bare number: no unit to trust
        ("queue_time", 45),
        ("total_time", "-3ms"),
        ("total_time", "1e9s"),
        ("prompt_tokens", "12 tokens"),
        ("generated_tokens", "-7"),
        ("gen_ai.latency.time_in_queue", "0.5"),
        ("gen_ai.response.finish_reasons", ()),
        ("gen_ai.response.finish_reasons", ("",)),
        ("gen_ai.request.id", ""),
    ],
)
def test_unusable_values_leave_the_column_empty(key: str, value: AttributeValue) -> None:
    got, _ = lifted({key: value})
    assert got == {}


def test_source_names_document_every_column() -> None:
    assert set(lift.SOURCE_NAMES) == set(lift.COLUMNS)
    assert lift.SOURCE_NAMES["model_name"][0] == "gen_ai.response.model"


VLLM = {  # vLLM V1 llm_request span attributes (vllm/tracing.py SpanAttributes)
    "gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct",
    "gen_ai.usage.prompt_tokens": 512,
    "gen_ai.usage.completion_tokens": 128,
    "gen_ai.latency.time_to_first_token": 0.0315,
}
OPENINFERENCE = {  # OpenInference semantic conventions (openinference-semantic-conventions)
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.prompt": 30,
    "llm.token_count.completion": 7,
}
GENAI_REQUEST_ONLY = {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3}
TGI_STRINGS = {"gen_ai.request.model": "tgi-model", "gen_ai.usage.input_tokens": "12"}


@pytest.mark.parametrize("attrs", [VLLM, OPENINFERENCE, GENAI_REQUEST_ONLY, TGI_STRINGS])
def test_decoding_keeps_every_attribute_as_sent(attrs: dict[str, AttributeValue]) -> None:
    """The decoder's attribute path: keys and values as sent, columns filled beside them."""
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    from infertrace.collector.otlp.anyvalue import set_any_value

    raws = []
    for key, value in attrs.items():
        kv = KeyValue(key=key)
        set_any_value(kv.value, value)
        raws.append(kv.SerializeToString())
    (kept, columns, problem), _ = attribute_entry(tuple(raws), (), KeyValueCache())
    assert dict(kept) == attrs and problem is None
    assert columns[: len(lift.COLUMNS)] == tuple(lifted(attrs)[0].get(c) for c in lift.COLUMNS)


def span(attributes: dict[str, AttributeValue], **columns: object) -> Span:
    return Span(
        trace_id=b"\x01" * 16, span_id=b"\x02" * 8, service_name="s", operation_name="op",
        start_time_unix_nano=1, duration_nanos=1, attributes=MappingProxyType(attributes),
        **columns,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("attributes", "columns", "shown"),
    [
        # as sent: nothing added, nothing renamed
        (VLLM, {"model_name": VLLM["gen_ai.response.model"], "input_tokens": 512,
                "output_tokens": 128, "time_to_first_token_nanos": 31_500_000}, VLLM),
        (OPENINFERENCE, {"model_name": "gpt-4o-mini", "input_tokens": 30, "output_tokens": 7},
         OPENINFERENCE),
        (GENAI_REQUEST_ONLY, {"model_name": "m", "input_tokens": 3}, GENAI_REQUEST_ONLY),
        (TGI_STRINGS, {"model_name": "tgi-model", "input_tokens": 12}, TGI_STRINGS),
        # columns only (the store API): shown under each column's first name
        ({}, {"model_name": "m", "output_tokens": 5, "time_to_first_token_nanos": 250_000_000},
         {"gen_ai.response.model": "m", "gen_ai.usage.output_tokens": 5,
          "gen_ai.latency.time_to_first_token": 0.25}),
        # an attribute that does not lift to the column's value: the column is added
        ({"gen_ai.request.model": "other"}, {"model_name": "m"},
         {"gen_ai.request.model": "other", "gen_ai.response.model": "m"}),
        # ...unless the first name is taken: the attribute as sent wins
        ({"gen_ai.response.model": 7}, {"model_name": "m"}, {"gen_ai.response.model": 7}),
        # a model the span did not send (resource, pod or config rule) is not shown as sent
        ({"gen_ai.usage.prompt_tokens": 4}, {"model_name": "m", "model_source": "pod",
         "input_tokens": 4}, {"gen_ai.usage.prompt_tokens": 4}),
        ({}, {"model_name": "m", "model_source": "config"}, {}),
        ({}, {"model_name": "m", "model_source": "span"}, {"gen_ai.response.model": "m"}),
    ],
)  # fmt: skip
def test_shown_attributes_is_the_inverse(
    attributes: dict[str, AttributeValue],
    columns: dict[str, object],
    shown: dict[str, AttributeValue],
) -> None:
    assert dict(lift.shown_attributes(span(attributes, **columns))) == shown


def test_the_readme_table_lists_every_column_and_name_in_priority_order() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    section = readme.split("### Which attribute feeds which column", 1)[1].split("\n### ", 1)[0]
    rows = {
        m[1]: re.findall(r"`([^`]+)`", m[2])
        for m in re.finditer(r"^\| `([a-z_0-9]+)` \| (.*) \|$", section, re.MULTILINE)
    }
    for column, names in lift.SOURCE_NAMES.items():
        # A name's note may quote an example value ("45.1ms"): only the attribute names count.
        assert [n for n in rows[column] if n in lift.LIFT] == list(names), column
