"""Mutation fuzzing of all three OTLP signals over HTTP and gRPC, and record times.

Valid requests shaped like the synthetic LLM-serving workload are mutated two
ways: structure-aware (every scalar field of a random few is set to an extreme:
0, -1, 2**63-1, 2**64-1, empty or huge strings, ids of the wrong length, NaN)
and byte-level (flips, truncation, splices). The promises checked: no answer is
a 5xx other than 503 (nor gRPC INTERNAL/UNKNOWN), the process stays up, nothing
it acknowledged is lost (a marker request after the fuzzing is stored and
readable), and records timed outside the accepted window are refused one by
one in ``partial_success`` while the rest of their request is stored.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.testing import ServedProcess as Served
from infertrace.workload import Workload
from reliability import Row

TITLE = "OTLP fuzzing and record times"
PATHS = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}
METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}
HTTP_OK = {200, 400, 413, 415, 503}
GRPC_OK = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
}
INTS = [0, 1, -1, 2**31, 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1]
FLOATS = [0.0, -1.0, float("nan"), float("inf"), float("-inf"), 1e308]
STRINGS = ["", "x" * 5000, "\u0000", "\ud7ff\ue000", "é" * 100, "gen_ai.request.model"]
BYTES_ = [b"", b"\x00", b"\x00" * 8, b"\x00" * 16, b"\xff" * 9, b"\x01" * 17]


def requests(now: int, seed: int) -> dict[str, Message]:
    w = Workload(seed=seed, start_ns=now)
    return {
        "traces": encode_spans(w.spans(60)),
        "logs": encode_logs(w.logs(60)),
        "metrics": encode_metrics(w.metrics(60)),
    }


def _scalars(msg: Message, out: list[tuple[Message, FieldDescriptor, int | None]]) -> None:
    """Every (message, scalar field, index) reachable from ``msg``."""
    for field in msg.DESCRIPTOR.fields:
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if repeated:
                for child in getattr(msg, field.name):
                    _scalars(child, out)
            elif msg.HasField(field.name):
                _scalars(getattr(msg, field.name), out)
        elif repeated:
            for i in range(len(getattr(msg, field.name))):
                out.append((msg, field, i))
        else:
            out.append((msg, field, None))


def _extreme(field: FieldDescriptor, rng: random.Random) -> Any:
    t = field.type
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice(FLOATS)
    if t == FieldDescriptor.TYPE_STRING:
        return rng.choice(STRINGS)
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.choice(BYTES_)
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice([0, 1, 5, 99, -1])
    return rng.choice(INTS)


def mutate_fields(req: Message, rng: random.Random, count: int) -> bytes:
    """``req`` with ``count`` scalar fields set to extremes (values the field can hold)."""
    msg = type(req)()
    msg.CopyFrom(req)
    found: list[tuple[Message, FieldDescriptor, int | None]] = []
    _scalars(msg, found)
    for parent, field, index in rng.sample(found, min(count, len(found))):
        for _ in range(8):  # draw until the value fits the field's type
            value = _extreme(field, rng)
            try:
                if index is None:
                    setattr(parent, field.name, value)
                else:
                    getattr(parent, field.name)[index] = value
                break
            except (ValueError, TypeError):
                continue
    return bytes(msg.SerializeToString())


def mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        pos = rng.randrange(len(data)) if data else 0
        if op < 0.5 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif op < 0.7:
            del data[pos:]
        elif op < 0.85:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif data:
            data[pos] = rng.choice([0x00, 0xFF, 0x80, 0x7F])
    return bytes(data)


def fuzz(served: Served, count: int, seed: int) -> tuple[dict[str, int], list[str]]:
    """Send ``count`` mutated requests per signal over each transport; tally answers."""
    rng = random.Random(seed)
    tally: dict[str, int] = {}
    bad: list[str] = []
    channel = grpc.insecure_channel(served.grpc_target)
    calls = {s: channel.unary_unary(m) for s, m in METHODS.items()}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        for i in range(count):
            base = requests(time.time_ns(), seed + i % 7)
            for signal, req in base.items():
                body = (
                    mutate_fields(req, rng, rng.randint(1, 6))
                    if i % 3
                    else mutate_bytes(req.SerializeToString(), rng)
                )
                r = client.post(
                    PATHS[signal], content=body, headers={"Content-Type": "application/x-protobuf"}
                )
                key = f"http {r.status_code}"
                tally[key] = tally.get(key, 0) + 1
                if r.status_code not in HTTP_OK:
                    bad.append(f"HTTP {signal} {r.status_code}: {r.text[:200]}")
                code = _grpc_call(calls[signal], body)
                tally[f"grpc {code.name}"] = tally.get(f"grpc {code.name}", 0) + 1
                if code not in GRPC_OK:
                    bad.append(f"gRPC {signal} {code.name}")
    channel.close()
    return tally, bad


def _grpc_call(call: Callable[..., Any], body: bytes) -> grpc.StatusCode:
    try:
        call(body, timeout=30)
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]


def post_spans(served: Served, spans: list[Any]) -> httpx.Response:
    return httpx.post(
        served.url + "/v1/traces",
        content=encode_spans(spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )


def marker_stored(served: Served) -> bool:
    """A fresh request after the fuzzing is answered 200 and readable by its trace id."""
    spans = Workload(seed=4242, start_ns=time.time_ns()).spans(6)
    r = post_spans(served, spans)
    if r.status_code != 200:
        return False
    got = httpx.get(f"{served.url}/api/traces/{spans[0].trace_id.hex()}", timeout=30)
    return got.status_code == 200 and len(got.json()["spans"]) == len(
        [s for s in spans if s.trace_id == spans[0].trace_id]
    )


def spread(served: Served) -> tuple[bool, str]:
    """Four requests of 500 spans spread 1970..2262, one in-window span each."""
    now = time.time_ns()
    spans = Workload(seed=9, start_ns=now).spans(2000)
    step = (2**63 - 1) // 2000
    rejected = 0
    for r in range(4):
        batch = [
            dataclasses.replace(s, start_time_unix_nano=now if i == 499 else (r * 500 + i) * step)
            for i, s in enumerate(spans[r * 500 : (r + 1) * 500])
        ]
        resp = post_spans(served, batch)
        if resp.status_code != 200:
            return False, f"answered {resp.status_code}"
        rejected += ExportTraceServiceResponse.FromString(
            resp.content
        ).partial_success.rejected_spans
    newest = httpx.get(served.url + "/api/spans?limit=1", timeout=30).json()
    top = newest["spans"][0]["start_time_unix_nano"] if newest.get("spans") else None
    held = rejected == 1996 and top is not None and abs(top - now) < 60 * 10**9
    return held, f"{rejected} of 2000 refused one by one; newest span is the in-window one"


def run(quick: bool) -> list[Row]:
    count = 100 if quick else 1100
    rows: list[Row] = []
    with Served("--span-capacity", "200000", "--log-capacity", "200000") as served:
        tally, bad = fuzz(served, count, seed=1)
        alive = served.alive()
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(tally.items()))
        rows.append(
            Row(
                "mutated OTLP requests (fields set to extremes, bytes flipped/cut), 3 signals",
                f"{count * 3} over HTTP + {count * 3} over gRPC",
                not bad and alive,
                (f"no 5xx, no INTERNAL; {answers}" if not bad else "; ".join(bad[:3])),
            )
        )
        rows.append(
            Row(
                "a normal request after the fuzzing",
                "1 trace",
                marker_stored(served),
                "answered 200 and read back by trace id",
            )
        )
        held, detail = spread(served)
        rows.append(Row("spans timed 1970..2262 (default window)", "4 x 500 spans", held, detail))
    return rows
