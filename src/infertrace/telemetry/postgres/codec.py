"""Typed JSON for attribute maps, so they round-trip exactly through JSONB.

Plain JSON loses what the memory store keeps: int vs float, bytes, tuples and
non-finite floats. The encoding keeps JSON readable for SQL users and tags only
what JSON cannot say:

- str, bool, int: themselves;
- float: a JSON number when its ``repr`` has a ``.`` and no exponent (JSONB keeps
  the trailing ``.0``, so it reads back as a float); otherwise ``{"$f": repr}``
  (``1e+20``, ``inf``, ``nan``);
- bytes: ``{"$b": base64}``; tuple: a JSON array of encoded elements.

Attribute values are never maps or arrays otherwise, so tags cannot collide
with user data. ``decode_attributes`` caches decoded maps by their text
(resource attributes repeat on every span of a pod).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from infertrace.errors import InferTraceError
from infertrace.model import EMPTY_ATTRIBUTES, Attributes, AttributeValue

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.loads
_CACHE_LIMIT = 8192
_cache: dict[str, Attributes] = {}


class EncodingProblem(InferTraceError, ValueError):
    """A value PostgreSQL cannot store (NUL character, lone surrogate)."""


def _plain_float(v: float) -> bool:
    r = repr(v)
    return "." in r and "e" not in r


def tag_value(v: AttributeValue) -> Any:
    if isinstance(v, bool | str | int):
        return v
    if isinstance(v, float):
        return v if _plain_float(v) else {"$f": repr(v)}
    if isinstance(v, bytes):
        return {"$b": base64.b64encode(v).decode("ascii")}
    return [tag_value(x) for x in v]


def attributes_json(attrs: Mapping[str, AttributeValue]) -> str:
    """The typed JSON text of an attribute map. O(size of the map)."""
    if not attrs:
        return "{}"
    for v in attrs.values():
        t = type(v)
        if t is str or t is int or t is bool or (t is float and _plain_float(v)):  # type: ignore[arg-type]
            continue
        return _dumps({k: tag_value(x) for k, x in attrs.items()})
    return _dumps(dict(attrs))


def untag_value(v: Any) -> AttributeValue:
    if type(v) is list:
        return tuple(untag_value(x) for x in v)  # type: ignore[misc]
    if type(v) is dict:
        if "$f" in v:
            return float(v["$f"])
        return base64.b64decode(v["$b"])
    return v  # type: ignore[no-any-return]


def decode_attributes(text: str) -> Attributes:
    """The read-only attribute map of a typed JSON text (cached by text)."""
    if text == "{}":
        return EMPTY_ATTRIBUTES
    hit = _cache.get(text)
    if hit is not None:
        return hit
    raw: dict[str, Any] = _loads(text)
    for k, v in raw.items():
        if type(v) is list or type(v) is dict:
            raw[k] = untag_value(v)
    out = MappingProxyType(raw)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[text] = out
    return out


def jsonb_bytes(text: str) -> bytes:
    """The binary COPY form of a JSONB value: version byte 1, then UTF-8 text."""
    if "\\u0000" in text:
        raise EncodingProblem("contains a NUL character, which PostgreSQL cannot store")
    try:
        return b"\x01" + text.encode()
    except UnicodeEncodeError:
        raise EncodingProblem("contains a lone surrogate, which is not valid UTF-8") from None


def text_bytes(value: str) -> bytes:
    """UTF-8 of a text column value, refusing what PostgreSQL's text type cannot hold."""
    try:
        raw = value.encode()
    except UnicodeEncodeError:
        raise EncodingProblem(f"{value!r} is not valid UTF-8 (lone surrogate)") from None
    if b"\x00" in raw:
        raise EncodingProblem(f"{value!r} contains a NUL character, which PostgreSQL cannot store")
    return raw


def storable_text(value: str) -> bool:
    """Whether ``value`` could be stored at all (filters on other values match nothing)."""
    try:
        text_bytes(value)
    except EncodingProblem:
        return False
    return True


def dumps(value: Any) -> str:
    """Compact JSON (no NaN) for the structured columns (events, links, histograms)."""
    return _dumps(value)


def loads(text: str) -> Any:
    """Parse JSON text read back from the database."""
    return _loads(text)
