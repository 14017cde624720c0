"""RegistryService: every change to the registry, applied to a store and published.

The REST API, the telemetry processor, the sweeper and the health checker all
change pods through this one object, which keeps the rules in one place:

- **origin**: a pod first seen in telemetry is ``telemetry``, first registered
  ``registration``, and ``both`` once the other source names it too;
- **registration** sets ``registered_at``; **heartbeat** and **telemetry** set
  ``last_seen`` (telemetry also adds the models it names to ``providers``, at
  most :data:`MAX_PROVIDERS` a pod). A new pod is healthy, or unknown until its
  first check when it has a health-check URL;
- **health** (:mod:`infertrace.registry.health`): staleness and error rate for
  pods without a health-check URL; active checks for the others; ``draining``
  is sticky: only :meth:`RegistryService.set_status` ends it;
- **deregister** removes the pod and its own subscriptions.

Every change publishes one event per kind of change on :attr:`events`; a call
that changes nothing publishes nothing. Telemetry arrives many times a second,
so its ``last_seen`` reaches the store at most once per ``touch_interval`` a pod
(the sweeper and the health rules use the exact time, kept in memory).

Thread-safe: one re-entrant lock around every read-modify-write, so the
pipeline's workers, the sweeper and REST handlers can call at once. A durable
store's waits for the log are deferred until that lock is released
(:data:`~infertrace.registry.durable.DEFERRED_WAITS`), so one change waiting for
an fsync does not hold up the others. Events are
published (and listeners called) under it, so they are in the order of the
changes: a listener must be quick and never wait for another thread. A mirror
of the records this service wrote answers the telemetry fast path and
:meth:`models_of` without a store round trip; :meth:`sweep` reloads it from
the store.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from infertrace.errors import InvalidParameter, ServiceNotFound
from infertrace.registry.checker import CheckSettings, HealthChecker
from infertrace.registry.durable import DEFERRED_WAITS
from infertrace.registry.events import EventLog, EventType, RegistryEvent
from infertrace.registry.health import SECOND, Periodic, PodTelemetry, telemetry_status
from infertrace.registry.notifier import Notifier, NotifySettings
from infertrace.registry.outbound import check_positive, check_url
from infertrace.registry.records import (
    Origin,
    ServiceInfo,
    ServiceStatus,
    parse_key,
    service_key,
    to_status,
)
from infertrace.registry.store import RegistryStore

MAX_PROVIDERS = 64
"""Models a pod may be credited with from telemetry; more are ignored (and counted), so a
producer inventing model names cannot grow a record without bound."""

_HEALTHY, _UNHEALTHY, _UNKNOWN = (
    ServiceStatus.HEALTHY,
    ServiceStatus.UNHEALTHY,
    ServiceStatus.UNKNOWN,
)
_DRAINING = ServiceStatus.DRAINING
_REVIVE = frozenset({_UNHEALTHY, _UNKNOWN})
"""Statuses telemetry or a heartbeat lift at once, without waiting for the sweep."""


def _positive(name: str, value: object) -> float:
    check_positive(name, value)
    return float(value)  # type: ignore[arg-type]


class RegistryService:
    """Applies every change to a RegistryStore and publishes its events; see the module doc.

    ``stale_after`` and ``error_window`` are seconds; ``degraded_error_rate`` a
    fraction in [0, 1]; ``min_requests`` the spans the window needs before the
    rate counts; ``clock`` returns unix ns.
    """

    def __init__(
        self,
        store: RegistryStore,
        events: EventLog | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
        stale_after: float = 60.0,
        error_window: float = 60.0,
        degraded_error_rate: float = 0.5,
        min_requests: int = 20,
        touch_interval: float = 1.0,
        checks: CheckSettings | None = None,
        notify: NotifySettings | None = None,
    ) -> None:
        self.stale_after = _positive("stale_after", stale_after)
        self.error_window = _positive("error_window", error_window)
        self.touch_interval = _positive("touch_interval", touch_interval)
        rate = degraded_error_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidParameter(
                "degraded_error_rate", f"degraded_error_rate {rate!r} must be in [0, 1]"
            )
        if type(min_requests) is not int or min_requests < 1:
            raise InvalidParameter("min_requests", f"min_requests {min_requests!r} must be >= 1")
        self.degraded_error_rate = float(rate)
        self.min_requests = min_requests
        self.store = store
        self.events = events if events is not None else EventLog(clock=clock)
        self._clock = clock
        self._stale_ns = int(self.stale_after * SECOND)
        self._touch_ns = int(self.touch_interval * SECOND)
        self._lock = threading.RLock()
        self._records: dict[str, ServiceInfo] = {r.key: r for r in store.get_all_services()}
        self._heard = PodTelemetry(self.error_window)
        self._counts: dict[str, int] = {"providers_ignored": 0, "telemetry_unnamed": 0}
        self.sweeper = Periodic(min(self.stale_after / 4, 5.0), self.sweep, "registry-sweeper")
        self.checker = HealthChecker(self._check_targets, self.report_check, checks)
        self.notifier = Notifier(
            self.store.get_subscriber_services, self.store.get_services_by_name, notify
        )
        self._unlisten: Callable[[], None] | None = None
        self._started = False

    # -- reads -------------------------------------------------------------------

    def get(self, key: str) -> ServiceInfo:
        """The pod under ``key``; ServiceNotFound if none, InvalidParameter if malformed."""
        return self.store.get_service(key)

    def pods(
        self,
        *,
        name: str | None = None,
        provider: str | None = None,
        status: ServiceStatus | str | None = None,
    ) -> list[ServiceInfo]:
        """Pods, sorted by key: of service ``name``, serving ``provider``, in ``status``
        (each filter optional). O(pods) plus the store's read."""
        wanted = None if status is None else to_status(status)
        if provider is not None and (not isinstance(provider, str) or not provider):
            raise InvalidParameter("provider", f"provider {provider!r} must be a model name")
        found = (
            self.store.get_all_services() if name is None else self.store.get_services_by_name(name)
        )
        return [
            p
            for p in found
            if (provider is None or provider in p.providers)
            and (wanted is None or p.status is wanted)
        ]

    def error_rate(self, key: str) -> float | None:
        """The share of the pod's spans in the error window that were errors; None when it
        sent none. O(window seconds)."""
        parse_key(key)
        with DEFERRED_WAITS, self._lock:
            totals = self._heard.totals(key, self._clock())
        if totals is None or not totals[0]:
            return None
        return totals[1] / totals[0]

    def models_of(self, service_name: str, pod_name: str) -> frozenset[str]:
        """The models the pod serves; empty when unknown. O(1), no lock, no store call:
        for the span model resolver, once per resource of a request."""
        info = self._records.get(f"{service_name}:{pod_name}")
        return frozenset() if info is None else info.providers

    def subscriptions(self, subscriber_key: str) -> list[str]:
        """The groups ``subscriber_key`` follows, sorted: the store's answer, so a
        restart on PostgreSQL keeps them."""
        return self.store.get_subscriptions(subscriber_key)

    def subscribers(self, group: str) -> list[ServiceInfo]:
        """The pods following ``group``, sorted by key."""
        return self.store.get_subscriber_services(group)

    def counters(self) -> Mapping[str, int]:
        """Running totals for /metrics: events published, provider names ignored, and the
        health checker's and notifier's counters."""
        with DEFERRED_WAITS, self._lock:
            counts = dict(self._counts)
        counts["events_published"] = self.events.last_id
        counts.update(self.checker.counters())
        counts.update(self.notifier.counters())
        return counts

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name`` that :meth:`counters` reports."""
        with DEFERRED_WAITS, self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    # -- changes -----------------------------------------------------------------

    def register(
        self,
        service_name: str,
        pod_name: str,
        *,
        address: str = "",
        port: int = 0,
        health_check_url: str | None = None,
        notification_url: str | None = None,
        providers: Iterable[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> ServiceInfo:
        """Register a pod, or update its registration; the record after it.

        A known pod keeps what a field left empty (address "", port 0, a URL or
        metadata None) and adds ``providers`` to its own. Publishes ``registered``
        when the pod is new or its registration changed, ``providers_changed``
        when its providers grew; nothing when nothing changed.
        """
        key = service_key(service_name, pod_name)
        check_url("health_check_url", health_check_url)
        check_url("notification_url", notification_url)
        # the record validates every field, naming a bad value
        given = ServiceInfo(
            service_name, pod_name, address=address, port=port,
            health_check_url=health_check_url, notification_url=notification_url,
            providers=frozenset(providers), metadata=metadata or {},
        )  # fmt: skip
        with DEFERRED_WAITS, self._lock:
            now = self._clock()
            old = self._lookup(key)
            if old is None:
                status = _UNKNOWN if health_check_url else _HEALTHY
                info = dataclasses.replace(
                    given, status=status, registered_at=now, last_status_change=now
                )
                self._save(info)
                self.events.publish(EventType.REGISTERED, info)
                return info
            info = dataclasses.replace(
                old,
                address=address or old.address,
                port=port or old.port,
                health_check_url=health_check_url or old.health_check_url,
                notification_url=notification_url or old.notification_url,
                providers=old.providers | given.providers,
                metadata=old.metadata if metadata is None else given.metadata,
                registered_at=old.registered_at if old.registered_at is not None else now,
                origin=Origin.BOTH if old.origin is Origin.TELEMETRY else old.origin,
            )
            if info == old:
                return old
            self._save(info)
            if dataclasses.replace(info, providers=old.providers) != old:
                self.events.publish(EventType.REGISTERED, info)
            if info.providers != old.providers:
                self.events.publish(EventType.PROVIDERS_CHANGED, info)
            return info

    def heartbeat(self, key: str) -> ServiceInfo:
        """The pod says it is alive: ``last_seen`` is now, and a pod without a health-check
        URL that was unhealthy or unknown is healthy again (status_changed)."""
        with DEFERRED_WAITS, self._lock:
            now = self._clock()
            old = self._require(key)
            self._heard.heard(key, now)
            status = self._revived(old, now)
            info = dataclasses.replace(old, last_seen=now)
            if status is not old.status:
                info = dataclasses.replace(info, status=status, last_status_change=now)
            self._save(info)
            if status is not old.status:
                self.events.publish(EventType.STATUS_CHANGED, info, old.status)
            return info

    def deregister(self, key: str) -> None:
        """Remove the pod and the subscriptions it holds; ServiceNotFound if unknown."""
        with DEFERRED_WAITS, self._lock:
            old = self._require(key)
            self.store.remove_all_subscriptions(key)
            self.store.delete_service(key)
            self._forget(key)
            self.events.publish(EventType.DEREGISTERED, old)

    def set_status(self, key: str, status: ServiceStatus | str) -> ServiceInfo:
        """Set the pod's status by hand (e.g. draining, which only this call ends).
        Publishes status_changed unless it already had it."""
        wanted = to_status(status)
        with DEFERRED_WAITS, self._lock:
            old = self._require(key)
            if old.status is wanted:
                return old
            info = self.store.update_health_status(key, wanted, self._clock())
            self._records[key] = info
            self.events.publish(EventType.STATUS_CHANGED, info, old.status)
            return info

    def report_check(self, key: str, ok: bool, at: int | None = None) -> ServiceInfo | None:
        """Record an active health check's outcome: healthy when ``ok``, else unhealthy
        (a draining pod stays draining). None when the pod is gone meanwhile."""
        with DEFERRED_WAITS, self._lock:
            old = self._lookup(key)
            if old is None:
                return None
            status = old.status if old.status is _DRAINING else (_HEALTHY if ok else _UNHEALTHY)
            info = self.store.update_health_status(key, status, self._clock() if at is None else at)
            self._records[key] = info
            if info.status is not old.status:
                self.events.publish(EventType.STATUS_CHANGED, info, old.status)
            return info

    def observe(
        self,
        service_name: str,
        pod_name: str,
        *,
        address: str = "",
        providers: Iterable[str] = (),
        spans: int = 0,
        errors: int = 0,
        now: int | None = None,
    ) -> None:
        """Telemetry from a pod: upsert it, count its spans and error spans, learn its
        providers. O(1) and no store call when nothing but ``last_seen`` changed within
        ``touch_interval`` (the common case: the telemetry processor calls this once per
        resource per batch)."""
        key = f"{service_name}:{pod_name}"
        with DEFERRED_WAITS, self._lock:
            if now is None:
                now = self._clock()
            old = self._records.get(key)
            if old is None:
                old = self._lookup(key)  # a malformed key raises here, before any change
            if old is None:
                self._first_seen(service_name, pod_name, address, providers, now)
            self._heard.heard(key, now, spans, errors)
            if old is None:
                return
            models = old.providers
            if providers and not models.issuperset(providers):
                models = self._grow(models, providers)
            status = self._revived(old, now)
            if (
                models is old.providers
                and status is old.status
                and old.origin is not Origin.REGISTRATION
                and (not address or address == old.address or old.origin is not Origin.TELEMETRY)
                and old.last_seen is not None
                and now - old.last_seen < self._touch_ns
            ):
                return
            info = dataclasses.replace(
                old,
                providers=models,
                last_seen=now,
                address=address if address and old.origin is Origin.TELEMETRY else old.address,
                origin=Origin.BOTH if old.origin is Origin.REGISTRATION else old.origin,
            )
            if status is not old.status:
                info = dataclasses.replace(info, status=status, last_status_change=now)
            self._save(info)
            if models is not old.providers:
                self.events.publish(EventType.PROVIDERS_CHANGED, info)
            if status is not old.status:
                self.events.publish(EventType.STATUS_CHANGED, info, old.status)

    def subscribe(self, subscriber_key: str, group: str) -> None:
        """The pod ``subscriber_key`` (ServiceNotFound unless registered) follows ``group``:
        it is notified of every event on that service name. Twice is a no-op."""
        with DEFERRED_WAITS, self._lock:
            self._require(subscriber_key)
            self.store.add_subscription(subscriber_key, group)

    def unsubscribe(self, subscriber_key: str, group: str) -> None:
        """The pod stops following ``group``; a no-op if it did not."""
        with DEFERRED_WAITS, self._lock:
            self.store.remove_subscription(subscriber_key, group)

    def sweep(self, now: int | None = None) -> list[RegistryEvent]:
        """One pass of the telemetry health rule over every pod (see
        :mod:`infertrace.registry.health`), writing the exact ``last_seen`` of pods quiet
        for ``touch_interval``; the status_changed events it published. Reloads the
        record mirror from the store. O(pods x window seconds)."""
        published: list[RegistryEvent] = []
        with DEFERRED_WAITS, self._lock:
            if now is None:
                now = self._clock()
            records = self.store.get_all_services()
            self._records = {r.key: r for r in records}
            for gone in self._heard.keys() - self._records.keys():
                self._forget(gone)
            for old in records:
                key = old.key
                seen = max(self._heard.last_heard(key), old.last_seen or 0)
                if not seen:
                    continue  # never heard from: nothing to judge it by
                status = old.status
                if not old.health_check_url:
                    status = self._judged(old, now, seen)
                # an active pod's last_seen is written by observe(); the sweep writes the
                # last one of a pod that went quiet, so it costs no write per active pod
                tail = seen != (old.last_seen or 0) and now - seen >= self._touch_ns
                if status is old.status and not tail:
                    continue
                info = dataclasses.replace(old, last_seen=seen)
                if status is not old.status:
                    info = dataclasses.replace(info, status=status, last_status_change=now)
                self._save(info)
                if status is not old.status:
                    published.append(
                        self.events.publish(EventType.STATUS_CHANGED, info, old.status)
                    )
        return published

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Start the background threads (sweeper, health checker, notifier); once.
        Events published before are not notified."""
        with DEFERRED_WAITS, self._lock:
            if self._started:
                return
            self._started = True
        self.notifier.start()
        self._unlisten = self.events.listen(self.notifier.on_event)
        self.checker.start()
        self.sweeper.start()

    def shutdown(self) -> None:
        """Stop the background threads; safe to call twice. The store stays open."""
        if self._unlisten is not None:
            self._unlisten()
        self.sweeper.stop()
        self.checker.stop()
        self.notifier.stop()

    def __enter__(self) -> RegistryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _check_targets(self) -> list[ServiceInfo]:
        """The pods active checks govern: a health-check URL, not draining."""
        return [
            p
            for p in self.store.get_all_services()
            if p.health_check_url and p.status is not _DRAINING
        ]

    def _check(self) -> None:
        """Assert the invariants: the mirror holds the store's records, and the telemetry
        state (seen times, error windows, followed groups) only names stored pods."""
        with DEFERRED_WAITS, self._lock:
            stored = {r.key: r for r in self.store.get_all_services()}
            for key, info in self._records.items():
                assert stored.get(key) == info, (key, info, stored.get(key))
            assert self._heard.keys() <= stored.keys(), self._heard.keys() - stored.keys()
            self._heard._check()
            for key in stored:
                for group in self.store.get_subscriptions(key):
                    assert key in self.store.get_subscribers(group), (key, group)

    # -- inside the lock ---------------------------------------------------------

    def _lookup(self, key: str) -> ServiceInfo | None:
        try:
            info = self.store.get_service(key)
        except ServiceNotFound:
            self._records.pop(key, None)
            return None
        self._records[key] = info
        return info

    def _require(self, key: str) -> ServiceInfo:
        info = self._lookup(key)
        if info is None:
            raise ServiceNotFound(key)
        return info

    def _save(self, info: ServiceInfo) -> None:
        self.store.save_service(info)
        self._records[info.key] = info

    def _forget(self, key: str) -> None:
        self._records.pop(key, None)
        self._heard.forget(key)

    def _judged(self, info: ServiceInfo, now: int, seen: int) -> ServiceStatus:
        spans, errors = self._heard.totals(info.key, now) or (0, 0)
        return telemetry_status(
            info.status, silent_for=now - seen, stale_after=self._stale_ns, spans=spans,
            errors=errors, min_requests=self.min_requests,
            degraded_error_rate=self.degraded_error_rate,
        )  # fmt: skip

    def _revived(self, info: ServiceInfo, now: int) -> ServiceStatus:
        """The status fresh telemetry or a heartbeat gives ``info`` now: unhealthy or
        unknown pods without a health-check URL are judged again at once."""
        if info.status not in _REVIVE or info.health_check_url:
            return info.status
        return self._judged(info, now, now)

    def _grow(self, models: frozenset[str], found: Iterable[str]) -> frozenset[str]:
        fresh = sorted(m for m in found if m not in models and isinstance(m, str) and m)
        room = MAX_PROVIDERS - len(models)
        if len(fresh) > room:
            self._counts["providers_ignored"] += len(fresh) - max(room, 0)
            fresh = fresh[: max(room, 0)]
        return models.union(fresh) if fresh else models

    def _first_seen(
        self, service_name: str, pod_name: str, address: str, providers: Iterable[str], now: int
    ) -> None:
        info = ServiceInfo(
            service_name, pod_name, address=address,
            providers=self._grow(frozenset(), providers), status=_HEALTHY, last_seen=now,
            last_status_change=now, origin=Origin.TELEMETRY,
        )  # fmt: skip
        self._save(info)
        self.events.publish(EventType.REGISTERED, info)
