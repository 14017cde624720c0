"""The OTLP/JSON encoding (OTLP spec, "JSON Protobuf Encoding").

It is the proto3 JSON mapping with two differences that matter here: trace and
span ids are hex strings (proto3 JSON would use base64), and enums are
integers (accepted either way). Receivers must accept lowerCamelCase field
names and ignore unknown fields; snake_case names are accepted too, as the
protobuf parser does.

A request is decoded once, straight into the message the decoders read
(:func:`parse`): for the lean classes of :mod:`infertrace.collector.otlp.lean`,
whose attributes are KeyValue bytes, each attribute is built as a KeyValue and
serialised (those bytes are the decoders' cache key; common scalar attributes
hit a cache of their bytes here), and everything else is set field by field.
This replaces ``json_format.ParseDict`` into the standard classes followed by
serialising the whole request and parsing it again: the same values are
accepted and refused, in a fraction of the time (measured, issue 10).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from infertrace.errors import BodyError
from infertrace.telemetry.validate import not_hex_id

M = TypeVar("M", bound=Message)

ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})
"""JSON object keys whose values are ids, written as hex. These names only ever
occur as message fields (attribute keys sit in ``"key"`` values, never as object
keys), so rewriting them wherever they appear is exact."""


def _ids_to_hex(document: Any) -> None:
    """Rewrite every (base64) id of a ``MessageToDict`` document as hex, in place."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ID_FIELDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


_INT, _ENUM, _FLOAT, _BOOL, _STR, _BYTES, _ID, _MESSAGE, _AS_BYTES = range(9)
_INT_TYPES = frozenset(
    {
        FieldDescriptor.CPPTYPE_INT32,
        FieldDescriptor.CPPTYPE_INT64,
        FieldDescriptor.CPPTYPE_UINT32,
        FieldDescriptor.CPPTYPE_UINT64,
    }
)
_ID_NAMES = frozenset({"trace_id", "span_id", "parent_span_id"})
_SPECIAL_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_SCALAR_VALUES = frozenset({"stringValue", "string_value", "boolValue", "bool_value",
                            "intValue", "int_value", "doubleValue", "double_value"})  # fmt: skip
_KV_CACHE_SIZE = 8192
_KV_CACHE_VALUE_CHARS = 256


@dataclass(slots=True)
class _Field:
    name: str
    kind: int
    repeated: bool
    plan: dict[str, _Field] | None = None
    """The sub-message's fields (``_MESSAGE``, ``_AS_BYTES``)."""
    cls: Any = None
    """The standard message class built and serialised for an ``_AS_BYTES`` field."""
    enum: Any = None


_PLANS: dict[tuple[str, int], dict[str, _Field]] = {}
"""Finished plans by (message full name, descriptor pool): read without a lock."""
_PLAN_LOCK = threading.Lock()


def _key(message: Descriptor) -> tuple[str, int]:
    return message.full_name, id(message.file.pool)


def _plan(message: Descriptor) -> dict[str, _Field]:
    """JSON key (lowerCamelCase and field name) -> how to fill the field. Built once per type.

    Plans refer to each other (AnyValue holds arrays of AnyValue), so one is
    registered before its fields are filled in: they are built in a private
    table under a lock and published together, so no thread reads a half-built one.
    """
    plan = _PLANS.get(_key(message))
    if plan is None:
        with _PLAN_LOCK:
            plan = _PLANS.get(_key(message))
            if plan is None:
                building: dict[tuple[str, int], dict[str, _Field]] = {}
                plan = _build(message, building)
                _PLANS.update(building)
    return plan


def _build(
    message: Descriptor, building: dict[tuple[str, int], dict[str, _Field]]
) -> dict[str, _Field]:
    key = _key(message)
    plan = _PLANS.get(key)
    if plan is None:
        plan = building.get(key)
    if plan is not None:
        return plan
    plan = building[key] = {}
    standard = _standard(message)
    for field in message.fields:
        repeated = field.is_repeated
        original = standard.fields_by_name.get(field.name) if standard is not None else None
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            entry = _Field(field.name, _MESSAGE, repeated, _build(field.message_type, building))
        elif original is not None and original.type == FieldDescriptor.TYPE_MESSAGE:
            sub = _build(original.message_type, building)
            cls = message_factory.GetMessageClass(original.message_type)
            entry = _Field(field.name, _AS_BYTES, repeated, sub, cls)
        elif field.type == FieldDescriptor.TYPE_BYTES:
            entry = _Field(field.name, _ID if field.name in _ID_NAMES else _BYTES, repeated)
        elif field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
            entry = _Field(field.name, _ENUM, repeated, enum=field.enum_type)
        elif field.cpp_type in _INT_TYPES:
            entry = _Field(field.name, _INT, repeated)
        elif field.cpp_type in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
            entry = _Field(field.name, _FLOAT, repeated)
        elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
            entry = _Field(field.name, _BOOL, repeated)
        else:
            entry = _Field(field.name, _STR, repeated)
        plan[field.json_name] = plan[field.name] = entry
    return plan


def _standard(message: Descriptor) -> Descriptor | None:
    """The same message type in the default pool (the lean pool declares some fields bytes)."""
    try:
        return descriptor_pool.Default().FindMessageTypeByName(message.full_name)
    except KeyError:
        return None


