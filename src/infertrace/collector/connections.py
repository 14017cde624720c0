"""HTTP connection hygiene: a cap on open connections and request-read timeouts.

uvicorn arms its keep-alive timer only after a response, so a connection that
never sends a byte, or sends half a request line and stops (slowloris), lived
until the client went away: 20,000 idle connections exhausted the process's
file descriptors and every normal client timed out. :class:`ConnectionGuard`
bounds both the number and the lifetime of such connections:

- at most ``max_connections`` are open. A connection beyond the cap closes the
  oldest *idle* one (no request running: waiting for its first byte, reading
  headers, or between keep-alive requests), so idle clients cannot lock out
  working ones; only when every open connection is running a request is the
  new one refused with a minimal ``503`` and ``Connection: close``.
- a request's headers must be complete within ``receive_timeout`` of the
  connection opening or of the request's first byte, and its body within
  ``receive_timeout`` of its headers (so a client trickling a body cannot
  hold a connection that counts as busy); a sweep once a second closes
  connections past that deadline (with a ``408`` if a request had begun and
  no response has).
- the OTLP receiver counts a request as in flight from its headers on, so 16
  clients trickling bodies held all 16 slots and every other export got 503.
  When ``max_receiving`` requests (half the in-flight limit, in the collector)
  are receiving their body, a request whose headers complete ends the one
  receiving longest if that has taken over ``SLOW_BODY_SECONDS`` (``503``,
  connection closed), and wakes its handler at once, so the slot is free
  before the new request is counted.
- keep-alive idleness stays uvicorn's own timer (``timeout_keep_alive``).

The work is per connection: per request the protocol sets a few attributes,
reads the loop clock twice and moves itself in and out of a dict (O(1),
~0.3 µs); the sweep is O(open connections) once a second. Counts of refused,
evicted and timed-out connections go to the collector's Prometheus metrics.
Everything runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
"""How often receive deadlines are checked; a deadline is enforced within this."""

SLOW_BODY_SECONDS = 1.0
"""A body still arriving after this long may be ended to make room (see above)."""

FD_SHARE_HTTP = 2
"""The HTTP cap is at most 1/FD_SHARE_HTTP of the open-file limit (its accept
backlog 1/16, gRPC a quarter, files, the WAL and PostgreSQL the rest), so
connections alone can never exhaust descriptors: accept() failing with EMFILE
is what flooded the log."""


def _response(status: bytes, text: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: text/plain\r\ncontent-length: "
        + str(len(text)).encode()
        + b"\r\n"
        + extra
        + b"connection: close\r\n\r\n"
        + text
    )


REFUSAL = _response(
    b"503 Service Unavailable", b"too many connections, retry later\n", b"retry-after: 1\r\n"
)
"""Written to a connection beyond the cap when no open connection is idle."""
TIMEOUT = _response(b"408 Request Timeout", b"request not received in time\n")
"""Written to a connection whose request began, is overdue and has no response yet."""
SHED_BODY = _response(
    b"503 Service Unavailable",
    b"request body too slow while other requests waited\n",
    b"retry-after: 1\r\n",
)
"""Written to the request ended to make room for one more body to receive."""

Counter = Callable[[str], None]
"""Called with ``"refused"``, ``"evicted"`` or ``"receive_timeout"`` per closed connection."""


def fd_limit() -> int:
    """The process's soft limit on open files (RLIMIT_NOFILE)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def clamp_connections(wanted: int, share: int, limit: int | None = None) -> int:
    """``wanted``, but at most ``limit / share`` (the open-file limit by default), at least 1."""
    limit = fd_limit() if limit is None else limit
    return max(1, min(wanted, limit // share))


def accept_backlog(limit: int | None = None) -> int:
    """The listen backlog: 1/16 of the open-file limit, within 16..2048 (uvicorn's default).

    asyncio accepts up to a backlog's worth of connections in one go, before any
    of them can be turned away, so the backlog adds to the peak of open
    descriptors: at most cap + backlog for HTTP.
    """
    limit = fd_limit() if limit is None else limit
    return max(16, min(2048, limit // 16))


def raise_fd_limit(target: int = 65536) -> int:
    """Raise the soft open-file limit towards ``min(hard, target)``; returns the new soft limit.

    Called by ``infertrace serve`` only (a process-wide change), as Go's runtime does.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = target if hard == resource.RLIM_INFINITY else min(hard, target)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return soft
        return want
    return soft


class ConnectionGuard:
    """Open HTTP connections, the idle ones oldest first, and their receive deadlines.

    Event-loop only (no lock). :meth:`admit`, :meth:`busy`, :meth:`idle` and
    :meth:`release` are O(1); :meth:`sweep` is O(open connections).
    """

    def __init__(
        self,
        max_connections: int,
        receive_timeout: float,
        count: Counter | None = None,
        max_receiving: int | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.receive_timeout = receive_timeout
        self.max_receiving = max_connections if max_receiving is None else max_receiving
        self._count = count
        self._open: set[GuardedProtocol] = set()
        self._idle: dict[GuardedProtocol, None] = {}  # insertion order: oldest idle first
        self._receiving: dict[GuardedProtocol, None] = {}  # oldest body first
        self._sweeper: asyncio.TimerHandle | None = None
        self.refused = self.evicted = self.timed_out = 0

    @property
    def open(self) -> int:
        """Connections open now."""
        return len(self._open)

    def admit(self, conn: GuardedProtocol) -> bool:
        """Take a new connection, closing the oldest idle one at the cap; False: refuse it."""
        if len(self._open) >= self.max_connections:
            if not self._idle:
                self.refused += 1
                self._counted("refused")
                return False
            oldest = next(iter(self._idle))
            self.evicted += 1
            self._counted("evicted")
            self.release(oldest)
            oldest.shed(None)
        self._open.add(conn)
        self._idle[conn] = None
        return True

    def busy(self, conn: GuardedProtocol, now: float) -> None:
        """``conn`` got a request's headers at loop time ``now`` and receives its body.

        At ``max_receiving`` such connections, the one receiving longest is ended if
        it has for over SLOW_BODY_SECONDS.
        """
        self._idle.pop(conn, None)
        if len(self._receiving) >= self.max_receiving:
            oldest = next(iter(self._receiving))
            if now - oldest.body_started >= SLOW_BODY_SECONDS:
                self.evicted += 1
                self._counted("evicted")
                self.release(oldest)
                oldest.shed(SHED_BODY)
        self._receiving[conn] = None

    def received(self, conn: GuardedProtocol) -> None:
        """``conn`` has its request's whole body."""
        self._receiving.pop(conn, None)

    def idle(self, conn: GuardedProtocol) -> None:
        """``conn`` finished its requests and waits for the next (the newest idle one)."""
        self._receiving.pop(conn, None)  # answered before its whole body came
        if conn in self._open:
            self._idle[conn] = None

    def release(self, conn: GuardedProtocol) -> None:
        """``conn`` is closed or closing; safe to call twice."""
        self._open.discard(conn)
        self._idle.pop(conn, None)
        self._receiving.pop(conn, None)

    def sweep(self, now: float) -> int:
        """Close connections whose request is overdue at loop time ``now``; returns how many."""
        late = [c for c in self._open if 0.0 < c.receive_deadline <= now]
        for conn in late:
            self.timed_out += 1
            self._counted("receive_timeout")
            self.release(conn)
            conn.shed(TIMEOUT)
        return len(late)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run :meth:`sweep` every ``SWEEP_SECONDS`` on ``loop`` until :meth:`stop`."""

        def tick() -> None:
            self.sweep(loop.time())
            self._sweeper = loop.call_later(SWEEP_SECONDS, tick)

        self._sweeper = loop.call_later(SWEEP_SECONDS, tick)

    def stop(self) -> None:
        """Stop sweeping; safe to call twice."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def _counted(self, reason: str) -> None:
        if self._count is not None:
            self._count(reason)

    def _check(self) -> None:
        assert set(self._idle) <= self._open, "an idle connection is not open"
        assert set(self._receiving) <= self._open, "a receiving connection is not open"
        assert not set(self._idle) & set(self._receiving), "idle and receiving at once"
        assert len(self._open) <= self.max_connections, "more connections than the cap"


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol reporting its connection's life to a guard.

    Use :func:`guarded_protocol` to bind a guard; the class attribute is set there.
    """

    guard: ClassVar[ConnectionGuard]
    receive_deadline: float = 0.0
    """Loop time by which the current request's headers, or body, must be in; 0: none due."""
    request_begun: bool = False
    body_started: float = 0.0
    """Loop time the current request's headers were complete."""

    def may_answer(self) -> bool:
        """True if a request has begun and no response to it has started."""
        return self.request_begun and (self.cycle is None or not self.cycle.response_started)

    def shed(self, answer: bytes | None) -> None:
        """Close the connection, first writing ``answer`` if the client can still take one.

        A request being handled is told it was disconnected right now rather than on
        ``connection_lost``'s later loop turn, so it leaves the receiver's in-flight
        count before any request admitted in this turn is counted.
        """
        if answer is not None and self.may_answer():
            self.transport.write(answer)
        self.transport.close()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.write(REFUSAL)
            transport.close()
            return
        self.receive_deadline = self.loop.time() + self.guard.receive_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.request_begun = True
        if not self.receive_deadline:  # the first request keeps its deadline from connecting
            self.receive_deadline = self.loop.time() + self.guard.receive_timeout

    def on_headers_complete(self) -> None:
        now = self.body_started = self.loop.time()
        self.receive_deadline = now + self.guard.receive_timeout  # for the body
        self.guard.busy(self, now)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.receive_deadline = 0.0
        self.request_begun = False
        self.guard.received(self)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # no pipelined request started
            self.guard.idle(self)


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` subclass bound to ``guard``, for ``uvicorn.Config(http=...)``."""
    return type("GuardedHttpProtocol", (GuardedProtocol,), {"guard": guard})
