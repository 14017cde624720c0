"""Connection hygiene pieces on their own: the guard, the call gate, the accept-error log."""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from infertrace.collector.accept_errors import AcceptErrorLog, is_accept_error
from infertrace.collector.connections import ConnectionGuard, GuardedProtocol, clamp_connections
from infertrace.collector.grpc_gate import CallGate, CallRefused
from infertrace.config import ConfigError, Settings


class _Transport:
    def __init__(self) -> None:
        self.closed = False
        self.written = b""

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        self.written += data


class _Conn:
    """Just what the guard touches of a protocol."""

    def __init__(self, deadline: float = 0.0, begun: bool = False) -> None:
        self.transport = _Transport()
        self.receive_deadline = deadline
        self.request_begun = begun
        self.body_started = 0.0

    def may_answer(self) -> bool:
        return self.request_begun

    def shed(self, answer: bytes | None) -> None:
        if answer is not None and self.may_answer():
            self.transport.write(answer)
        self.transport.close()


def _conn(deadline: float = 0.0, begun: bool = False) -> GuardedProtocol:
    return _Conn(deadline, begun)  # type: ignore[return-value]


def test_guard_evicts_the_oldest_idle_connection_at_the_cap() -> None:
    guard = ConnectionGuard(3, 10.0)
    a, b, c = _conn(), _conn(), _conn()
    for conn in (a, b, c):
        assert guard.admit(conn)
    guard.busy(a, 0.0)  # a runs a request: b is now the oldest idle one
    d = _conn()
    assert guard.admit(d)
    assert b.transport.closed and not a.transport.closed and not c.transport.closed  # type: ignore[attr-defined]
    assert (guard.open, guard.evicted, guard.refused) == (3, 1, 0)
    guard._check()
    guard.idle(a)  # a finished: now the newest idle one, c the oldest
    assert guard.admit(_conn())
    assert c.transport.closed and not a.transport.closed  # type: ignore[attr-defined]
    guard._check()


def test_guard_refuses_when_every_connection_is_busy() -> None:
    counted: list[str] = []
    guard = ConnectionGuard(2, 10.0, counted.append)
    conns = [_conn(), _conn()]
    for conn in conns:
        guard.admit(conn)
        guard.busy(conn, 0.0)
    assert not guard.admit(_conn())
    assert (guard.refused, counted) == (1, ["refused"])
    guard.release(conns[0])
    guard.release(conns[0])  # twice is harmless
    assert guard.admit(_conn()) and guard.open == 2
    guard._check()


def test_a_slow_body_makes_room_for_a_new_request() -> None:
    guard = ConnectionGuard(10, 30.0, max_receiving=2)
    a, b, c, d = (_conn(begun=True) for _ in range(4))
    for conn, started in ((a, 0.0), (b, 0.2), (c, 0.5)):
        guard.admit(conn)
        conn.body_started = started
        guard.busy(conn, started)  # c: a has taken only 0.5 s, nobody is ended
    assert guard.evicted == 0
    guard.admit(d)
    d.body_started = 1.2
    guard.busy(d, 1.2)  # a has been receiving for 1.2 s: it goes
    assert a.transport.written.startswith(b"HTTP/1.1 503 ") and a.transport.closed  # type: ignore[attr-defined]
    assert not b.transport.closed and guard.evicted == 1  # type: ignore[attr-defined]
    guard.received(b)
    guard.idle(c)  # answered before its body was all in
    guard._check()


def test_sweep_closes_overdue_connections_only() -> None:
    guard = ConnectionGuard(10, 5.0)
    silent, slow, fine, served = _conn(4.0), _conn(4.5, begun=True), _conn(9.0), _conn(0.0)
    for conn in (silent, slow, fine, served):
        guard.admit(conn)
    assert guard.sweep(now=5.0) == 2
    assert silent.transport.closed and silent.transport.written == b""  # type: ignore[attr-defined]
    assert slow.transport.written.startswith(b"HTTP/1.1 408 ")  # type: ignore[attr-defined]
    assert not fine.transport.closed and not served.transport.closed  # type: ignore[attr-defined]
    assert (guard.open, guard.timed_out) == (2, 2)
    guard._check()


def test_cap_is_clamped_below_the_open_file_limit() -> None:
    assert clamp_connections(1024, 2, limit=256) == 128
    assert clamp_connections(50, 2, limit=256) == 50
    assert clamp_connections(10, 4, limit=2) == 1
    assert clamp_connections(10**9, 2) < 10**9  # the real limit applies


async def _never() -> AsyncIterator[bytes]:
    await asyncio.Event().wait()
    yield b""  # pragma: no cover


