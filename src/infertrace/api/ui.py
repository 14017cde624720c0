"""The web UI: the page at ``/``, the API reference at ``/docs``, their files at ``/ui/<name>``.

The UI is plain HTML, CSS and JavaScript modules in ``static/`` beside this
module: no build step, nothing fetched from elsewhere. ``/docs`` replaces
FastAPI's Swagger page, whose scripts come from a CDN and so stay blank on an
offline cluster: ``docs.js`` renders ``/openapi.json`` in the browser instead. Only regular files
directly in that folder with a known type are served, looked up by exact name
in a table read once, so no request path can reach any other file.

Every answer carries an ETag and ``Cache-Control: no-cache``: browsers keep the
files but revalidate them on each load (a cheap 304), so an upgraded server
never runs with a stale script. The pages (``.html``) get a
Content-Security-Policy that allows only this origin's scripts, styles and API.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from infertrace.api.responses import error

STATIC_DIR = Path(__file__).with_name("static")
"""Where the UI's files are (shipped as package data)."""

INDEX = "index.html"
DOCS = "docs.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
"""File types served, by suffix; other files in the folder are not served."""

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Asset:
    """One servable file, held in memory."""

    body: bytes
    content_type: str
    etag: str


@functools.cache
def assets() -> dict[str, Asset]:
    """Every servable file of STATIC_DIR by name, read on first use. O(files)."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        found[path.name] = Asset(body, content_type, etag)
    return found


def _serve(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        return error(404, f"no UI file named {name!r}")
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = CSP
        headers["Referrer-Policy"] = "no-referrer"
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
async def index(request: Request) -> Response:
    """The single page; the views live in its address fragment (``#/search``)."""
    return _serve(request, INDEX)


@router.api_route("/ui/{name}", methods=["GET", "HEAD"])
async def ui_file(request: Request, name: str) -> Response:
    """One file of the UI, by its exact name; 404 for anything else."""
    return _serve(request, name)


@router.api_route("/docs", methods=["GET", "HEAD"])
async def docs(request: Request) -> Response:
    """The API reference, drawn in the browser from ``/openapi.json``; no CDN."""
    return _serve(request, DOCS)
