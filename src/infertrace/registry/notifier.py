"""Notifications: every event on a service group is POSTed to the group's subscribers.

:class:`Notifier` listens to the event log. Its listener only appends the event
to an inbox (it runs in the publisher's thread); a dispatcher thread turns each
event into one JSON payload::

    {"service_name": "vllm", "event": {"id": 7, "type": "status_changed", ...},
     "time": <unix ns>, "pods": [{"key", "status", "providers", "address", "port"}]}

(the group's pods as they are when it is sent) and puts it in the outbox of
every subscriber of the group that has a notification URL. A pool of
``workers`` threads delivers the outboxes, one subscriber at a time per worker,
so each subscriber gets its notifications in event order: POST with a
``timeout``, up to ``retries`` more times after a failure (not 2xx), sleeping
``backoff`` seconds before the first retry and twice as long before each next.

Bounded everywhere: an outbox holds at most ``queue`` payloads and drops its
oldest when full, the inbox ``queue x 10`` events; every drop is counted, so a
dead subscriber costs a bounded amount of memory and one worker at a time.
Counters: notifications delivered, failed (every attempt failed), retried,
dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from infertrace.registry.events import RegistryEvent
from infertrace.registry.outbound import check_positive, http_post_ok
from infertrace.registry.records import ServiceInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """How notifications are delivered; times in seconds. Validated on construction."""

    timeout: float = 2.0
    retries: int = 3
    backoff: float = 0.5
    queue: int = 100
    workers: int = 4

    def __post_init__(self) -> None:
        check_positive("notify_timeout", self.timeout)
        check_positive("notify_retries", self.retries, integer=True, zero=True)
        check_positive("notify_backoff", self.backoff, zero=True)
        check_positive("notify_queue", self.queue, integer=True)
        check_positive("notify_workers", self.workers, integer=True)


def payload(event: RegistryEvent, pods: list[ServiceInfo]) -> bytes:
    """The JSON body notifying ``event`` with the group's ``pods``."""
    return json.dumps(
        {
            "service_name": event.service_name,
            "event": event.to_json(),
            "time": event.at,
            "pods": [
                {
                    "key": p.key,
                    "status": p.status.value,
                    "providers": sorted(p.providers),
                    "address": p.address,
                    "port": p.port,
                }
                for p in pods
            ],
        },
        separators=(",", ":"),
    ).encode()


class _Outbox:
    """One subscriber's pending payloads (oldest first) and where they go."""

    __slots__ = ("pending", "scheduled", "url")

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.pending: deque[bytes] = deque(maxlen=size)
        self.scheduled = False
        """True while the subscriber's key is in the ready queue or held by a worker."""


class Notifier:
    """Delivers events to subscribers; see the module docstring.

    ``subscribers(group)`` and ``pods(group)`` read the registry;
    ``post(url, body, timeout)`` is :func:`~infertrace.registry.outbound.http_post_ok`
    unless a test passes another. Thread-safe; :meth:`stop` is safe to call twice.
    """

    def __init__(
        self,
        subscribers: Callable[[str], list[ServiceInfo]],
        pods: Callable[[str], list[ServiceInfo]],
        settings: NotifySettings | None = None,
        post: Callable[[str, bytes, float], bool] = http_post_ok,
    ) -> None:
        self.settings = settings or NotifySettings()
        self._subscribers = subscribers
        self._pods = pods
        self._post = post
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._inbox: deque[RegistryEvent] = deque()
        self._outboxes: dict[str, _Outbox] = {}
        self._ready: deque[str] = deque()
        self._stop = threading.Event()
        self._counts = {
            "notifications_delivered": 0,
            "notifications_failed": 0,
            "notifications_retried": 0,
            "notifications_dropped": 0,
        }
        self._threads = [
            threading.Thread(target=self._dispatch, name="registry-notify", daemon=True)
        ]
        self._threads += [
            threading.Thread(target=self._deliver, name=f"registry-notify-{i}", daemon=True)
            for i in range(self.settings.workers)
        ]
        self._started = False

    def on_event(self, event: RegistryEvent) -> None:
        """The event-log listener: queue ``event`` for dispatch. O(1), never blocks on I/O."""
        with self._lock:
            if len(self._inbox) >= self.settings.queue * 10:
                self._inbox.popleft()
                self._counts["notifications_dropped"] += 1
            self._inbox.append(event)
            self._wake.notify_all()

    def start(self) -> None:
        """Start the dispatcher and the delivery workers (once)."""
        with self._lock:
            if self._started or self._stop.is_set():
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop delivering; a POST in flight ends within its timeout. Pending payloads
        are dropped (not counted: the process is stopping)."""
        with self._lock:
            self._stop.set()
            self._wake.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def counters(self) -> dict[str, int]:
        """Notifications delivered, failed, retried and dropped."""
        with self._lock:
            return dict(self._counts)

    def pending(self) -> dict[str, int]:
        """Payloads waiting per subscriber key (for tests and stats). O(subscribers)."""
        with self._lock:
            return {key: len(box.pending) for key, box in self._outboxes.items()}

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._inbox and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    return
                event = self._inbox.popleft()
            try:
                self._fan_out(event)
            except Exception:  # the registry was unreachable: this event is lost, not the thread
                log.exception("notifying event %d failed", event.id)

    def _fan_out(self, event: RegistryEvent) -> None:
        targets = [s for s in self._subscribers(event.service_name) if s.notification_url]
        if not targets:
            return
        body = payload(event, self._pods(event.service_name))
        size = self.settings.queue
        with self._lock:
            for subscriber in targets:
                url = subscriber.notification_url
                assert url is not None
                box = self._outboxes.get(subscriber.key)
                if box is None:
                    box = self._outboxes[subscriber.key] = _Outbox(url, size)
                box.url = url
                if len(box.pending) == size:
                    self._counts["notifications_dropped"] += 1  # the deque drops the oldest
                box.pending.append(body)
                if not box.scheduled:
                    box.scheduled = True
                    self._ready.append(subscriber.key)
            self._wake.notify_all()

    def _deliver(self) -> None:
        while True:
            with self._lock:
                while not self._ready and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    return
                key = self._ready.popleft()
                box = self._outboxes[key]
                body, url = box.pending.popleft(), box.url
            self._send(url, body)
            with self._lock:
                if box.pending:
                    self._ready.append(key)  # others get a turn between this one's payloads
                    self._wake.notify_all()
                else:
                    box.scheduled = False
                    del self._outboxes[key]

    def _send(self, url: str, body: bytes) -> None:
        settings = self.settings
        for attempt in range(settings.retries + 1):
            try:
                ok = self._post(url, body, settings.timeout)
            except Exception:
                log.exception("notification POST to %s failed", url)
                ok = False
            if ok:
                self._bump("notifications_delivered")
                return
            if attempt == settings.retries:
                break
            self._bump("notifications_retried")
            if self._stop.wait(settings.backoff * 2**attempt):
                return
        self._bump("notifications_failed")

    def _bump(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _check(self) -> None:
        """Assert the invariants: outboxes bounded; scheduled exactly when ready or held."""
        with self._lock:
            for key, box in self._outboxes.items():
                assert len(box.pending) <= self.settings.queue, (key, len(box.pending))
                assert box.scheduled, key
            assert len(set(self._ready)) == len(self._ready), self._ready
            assert set(self._ready) <= self._outboxes.keys()
