"""Acknowledge an OTLP request only once what it logged is durable, without
blocking the event loop.

With a data directory the stores log each change and a caller must wait for the
log (:mod:`infertrace.engine.journal`). The receivers run a request's pipeline
inside :func:`collected` (inline on the loop, as without a data directory: the
appends never wait), which gathers the waits of every store the request changed,
the registry and activity changes of the processors included, and then
``await settled(waits)``: one :class:`~infertrace.engine.groupwait.GroupWaiter`
thread waits for the flush covering them and wakes the loop, so a flush's worth of
requests costs one thread wake-up. A failed fsync is
:class:`~infertrace.errors.LogUnavailable` (503 / UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from infertrace.engine.groupwait import GroupWaiter
from infertrace.engine.journal import CollectWaits, Waits
from infertrace.errors import LogUnavailable

T = TypeVar("T")

WAITER = GroupWaiter("otlp-durable-wait")
"""The one waiter thread of the receivers (started on the first logged request)."""


def collected(fn: Callable[..., T], *args: object) -> tuple[T, Waits]:
    """``fn(*args)`` and the durability waits it left to its caller (on this thread)."""
    with CollectWaits() as waits:
        return fn(*args), waits


async def settled(waits: Waits, waiter: GroupWaiter = WAITER) -> None:
    """Return once every record in ``waits`` is durable; LogUnavailable if any cannot
    be. At once when nothing was logged."""
    if not waits:
        return
    loop = asyncio.get_running_loop()
    future: asyncio.Future[OSError | None] = loop.create_future()

    def done(error: OSError | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: no one awaits it
            loop.call_soon_threadsafe(_resolve, future, error)

    waiter.submit(waits, done)
    error = await future
    if error is not None:
        raise LogUnavailable(
            f"the request was stored but could not be made durable: {error.strerror or error}"
            f" ({error.filename or 'write-ahead log'}); it is not acknowledged"
        ) from error


def _resolve(future: asyncio.Future[OSError | None], error: OSError | None) -> None:
    if not future.done():  # the request may have been cancelled meanwhile
        future.set_result(error)


__all__ = ["WAITER", "collected", "settled"]
