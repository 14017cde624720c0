"""JSON responses and the mapping of InferTrace errors to HTTP statuses.

Handlers build plain dicts and return :class:`ApiJSON` directly, which skips
FastAPI's per-field ``jsonable_encoder`` (the main cost of large answers).
OTLP lets attribute doubles be NaN or infinite, which JSON cannot carry: those
become ``null`` rather than an error.

Error statuses come from :mod:`infertrace.errormap` (a bad parameter or
filter is 422, an unknown trace 404, an overloaded or closed store 503 with
``Retry-After``); this module gives them the REST API's body, and a bad
parameter FastAPI's validation-error shape.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from infertrace.errormap import MAPPED, answer_for
from infertrace.errors import InvalidParameter

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


def parameter_detail(exc: InvalidParameter) -> list[dict[str, Any]]:
    """FastAPI's validation-error shape for a bad parameter, so every 422 looks the same."""
    return [{"loc": ["query", exc.name], "msg": exc.message, "type": "value_error"}]


async def _mapped(request: Request, exc: Exception) -> Response:
    answer = answer_for(exc)
    detail: Any = parameter_detail(exc) if isinstance(exc, InvalidParameter) else answer.message
    return ApiJSON({"detail": detail}, status_code=answer.status, headers=answer.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer the errors :mod:`infertrace.errormap` has a rule for; the rest are 500s."""
    for error_class in MAPPED:
        app.add_exception_handler(error_class, _mapped)
