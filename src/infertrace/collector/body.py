"""Request bodies: content types, content encodings and size limits, for OTLP/HTTP.

The size limit holds twice: on the bytes received and on the bytes after
decompression, which is inflated in bounded steps so a gzip bomb (a few KiB
that inflate to gigabytes) is refused after at most ``limit`` + 1 bytes of
output, never materialised.
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import AsyncIterator

from infertrace.errors import BodyError as BodyError  # defined with the error tree


class Format(enum.Enum):
    """The two OTLP/HTTP payload encodings, by their media type."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


MEDIA_TYPES = {
    "application/x-protobuf": Format.PROTOBUF,
    "application/protobuf": Format.PROTOBUF,
    "application/json": Format.JSON,
}
_GZIP_WBITS = 31  # zlib: gzip header and trailer
_ZLIB_WBITS = 15  # zlib: the "deflate" content coding is a zlib stream (RFC 9110)
ENCODINGS = {"gzip": _GZIP_WBITS, "x-gzip": _GZIP_WBITS, "deflate": _ZLIB_WBITS}


class UnsupportedMediaType(BodyError):
    """An unsupported Content-Type or Content-Encoding (415)."""

    status = 415


class BodyTooLarge(BodyError):
    """A body over the size limit, before or after decompression (413)."""

    status = 413


def payload_format(content_type: str | None) -> Format:
    """The OTLP encoding named by a Content-Type header (parameters ignored)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        return MEDIA_TYPES[media]
    except KeyError:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}: "
            "send application/x-protobuf or application/json"
        ) from None


def content_codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header, in the order they were applied."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in ENCODINGS:
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {coding!r}: send gzip, deflate or identity"
            )
    return codings


async def read_limited(
    chunks: AsyncIterator[bytes], limit: int, content_length: str | None
) -> bytes:
    """The whole body, refusing (413) as soon as it passes ``limit`` bytes."""
    declared = content_length.strip() if content_length is not None else ""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    parts = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the {limit}-byte limit")
        parts.append(chunk)
    return b"".join(parts)


def inflate(data: bytes, coding: str, limit: int) -> bytes:
    """Decompress ``data`` (gzip or deflate), refusing output beyond ``limit`` bytes.

    Concatenated gzip members are all inflated, as gunzip does. O(output),
    with memory bounded by ``limit``.
    """
    wbits = ENCODINGS[coding]
    parts: list[bytes] = []
    total = 0
    stream = zlib.decompressobj(wbits)
    pending = data
    try:
        while True:
            chunk = stream.decompress(pending, limit + 1 - total)
            total += len(chunk)
            if total > limit:
                raise BodyTooLarge(f"body inflates to more than the {limit}-byte limit")
            parts.append(chunk)
            if stream.eof:
                pending = stream.unused_data
                if not pending:
                    break
                if wbits != _GZIP_WBITS:
                    raise BodyError(f"{len(pending)} bytes of garbage after the {coding} stream")
                stream = zlib.decompressobj(wbits)
                continue
            if not chunk and not stream.unconsumed_tail:
                raise BodyError(f"{coding} body is truncated")
            pending = stream.unconsumed_tail
    except zlib.error as exc:
        raise BodyError(f"invalid {coding} body: {exc}") from None
    return b"".join(parts)


def decode_body(data: bytes, codings: list[str], limit: int) -> bytes:
    """Undo the content codings of ``data`` (last applied first), each bounded by ``limit``."""
    for coding in reversed(codings):
        data = inflate(data, coding, limit)
    return data