def _scalar(field: _Field, key: str, value: Any) -> Any:
    """A JSON scalar converted for ``field``, as ``json_format`` would; raises ValueError."""
    kind = field.kind
    if kind == _STR:
        if value.__class__ is str:
            return value
    elif kind == _INT:
        if value.__class__ is int:
            return value
        if value.__class__ is str and " " not in value:
            try:
                return int(value)
            except ValueError:
                pass
        elif value.__class__ is float and value.is_integer():
            return int(value)
    elif kind == _ID:
        if value.__class__ is str:
            try:
                return bytes.fromhex(value)
            except ValueError:  # rejected with its record, by the decoder (issue 11)
                return not_hex_id(value)
    elif kind == _FLOAT:
        if value.__class__ is int:
            return float(value)
        if value.__class__ is float and math.isfinite(value):
            return value
        if value.__class__ is str:
            special = _SPECIAL_FLOATS.get(value)
            if special is not None:
                return special
            if value != "nan":
                try:
                    return float(value)
                except ValueError:
                    pass
    elif kind == _ENUM:
        if value.__class__ is int or value.__class__ is bool:  # json_format takes a bool too
            return int(value)
        if value.__class__ is str:
            number = field.enum.values_by_name.get(value)
            return 0 if number is None else number.number  # unknown names are ignored
    elif kind == _BOOL:
        if value.__class__ is bool:
            return value
    elif kind == _BYTES and value.__class__ is str:
        try:
            encoded = value.encode()
            return base64.urlsafe_b64decode(encoded + b"=" * (4 - len(encoded) % 4))
        except (ValueError, binascii.Error):
            pass
    raise ValueError(f"{key}: {value!r:.64} is not a valid value")


def _fill(message: Any, document: Any, plan: dict[str, _Field]) -> None:
    """Set ``message``'s fields from a JSON object. O(document)."""
    if document.__class__ is not dict:
        raise ValueError(f"expected an object, got {type(document).__name__}")
    for key, value in document.items():
        field = plan.get(key)
        if field is None or value is None:
            continue  # unknown fields are ignored; null is the default value
        kind = field.kind
        if field.repeated:
            if value.__class__ is not list:
                raise ValueError(f"{key} must be a list, got {type(value).__name__}")
            target = getattr(message, field.name)
            if kind == _MESSAGE:
                sub = field.plan
                assert sub is not None
                add = target.add
                for item in value:
                    _fill(add(), item, sub)
            elif kind == _AS_BYTES:
                target.extend([_as_bytes(field, item) for item in value])
            else:
                target.extend([_scalar(field, key, item) for item in value])
        elif kind == _MESSAGE:
            child = getattr(message, field.name)
            child.SetInParent()
            assert field.plan is not None
            _fill(child, value, field.plan)
        elif kind == _AS_BYTES:
            setattr(message, field.name, _as_bytes(field, value))
        else:
            setattr(message, field.name, _scalar(field, key, value))


_kv_bytes: dict[tuple[str, str, Any, type], bytes] = {}


def _as_bytes(field: _Field, value: Any) -> bytes:
    """The serialised message of a JSON object, for a field the lean classes keep as bytes.

    A KeyValue with a short scalar value (most attributes) is cached by its
    key, value kind and value (the value's type too: ``1`` and ``True`` differ).
    """
    inner: Any = value.get("value") if value.__class__ is dict else None
    if (
        inner.__class__ is dict
        and len(inner) == 1
        and len(value) == 2
        and value.get("key").__class__ is str
    ):
        ((which, scalar),) = inner.items()
        if which in _SCALAR_VALUES and (
            scalar.__class__ is not str or len(scalar) <= _KV_CACHE_VALUE_CHARS
        ):
            cache_key = (value["key"], which, scalar, scalar.__class__)
            raw = _kv_bytes.get(cache_key)
            if raw is None:
                raw = _serialised(field, value)
                if len(_kv_bytes) >= _KV_CACHE_SIZE:
                    _kv_bytes.clear()
                _kv_bytes[cache_key] = raw
            return raw
    return _serialised(field, value)


def _serialised(field: _Field, value: Any) -> bytes:
    built = field.cls()
    assert field.plan is not None
    _fill(built, value, field.plan)
    return bytes(built.SerializeToString())


def parse(body: bytes, message: M) -> M:
    """Fill ``message`` (a standard or lean OTLP request) from an OTLP/JSON body. O(body).

    Raises BodyError (HTTP 400) saying what was wrong. Thread-safe.
    """
    try:
        document = json.loads(body) if body.strip() else {}
    except RecursionError:
        raise BodyError("JSON body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BodyError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BodyError(f"JSON body must be an object, got {type(document).__name__}")
    try:
        _fill(message, document, _plan(message.DESCRIPTOR))
    except RecursionError:
        raise BodyError("JSON body is nested too deeply") from None
    except (ValueError, TypeError) as exc:  # a value that does not fit its field
        name = message.DESCRIPTOR.name
        raise BodyError(f"JSON body is not an OTLP {name}: {exc}") from None
    return message


def dumps(message: Message) -> bytes:
    """A message in the OTLP/JSON encoding: lowerCamelCase, enums as integers,
    int64 as strings, ids as hex. O(message)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ids_to_hex(document)
    return json.dumps(document, separators=(",", ":")).encode()
