"""The service registry: model-serving pods, their health and their subscriptions.

Public surface: the record (:class:`ServiceInfo`, :class:`ServiceStatus`,
:class:`Origin`, :func:`service_key`, :func:`parse_key`), the store protocol
(:class:`RegistryStore`) and its two in-memory stores: :class:`LocalRegistry`
for one owner thread, without locks, and :class:`ThreadSafeRegistry` for many.
Errors are in :mod:`infertrace.errors` (``ServiceNotFound``, ``NotOwnerThread``,
``InvalidParameter``, ``StoreClosed``). The runtime over any store:
:class:`RegistryService` (every change, its :class:`EventLog` of
:class:`RegistryEvent`, health, :class:`CheckSettings`, :class:`NotifySettings`)
and :class:`RegistryProcessor`, the pipeline processor that feeds it telemetry.
"""

from infertrace.registry.checker import CheckSettings
from infertrace.registry.events import EventLog, EventType, RegistryEvent
from infertrace.registry.local import LocalRegistry
from infertrace.registry.notifier import NotifySettings
from infertrace.registry.processor import RegistryProcessor
from infertrace.registry.records import Origin, ServiceInfo, ServiceStatus, parse_key, service_key
from infertrace.registry.service import RegistryService
from infertrace.registry.store import RegistryStore
from infertrace.registry.threadsafe import ThreadSafeRegistry

__all__ = [
    "CheckSettings",
    "EventLog",
    "EventType",
    "LocalRegistry",
    "NotifySettings",
    "Origin",
    "RegistryEvent",
    "RegistryProcessor",
    "RegistryService",
    "RegistryStore",
    "ServiceInfo",
    "ServiceStatus",
    "ThreadSafeRegistry",
    "parse_key",
    "service_key",
]
