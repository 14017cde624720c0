"""Every error under ``/jaeger`` in Jaeger's shape, not FastAPI's ``{"detail": ...}``.

Route handlers answer their own errors (see ``jaeger``, ``jaeger_v3``,
``jaeger_monitor``); this module covers what happens before a handler runs:
an unknown path (404), a wrong method (405), a request FastAPI itself refuses
(400, where the REST API says 422). Under ``/jaeger/api/v3/`` the body is the
v3 gateway's ``{"error": {"httpCode", "message"}}``, elsewhere under ``/jaeger``
the envelope ``{"data": null, "total": 0, "limit": 0, "offset": 0, "errors":
[{"code", "msg"}]}``. Other paths keep FastAPI's answers.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from infertrace.api.jaeger_monitor import envelope_error
from infertrace.api.jaeger_v3 import v3_error

PREFIX = "/jaeger"
V3_PREFIX = "/jaeger/api/v3/"


def jaeger_error(path: str, status: int, message: str) -> Response | None:
    """The error answer for ``path`` in Jaeger's shape, or None outside ``/jaeger``."""
    if path.startswith(V3_PREFIX):
        return v3_error(status, message)
    if path == PREFIX or path.startswith(PREFIX + "/"):
        return envelope_error(status, message)
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}: {message}"
    answer = jaeger_error(request.url.path, exc.status_code, message)
    if answer is None:
        return await http_exception_handler(request, exc)
    answer.headers.update(exc.headers or {})
    return answer


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
    )
    answer = jaeger_error(request.url.path, 400, problems or "bad request")
    if answer is None:
        return await request_validation_exception_handler(request, exc)
    return answer


def install_jaeger_errors(app: FastAPI) -> None:
    """Answer routing and validation errors under ``/jaeger`` in Jaeger's shapes."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
