"""The registry's records: a model-serving pod (:class:`ServiceInfo`) and its key.

A service is one pod of a named service, keyed ``service_name:pod_name``. Records
are frozen and slotted, ``providers`` is a frozenset and ``metadata`` a read-only
view over a private copy, so a store hands out the record it holds: no caller can
change stored state, and no copy is made on the way out. Times are unix
nanoseconds, ``None`` when the event never happened.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from infertrace.errors import InvalidParameter

_EMPTY: Mapping[str, str] = MappingProxyType({})


class ServiceStatus(enum.StrEnum):
    """A pod's health as the registry last knew it."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"
    DRAINING = "draining"


class Origin(enum.StrEnum):
    """How the registry learned of a pod: from its telemetry, a registration, or both."""

    TELEMETRY = "telemetry"
    REGISTRATION = "registration"
    BOTH = "both"


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or ":" in value:
        raise InvalidParameter(what, f"{what} {value!r} must be a non-empty string without ':'")
    return value


def service_key(service_name: str, pod_name: str) -> str:
    """The key ``service_name:pod_name``; either name empty or holding ':' is refused."""
    return f"{_check_name('service_name', service_name)}:{_check_name('pod_name', pod_name)}"


def parse_key(key: str) -> tuple[str, str]:
    """``(service_name, pod_name)`` of ``key``; InvalidParameter naming the key unless it
    holds exactly one ':' with a non-empty name on each side. O(len(key))."""
    if isinstance(key, str) and key.count(":") == 1:
        name, _, pod = key.partition(":")
        if name and pod:
            return name, pod
    raise InvalidParameter(
        "key", f"key {key!r} must be service_name:pod_name (exactly one ':', both non-empty)"
    )


def to_status(value: object) -> ServiceStatus:
    """``value`` as a ServiceStatus (a member or its name); InvalidParameter naming it."""
    if type(value) is ServiceStatus:
        return value
    try:
        if isinstance(value, str):
            return ServiceStatus(value)
    except ValueError:
        pass
    allowed = ", ".join(s.value for s in ServiceStatus)
    raise InvalidParameter("status", f"status {value!r} is not one of {allowed}")


def check_time(what: str, value: object) -> int | None:
    """``value`` if it is None or a non-negative int (unix ns); InvalidParameter otherwise."""
    if value is None or (type(value) is int and value >= 0):
        return value
    raise InvalidParameter(what, f"{what} {value!r} must be unix nanoseconds (an int >= 0)")


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One model-serving pod as the registry holds it. Immutable; safe to share.

    ``providers`` (any iterable of model names) is stored as a frozenset and
    ``metadata`` as a read-only mapping over a copy; ``status`` and ``origin``
    accept their members or their string values. Construction validates every
    field and raises InvalidParameter naming the bad value. Use
    :func:`dataclasses.replace` to derive a changed record.
    """

    service_name: str
    pod_name: str
    address: str = ""
    port: int = 0
    health_check_url: str | None = None
    notification_url: str | None = None
    providers: frozenset[str] = frozenset()
    status: ServiceStatus = ServiceStatus.UNKNOWN
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    registered_at: int | None = None
    last_seen: int | None = None
    last_health_check: int | None = None
    last_status_change: int | None = None
    origin: Origin = Origin.REGISTRATION

    def __post_init__(self) -> None:
        _check_name("service_name", self.service_name)
        _check_name("pod_name", self.pod_name)
        if not isinstance(self.address, str):
            raise InvalidParameter("address", f"address {self.address!r} must be a string")
        if type(self.port) is not int or not 0 <= self.port <= 65535:
            raise InvalidParameter("port", f"port {self.port!r} must be an int in 0..65535")
        for what in ("health_check_url", "notification_url"):
            url = getattr(self, what)
            if url is not None and (not isinstance(url, str) or not url):
                raise InvalidParameter(what, f"{what} {url!r} must be None or a non-empty string")
        set_ = object.__setattr__
        if not isinstance(self.providers, frozenset):
            set_(self, "providers", _providers(self.providers))
        for model in self.providers:
            if not isinstance(model, str) or not model:
                raise InvalidParameter("providers", f"provider {model!r} must be a model name")
        set_(self, "status", to_status(self.status))
        try:
            set_(self, "origin", Origin(self.origin))
        except ValueError:
            raise InvalidParameter("origin", f"origin {self.origin!r} is unknown") from None
        if self.metadata is not _EMPTY:  # a copy: the caller may still hold the original
            set_(self, "metadata", _metadata(self.metadata))
        for what in ("registered_at", "last_seen", "last_health_check", "last_status_change"):
            check_time(what, getattr(self, what))

    @property
    def key(self) -> str:
        """``service_name:pod_name``, the registry key of this pod."""
        return f"{self.service_name}:{self.pod_name}"


def _providers(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidParameter("providers", f"providers {value!r} must be model names")
    return frozenset(value)


def _metadata(value: object) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidParameter("metadata", f"metadata {value!r} must be a mapping")
    if not value:
        return _EMPTY
    return MappingProxyType(dict(value))
