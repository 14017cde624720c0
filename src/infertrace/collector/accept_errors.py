"""Rate-limited logging of failed ``accept()`` calls on the event loop.

When the process runs out of file descriptors, asyncio's accept loop reports
``socket.accept() out of system resource`` (EMFILE) once per pending connection
and retries a second later: with a 2,048-connection backlog that was ~40,000
seven-line tracebacks a second (measured with 600 idle connections and a
256-descriptor limit), which buried every other line and cost CPU on its own.
:class:`AcceptErrorLog` is a loop exception handler that logs such an error at
most once per ``interval`` seconds, with the number suppressed since the last
line, and hands every other error to the handler it replaced. The connection
cap (:mod:`infertrace.collector.connections`) is what keeps descriptors from
running out; this keeps the log readable when something else exhausts them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 10.0
"""At most one accept-error line per this many seconds."""

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

Handler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def is_accept_error(context: dict[str, Any]) -> bool:
    """True for asyncio's report of an ``accept()`` that failed for lack of resources."""
    if str(context.get("message", "")).startswith("socket.accept()"):
        return True
    exc = context.get("exception")
    return isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS and "socket" in context


class AcceptErrorLog:
    """A loop exception handler: accept errors rate-limited, the rest passed on.

    ``install`` it on a loop and ``uninstall`` it to restore the previous handler.
    Event-loop only; O(1) per error.
    """

    def __init__(
        self, interval: float = INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self.suppressed = 0
        """Accept errors not logged since the last line."""
        self.logged = 0
        self._previous: Handler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not is_accept_error(context):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = self._clock()
        if now < self._next:
            self.suppressed += 1
            return
        self._next = now + self.interval
        self.logged += 1
        log.error(
            "cannot accept connections: %s (%d more like it in the last %.0f s; "
            "next report in %.0f s at the earliest)",
            context.get("exception") or context.get("message"),
            self.suppressed,
            self.interval,
            self.interval,
        )
        self.suppressed = 0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Become ``loop``'s exception handler, remembering the one it had."""
        self._previous = loop.get_exception_handler()
        self._loop = loop
        loop.set_exception_handler(self)

    def uninstall(self) -> None:
        """Restore the previous handler if this one is still installed; safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is not None and loop.get_exception_handler() is self:
            loop.set_exception_handler(self._previous)
