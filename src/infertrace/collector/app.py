"""The collector's HTTP application: OTLP/HTTP, health and Prometheus routes on one app.

``create_app`` returns a FastAPI app; its ``install`` hook adds more routes to
the same app and port before the bearer-token middleware wraps them all. The
command that serves (:mod:`infertrace.cli.serve`) passes
:func:`infertrace.api.install_query_api` there, for the REST API (``/api/...``),
the Jaeger API (``/jaeger/...``) and the UI: the collector never imports the
API. The store, pipeline, settings, pod registry and activity database (each
None when not served) are on ``app.state`` for those routes, with ``stopping``, a
threading.Event the collector sets when it begins to stop, so long-lived answers
(the registry's event stream) end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import anyio
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infertrace import __version__
from infertrace.activity.service import ActivityService
from infertrace.auth import TokenAuth
from infertrace.collector.http import OtlpHttpReceiver
from infertrace.collector.pipeline import Pipeline
from infertrace.collector.processors import Processor
from infertrace.collector.registry_metrics import RegistryCollector
from infertrace.config import Settings
from infertrace.registry.service import RegistryService
from infertrace.telemetry.protocols import Monitored, TelemetryStore

ReadyCheck = Callable[[], str | None]
"""Why the collector cannot take writes now (e.g. its data directory's disk is full), or
None; O(1), called on the event loop by ``/readyz``."""


def health_routes(pipeline: Pipeline, checks: Sequence[ReadyCheck] = ()) -> list[Route]:
    """``/healthz`` (the process serves), ``/readyz`` (the store takes writes), ``/metrics``.

    ``/readyz`` also asks each of ``checks`` (read when asked: a list given here may
    be added to later, as ``install`` hooks do through ``app.state.ready_checks``).

    For a store watched in the background (:class:`Monitored`, PostgreSQL) all
    three answer on the event loop from cached state, in microseconds, during
    any outage: no thread, no database call. ``/readyz`` then says why the
    store is not ready and since when it was checked.
    """
    store = pipeline.store

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if isinstance(store, Monitored):
            health = store.health()
            problem = "store is closed" if pipeline.store_closed else None
            problem = problem or (None if health.ok else health.reason)
            checked = {"checked_at": _iso(health.checked_unix)} if health.checked_unix else {}
            problem = problem or _first_problem(checks)
            if problem is not None:
                body = {"status": "unavailable", "reason": problem, **checked}
                return JSONResponse(body, 503, headers={"Retry-After": "1"})
            return JSONResponse({"status": "ready", **checked})
        problem = await anyio.to_thread.run_sync(pipeline.ready) or _first_problem(checks)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, 503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        # Inline: the registry holds only counters and cached or in-memory store
        # stats, and a thread could be unavailable exactly when a scrape matters.
        text = generate_latest(pipeline.metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def _first_problem(checks: Sequence[ReadyCheck]) -> str | None:
    for check in checks:
        problem = check()
        if problem is not None:
            return problem
    return None


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")


Install = Callable[[FastAPI], None]
"""Adds routes, handlers or middleware to the HTTP app (e.g. ``install_query_api``)."""


def create_app(
    store: TelemetryStore,
    settings: Settings | None = None,
    pipeline: Pipeline | None = None,
    *,
    install: Install | None = None,
    processors: Iterable[Processor] = (),
    registry: RegistryService | None = None,
    activity: ActivityService | None = None,
) -> FastAPI:
    """The collector's HTTP app over ``store`` (and ``pipeline`` when shared with gRPC).

    ``install`` (called once, before the token check is added, so it guards
    what was installed too) puts more on the same app: the server passes the
    query API. ``processors`` go to the pipeline made here (ignored when
    ``pipeline`` is given: it has its own). ``registry`` is served by the registry
    routes and its samples join ``/metrics``; feeding it is the pipeline's part.
    ``activity`` is served by the activity routes (its feed is a pipeline processor).
    """
    settings = settings or Settings()
    pipeline = pipeline or Pipeline(store, processors=processors)
    app = FastAPI(
        title="InferTrace",
        version=__version__,
        summary="OTLP collector and query API for ML inference telemetry",
        docs_url=None,  # ui.py serves /docs, with no CDN
        redoc_url=None,
    )
    receiver = OtlpHttpReceiver(pipeline, settings.max_body_bytes, settings.max_inflight)
    app.router.routes.extend(receiver.routes())
    checks: list[ReadyCheck] = []
    app.state.ready_checks = checks  # more reasons for /readyz: install hooks append
    app.state.pipeline = pipeline  # before install: hooks may register /metrics samples
    app.router.routes.extend(health_routes(pipeline, checks))
    if install is not None:
        install(app)
    app.add_middleware(TokenAuth, api_token=settings.api_token, ingest_token=settings.ingest_token)
    app.state.store = store
    app.state.settings = settings
    app.state.registry = registry
    app.state.activity = activity
    app.state.stopping = threading.Event()
    if registry is not None:
        pipeline.metrics.registry.register(RegistryCollector(registry))
    return app
