"""The registry's state and rules, shared by both in-memory variants.

:class:`RegistryCore` is plain: no locks, no thread checks. ``LocalRegistry`` and
``ThreadSafeRegistry`` wrap it, each adding its own way of being safe. Four
dicts hold the state:

- ``services``: key -> ServiceInfo;
- ``by_name``: service name -> the keys of its pods (never an empty set);
- ``groups``: service group -> the keys of its subscribers (never empty);
- ``subscribed``: subscriber key -> its groups, the inverse of ``groups``.

A subscription names its subscriber by key and outlives the subscriber's
record: deleting a service keeps its subscriptions (``subscriber_services``
skips subscribers without a record), so a pod that re-registers keeps them.
"""

from __future__ import annotations

import dataclasses

from infertrace.errors import InvalidParameter, ServiceNotFound
from infertrace.registry.records import ServiceInfo, check_time, parse_key, to_status


def _check_group(group: object) -> str:
    if not isinstance(group, str) or not group:
        raise InvalidParameter("service_group", f"service_group {group!r} must be non-empty")
    return group


class RegistryCore:
    """The registry's dicts and operations; not thread-safe. See the module docstring."""

    __slots__ = ("by_name", "groups", "services", "subscribed")

    def __init__(self) -> None:
        self.services: dict[str, ServiceInfo] = {}
        self.by_name: dict[str, set[str]] = {}
        self.groups: dict[str, set[str]] = {}
        self.subscribed: dict[str, set[str]] = {}

    def save(self, info: ServiceInfo) -> None:
        """Insert or replace the record under ``info.key``. O(1)."""
        if type(info) is not ServiceInfo:
            raise InvalidParameter("info", f"service {info!r} must be a ServiceInfo")
        key = f"{info.service_name}:{info.pod_name}"
        if key not in self.services:
            pods = self.by_name.get(info.service_name)
            if pods is None:
                self.by_name[info.service_name] = {key}
            else:
                pods.add(key)
        self.services[key] = info

    def get(self, key: str) -> ServiceInfo:
        """The record under ``key``; ServiceNotFound if none. O(1)."""
        try:
            return self.services[key]
        except (KeyError, TypeError):
            parse_key(key)  # a malformed key is InvalidParameter, not "not found"
            raise ServiceNotFound(key) from None

    def by_service_name(self, name: str) -> list[ServiceInfo]:
        """The pods of service ``name``, by key; [] for an unknown name. O(k log k)."""
        pods = self.by_name.get(name) if isinstance(name, str) else None
        if pods is None:
            if not isinstance(name, str) or not name or ":" in name:
                raise InvalidParameter(
                    "service_name", f"service_name {name!r} must be a non-empty string without ':'"
                )
            return []
        services = self.services
        return [services[k] for k in sorted(pods)]

    def all(self) -> list[ServiceInfo]:
        """Every record, by key. O(n log n)."""
        services = self.services
        return [services[k] for k in sorted(services)]

    def delete(self, key: str) -> None:
        """Remove the record under ``key`` (its subscriptions stay); ServiceNotFound if none."""
        info = self.get(key)
        del self.services[key]
        pods = self.by_name[info.service_name]
        pods.discard(key)
        if not pods:
            del self.by_name[info.service_name]

    def update_health(self, key: str, status: object, at: int) -> ServiceInfo:
        """Set the status of ``key`` as checked at ``at`` (unix ns); the new record.

        ``last_health_check`` becomes ``at``; ``last_status_change`` too when the
        status differs from the stored one. O(1) plus one record copy.
        """
        info = self.health_updated(key, status, at)
        self.services[key] = info
        return info

    def health_updated(self, key: str, status: object, at: int) -> ServiceInfo:
        """The record :meth:`update_health` would store, without storing it (a durable
        store logs it first). Same errors, same cost."""
        new_status = to_status(status)
        if at is None:
            raise InvalidParameter("at", "at None must be unix nanoseconds (an int >= 0)")
        check_time("at", at)
        info = self.get(key)
        changed = info.last_status_change if info.status is new_status else at
        return dataclasses.replace(
            info, status=new_status, last_health_check=at, last_status_change=changed
        )

    def subscribe(self, subscriber_key: str, group: str) -> None:
        """``subscriber_key`` follows ``group``; a no-op if it already does. O(1)."""
        parse_key(subscriber_key)
        _check_group(group)
        self.groups.setdefault(group, set()).add(subscriber_key)
        self.subscribed.setdefault(subscriber_key, set()).add(group)

    def unsubscribe(self, subscriber_key: str, group: str) -> None:
        """``subscriber_key`` stops following ``group``; a no-op if it did not. O(1)."""
        parse_key(subscriber_key)
        _check_group(group)
        subscribers = self.groups.get(group)
        if subscribers is None or subscriber_key not in subscribers:
            return
        subscribers.discard(subscriber_key)
        if not subscribers:
            del self.groups[group]
        groups = self.subscribed[subscriber_key]
        groups.discard(group)
        if not groups:
            del self.subscribed[subscriber_key]

    def unsubscribe_all(self, subscriber_key: str) -> None:
        """Drop every subscription of ``subscriber_key``. O(its groups)."""
        parse_key(subscriber_key)
        for group in self.subscribed.pop(subscriber_key, ()):
            subscribers = self.groups[group]
            subscribers.discard(subscriber_key)
            if not subscribers:
                del self.groups[group]

    def subscribers(self, group: str) -> list[str]:
        """The keys following ``group``, sorted. O(k log k)."""
        _check_group(group)
        return sorted(self.groups.get(group, ()))

    def subscriptions(self, subscriber_key: str) -> list[str]:
        """The groups ``subscriber_key`` follows, sorted. O(g log g)."""
        parse_key(subscriber_key)
        return sorted(self.subscribed.get(subscriber_key, ()))

    def subscriber_services(self, group: str) -> list[ServiceInfo]:
        """The records of ``group``'s subscribers, by key, skipping keys without one."""
        services = self.services
        return [services[k] for k in self.subscribers(group) if k in services]

    def subscription_count(self) -> int:
        """How many (group, subscriber) pairs exist. O(groups)."""
        return sum(len(s) for s in self.groups.values())

    def clear(self) -> None:
        """Forget every service and subscription."""
        self.services.clear()
        self.by_name.clear()
        self.groups.clear()
        self.subscribed.clear()

    def _check(self) -> None:
        """Assert the invariants: keys match records, and the indexes match the dicts."""
        by_name: dict[str, set[str]] = {}
        for key, info in self.services.items():
            assert type(info) is ServiceInfo, info
            assert key == info.key, (key, info.key)
            by_name.setdefault(info.service_name, set()).add(key)
        assert by_name == self.by_name, (by_name, self.by_name)
        inverse: dict[str, set[str]] = {}
        for group, subscribers in self.groups.items():
            assert subscribers, f"empty subscriber set for {group!r}"
            for key in subscribers:
                parse_key(key)
                inverse.setdefault(key, set()).add(group)
        assert inverse == self.subscribed, (inverse, self.subscribed)
