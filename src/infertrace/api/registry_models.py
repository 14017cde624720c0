"""The registry API's request and response bodies, as Pydantic models.

They exist so ``/openapi.json`` describes every field of the registry routes;
handlers build them from the registry's immutable records with :func:`pod_out`
and :func:`event_out`. Times are unix nanoseconds (``null`` when the thing never
happened), providers are sorted, and a pod's ``error_rate`` is the share of its
spans with status error over the registry's error window (``null`` without spans).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field

from infertrace.registry import Origin, ServiceInfo, ServiceStatus
from infertrace.registry.events import EventType, RegistryEvent


class Pod(BaseModel):
    """One model-serving pod as the registry knows it."""

    key: str = Field(description="service_name:pod_name, the pod's registry key")
    service_name: str
    pod_name: str
    address: str = Field(description="Host or IP the pod serves on ('' when unknown)")
    port: int = Field(description="Port the pod serves on (0 when unknown)")
    health_check_url: str | None
    notification_url: str | None
    providers: list[str] = Field(description="The models the pod serves, sorted")
    status: ServiceStatus
    metadata: dict[str, str]
    origin: Origin = Field(description="How the registry learned of it")
    registered_at_unix_nano: int | None
    last_seen_unix_nano: int | None = Field(description="Last telemetry, heartbeat or registration")
    last_health_check_unix_nano: int | None
    last_status_change_unix_nano: int | None
    error_rate: float | None = Field(
        description="Share of the pod's spans with status error over the error window"
    )


class PodList(BaseModel):
    """Pods matching the filters, sorted by key."""

    pods: list[Pod]
    count: int


class Register(BaseModel):
    """A pod registering itself (or being registered by an operator)."""

    service_name: str = Field(min_length=1, description="Service (group) name, without ':'")
    pod_name: str = Field(min_length=1, description="Pod name within the service, without ':'")
    address: str = ""
    port: int = Field(0, ge=0, le=65535)
    health_check_url: str | None = Field(None, description="Polled by the health checker; 2xx")
    notification_url: str | None = Field(
        None, description="Receives a POST per event of the groups the pod subscribes to"
    )
    providers: list[str] = Field(default_factory=list, description="The models the pod serves")
    metadata: dict[str, str] = Field(default_factory=dict)


class StatusChange(BaseModel):
    """A status set by hand, e.g. ``draining`` before a pod is taken down."""

    status: ServiceStatus


class Subscriptions(BaseModel):
    """The service groups one pod follows."""

    subscriber_key: str
    groups: list[str]


class Subscription(BaseModel):
    """One pod following one service group."""

    subscriber_key: str
    group: str


class Subscribers(BaseModel):
    """The pods following a service group: every key, and the records of those that exist."""

    group: str
    subscriber_keys: list[str]
    subscribers: list[Pod] = Field(description="Subscribers with a record (see subscriber_keys)")


class Event(BaseModel):
    """One registry change: a pod registered, deregistered, changed status or providers."""

    id: int = Field(description="Increases by one per event, from 1, per server run")
    type: EventType
    at: int = Field(description="When it happened, unix nanoseconds")
    service_name: str = Field(description="The group a subscriber follows")
    key: str
    status: ServiceStatus
    previous_status: ServiceStatus | None
    providers: list[str]


class EventPage(BaseModel):
    """Held events after ``after``, oldest first.

    ``reset`` is true when events after ``after`` were already dropped from the
    bounded history (or ``after`` is beyond ``last_id``, from an earlier server run):
    the client should reload its pods rather than apply the events as a delta.
    """

    events: list[Event]
    last_id: int = Field(description="Id of the newest event (0 when none yet)")
    oldest_id: int = Field(description="Id of the oldest held event (last_id + 1 when none)")
    reset: bool


def pod_out(info: ServiceInfo, error_rate: float | None) -> Pod:
    """The API's view of ``info``. O(providers log providers + metadata)."""
    return Pod(
        key=info.key,
        service_name=info.service_name,
        pod_name=info.pod_name,
        address=info.address,
        port=info.port,
        health_check_url=info.health_check_url,
        notification_url=info.notification_url,
        providers=sorted(info.providers),
        status=info.status,
        metadata=dict(info.metadata),
        origin=info.origin,
        registered_at_unix_nano=info.registered_at,
        last_seen_unix_nano=info.last_seen,
        last_health_check_unix_nano=info.last_health_check,
        last_status_change_unix_nano=info.last_status_change,
        error_rate=error_rate,
    )


def event_out(event: RegistryEvent) -> Event:
    """The API's view of ``event``. O(providers)."""
    return Event(
        id=event.id,
        type=event.type,
        at=event.at,
        service_name=event.service_name,
        key=event.key,
        status=event.status,
        previous_status=event.previous_status,
        providers=list(event.providers),
    )


def event_data(event: RegistryEvent) -> Mapping[str, object]:
    """The JSON object of an event, as the SSE stream's ``data:`` line carries it: the
    same fields as :class:`Event` (and the notifier's payloads)."""
    return event.to_json()
