"""Bearer-token checks for both ports: the HTTP middleware and the gRPC check.

Below the collector and the API so that both reach it: the OTLP/gRPC receiver
calls :func:`bearer_matches`, the HTTP app (OTLP ingest and the query APIs on one
port) is wrapped in :class:`TokenAuth`.

Two optional tokens: ``api_token`` guards the query APIs (``/api/...`` and
``/jaeger/...``), ``ingest_token`` guards OTLP ingest (``/v1/...`` and gRPC).
Health, readiness, Prometheus metrics, the UI's static files and the OpenAPI
document stay open, since they hold no telemetry. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIXES = ("/api/", "/jaeger/")
INGEST_PREFIX = "/v1/"


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value carries ``Bearer <token>``."""
    if header is None:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class TokenAuth:
    """ASGI middleware answering 401 when a guarded path lacks its bearer token."""

    def __init__(self, app: ASGIApp, api_token: str | None, ingest_token: str | None) -> None:
        self.app = app
        self.api_token = api_token or None
        self.ingest_token = ingest_token or None

    def _required(self, path: str) -> tuple[str, str] | None:
        if self.api_token and path.startswith(API_PREFIXES):
            return self.api_token, "api"
        if self.ingest_token and path.startswith(INGEST_PREFIX):
            return self.ingest_token, "ingest"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            need = self._required(scope["path"])
            if need is not None:
                token, which = need
                header = None
                for name, value in scope["headers"]:
                    if name == b"authorization":
                        header = value.decode("utf-8", "replace")
                        break
                if not bearer_matches(header, token):
                    await _unauthorized(send, which)
                    return
        await self.app(scope, receive, send)


async def _unauthorized(send: Send, which: str) -> None:
    detail = f"missing or wrong bearer token for the {which} endpoints"
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="infertrace"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
