"""The protocol every registry store satisfies: services, health, subscriptions.

Declared here, where the registry's consumers (the telemetry processor, the
REST API, the notifier) will name it. Keys are ``service_name:pod_name``;
records are immutable :class:`ServiceInfo`, so a store returns the records it
holds. Errors, the same in every store:

- an unknown key (``get_service``, ``delete_service``, ``update_health_status``)
  raises :class:`~infertrace.errors.ServiceNotFound`;
- an empty name or group, a key without exactly one ``:`` or with an empty side,
  an invalid status or time raises :class:`~infertrace.errors.InvalidParameter`
  whose message names the value;
- any call after ``close()`` (but ``close`` and ``ping``) raises
  :class:`~infertrace.errors.StoreClosed`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from infertrace.registry.records import ServiceInfo, ServiceStatus


@runtime_checkable
class RegistryStore(Protocol):
    """Where the registry keeps its pods and subscriptions."""

    def save_service(self, info: ServiceInfo) -> None:
        """Insert or replace the record under ``info.key``."""

    def get_service(self, key: str) -> ServiceInfo:
        """The record under ``key``."""
        ...

    def get_services_by_name(self, name: str) -> list[ServiceInfo]:
        """The pods of service ``name``, sorted by key; [] if it has none."""
        ...

    def get_all_services(self) -> list[ServiceInfo]:
        """Every record, sorted by key."""
        ...

    def delete_service(self, key: str) -> None:
        """Remove the record under ``key``; its subscriptions stay."""

    def update_health_status(self, key: str, status: ServiceStatus | str, at: int) -> ServiceInfo:
        """Set the status of ``key`` as checked at ``at`` (unix ns); the new record.

        ``last_health_check`` becomes ``at``, and ``last_status_change`` too when
        the status changed.
        """
        ...

    def add_subscription(self, subscriber_key: str, service_group: str) -> None:
        """The pod ``subscriber_key`` follows ``service_group``; a no-op if it does."""

    def remove_subscription(self, subscriber_key: str, service_group: str) -> None:
        """The pod stops following ``service_group``; a no-op if it did not."""

    def remove_all_subscriptions(self, subscriber_key: str) -> None:
        """The pod stops following every group; a no-op if it followed none."""

    def get_subscribers(self, service_group: str) -> list[str]:
        """The keys of the pods following ``service_group``, sorted."""
        ...

    def get_subscriptions(self, subscriber_key: str) -> list[str]:
        """The groups ``subscriber_key`` follows, sorted (empty when none)."""
        ...

    def get_subscriber_services(self, service_group: str) -> list[ServiceInfo]:
        """The records of those pods, sorted by key, skipping pods without a record."""
        ...

    def close(self) -> None:
        """Release the store; safe to call twice."""

    def ping(self) -> bool:
        """Whether the store can serve calls (False once closed)."""
        ...
