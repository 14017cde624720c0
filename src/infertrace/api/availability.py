"""Fail fast while the store is known down: 503 + Retry-After at once, no thread held.

For a store watched in the background (:class:`~infertrace.telemetry.protocols.Monitored`,
PostgreSQL), every request to the query APIs (``/api/...``, ``/jaeger/api/...``)
first reads the store's cached health. While the database is known down the
answer is an immediate 503 with ``Retry-After`` and a ``detail`` naming the
reason, in the REST API's error shape or Jaeger's (the envelope, or the v3
gateway's ``{"error": ...}`` under ``/jaeger/api/v3/``), instead of a
worker thread waiting on connection timeouts. The UI's files, the OpenAPI
document and the activity routes (their store is in memory) need no database
and pass through.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from infertrace.api.responses import dumps
from infertrace.errormap import retry_after_header
from infertrace.telemetry.protocols import Monitored

API_PREFIX = "/api/"
JAEGER_PREFIX = "/jaeger/api/"
JAEGER_V3_PREFIX = "/jaeger/api/v3/"
ACTIVITY_PREFIX = "/api/activity/"
RETRY_AFTER_SECONDS = 2
"""Retry-After while the store is down: about two health checks."""


class StoreGuard:
    """ASGI middleware: the query APIs answer 503 at once while the store is down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith((API_PREFIX, JAEGER_PREFIX)) and not path.startswith(
                ACTIVITY_PREFIX
            ):
                store = getattr(scope["app"].state, "store", None)
                if isinstance(store, Monitored):
                    health = store.health()
                    if not health.ok:
                        await _unavailable(send, health.reason, path)
                        return
        await self.app(scope, receive, send)


async def _unavailable(send: Send, reason: str, path: str) -> None:
    detail = f"store unavailable: {reason}; retry after {RETRY_AFTER_SECONDS} s"
    if path.startswith(JAEGER_V3_PREFIX):  # the v3 gateway's error shape
        body = dumps({"error": {"httpCode": 503, "message": detail}})
    elif path.startswith(JAEGER_PREFIX):
        body = dumps(
            {
                "data": None,
                "total": 0,
                "limit": 0,
                "offset": 0,
                "errors": [{"code": 503, "msg": detail}],
            }
        )
    else:
        body = dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry_after_header(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
