"""JSON responses and the mapping of InferTrace errors to HTTP statuses.

Handlers build plain dicts and return :class:`ApiJSON` directly, which skips
FastAPI's per-field ``jsonable_encoder`` (the main cost of large answers).
OTLP lets attribute doubles be NaN or infinite, which JSON cannot carry: those
become ``null`` rather than an error.

Error statuses: a bad parameter or filter is 422, an unknown trace 404, an
overloaded or closed store 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from infertrace.api.params import BadParameter
from infertrace.errors import InvalidFilter, StoreClosed, StoreOverloaded, TraceNotFound

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token (when the server has an API token)"},
    422: {"description": "A parameter has an invalid value; `detail` names it"},
    503: {"description": "The store is unavailable; retry after `Retry-After` seconds"},
}
"""The error answers every query route can give, for /openapi.json."""

TRACE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The trace id is not 32 hexadecimal characters"},
    404: {"description": "No stored span has this trace id"},
}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(content: Any) -> bytes:
    """Compact UTF-8 JSON; non-finite floats become null."""
    try:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(content), ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8")


class ApiJSON(JSONResponse):
    """A JSON response that tolerates NaN and infinities (as null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def error(status: int, message: str, **extra: Any) -> ApiJSON:
    """The API's error body: ``{"detail": message, ...}``."""
    return ApiJSON({"detail": message, **extra}, status_code=status)


async def _bad_parameter(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadParameter)
    return ApiJSON({"detail": exc.detail()}, status_code=422)


async def _invalid_filter(request: Request, exc: Exception) -> Response:
    return error(422, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return error(404, str(exc))


async def _unavailable(request: Request, exc: Exception) -> Response:
    retry = exc.retry_after if isinstance(exc, StoreOverloaded) else 1.0
    response = error(503, str(exc) or type(exc).__name__)
    response.headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Map InferTrace errors raised by query handlers to HTTP statuses."""
    app.add_exception_handler(BadParameter, _bad_parameter)
    app.add_exception_handler(InvalidFilter, _invalid_filter)
    app.add_exception_handler(TraceNotFound, _not_found)
    app.add_exception_handler(StoreOverloaded, _unavailable)
    app.add_exception_handler(StoreClosed, _unavailable)
