"""The HTTP listening socket's options."""

from __future__ import annotations

import socket

import pytest

from infertrace.collector.server import _bind


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_listening_socket_disables_nagle(host: str) -> None:
    """Without TCP_NODELAY every response waits ~40 ms for the client's delayed ACK."""
    try:
        sock = _bind(host, 0)
    except OSError as exc:
        pytest.skip(f"{host} is not available here: {exc}")
    with sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.listen()
        with socket.create_connection(sock.getsockname()[:2]) as client:
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert client.fileno() > 0
