from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator

import pytest

from infertrace.collector.body import (
    BodyError,
    BodyTooLarge,
    Format,
    UnsupportedMediaType,
    content_codings,
    decode_body,
    inflate,
    payload_format,
    read_limited,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", Format.PROTOBUF),
        ("application/protobuf", Format.PROTOBUF),
        ("Application/JSON; charset=utf-8", Format.JSON),
        ("application/json", Format.JSON),
    ],
)
def test_payload_format(header: str, expected: Format) -> None:
    assert payload_format(header) is expected


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/xml", "application/jsonx"])
def test_unsupported_content_type(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType, match="unsupported Content-Type"):
        payload_format(header)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("identity", []),
        ("gzip", ["gzip"]),
        ("GZIP", ["gzip"]),
        ("deflate, gzip", ["deflate", "gzip"]),
    ],
)
def test_content_codings(header: str | None, expected: list[str]) -> None:
    assert content_codings(header) == expected


@pytest.mark.parametrize("header", ["br", "zstd", "gzip, snappy"])
def test_unsupported_content_encoding(header: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="unsupported Content-Encoding"):
        content_codings(header)


PAYLOAD = b"otlp payload " * 1000


@pytest.mark.parametrize(
    ("data", "coding"),
    [
        (gzip.compress(PAYLOAD), "gzip"),
        (zlib.compress(PAYLOAD), "deflate"),
        (gzip.compress(PAYLOAD[:5000]) + gzip.compress(PAYLOAD[5000:]), "gzip"),  # two members
    ],
)
def test_inflate(data: bytes, coding: str) -> None:
    assert inflate(data, coding, len(PAYLOAD)) == PAYLOAD


def test_inflate_refuses_one_byte_over_the_limit() -> None:
    with pytest.raises(BodyTooLarge, match="inflates to more than"):
        inflate(gzip.compress(PAYLOAD), "gzip", len(PAYLOAD) - 1)


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros
    assert len(bomb) < 100_000
    with pytest.raises(BodyTooLarge):
        inflate(bomb, "gzip", 1024 * 1024)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gzip.compress(PAYLOAD)[:-20], "truncated"),
        (b"not gzip at all", "invalid gzip body"),
        (gzip.compress(PAYLOAD) + b"garbage!", "invalid gzip body"),
        (b"", "truncated"),
    ],
)
def test_broken_gzip(data: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message) as info:
        inflate(data, "gzip", 10**7)
    assert info.value.status == 400


def test_decode_body_undoes_codings_in_reverse_order() -> None:
    data = gzip.compress(zlib.compress(PAYLOAD))
    assert decode_body(data, ["deflate", "gzip"], 10**6) == PAYLOAD


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("parts", "length", "limit", "ok"),
    [
        ((b"ab", b"cd"), None, 4, True),
        ((b"ab", b"cde"), None, 4, False),
        ((b"ab",), "5", 4, False),  # refused on the declared length, before reading
        ((b"ab",), "junk", 4, True),
    ],
)
def test_read_limited(parts: tuple[bytes, ...], length: str | None, limit: int, ok: bool) -> None:
    run = read_limited(_chunks(*parts), limit, length)
    if ok:
        assert asyncio.run(run) == b"".join(parts)
    else:
        with pytest.raises(BodyTooLarge):
            asyncio.run(run)
