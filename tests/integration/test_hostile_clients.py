"""Hostile clients against a real collector: idle and slow connections, stalled gRPC calls.

Each test reproduces an input that once locked normal clients out (issue 9) with
counts small enough to run in seconds, then checks a normal export still gets
through within a second.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager

import grpc
import grpc.aio
import httpx
import pytest

from infertrace.api import install_query_api
from infertrace.collector.connections import REFUSAL
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
BODY = encode_spans(Workload(seed=9).spans(5)).SerializeToString()
PROTOBUF = {"content-type": "application/x-protobuf"}


@contextmanager
def collector(**settings: object) -> Iterator[BackgroundCollector]:
    store = MemoryStore()
    server = BackgroundCollector(
        store,
        Settings(port=0, grpc_port=0, **settings),  # type: ignore[arg-type]
        install_query_api,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        store.close()


def idle_sockets(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        socks.append(sock)
    return socks


def http_export_seconds(url: str) -> float:
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/traces", content=BODY, headers=PROTOBUF, timeout=5)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


def closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Seconds until the server closed ``sock`` (reading what it sent), or inf."""
    started = time.perf_counter()
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return float("inf"), received
    except ConnectionResetError:
        pass
    return time.perf_counter() - started, received


def test_idle_connections_beyond_the_cap_do_not_lock_out_exports() -> None:
    """60 connections that never send a byte against a cap of 50: the oldest are closed."""
    with collector(max_connections=50, receive_timeout=30.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        socks = idle_sockets(server.endpoints.http_port, 60, stack)
        assert http_export_seconds(server.endpoints.http_url) < 1.0
        time.sleep(0.1)
        guard = server.connections
        assert guard.open <= 50 and guard.evicted >= 11 and guard.refused == 0
        assert closed_within(socks[0], 1.0)[0] < 1.0  # the oldest went first
        metrics = httpx.get(f"{server.endpoints.http_url}/metrics", timeout=5).text
        evicted = re.search(
            r'infertrace_shed_total\{reason="evicted",transport="http"\} (\S+)', metrics
        )
        assert evicted is not None and float(evicted.group(1)) >= 11


def test_connections_beyond_the_cap_are_refused_when_all_are_busy() -> None:
    """Every slot runs a request (a body still arriving): a new connection gets a clean 503."""
    with collector(max_connections=5, receive_timeout=30.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        busy = idle_sockets(server.endpoints.http_port, 5, stack)
        for sock in busy:
            sock.sendall(
                b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
                b"content-length: 1000\r\n\r\n" + BODY[:10]
            )
        time.sleep(0.2)
        extra = stack.enter_context(
            socket.create_connection(("127.0.0.1", server.endpoints.http_port))
        )
        seconds, answer = closed_within(extra, 2.0)
        assert seconds < 1.0 and answer == REFUSAL
        assert server.connections.refused == 1


def test_slow_bodies_do_not_hold_every_inflight_slot() -> None:
    """6 clients trickling bodies against max_inflight 4: a normal export still gets in.

    The OTLP receiver counts a request from its headers on: 16 slow bodies once held
    all 16 slots (answering every other export 503) until they finished or timed out.
    """
    slow_request = (
        b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
        b"content-length: 1000\r\n\r\n" + BODY[:10]
    )
    with collector(max_inflight=4, receive_timeout=30.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        slow = idle_sockets(server.endpoints.http_port, 6, stack)
        for sock in slow:
            sock.sendall(slow_request)
            time.sleep(0.02)
        time.sleep(1.1)  # the oldest bodies have now been arriving for over 1 s
        assert http_export_seconds(server.endpoints.http_url) < 1.0
        seconds, answer = closed_within(slow[0], 1.0)
        assert seconds < 1.0 and answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"request body too slow" in answer
        assert server.connections.evicted == 1


def test_silent_and_slow_connections_are_closed() -> None:
    """A connection that sends nothing, one that stops mid-headers (slowloris), one that
    stops mid-body, and one idle after its answer (keep-alive)."""
    with collector(receive_timeout=1.0, idle_timeout=1.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        silent, slow, slow_body, served = idle_sockets(server.endpoints.http_port, 4, stack)
        slow.sendall(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: applica")
        slow_body.sendall(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\n"
            b"content-length: 1000\r\n\r\n" + BODY[:10]
        )
        served.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        seconds, answer = closed_within(silent, 4.0)
        assert 0.9 < seconds < 2.5 and answer == b""
        for sock in (slow, slow_body):
            seconds, answer = closed_within(sock, 4.0)
            assert seconds < 2.5 and answer.startswith(b"HTTP/1.1 408 "), answer
        seconds, answer = closed_within(served, 4.0)  # keep-alive: closed when idle 1 s
        assert seconds < 2.5 and answer.startswith(b"HTTP/1.1 200 ")
        assert server.connections.timed_out == 3
        assert http_export_seconds(server.endpoints.http_url) < 1.0


def _limit_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def test_serve_survives_more_idle_connections_than_descriptors() -> None:
    """The original failure, scaled down: idle connections past the open-file limit.

    With a 256-file limit, 300 idle connections made accept() fail with EMFILE and
    asyncio log it tens of thousands of times a second; /healthz timed out.
    """
    cmd = [sys.executable, "-m", "infertrace.cli", "serve", "--port", "0", "--grpc-port", "0"]
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: _limit_files(256),
    )
    try:
        assert proc.stdout is not None
        port = 0
        for line in proc.stdout:
            if m := re.search(r"OTLP/HTTP\s+http://127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
                break
        assert port
        with ExitStack() as stack:
            idle_sockets(port, 300, stack)
            time.sleep(0.5)
            assert http_export_seconds(f"http://127.0.0.1:{port}") < 1.0
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert health.status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "socket.accept()" not in err and "cannot accept" not in err, err[:2000]


async def _never() -> AsyncIterator[bytes]:
    await asyncio.Event().wait()
    yield b""  # pragma: no cover


async def _stalled_then_normal(target: str, stalled: int) -> tuple[float, list[grpc.StatusCode]]:
    async with grpc.aio.insecure_channel(target) as channel:
        open_stream = channel.stream_unary(TRACES)
        calls = [open_stream(_never(), timeout=60) for _ in range(stalled)]
        await asyncio.sleep(0.5)  # every stalled call has started on the server
        started = time.perf_counter()
        await channel.unary_unary(TRACES)(BODY, timeout=5)
        seconds = time.perf_counter() - started
        codes = []
        for call in calls:
            try:
                await call
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
        return seconds, codes


def test_stalled_grpc_calls_do_not_lock_out_exports() -> None:
    """80 calls that open a stream and never send their message, max_inflight 64.

    They used to fill grpc's maximum_concurrent_rpcs: every Export got
    RESOURCE_EXHAUSTED until the stalled calls' deadlines (here 60 s) ran out.
    """
    with collector(max_inflight=64, receive_timeout=1.5) as server:
        assert server.endpoints is not None
        seconds, codes = asyncio.run(_stalled_then_normal(server.endpoints.grpc_target, 80))
    assert seconds < 1.0
    # The 16 oldest made room for newer calls; the rest ran out of receive time.
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 16
    assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED}


def test_grpc_connection_without_handshake_is_closed() -> None:
    with collector(receive_timeout=1.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        (sock,) = idle_sockets(server.endpoints.grpc_port, 1, stack)
        seconds, _ = closed_within(sock, 4.0)
        assert seconds < 2.5
        with grpc.insecure_channel(server.endpoints.grpc_target) as channel:
            channel.unary_unary(TRACES)(BODY, timeout=5)


@pytest.mark.parametrize("count", [12])
def test_grpc_connections_beyond_the_cap_are_closed(count: int) -> None:
    with collector(max_connections=8, receive_timeout=1.0) as server, ExitStack() as stack:
        assert server.endpoints is not None
        socks = idle_sockets(server.endpoints.grpc_port, count, stack)
        time.sleep(0.3)
        closed = sum(closed_within(sock, 0.05)[0] < 1.0 for sock in socks)
        assert closed == count - 8


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        if len(data) < 9 + length:
            return
        yield data[3], data[9 : 9 + length]
        data = data[9 + length :]


def test_grpc_client_pinging_too_often_is_sent_away() -> None:
    """Keepalive enforcement: HTTP/2 PINGs every 50 ms end in GOAWAY too_many_pings."""
    with collector() as server, ExitStack() as stack:
        assert server.endpoints is not None
        (sock,) = idle_sockets(server.endpoints.grpc_port, 1, stack)
        settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings)
        sock.settimeout(0.05)
        received = b""
        for n in range(40):  # 2 s at most
            ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + n.to_bytes(8, "big")
            try:
                sock.sendall(ping)
                received += sock.recv(65536)
            except TimeoutError:
                pass
            except OSError:
                break
            goaways = [payload for kind, payload in _frames(received) if kind == 0x7]
            if goaways:
                break
            time.sleep(0.05)
        assert goaways, "no GOAWAY after 40 pings"
        error_code = int.from_bytes(goaways[0][4:8], "big")
        assert error_code == 0xB and goaways[0][8:] == b"too_many_pings"  # ENHANCE_YOUR_CALM
