"""The registry's events over HTTP: a server-sent event stream and a JSON page.

``GET /api/registry/events`` streams every registry change as it happens
(``text/event-stream``), one frame per event::

    id: 42
    event: status_changed
    data: {"id": 42, "type": "status_changed", "key": "vllm:pod-a", ...}

A client resumes with the standard ``Last-Event-ID`` header (browsers send it
when they reconnect) or ``?last_event_id=``; the header wins when both are
given. Without either the stream starts with the next event; ``0`` replays the
whole held history. When the events after the requested id are no longer held
(the history is bounded), or the id is beyond the newest (an earlier server
run), the stream first sends ``event: reset`` (no id), whose data names the
oldest held id: the client should reload the pods, then apply what follows.
A comment line every :data:`KEEPALIVE_SECONDS` keeps proxies from closing an
idle stream. The stream ends when the client disconnects and when the server
stops (``app.state.stopping``), noticed within :data:`POLL_SECONDS`;
``app.state.registry_streams`` counts the open ones.

``GET /api/registry/events/recent`` is the same history as one JSON page, for
pollers (the web UI) and tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Query
from starlette.requests import Request
from starlette.responses import StreamingResponse

from infertrace.api.params import BadParameter
from infertrace.api.registry import REGISTRY_RESPONSES, registry_of
from infertrace.api.registry_models import EventPage, event_data, event_out
from infertrace.registry.events import EventLog, RegistryEvent

KEEPALIVE_SECONDS = 15.0
"""An idle stream sends a comment this often."""

POLL_SECONDS = 0.5
"""A waiting stream checks for a gone client and a stopping server this often."""

RETRY_MS = 2000
"""The reconnection delay the stream asks browsers for."""

MAX_PAGE = 10_000
"""Most events one JSON page returns (the default history holds 10,000)."""

GROUP = Query(description="Only events of this service group (service_name)")

router = APIRouter(prefix="/api/registry", tags=["registry"], responses=REGISTRY_RESPONSES)


def frame(event: str, data: Mapping[str, object], event_id: int | None = None) -> str:
    """One server-sent event: optional ``id:``, ``event:``, one ``data:`` line of JSON."""
    head = "" if event_id is None else f"id: {event_id}\n"
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {text}\n\n"


def event_frame(event: RegistryEvent) -> str:
    """The frame of a registry event: its id, its type as the SSE event name."""
    return frame(event.type.value, event_data(event), event.id)


def needs_reset(log: EventLog, after: int) -> bool:
    """Whether events after ``after`` were dropped, or ``after`` is from another run."""
    return after > log.last_id or after + 1 < log.oldest_id


def start_id(header: str | None, query: int | None) -> int | None:
    """The id to resume after: the Last-Event-ID header, else the query; None if neither."""
    if header is not None and header.strip() != "":
        text = header.strip()
        if not text.isdigit():
            raise BadParameter("Last-Event-ID", f"{header!r} is not an event id (an integer >= 0)")
        return int(text)
    return query


async def stream(
    request: Request, log: EventLog, group: str | None, after: int, resume: bool
) -> AsyncIterator[str]:
    """The frames of the event stream after event ``after``; see the module docstring.

    ``resume``: ``after`` came from the client, so a gap before the held history is
    announced with a reset frame. ``app.state.registry_streams`` counts the open
    streams (changed on the event loop only, so it needs no lock).
    """
    state = request.app.state
    state.registry_streams = getattr(state, "registry_streams", 0) + 1
    try:
        async for text in _frames(request, log, group, after, resume):
            yield text
    finally:
        state.registry_streams -= 1


async def _frames(
    request: Request, log: EventLog, group: str | None, after: int, resume: bool
) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    seen = after
    if resume and needs_reset(log, after):
        info = {"requested_id": after, "oldest_id": log.oldest_id, "last_id": log.last_id}
        yield frame("reset", info)
        seen = min(after, log.oldest_id - 1)
    stopping: threading.Event | None = getattr(request.app.state, "stopping", None)
    loop = asyncio.get_running_loop()
    ping_at = loop.time() + KEEPALIVE_SECONDS
    while True:
        newest = log.last_id
        for event in log.since(seen, group):
            yield event_frame(event)
            seen = event.id
        seen = max(seen, newest)  # events of other groups up to here are skipped
        if (stopping is not None and stopping.is_set()) or await request.is_disconnected():
            return
        now = loop.time()
        if now >= ping_at:
            yield ": keep-alive\n\n"
            ping_at = now + KEEPALIVE_SECONDS
        await log.wait(seen, min(POLL_SECONDS, max(0.0, ping_at - now)))


@router.get(
    "/events",
    summary="Registry changes as server-sent events (text/event-stream)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless event stream: id = event id, event = its type, "
            "data = the event as JSON (the shape of /api/registry/events/recent's events)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def events(
    request: Request,
    group: Annotated[str | None, GROUP] = None,
    last_event_id: Annotated[
        int | None, Query(description="Resume after this event id; 0 replays the history", ge=0)
    ] = None,
    last_event_id_header: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="Resume after this id (wins over the query)"),
    ] = None,
) -> StreamingResponse:
    """Every registry change from now (or after the given id) until the client leaves."""
    log = registry_of(request).events
    after = start_id(last_event_id_header, last_event_id)
    # "From now" is now, before the headers go out: a client that has them sees every
    # later change, even one made before the stream's first frame is written.
    start = log.last_id if after is None else after
    return StreamingResponse(
        stream(request, log, group or None, start, after is not None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/events/recent", summary="Held registry events after an id, as JSON")
def recent_events(
    request: Request,
    after: Annotated[int, Query(description="Events with a larger id; 0: all held", ge=0)] = 0,
    group: Annotated[str | None, GROUP] = None,
    limit: Annotated[
        int, Query(description="Most events returned (the oldest first)", ge=1, le=MAX_PAGE)
    ] = 1000,
) -> EventPage:
    """The held events after ``after``, oldest first; ``reset`` when some were dropped."""
    log = registry_of(request).events
    oldest, newest = log.oldest_id, log.last_id
    found = log.since(after, group or None)[:limit]
    return EventPage(
        events=[event_out(e) for e in found],
        last_id=newest,
        oldest_id=oldest,
        reset=after > newest or after + 1 < oldest,
    )
