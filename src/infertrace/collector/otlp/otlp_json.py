"""The OTLP/JSON encoding (OTLP spec, "JSON Protobuf Encoding").

It is the proto3 JSON mapping with two differences that matter here: trace and
span ids are hex strings (proto3 JSON would use base64), and enums are
integers (accepted either way by the parser). Receivers must accept
lowerCamelCase field names and ignore unknown fields; snake_case names are
accepted too, as the protobuf parser does. Requests are turned into the
standard protobuf message and then into bytes, so both encodings meet the
same decoder.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from infertrace.errors import BodyError

ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
"""JSON object keys whose string values are hex ids. These names only ever occur
as message fields (attribute keys sit in ``"key"`` values, never as object keys),
so rewriting them wherever they appear is exact."""


def _convert_ids(document: Any, to_base64: bool) -> None:
    """Rewrite every id in a parsed document between hex and base64, in place. O(document)."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ID_FIELDS and isinstance(value, str):
                    if not to_base64:
                        node[key] = base64.b64decode(value).hex()
                        continue
                    try:
                        raw = bytes.fromhex(value)
                    except ValueError:
                        raise BodyError(f"{key} {value[:64]!r} is not a hex id") from None
                    node[key] = base64.b64encode(raw).decode("ascii")
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


def parse_request(body: bytes, message: Message) -> bytes:
    """Fill ``message`` from an OTLP/JSON body and return its protobuf bytes.

    Raises BodyError (HTTP 400) saying what was wrong.
    """
    try:
        document = json.loads(body) if body.strip() else {}
    except RecursionError:
        raise BodyError("JSON body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BodyError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BodyError(f"JSON body must be an object, got {type(document).__name__}")
    _convert_ids(document, to_base64=True)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except RecursionError:
        raise BodyError("JSON body is nested too deeply") from None
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise BodyError(f"JSON body is not an OTLP {message.DESCRIPTOR.name}: {exc}") from None
    return bytes(message.SerializeToString())


def dumps(message: Message) -> bytes:
    """A message in the OTLP/JSON encoding: lowerCamelCase, enums as integers,
    int64 as strings, ids as hex. O(message)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _convert_ids(document, to_base64=False)
    return json.dumps(document, separators=(",", ":")).encode()
