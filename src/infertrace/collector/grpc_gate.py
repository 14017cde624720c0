"""In-flight accounting for OTLP/gRPC calls that a stalled client cannot monopolise.

grpc.aio's ``maximum_concurrent_rpcs`` counts a call from its first frame, and a
unary handler only runs once the request message has arrived: 64 calls that
open a stream and never send their message filled the 64 slots, and every
normal Export got RESOURCE_EXHAUSTED until the stalled calls' deadlines ran
out (~50 s). The receiver now registers its methods as stream-unary, so the
handler runs as soon as a call starts, and asks :class:`CallGate` for the
message. The gate keeps two separate counts:

- *waiting*: calls whose message has not arrived. Each gets ``receive_timeout``
  seconds (DEADLINE_EXCEEDED after that), and at most ``max_waiting`` wait at
  once: a new call beyond that ends the *oldest* waiting one (RESOURCE_EXHAUSTED),
  so stalled calls are what gets shed, never a call whose message is on the wire.
- *processing*: calls decoding and storing their message, at most
  ``max_inflight`` (beyond it UNAVAILABLE with a retry hint, as OTLP/HTTP's 503).

O(1) per call: one dict insert and removal and one loop timer. Event-loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc

from infertrace.errors import InferTraceError

Counter = Callable[[str], None]
"""Called with ``"receive_timeout"``, ``"evicted"`` or ``"busy"`` per refused call."""


class CallRefused(InferTraceError):
    """The gate ended a call; ``code`` and ``str(self)`` are what the client gets."""

    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class _Waiter:
    __slots__ = ("evicted", "timeout")

    def __init__(self) -> None:
        self.timeout: asyncio.Timeout | None = None
        self.evicted = False


class CallGate:
    """Waiting and processing counts for gRPC calls; see the module docstring."""

    def __init__(
        self,
        max_inflight: int,
        receive_timeout: float,
        max_waiting: int | None = None,
        count: Counter | None = None,
    ) -> None:
        self.max_inflight = max_inflight
        self.max_waiting = max_inflight if max_waiting is None else max_waiting
        self.receive_timeout = receive_timeout
        self._count = count
        self._waiting: dict[_Waiter, None] = {}  # insertion order: oldest first
        self.processing = 0
        self.timed_out = self.evicted = self.busy = 0

    @property
    def waiting(self) -> int:
        """Calls waiting for their request message now."""
        return len(self._waiting)

    async def receive(self, requests: AsyncIterator[bytes]) -> bytes:
        """The call's one request message; raises :class:`CallRefused` if it is not to be had."""
        if len(self._waiting) >= self.max_waiting:
            oldest = next(iter(self._waiting))
            del self._waiting[oldest]
            oldest.evicted = True
            if oldest.timeout is not None:
                oldest.timeout.reschedule(-1.0)  # expires it on the next loop pass
        waiter = _Waiter()
        self._waiting[waiter] = None
        try:
            async with asyncio.timeout(self.receive_timeout) as waiter.timeout:
                return await anext(requests)
        except TimeoutError:
            if waiter.evicted:
                self.evicted += 1
                self._counted("evicted")
                raise CallRefused(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"request message not received while {self.max_waiting} newer calls "
                    "waited for theirs; send the message with the call",
                    "evicted",
                ) from None
            self.timed_out += 1
            self._counted("receive_timeout")
            raise CallRefused(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"request message not received within {self.receive_timeout:g} s",
                "receive_timeout",
            ) from None
        except StopAsyncIteration:
            raise CallRefused(
                grpc.StatusCode.INVALID_ARGUMENT, "the call ended without a request message", ""
            ) from None
        finally:
            self._waiting.pop(waiter, None)

    def enter(self) -> None:
        """Count a call as processing; raises :class:`CallRefused` (UNAVAILABLE) at the limit.

        Every successful ``enter`` must be paired with one :meth:`leave`.
        """
        if self.processing >= self.max_inflight:
            self.busy += 1
            self._counted("busy")
            raise CallRefused(
                grpc.StatusCode.UNAVAILABLE,
                f"collector is busy ({self.max_inflight} exports in progress), retry later",
                "busy",
            )
        self.processing += 1

    def leave(self) -> None:
        """A processing call finished."""
        self.processing -= 1

    def _counted(self, reason: str) -> None:
        if self._count is not None:
            self._count(reason)

    def _check(self) -> None:
        assert 0 <= self.processing <= self.max_inflight, "processing count out of range"
        assert len(self._waiting) <= self.max_waiting, "more waiting calls than the cap"
