"""REST routes of the pod registry under ``/api/registry``: pods, subscriptions, events.

The routes call the :class:`~infertrace.registry.service.RegistryService` the
server puts on ``app.state.registry``; a server without one (an embedded
collector started without ``registry=``) answers 404 on every registry route.
Handlers are plain ``def``: the service's store may block (PostgreSQL), so they
run on FastAPI's thread pool, and the service is thread-safe. Errors follow
:mod:`infertrace.errormap`: an unknown pod key is 404, a malformed key, name or
status 422 naming it. The event stream and its JSON page are in
:mod:`infertrace.api.registry_events`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from starlette.requests import Request

from infertrace.api.params import BadParameter
from infertrace.api.registry_models import (
    Pod,
    PodList,
    Register,
    StatusChange,
    Subscribers,
    Subscription,
    Subscriptions,
    pod_out,
)
from infertrace.api.responses import ERROR_RESPONSES
from infertrace.registry import ServiceInfo, ServiceStatus
from infertrace.registry.service import RegistryService

NOT_RUNNING = "the registry is not running on this server"

REGISTRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"description": "This server runs no registry (or, where a pod is named, no pod has it)"},
}
"""The error answers of every registry route."""

KEY = Path(description="The pod's key, service_name:pod_name")
SUBSCRIBER = Path(description="The subscribing pod's key, service_name:pod_name")
GROUP = Path(description="A service group: the service_name whose pods are followed")

router = APIRouter(prefix="/api/registry", tags=["registry"], responses=REGISTRY_RESPONSES)


def registry_of(request: Request) -> RegistryService:
    """The registry the app serves; 404 when the server runs without one."""
    service: RegistryService | None = getattr(request.app.state, "registry", None)
    if service is None:
        raise HTTPException(404, NOT_RUNNING)
    return service


def pod_json(service: RegistryService, info: ServiceInfo) -> Pod:
    """``info`` with its error rate over the service's window."""
    return pod_out(info, service.error_rate(info.key))


@router.get("/pods", summary="Pods, filtered by service name, model and status")
def list_pods(
    request: Request,
    name: Annotated[str | None, Query(description="Only pods of this service")] = None,
    provider: Annotated[str | None, Query(description="Only pods serving this model")] = None,
    model: Annotated[str | None, Query(description="The same as provider")] = None,
    status: Annotated[ServiceStatus | None, Query(description="Only pods in this status")] = None,
) -> PodList:
    """Pods matching every given filter, sorted by key. O(pods)."""
    service = registry_of(request)
    if provider and model and provider != model:
        raise BadParameter("model", f"model {model!r} differs from provider {provider!r}")
    infos = service.pods(name=name or None, provider=provider or model or None, status=status)
    return PodList(pods=[pod_json(service, i) for i in infos], count=len(infos))


@router.get("/pods/{key}", summary="One pod")
def get_pod(request: Request, key: Annotated[str, KEY]) -> Pod:
    service = registry_of(request)
    return pod_json(service, service.get(key))


@router.post("/pods", summary="Register a pod (or update its registration)", status_code=201)
def register_pod(request: Request, body: Register) -> Pod:
    """Creates or replaces the registration of ``service_name:pod_name``; 201 with the pod."""
    service = registry_of(request)
    info = service.register(
        body.service_name,
        body.pod_name,
        address=body.address,
        port=body.port,
        health_check_url=body.health_check_url or None,
        notification_url=body.notification_url or None,
        providers=body.providers,
        metadata=body.metadata,
    )
    return pod_json(service, info)


@router.post("/pods/{key}/heartbeat", summary="The pod is alive: refresh last seen")
def heartbeat(request: Request, key: Annotated[str, KEY]) -> Pod:
    service = registry_of(request)
    return pod_json(service, service.heartbeat(key))


@router.delete("/pods/{key}", summary="Deregister a pod", status_code=204)
def deregister(request: Request, key: Annotated[str, KEY]) -> Response:
    """Removes the pod's record (its subscriptions stay, for a pod that comes back)."""
    registry_of(request).deregister(key)
    return Response(status_code=204)


@router.put("/pods/{key}/status", summary="Set a pod's status")
def set_status(request: Request, key: Annotated[str, KEY], body: StatusChange) -> Pod:
    """E.g. ``draining`` before taking a pod down; telemetry health may change it later."""
    service = registry_of(request)
    return pod_json(service, service.set_status(key, body.status))


@router.get(
    "/subscriptions/{subscriber_key}",
    summary="The service groups a pod follows",
)
def subscriptions(request: Request, subscriber_key: Annotated[str, SUBSCRIBER]) -> Subscriptions:
    groups = registry_of(request).subscriptions(subscriber_key)
    return Subscriptions(subscriber_key=subscriber_key, groups=sorted(groups))


@router.get(
    "/subscriptions/{subscriber_key}/{group}",
    summary="Whether a pod follows a service group",
)
def get_subscription(
    request: Request,
    subscriber_key: Annotated[str, SUBSCRIBER],
    group: Annotated[str, GROUP],
) -> Subscription:
    if group not in registry_of(request).subscriptions(subscriber_key):
        raise HTTPException(404, f"pod {subscriber_key!r} does not follow group {group!r}")
    return Subscription(subscriber_key=subscriber_key, group=group)


@router.put(
    "/subscriptions/{subscriber_key}/{group}",
    summary="A pod follows a service group (idempotent)",
)
def subscribe(
    request: Request,
    subscriber_key: Annotated[str, SUBSCRIBER],
    group: Annotated[str, GROUP],
) -> Subscription:
    """The pod's notification URL then gets the group's events; 404 unless it is registered
    (deregistering a pod drops its subscriptions)."""
    registry_of(request).subscribe(subscriber_key, group)
    return Subscription(subscriber_key=subscriber_key, group=group)


@router.delete(
    "/subscriptions/{subscriber_key}/{group}",
    summary="A pod stops following a service group (idempotent)",
    status_code=204,
)
def unsubscribe(
    request: Request,
    subscriber_key: Annotated[str, SUBSCRIBER],
    group: Annotated[str, GROUP],
) -> Response:
    registry_of(request).unsubscribe(subscriber_key, group)
    return Response(status_code=204)


@router.get("/groups/{group}/subscribers", summary="The pods following a service group")
def subscribers(request: Request, group: Annotated[str, GROUP]) -> Subscribers:
    service = registry_of(request)
    keys = service.store.get_subscribers(group)
    pods = [pod_json(service, info) for info in service.subscribers(group)]
    return Subscribers(group=group, subscriber_keys=keys, subscribers=pods)