async def _one(message: bytes) -> AsyncIterator[bytes]:
    yield message


async def _refusal(gate: CallGate, requests: AsyncIterator[bytes]) -> CallRefused | bytes:
    try:
        return await gate.receive(requests)
    except CallRefused as exc:
        return exc


def test_gate_sheds_the_oldest_stalled_call_not_the_new_one() -> None:
    async def scenario() -> None:
        gate = CallGate(max_inflight=2, receive_timeout=30.0, max_waiting=3)
        stalled = [asyncio.create_task(_refusal(gate, _never())) for _ in range(3)]
        await asyncio.sleep(0)
        assert gate.waiting == 3
        normal = await asyncio.wait_for(_refusal(gate, _one(b"export")), 1.0)
        assert normal == b"export"
        oldest = await asyncio.wait_for(stalled[0], 1.0)
        assert isinstance(oldest, CallRefused)
        assert oldest.code is grpc.StatusCode.RESOURCE_EXHAUSTED and oldest.reason == "evicted"
        assert gate.waiting == 2 and gate.evicted == 1
        gate._check()
        for task in stalled[1:]:
            task.cancel()
        await asyncio.gather(*stalled[1:], return_exceptions=True)
        assert gate.waiting == 0

    asyncio.run(scenario())


def test_gate_times_out_a_call_without_its_message() -> None:
    async def scenario() -> None:
        counted: list[str] = []
        gate = CallGate(max_inflight=2, receive_timeout=0.05, count=counted.append)
        refused = await asyncio.wait_for(_refusal(gate, _never()), 2.0)
        assert isinstance(refused, CallRefused)
        assert refused.code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert "within 0.05 s" in str(refused)
        assert counted == ["receive_timeout"] and gate.waiting == 0

    asyncio.run(scenario())


def test_gate_bounds_processing_calls() -> None:
    gate = CallGate(max_inflight=2, receive_timeout=1.0)
    gate.enter()
    gate.enter()
    with pytest.raises(CallRefused) as info:
        gate.enter()
    assert info.value.code is grpc.StatusCode.UNAVAILABLE and gate.busy == 1
    gate.leave()
    gate.enter()
    gate._check()


def _accept_context() -> dict[str, Any]:
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
        "socket": object(),
    }


def test_accept_errors_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    handler = AcceptErrorLog(interval=10.0, clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    try:
        handler.install(loop)
        assert loop.get_exception_handler() is handler
        with caplog.at_level(logging.ERROR, logger="infertrace.collector.accept_errors"):
            for _ in range(7_000):  # one second of the original flood
                loop.call_exception_handler(_accept_context())
            now[0] += 10.0
            loop.call_exception_handler(_accept_context())
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2 and handler.logged == 2
        assert "Too many open files" in lines[1] and "6999 more like it" in lines[1]
        handler.uninstall()
        handler.uninstall()
        assert loop.get_exception_handler() is None
    finally:
        loop.close()


def test_other_loop_errors_reach_the_previous_handler() -> None:
    seen: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    try:
        loop.set_exception_handler(lambda _loop, context: seen.append(context))
        handler = AcceptErrorLog()
        handler.install(loop)
        loop.call_exception_handler({"message": "Task exception was never retrieved"})
        assert [c["message"] for c in seen] == ["Task exception was never retrieved"]
        handler.uninstall()
    finally:
        loop.close()
    assert is_accept_error(_accept_context())
    assert not is_accept_error({"message": "x", "exception": OSError(errno.EPIPE, "pipe")})


def test_connection_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "INFERTRACE_MAX_CONNECTIONS": "200",
            "INFERTRACE_RECEIVE_TIMEOUT": "5s",
            "INFERTRACE_IDLE_TIMEOUT": "2m",
        }
    )
    assert (settings.max_connections, settings.receive_timeout, settings.idle_timeout) == (
        200,
        5.0,
        120.0,
    )
    with pytest.raises(ConfigError, match="max_connections must be at least 1"):
        Settings(max_connections=0)
    with pytest.raises(ConfigError, match="receive_timeout"):
        Settings(receive_timeout=0)
    with pytest.raises(ConfigError, match="INFERTRACE_IDLE_TIMEOUT"):
        Settings.from_env({"INFERTRACE_IDLE_TIMEOUT": "forever"})


def test_serve_raises_its_soft_file_limit_up_to_the_hard_one() -> None:
    code = (
        "import resource; from infertrace.collector.connections import raise_fd_limit; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024)); "
        "print(raise_fd_limit(), raise_fd_limit(4096), resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1024", "1024", "(1024,", "1024)"]
