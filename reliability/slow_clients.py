"""Slow and idle clients: they must not lock normal exporters out (issue 9, items 4 and 5).

``infertrace serve`` (memory store) runs in a child process with small caps
(``--max-connections 50 --receive-timeout 2s --idle-timeout 2s --max-inflight 16``)
under a 256-file limit, and each probe holds hostile clients open while a
normal OTLP/HTTP and a normal OTLP/gRPC export (fresh connections) must each
succeed within 1 s:

1. idle TCP connections to the HTTP port, more than the cap and than the
   process's file limit;
2. slowloris: connections trickling a request's headers, or its body, a few
   bytes at a time;
3. stalled gRPC calls: streams opened whose request message never comes;
4. idle TCP connections to the gRPC port beyond its cap: the excess is closed
   at once, the rest when the HTTP/2 handshake is overdue.

Finally the collector's stderr must hold no accept-error flood. About 30 s.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack

import grpc
import grpc.aio
import httpx

from infertrace.collector.otlp.encode import encode_spans
from infertrace.testing import ServedProcess
from infertrace.workload import Workload
from reliability import Row

TITLE = "Slow and idle clients"
BOUND = 1.0
CAP = 50
RECEIVE_TIMEOUT = 2.0
MAX_INFLIGHT = 16
FILE_LIMIT = 256
TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
BODY = encode_spans(Workload(seed=5).spans(20)).SerializeToString()


def _limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _serve() -> ServedProcess:
    return ServedProcess(
        "--max-connections", str(CAP), "--receive-timeout", f"{RECEIVE_TIMEOUT:g}s",
        "--idle-timeout", "2s", "--max-inflight", str(MAX_INFLIGHT),
        preexec=_limit_files,
    )  # fmt: skip


def _http_export(url: str) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        response = httpx.post(
            f"{url}/v1/traces",
            content=BODY,
            headers={"content-type": "application/x-protobuf"},
            timeout=5,
        )
        ok = response.status_code == 200
    except httpx.HTTPError:
        ok = False
    return ok, time.perf_counter() - started


def _grpc_export(target: str) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        with grpc.insecure_channel(target) as channel:
            channel.unary_unary(TRACES)(BODY, timeout=5)
        ok = True
    except grpc.RpcError:
        ok = False
    return ok, time.perf_counter() - started


def _normal(server: ServedProcess) -> tuple[bool, str]:
    """Both normal exports within BOUND; and what they took."""
    http_ok, http_s = _http_export(server.url)
    grpc_ok, grpc_s = _grpc_export(f"127.0.0.1:{server.grpc_port}")
    held = http_ok and grpc_ok and http_s < BOUND and grpc_s < BOUND
    return held, (
        f"normal HTTP export {'ok' if http_ok else 'FAILED'} in {http_s * 1000:.0f} ms, "
        f"gRPC {'ok' if grpc_ok else 'FAILED'} in {grpc_s * 1000:.0f} ms"
    )


def _connect(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        socks.append(stack.enter_context(socket.create_connection(("127.0.0.1", port), 5)))
    return socks


def _closed(sock: socket.socket) -> bool:
    """True if the server has closed ``sock`` (whatever it sent first is drained)."""
    sock.setblocking(False)
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def _idle_http(server: ServedProcess, count: int) -> Row:
    with ExitStack() as stack:
        socks = _connect(server.http_port, count, stack)
        time.sleep(0.3)
        held, detail = _normal(server)
        closed = sum(_closed(s) for s in socks)
    held = held and closed >= count - CAP
    return Row(
        "idle TCP connections to the HTTP port (never a byte)",
        f"{count} (cap {CAP}, file limit {FILE_LIMIT})",
        held,
        f"{closed} oldest closed to stay under the cap; {detail}",
    )


HEADERS = b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"


def _slowloris(server: ServedProcess, count: int, body: bool) -> Row:
    """Headers (or, with ``body``, a 100 KB body after whole headers) 3 bytes per 250 ms."""
    request = (b"x" * 100_000) if body else HEADERS
    with ExitStack() as stack:
        socks = _connect(server.http_port, count, stack)
        if body:
            for sock in socks:
                sock.sendall(HEADERS + f"content-length: {len(request)}\r\n\r\n".encode())
        started = time.monotonic()
        sent = 0
        answers = dict.fromkeys(range(count), b"")
        open_ = set(range(count))
        normal = (False, "no export tried")
        while open_ and time.monotonic() - started < RECEIVE_TIMEOUT + 3:
            for i in list(open_):
                try:
                    socks[i].sendall(request[sent : sent + 3])
                except OSError:
                    open_.discard(i)
            sent += 3
            if normal[1] == "no export tried" and time.monotonic() - started > 1.0:
                normal = _normal(server)
            time.sleep(0.25)
            for i in list(open_):
                socks[i].setblocking(False)
                try:
                    chunk = socks[i].recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                answers[i] += chunk
                if not chunk:
                    open_.discard(i)
        took = time.monotonic() - started
    statuses: dict[str, int] = {}
    for answer in answers.values():
        status = answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "nothing"
        statuses[status] = statuses.get(status, 0) + 1
    # 408: too slow; 503: the receiver was busy, or the slowest body made room for
    # the normal export. Either way the connection is gone, and said why.
    held = normal[0] and not open_ and set(statuses) <= {"408", "503"}
    answered = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    return Row(
        f"slowloris: request {'body' if body else 'headers'} trickled 3 bytes per 250 ms",
        f"{count} connections",
        held,
        f"all closed within {took:.1f} s, answered {answered} "
        f"(receive timeout {RECEIVE_TIMEOUT:g} s); {normal[1]}",
    )


async def _never() -> AsyncIterator[bytes]:
    await asyncio.Event().wait()
    yield b""  # pragma: no cover


async def _stalled(server: ServedProcess, count: int) -> Row:
    target = f"127.0.0.1:{server.grpc_port}"
    async with grpc.aio.insecure_channel(target) as channel:
        calls = [channel.stream_unary(TRACES)(_never(), timeout=60) for _ in range(count)]
        await asyncio.sleep(0.3)
        held, detail = await asyncio.to_thread(_normal, server)
        started = time.monotonic()
        codes: dict[str, int] = {}
        for call in calls:
            try:
                await asyncio.wait_for(call, RECEIVE_TIMEOUT + 2)
                name = "OK"
            except grpc.aio.AioRpcError as exc:
                name = exc.code().name
            except TimeoutError:
                name = "still open"
            codes[name] = codes.get(name, 0) + 1
        took = time.monotonic() - started
    ended = {"DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"}
    held = held and set(codes) <= ended
    summary = ", ".join(f"{n} {code}" for code, n in sorted(codes.items()))
    return Row(
        "stalled gRPC calls (stream opened, request message never sent)",
        f"{count} (max-inflight {MAX_INFLIGHT})",
        held,
        f"ended: {summary}, the last {took:.1f} s after the export; {detail}",
    )


def _idle_grpc(server: ServedProcess, count: int) -> Row:
    cap = min(CAP, FILE_LIMIT // 4)
    with ExitStack() as stack:
        socks = _connect(server.grpc_port, count, stack)
        time.sleep(0.3)
        at_once = sum(_closed(s) for s in socks)
        started = time.monotonic()
        while time.monotonic() - started < RECEIVE_TIMEOUT + 2:
            if all(_closed(s) for s in socks):
                break
            time.sleep(0.1)
        gone = time.monotonic() - started + 0.3
        left = sum(not _closed(s) for s in socks)
        held, detail = _normal(server)
    held = held and at_once >= count - cap and left == 0
    return Row(
        "idle TCP connections to the gRPC port (no HTTP/2 handshake)",
        f"{count} (cap {cap})",
        held,
        f"{at_once} closed at once, the rest after {gone:.1f} s (handshake timeout "
        f"{RECEIVE_TIMEOUT:g} s; new gRPC connections are refused until then); {detail}",
    )


def _log_flood(server: ServedProcess) -> Row:
    text = server.stderr()
    lines = [line for line in text.splitlines() if "accept" in line.lower()]
    return Row(
        "accept errors in the collector's log",
        f"{len(text.splitlines())} stderr lines",
        len(lines) <= 1,
        f"{len(lines)} mention accept()",
    )


def run(quick: bool) -> list[Row]:
    """Each probe against one ``infertrace serve``; bounded (~30 s)."""
    with _serve() as server:
        rows = [
            _idle_http(server, 120 if quick else 300),
            _slowloris(server, 20 if quick else 40, body=False),
            _slowloris(server, 10 if quick else 20, body=True),
            asyncio.run(_stalled(server, 2 * MAX_INFLIGHT if quick else 5 * MAX_INFLIGHT)),
            _idle_grpc(server, 60 if quick else 100),
        ]
        rows.append(_log_flood(server))
    return rows
