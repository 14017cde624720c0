"""REST API of the activity database under ``/api/activity``: what its routes share.

The routes call the :class:`~infertrace.activity.service.ActivityService` the
server puts on ``app.state.activity``; a server without one answers 404 on every
activity route. Routes are split by what they do: records (CRUD, batches,
ranges) in :mod:`.activity_records`, aggregations in :mod:`.activity_analytics`,
consistency, memory and snapshots in :mod:`.activity_admin`; bodies in
:mod:`.activity_models`, query parsing in :mod:`.activity_params`. Handlers are
plain ``def`` (a batch of 100,000 or an aggregation takes the store's lock for
milliseconds to seconds: FastAPI runs them on its thread pool). Errors follow
:mod:`infertrace.errormap`: unknown key 404, duplicate 409, bad value 422
naming it, past a configured limit 507.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import APIRouter, HTTPException
from starlette.requests import Request

from infertrace.activity.aggregations import METRICS, Metrics
from infertrace.activity.records import Record
from infertrace.activity.service import KINDS, ActivityService
from infertrace.api.responses import ERROR_RESPONSES

NOT_RUNNING = "the activity database is not running on this server"

ACTIVITY_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"description": "This server runs no activity database (or no record has the key)"},
}
"""The error answers of every activity route."""

PREFIX = "/api/activity"
TAGS: list[str | Any] = ["activity"]

NAMES: dict[type, str] = {kind: name for name, kind in KINDS.items()}
"""Plural kind name of each record type."""


def activity_of(request: Request) -> ActivityService:
    """The activity service the app serves; 404 when the server runs without one."""
    service: ActivityService | None = getattr(request.app.state, "activity", None)
    if service is None:
        raise HTTPException(404, NOT_RUNNING)
    return service


def new_router() -> APIRouter:
    """A router for one part of the activity API (same prefix, tag, error answers)."""
    return APIRouter(prefix=PREFIX, tags=TAGS, responses=ACTIVITY_RESPONSES)


FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in fields(kind)) for kind in KINDS.values()
}
"""Each record type's fields, in declaration order."""


def record_json(record: Record) -> dict[str, Any]:
    """A record as JSON: its fields by name (enums are ``str``, so they dump as values)."""
    return {name: getattr(record, name) for name in FIELDS[type(record)]}


def metrics_json(metrics: Metrics) -> dict[str, Any]:
    """Every metric by name, ratios included."""
    return {name: getattr(metrics, name) for name in METRICS}
