"""OTLP ``AnyValue`` to and from the Python values records hold.

Attribute values in records are flat: str, bool, int, float, bytes, or a tuple
of those. OTLP allows more (arrays of maps, maps of arrays, ...), so a nested
``kvlist_value`` becomes its JSON text, and an array element that is itself an
array or a map becomes JSON text inside the tuple. Log bodies are always text:
a string body as is, anything else as JSON.

Nesting depth is bounded by the protobuf parser (upb refuses messages nested
deeper than 100 levels), so the recursion here cannot blow the stack.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from infertrace.model import AttributeValue, Primitive

JsonValue = Any
"""What ``json.dumps`` accepts: the plain-JSON form of an AnyValue."""


def _array(v: AnyValue) -> tuple[Primitive, ...]:
    out: list[Primitive] = []
    for item in v.array_value.values:
        kind = item.WhichOneof("value")
        if kind == "array_value" or kind == "kvlist_value":
            out.append(json.dumps(to_json(item), separators=(",", ":")))
        elif kind is None:
            out.append("")
        else:
            out.append(_PRIMITIVE_GETTERS[kind](item))
    return tuple(out)


def _kvlist(v: AnyValue) -> str:
    return json.dumps(to_json(v), separators=(",", ":"))


def _strindex(_v: AnyValue) -> Primitive:
    # OTLP 1.8 added this AnyValue case for profiles, whose string table it indexes;
    # traces, logs and metrics have no such table, so the request is malformed
    # (found by the reliability fuzzer: an unknown kind used to be a 500).
    raise DecodeError(
        "AnyValue.string_value_strindex indexes a profiles string table; "
        "traces, logs and metrics cannot use it"
    )


_PRIMITIVE_GETTERS: dict[str, Callable[[AnyValue], Primitive]] = {
    "string_value": attrgetter("string_value"),
    "bool_value": attrgetter("bool_value"),
    "int_value": attrgetter("int_value"),
    "double_value": attrgetter("double_value"),
    "bytes_value": attrgetter("bytes_value"),
    "string_value_strindex": _strindex,
}

GETTERS: dict[str | None, Callable[[AnyValue], AttributeValue]] = {
    "string_value": attrgetter("string_value"),
    "bool_value": attrgetter("bool_value"),
    "int_value": attrgetter("int_value"),
    "double_value": attrgetter("double_value"),
    "bytes_value": attrgetter("bytes_value"),
    "array_value": _array,
    "kvlist_value": _kvlist,
    "string_value_strindex": _strindex,
    None: lambda _v: "",
}
"""``GETTERS[v.WhichOneof("value")](v)`` is the attribute value of ``v``.

A dict of C-level getters is the fastest dispatch measured (an if-chain on the
kind string costs more once the common string case is not first).
An empty AnyValue becomes ``""``.
"""


def attribute_value(v: AnyValue) -> AttributeValue:
    """The record attribute value of an OTLP AnyValue. O(size of v)."""
    return GETTERS[v.WhichOneof("value")](v)


def to_json(v: AnyValue) -> JsonValue:
    """The plain-JSON form of an AnyValue: maps to objects, bytes to base64 text."""
    kind = v.WhichOneof("value")
    if kind == "kvlist_value":
        return {kv.key: to_json(kv.value) for kv in v.kvlist_value.values}
    if kind == "array_value":
        return [to_json(item) for item in v.array_value.values]
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if kind is None:
        return None
    return _PRIMITIVE_GETTERS[kind](v)


def body_text(v: AnyValue) -> str:
    """A log body as text: strings as they are, everything else as JSON."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind is None:
        return ""
    return json.dumps(to_json(v), separators=(",", ":"))


def attribute_map(kvs: Iterable[KeyValue]) -> dict[str, AttributeValue]:
    """A dict of attribute values; a later duplicate key wins, as in the OTel SDKs."""
    getters = GETTERS
    return {kv.key: getters[kv.value.WhichOneof("value")](kv.value) for kv in kvs}


def set_any_value(target: AnyValue, value: AttributeValue) -> None:
    """Fill ``target`` with ``value`` (bool before int: bool is an int in Python)."""
    if isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    else:
        target.array_value.SetInParent()  # an empty tuple is an empty array, not no value
        values = target.array_value.values
        for item in value:
            set_any_value(values.add(), item)


def fill_key_values(target: Any, attributes: Iterable[tuple[str, AttributeValue]]) -> None:
    """Append ``attributes`` to a repeated KeyValue field ``target``."""
    for key, value in attributes:
        kv = target.add()
        kv.key = key
        set_any_value(kv.value, value)
