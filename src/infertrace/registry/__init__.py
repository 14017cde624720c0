"""The service registry: model-serving pods, their health and their subscriptions.

Public surface: the record (:class:`ServiceInfo`, :class:`ServiceStatus`,
:class:`Origin`, :func:`service_key`, :func:`parse_key`), the store protocol
(:class:`RegistryStore`) and its two in-memory stores: :class:`LocalRegistry`
for one owner thread, without locks, and :class:`ThreadSafeRegistry` for many.
Errors are in :mod:`infertrace.errors` (``ServiceNotFound``, ``NotOwnerThread``,
``InvalidParameter``, ``StoreClosed``).
"""

from infertrace.registry.local import LocalRegistry
from infertrace.registry.records import Origin, ServiceInfo, ServiceStatus, parse_key, service_key
from infertrace.registry.store import RegistryStore
from infertrace.registry.threadsafe import ThreadSafeRegistry

__all__ = [
    "LocalRegistry",
    "Origin",
    "RegistryStore",
    "ServiceInfo",
    "ServiceStatus",
    "ThreadSafeRegistry",
    "parse_key",
    "service_key",
]
