"""A malformed-input sweep against a real collector: every answer is the right
status, nothing crashes, and the server keeps serving after each one."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Iterator

import httpx
import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tests.collector.helpers import big_store, running

from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.otlp.otlp_json import dumps
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

PB = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
LIMIT = 4 * 1024 * 1024
VALID = encode_spans(Workload(seed=4).spans(12)).SerializeToString()


@pytest.fixture(scope="module")
def client() -> Iterator[tuple[httpx.Client, MemoryStore]]:
    store = big_store()
    with (
        running(store, max_body_bytes=LIMIT) as endpoints,
        httpx.Client(base_url=endpoints.http_url, timeout=30) as c,
    ):
        yield c, store
    store.close()


_FRESH = Workload(seed=40)


def send(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    response = client.post("/v1/traces", content=body, headers=headers)
    # 12 spans never sent before (a resent span is stored once), so the count proves it
    fresh = encode_spans(_FRESH.spans(12)).SerializeToString()
    healthy = client.post("/v1/traces", content=fresh, headers=PB)
    assert healthy.status_code == 200, "the collector stopped serving after a malformed request"
    return response


def standard_parse_ok(body: bytes) -> bool:
    """Whether the official protobuf classes accept ``body`` (then 200 is right)."""
    try:
        ExportTraceServiceRequest.FromString(body)
    except DecodeError:
        return False
    return True


@pytest.mark.parametrize("cut", [1, 2, 7, 50, 333, len(VALID) // 2, len(VALID) - 3, len(VALID) - 1])
def test_truncated_protobuf(client: tuple[httpx.Client, MemoryStore], cut: int) -> None:
    body = VALID[:cut]
    response = send(client[0], body, PB)
    assert response.status_code == (200 if standard_parse_ok(body) else 400)


@pytest.mark.parametrize("seed", range(12))
def test_random_bytes(client: tuple[httpx.Client, MemoryStore], seed: int) -> None:
    rng = random.Random(seed)
    body = rng.randbytes(rng.randint(1, 4096))
    response = send(client[0], body, PB)
    assert response.status_code == (200 if standard_parse_ok(body) else 400)


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans": {"a": 1}}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": -1}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": 1}]}]}]}]}',
        b"[" * 50_000 + b"]" * 50_000,
        b'"just a string"',
        b"\xc3\x28",
    ],
)
def test_wrong_json_types_are_400(client: tuple[httpx.Client, MemoryStore], body: bytes) -> None:
    response = send(client[0], body, JSON)
    assert response.status_code == 400
    assert json.loads(response.content)["code"] == 3


def test_a_json_id_that_is_not_hex_rejects_its_span_not_the_request(
    client: tuple[httpx.Client, MemoryStore],
) -> None:
    """Was a 400 like the wrong types above; issue 11 made it a per-record rejection."""
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc"}]}]}]}'
    response = send(client[0], body, JSON)
    assert response.status_code == 200
    partial = json.loads(response.content)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert "trace_id 'abc' is not a hex id" in partial["errorMessage"]


def test_wrong_protobuf_wire_types_follow_the_protobuf_rules(
    client: tuple[httpx.Client, MemoryStore],
) -> None:
    # field 1 (resource_spans) sent as a varint: protobuf keeps it as an unknown field
    for body in (b"\x08\x01", b"\x0d\x01\x02\x03\x04", b"\x0a\x02\x08\x01"):
        response = send(client[0], body, PB)
        assert response.status_code == (200 if standard_parse_ok(body) else 400), body


def test_invalid_utf8_in_a_string_field_is_400(client: tuple[httpx.Client, MemoryStore]) -> None:
    request = ExportTraceServiceRequest.FromString(VALID)
    name = request.resource_spans[0].scope_spans[0].spans[0].name.encode()
    body = VALID.replace(name, b"\xff" * len(name), 1)
    response = send(client[0], body, PB)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [
        (b"\x01" * 5, b"\x02" * 8),
        (b"\x01" * 16, b"\x02" * 9),
        (b"\x01" * 17, b""),
        (bytes(16), b"\x02" * 8),
    ],
)
def test_ids_of_wrong_length_are_rejected_records(
    client: tuple[httpx.Client, MemoryStore], trace_id: bytes, span_id: bytes
) -> None:
    request = ExportTraceServiceRequest.FromString(VALID)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.trace_id, span.span_id = trace_id, span_id
    for body, headers in ((request.SerializeToString(), PB), (dumps(request), JSON)):
        response = send(client[0], body, headers)
        assert response.status_code == 200
        if headers is PB:
            answer = ExportTraceServiceResponse.FromString(response.content)
            assert answer.partial_success.rejected_spans == 1
        else:
            assert json.loads(response.content)["partialSuccess"]["rejectedSpans"] == "1"


def field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def nested_kvlist(depth: int) -> bytes:
    """Serialized AnyValue holding ``depth`` nested kvlists (3 message levels each)."""
    value = field(1, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        key_value = field(1, b"k") + field(2, value)
        value = field(6, field(1, key_value))  # AnyValue.kvlist_value.values
    return value


def test_deep_but_legal_nesting_is_stored_as_json(client: tuple[httpx.Client, MemoryStore]) -> None:
    c, store = client
    request = ExportTraceServiceRequest.FromString(VALID)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    value = span.attributes.add(key="nested").value
    inner = value
    for _ in range(25):
        inner = inner.kvlist_value.values.add(key="k").value
    inner.string_value = "leaf"
    span.span_id = b"\x0d" * 8
    response = send(c, request.SerializeToString(), PB)
    assert response.status_code == 200 and response.content == b""
    (stored,) = [s for s in store.get_trace(span.trace_id) if s.span_id == b"\x0d" * 8]
    text = stored.attributes["nested"]
    assert isinstance(text, str) and text.startswith('{"k":{"k":') and '"leaf"' in text


def nested_request(depth: int) -> bytes:
    """A one-span trace request whose attribute nests ``depth`` kvlists."""
    key_value = field(1, b"nested") + field(2, nested_kvlist(depth))
    span = field(1, b"\x01" * 16) + field(2, b"\x02" * 8) + field(5, b"x") + field(9, key_value)
    return field(1, field(2, field(2, span)))  # resource_spans.scope_spans.spans


def test_nesting_beyond_the_parser_limit_is_400(client: tuple[httpx.Client, MemoryStore]) -> None:
    assert standard_parse_ok(nested_request(20))  # the construction itself is sound
    assert send(client[0], nested_request(20), PB).status_code == 200
    body = nested_request(40)
    assert not standard_parse_ok(body)
    response = send(client[0], body, PB)
    assert response.status_code == 400
    assert "ExportTraceServiceRequest" in response.content.decode(errors="replace")


def test_huge_attribute_string_is_stored_intact(client: tuple[httpx.Client, MemoryStore]) -> None:
    c, store = client
    request = ExportTraceServiceRequest.FromString(VALID)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.span_id = b"\x0e" * 8
    prompt = "tell me a story " * 150_000  # 2.4 MB, under the 4 MiB limit
    span.attributes.add(key="gen_ai.prompt").value.string_value = prompt
    response = send(c, request.SerializeToString(), PB)
    assert response.status_code == 200
    (stored,) = [s for s in store.get_trace(span.trace_id) if s.span_id == b"\x0e" * 8]
    assert stored.attributes["gen_ai.prompt"] == prompt


def test_gzip_bomb_is_413(client: tuple[httpx.Client, MemoryStore]) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(128)) + packer.flush()  # 128 MiB inflated
    assert len(bomb) < LIMIT // 8
    response = send(client[0], bomb, {**PB, "Content-Encoding": "gzip"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    "where",
    ["span attribute", "resource attribute", "array element", "nested map value"],
)
def test_profiles_string_index_values_are_400_not_500(
    client: tuple[httpx.Client, MemoryStore], where: str
) -> None:
    """``AnyValue.string_value_strindex`` (OTLP 1.8, profiles only) was a KeyError -> 500;
    the reliability fuzzer found it by setting fields to extremes."""
    request = ExportTraceServiceRequest.FromString(VALID)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    value = (
        span.attributes.add().value
        if where == "span attribute"
        else request.resource_spans[0].resource.attributes.add().value
        if where == "resource attribute"
        else span.attributes.add().value.array_value.values.add()
        if where == "array element"
        else span.attributes.add().value.kvlist_value.values.add().value
    )
    value.string_value_strindex = 3
    before = client[1].stats().spans.count
    response = send(client[0], request.SerializeToString(), PB)
    assert response.status_code == 400
    assert b"string_value_strindex" in response.content
    assert client[1].stats().spans.count == before + 12  # send() posts 12 fresh spans after it
