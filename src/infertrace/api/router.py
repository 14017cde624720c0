"""Everything the HTTP port serves besides OTLP and health: one call installs it."""

from __future__ import annotations

from fastapi import FastAPI

from infertrace.api import (
    activity_admin,
    activity_analytics,
    activity_records,
    analytics,
    export,
    registry,
    registry_events,
    search,
    trace_summaries,
    ui,
)
from infertrace.api.availability import StoreGuard
from infertrace.api.jaeger import jaeger_router
from infertrace.api.jaeger_errors import install_jaeger_errors
from infertrace.api.responses import install_error_handlers


def install_query_api(app: FastAPI) -> None:
    """Add the REST API (/api), the Jaeger API (/jaeger) and their error handling.

    Their requests fail fast (503 + Retry-After) while ``app.state.store`` is known down.
    """
    install_error_handlers(app)
    install_jaeger_errors(app)
    app.add_middleware(StoreGuard)
    app.include_router(search.router)
    app.include_router(trace_summaries.router)
    app.include_router(analytics.router)
    app.include_router(export.router)
    app.include_router(registry.router)
    app.include_router(registry_events.router)
    # Fixed paths (/metrics/daily, /developers/{id}/daily) before the records' /{kind}/{key}.
    app.include_router(activity_analytics.router)
    app.include_router(activity_admin.router)
    app.include_router(activity_records.router)
    app.include_router(jaeger_router())
    app.include_router(ui.router)
