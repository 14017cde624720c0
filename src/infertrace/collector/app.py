"""The HTTP application: OTLP/HTTP, health and Prometheus routes on one app.

``create_app`` returns a FastAPI app so the REST query API (``/api/...``),
the Jaeger API (``/jaeger/...``) and the UI can be added to the same app and
port (``app.include_router(...)``). The store, pipeline and metrics are on
``app.state`` for those routers to use.
"""

from __future__ import annotations

import anyio
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infertrace import __version__
from infertrace.api.auth import TokenAuth
from infertrace.api.router import install_query_api
from infertrace.collector.http import OtlpHttpReceiver
from infertrace.collector.pipeline import Pipeline
from infertrace.config import Settings
from infertrace.telemetry.protocols import TelemetryStore


def health_routes(pipeline: Pipeline) -> list[Route]:
    """``/healthz`` (the process serves), ``/readyz`` (the store takes writes), ``/metrics``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problem = await anyio.to_thread.run_sync(pipeline.ready)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, 503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        text = await anyio.to_thread.run_sync(generate_latest, pipeline.metrics.registry)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def create_app(
    store: TelemetryStore, settings: Settings | None = None, pipeline: Pipeline | None = None
) -> FastAPI:
    """The collector's HTTP app over ``store`` (and ``pipeline`` when shared with gRPC)."""
    settings = settings or Settings()
    pipeline = pipeline or Pipeline(store)
    app = FastAPI(
        title="InferTrace",
        version=__version__,
        summary="OTLP collector and query API for ML inference telemetry",
        docs_url=None,  # ui.py serves /docs, with no CDN
        redoc_url=None,
    )
    receiver = OtlpHttpReceiver(pipeline, settings.max_body_bytes, settings.max_inflight)
    app.router.routes.extend(receiver.routes())
    app.router.routes.extend(health_routes(pipeline))
    install_query_api(app)
    app.add_middleware(TokenAuth, api_token=settings.api_token, ingest_token=settings.ingest_token)
    app.state.store = store
    app.state.pipeline = pipeline
    app.state.settings = settings
    return app
