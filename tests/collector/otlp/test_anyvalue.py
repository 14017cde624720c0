from __future__ import annotations

import json

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from infertrace.collector.otlp.anyvalue import (
    attribute_map,
    attribute_value,
    body_text,
    set_any_value,
)


def kvlist(**items: AnyValue) -> AnyValue:
    return AnyValue(
        kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in items.items()])
    )


def array(*items: AnyValue) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=list(items)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="vllm"), "vllm"),
        (AnyValue(bool_value=True), True),
        (AnyValue(int_value=-(2**63)), -(2**63)),
        (AnyValue(double_value=0.25), 0.25),
        (AnyValue(bytes_value=b"\x00\xff"), b"\x00\xff"),
        (AnyValue(), ""),
        (array(AnyValue(string_value="stop"), AnyValue(int_value=3)), ("stop", 3)),
        (array(), ()),
        (array(array(AnyValue(int_value=1))), ("[1]",)),
        (array(kvlist(a=AnyValue(int_value=1))), ('{"a":1}',)),
        (
            kvlist(model=AnyValue(string_value="m"), tags=array(AnyValue(bool_value=False))),
            '{"model":"m","tags":[false]}',
        ),
        (kvlist(raw=AnyValue(bytes_value=b"hi")), '{"raw":"aGk="}'),
        (kvlist(), "{}"),
    ],
)
def test_attribute_value(value: AnyValue, expected: object) -> None:
    assert attribute_value(value) == expected
    assert type(attribute_value(value)) is type(expected)


def test_deeply_nested_maps_become_json_text() -> None:
    value = AnyValue(string_value="leaf")
    for depth in range(20):
        value = kvlist(**{f"k{depth}": value})
    text = attribute_value(value)
    assert isinstance(text, str)
    decoded = json.loads(text)
    for depth in reversed(range(20)):
        decoded = decoded[f"k{depth}"]
    assert decoded == "leaf"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(string_value="plain text"), "plain text"),
        (AnyValue(int_value=42), "42"),
        (AnyValue(bool_value=True), "true"),
        (AnyValue(), ""),
        (
            kvlist(event=AnyValue(string_value="oom"), gpu=AnyValue(int_value=3)),
            '{"event":"oom","gpu":3}',
        ),
    ],
)
def test_body_text(value: AnyValue, expected: str) -> None:
    assert body_text(value) == expected


def test_attribute_map_keeps_the_last_duplicate() -> None:
    kvs = [
        KeyValue(key="a", value=AnyValue(int_value=1)),
        KeyValue(key="a", value=AnyValue(int_value=2)),
    ]
    assert attribute_map(kvs) == {"a": 2}


@pytest.mark.parametrize(
    "value", ["s", True, False, 7, -1.5, b"\x01", ("a", 1, 2.5, True, b"x"), ()]
)
def test_set_any_value_round_trips(value: object) -> None:
    target = AnyValue()
    set_any_value(target, value)  # type: ignore[arg-type]
    back = attribute_value(target)
    assert back == value and type(back) is type(value)
