"""A compact tagged binary encoding of plain Python data, for snapshot payloads.

Object columns and dictionary entries (attribute maps in canonical tuple form,
attribute shapes, small records) are too irregular for one Arrow type, so a
snapshot stores each as one binary cell in this encoding. It covers exactly:
None, bool, int (any size), float, str, bytes, tuple, list, dict and
``MappingProxyType`` (each decoded as the same type, so a read-only mapping
stays read-only). Anything else raises TypeError naming the type: the table
that owns such values converts them to plain data first (see
:mod:`infertrace.engine.ringsnap`). Unlike pickle, decoding builds only these
types and runs no code, so a damaged or foreign file cannot do more than fail.

Each value is a one-byte tag and its body, little-endian: ``i`` int64, ``I``
longer int (u32 length, signed bytes), ``f`` float64, ``s``/``b`` str/bytes
(u32 length, bytes), ``t``/``l`` tuple/list and ``d``/``m`` dict/mappingproxy
(u32 count, items or key-value pairs), ``N``/``T``/``F``.
"""

from __future__ import annotations

import struct
from types import MappingProxyType
from typing import Any

_TQ = struct.Struct("<cq")
_TD = struct.Struct("<cd")
_TU = struct.Struct("<cI")
_Q = struct.Struct("<q")
_D = struct.Struct("<d")
_U = struct.Struct("<I")
_I64 = (-(2**63), 2**63 - 1)


def encode(value: Any) -> bytes:
    """The encoding of ``value``; TypeError for a type outside the plain set. O(size)."""
    out = bytearray()
    _enc(value, out)
    return bytes(out)


def _enc(v: Any, out: bytearray) -> None:
    t = type(v)
    if t is str:
        raw = v.encode("utf-8", "surrogatepass")
        out += _TU.pack(b"s", len(raw))
        out += raw
    elif t is tuple or t is list:
        out += _TU.pack(b"t" if t is tuple else b"l", len(v))
        for item in v:
            _enc(item, out)
    elif t is int:
        if _I64[0] <= v <= _I64[1]:
            out += _TQ.pack(b"i", v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out += _TU.pack(b"I", len(raw))
            out += raw
    elif v is None:
        out += b"N"
    elif t is dict or t is MappingProxyType:
        out += _TU.pack(b"d" if t is dict else b"m", len(v))
        for key, item in v.items():
            _enc(key, out)
            _enc(item, out)
    elif t is float:
        out += _TD.pack(b"f", v)
    elif t is bool:
        out += b"T" if v else b"F"
    elif t is bytes:
        out += _TU.pack(b"b", len(v))
        out += v
    else:
        raise TypeError(f"cannot encode a {t.__name__} as plain data: {v!r:.80}")


def decode(data: bytes | memoryview) -> Any:
    """The value :func:`encode` made; ValueError for bytes that are not one. O(size)."""
    raw = bytes(data)
    try:
        value, end = _dec(raw, 0)
    except (IndexError, struct.error, UnicodeDecodeError, TypeError) as exc:
        raise ValueError(f"not plain-encoded data: {exc}") from None
    if end != len(raw):
        raise ValueError(f"{len(raw) - end} bytes after the encoded value")
    return value


def _sized(b: bytes, i: int) -> tuple[bytes, int]:
    n = _U.unpack_from(b, i)[0]
    i += 4
    j = i + n
    if j > len(b):
        raise IndexError("value runs past the end")
    return b[i:j], j


def _dec(b: bytes, i: int) -> tuple[Any, int]:
    tag = b[i]
    i += 1
    if tag == 0x73:  # s
        raw, i = _sized(b, i)
        return raw.decode("utf-8", "surrogatepass"), i
    if tag == 0x74 or tag == 0x6C:  # t l
        n = _U.unpack_from(b, i)[0]
        i += 4
        items: list[Any] = []
        append = items.append
        for _ in range(n):
            item, i = _dec(b, i)
            append(item)
        return (tuple(items) if tag == 0x74 else items), i
    if tag == 0x69:  # i
        return _Q.unpack_from(b, i)[0], i + 8
    if tag == 0x4E:  # N
        return None, i
    if tag == 0x64 or tag == 0x6D:  # d m
        n = _U.unpack_from(b, i)[0]
        i += 4
        d: dict[Any, Any] = {}
        for _ in range(n):
            key, i = _dec(b, i)
            d[key], i = _dec(b, i)
        return (d if tag == 0x64 else MappingProxyType(d)), i
    if tag == 0x66:  # f
        return _D.unpack_from(b, i)[0], i + 8
    if tag == 0x54:  # T
        return True, i
    if tag == 0x46:  # F
        return False, i
    if tag == 0x62:  # b
        return _sized(b, i)
    if tag == 0x49:  # I
        raw, i = _sized(b, i)
        return int.from_bytes(raw, "little", signed=True), i
    raise ValueError(f"unknown tag {tag:#x} at byte {i - 1}")


__all__ = ["decode", "encode"]
