from __future__ import annotations

import pytest

from infertrace.collector import lift
from infertrace.model import AttributeValue


def lifted(attrs: dict[str, AttributeValue]) -> tuple[dict[str, object], dict[str, AttributeValue]]:
    """(non-empty columns, attributes left) for a span with ``attrs``."""
    rest: dict[str, AttributeValue] = {}
    candidates: list[lift.Candidate] = []
    for key, value in attrs.items():
        source = lift.LIFT.get(key)
        if source is None:
            rest[key] = value
        else:
            candidates.append((key, value, source, lift.convert(source, value)))
    values = lift.apply(candidates, rest)
    columns = {name: v for name, v in zip(lift.COLUMNS, values, strict=True) if v is not None}
    return columns, rest


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
    ],
)
def test_each_source_feeds_its_column_and_leaves_attributes(
    attrs: dict[str, AttributeValue], columns: dict[str, object]
) -> None:
    got, rest = lifted(attrs)
    assert got == columns
    assert type(next(iter(got.values()))) is type(next(iter(columns.values())))
    assert rest == {}


def test_vllm_attributes_as_vllm_emits_them() -> None:
    got, rest = lifted(
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
    }
    assert rest == {
        "gen_ai.request.id": "cmpl-1",
        "gen_ai.latency.e2e": 1.5,
        "gen_ai.latency.time_in_queue": 0.002,
    }


@pytest.mark.parametrize(
    ("attrs", "model", "kept"),
    [
        # the first name of the table wins, whatever the order of arrival
        ({"model_name": "plain", "gen_ai.response.model": "resp"}, "resp", {"model_name": "plain"}),
        (
            {"gen_ai.request.model": "req", "gen_ai.response.model": "resp"},
            "resp",
            {"gen_ai.request.model": "req"},
        ),
        ({"llm.model_name": "oi", "gen_ai.request.model": "req"}, "req", {"llm.model_name": "oi"}),
        # a losing candidate with the same value carries nothing new and is dropped
        ({"gen_ai.request.model": "same", "gen_ai.response.model": "same"}, "same", {}),
        # an unusable candidate stays as an attribute and does not win
        ({"gen_ai.response.model": 7, "model_name": "ok"}, "ok", {"gen_ai.response.model": 7}),
        ({"gen_ai.response.model": ""}, None, {"gen_ai.response.model": ""}),
    ],
)
def test_priorities_and_what_stays(
    attrs: dict[str, AttributeValue], model: str | None, kept: dict[str, AttributeValue]
) -> None:
    got, rest = lifted(attrs)
    assert got.get("model_name") == model
    assert rest == kept


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
    ],
)
def test_unusable_values_stay_in_attributes(key: str, value: AttributeValue) -> None:
    got, rest = lifted({key: value})
    assert got == {}
    assert list(rest) == [key]


def test_source_names_document_every_column() -> None:
    assert set(lift.SOURCE_NAMES) == set(lift.COLUMNS)
    assert lift.SOURCE_NAMES["model_name"][0] == "gen_ai.response.model"
