"""LocalRegistry: the registry for one owner thread, with no locks.

Meant for the single worker (an event loop) that applies every registry change.
The first call records the calling thread; a call from any other thread raises
:class:`~infertrace.errors.NotOwnerThread` before touching state, instead of
corrupting it. The check is one ``threading.get_ident()`` comparison per call.
``close()`` and ``ping()`` may be called from any thread.
"""

from __future__ import annotations

from threading import get_ident

from infertrace.errors import NotOwnerThread, StoreClosed
from infertrace.registry.core import RegistryCore
from infertrace.registry.records import ServiceInfo, ServiceStatus

_CLOSED = -1
"""``_owner`` once closed: no thread id equals it, so every call takes the slow path."""


class LocalRegistry:
    """A :class:`~infertrace.registry.store.RegistryStore` for a single owner thread.

    Every operation is the core's (see :mod:`infertrace.registry.core` for the
    complexities) behind one owner check.
    """

    __slots__ = ("_core", "_owner")

    def __init__(self) -> None:
        self._core = RegistryCore()
        self._owner: int | None = None

    def _claim(self) -> None:
        """Slow path of the owner check: claim a fresh store, or refuse the call."""
        if self._owner is None:
            self._owner = get_ident()
        elif self._owner == _CLOSED:
            raise StoreClosed("the registry is closed")
        elif self._owner != get_ident():
            raise NotOwnerThread(
                f"LocalRegistry is owned by thread {self._owner} and was called from "
                f"thread {get_ident()}; use ThreadSafeRegistry to share one"
            )

    @property
    def owner(self) -> int | None:
        """The id of the owning thread; None until first used."""
        return None if self._owner == _CLOSED else self._owner

    def save_service(self, info: ServiceInfo) -> None:
        if self._owner != get_ident():
            self._claim()
        self._core.save(info)

    def get_service(self, key: str) -> ServiceInfo:
        if self._owner != get_ident():
            self._claim()
        return self._core.get(key)

    def get_services_by_name(self, name: str) -> list[ServiceInfo]:
        if self._owner != get_ident():
            self._claim()
        return self._core.by_service_name(name)

    def get_all_services(self) -> list[ServiceInfo]:
        if self._owner != get_ident():
            self._claim()
        return self._core.all()

    def delete_service(self, key: str) -> None:
        if self._owner != get_ident():
            self._claim()
        self._core.delete(key)

    def update_health_status(self, key: str, status: ServiceStatus | str, at: int) -> ServiceInfo:
        if self._owner != get_ident():
            self._claim()
        return self._core.update_health(key, status, at)

    def add_subscription(self, subscriber_key: str, service_group: str) -> None:
        if self._owner != get_ident():
            self._claim()
        self._core.subscribe(subscriber_key, service_group)

    def remove_subscription(self, subscriber_key: str, service_group: str) -> None:
        if self._owner != get_ident():
            self._claim()
        self._core.unsubscribe(subscriber_key, service_group)

    def remove_all_subscriptions(self, subscriber_key: str) -> None:
        if self._owner != get_ident():
            self._claim()
        self._core.unsubscribe_all(subscriber_key)

    def get_subscribers(self, service_group: str) -> list[str]:
        if self._owner != get_ident():
            self._claim()
        return self._core.subscribers(service_group)

    def get_subscriptions(self, subscriber_key: str) -> list[str]:
        if self._owner != get_ident():
            self._claim()
        return self._core.subscriptions(subscriber_key)

    def get_subscriber_services(self, service_group: str) -> list[ServiceInfo]:
        if self._owner != get_ident():
            self._claim()
        return self._core.subscriber_services(service_group)

    def close(self) -> None:
        """Refuse every later call (StoreClosed); safe twice, from any thread."""
        self._owner = _CLOSED

    def ping(self) -> bool:
        """True until closed; from any thread."""
        return self._owner != _CLOSED

    def _check(self) -> None:
        self._core._check()
