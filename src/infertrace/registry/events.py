"""The registry's change log: every change to a pod is a :class:`RegistryEvent`.

:class:`EventLog` numbers events from 1 and keeps the last ``history`` of them,
so a reader that fell behind (an SSE client resuming with ``Last-Event-ID``)
reads what it missed with :meth:`EventLog.since`, or learns from
:attr:`EventLog.oldest_id` that part of it is gone. Three ways to follow it:

- ``since(last_id)``: poll, from any thread;
- ``await wait(last_id, timeout)``: sleep on an asyncio loop until an event
  newer than ``last_id`` exists. Publishers run on other threads (the pipeline's
  workers, the sweeper), so a waiter is woken with ``loop.call_soon_threadsafe``,
  never by polling;
- ``listen(callback)``: called with each event in the publisher's thread, after
  the log's lock is released (a callback may read the log).

Thread-safe: one lock, held for the deque and the waiter list only.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from infertrace.errors import InvalidParameter
from infertrace.registry.records import ServiceInfo, ServiceStatus


class EventType(enum.StrEnum):
    """What changed about a pod."""

    REGISTERED = "registered"
    DEREGISTERED = "deregistered"
    STATUS_CHANGED = "status_changed"
    PROVIDERS_CHANGED = "providers_changed"


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """One change to one pod, with the pod's state after it. Immutable.

    ``id`` grows by one per event of its log, from 1; ``at`` is unix ns;
    ``service_name`` is the group a subscriber follows; ``providers`` sorted.
    """

    id: int
    type: EventType
    at: int
    service_name: str
    key: str
    status: ServiceStatus
    previous_status: ServiceStatus | None
    providers: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        """The event as JSON-ready values (the SSE ``data`` and the REST shape)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "at": self.at,
            "service_name": self.service_name,
            "key": self.key,
            "status": self.status.value,
            "previous_status": None if self.previous_status is None else self.previous_status.value,
            "providers": list(self.providers),
        }


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class EventLog:
    """A bounded, numbered history of registry events; see the module docstring.

    ``clock`` (unix ns) stamps events; tests pass a fake one.
    """

    def __init__(self, history: int = 10_000, *, clock: Callable[[], int] = time.time_ns) -> None:
        if type(history) is not int or history < 1:
            raise InvalidParameter("history", f"history {history!r} must be an int >= 1")
        self._clock = clock
        self._lock = threading.Lock()
        self._events: deque[RegistryEvent] = deque(maxlen=history)
        self._last_id = 0
        self._waiters: list[_Waiter] = []
        self._listeners: dict[int, Callable[[RegistryEvent], None]] = {}
        self._listener_ids = itertools.count(1)

    def publish(
        self, type: EventType, info: ServiceInfo, previous_status: ServiceStatus | None = None
    ) -> RegistryEvent:
        """Append the event ``type`` about ``info`` (its state after the change). O(1) plus
        the listeners and one wake-up per waiting coroutine."""
        at = self._clock()
        providers = tuple(sorted(info.providers))
        with self._lock:
            self._last_id += 1
            event = RegistryEvent(
                self._last_id, EventType(type), at, info.service_name, info.key,
                info.status, previous_status, providers,
            )  # fmt: skip
            self._events.append(event)
            waiters, self._waiters = self._waiters, []
            listeners = list(self._listeners.values())
        for loop, future in waiters:
            # a closed loop raises RuntimeError: nobody is waiting there any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)
        for callback in listeners:
            callback(event)
        return event

    def since(self, last_id: int, group: str | None = None) -> list[RegistryEvent]:
        """Held events with an id above ``last_id`` (of ``group`` only, if given), oldest
        first. O(returned) to find the start, O(held) to filter a group."""
        with self._lock:
            events = self._events
            if not events or last_id >= self._last_id:
                return []
            skip = max(0, last_id - events[0].id + 1)
            found = list(itertools.islice(events, skip, None))
        if group is not None:
            found = [e for e in found if e.service_name == group]
        return found

    @property
    def last_id(self) -> int:
        """The id of the newest event; 0 before the first."""
        return self._last_id

    @property
    def oldest_id(self) -> int:
        """The id of the oldest event still held; ``last_id + 1`` when none is."""
        with self._lock:
            return self._events[0].id if self._events else self._last_id + 1

    async def wait(self, last_id: int, timeout: float) -> bool:
        """True as soon as an event with an id above ``last_id`` exists; False after
        ``timeout`` seconds without one. Call on a running asyncio loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._last_id > last_id:
                return True
            waiter = (loop, future)
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._last_id > last_id

    def listen(self, callback: Callable[[RegistryEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every later event, in the publishing thread; it
        must be quick. Returns the function that stops it (safe to call twice)."""
        with self._lock:
            ident = next(self._listener_ids)
            self._listeners[ident] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(ident, None)

        return unsubscribe

    def __len__(self) -> int:
        """Events held (at most ``history``)."""
        return len(self._events)

    def _check(self) -> None:
        """Assert the invariants: held ids are consecutive and end at ``last_id``."""
        with self._lock:
            ids = [e.id for e in self._events]
            assert ids == list(range(self._last_id - len(ids) + 1, self._last_id + 1)), ids
            assert len(ids) <= (self._events.maxlen or 0)
