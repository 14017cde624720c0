"""The OTLP/HTTP receiver: ``POST /v1/traces``, ``/v1/logs``, ``/v1/metrics``.

Status codes follow the OTLP/HTTP spec: 200 with an ExportServiceResponse
(``partial_success`` when records were rejected), 400 for a malformed body,
413 over the size limit, 415 for an unsupported Content-Type or
Content-Encoding, 503 with Retry-After when the store is overloaded or the
collector has ``max_inflight`` requests in progress, 500 for a bug (logged;
the server keeps serving): errors get the status :mod:`infertrace.errormap`
gives them. Bodies, errors included, use the request's encoding (errors for
an unknown Content-Type use JSON).

Decoding and storing a typical request (up to ``INLINE_BYTES``) runs right on
the event loop: handing it to a thread cost 40% of the throughput measured
(thread switches and GIL contention, for no parallelism). Bigger bodies go to
a worker thread, so one 20 MiB request does not stall health checks and other
clients for its whole decode. A store whose writes wait on I/O
(:func:`~infertrace.telemetry.protocols.writes_block`, PostgreSQL: a write
returns once committed) gets every request on a worker thread, up to
``max_inflight`` at once, so the loop never waits on the database and
concurrent requests share one commit.

With a data directory the memory store logs every write, and an answer waits
until the request's records (the processors' registry and activity changes
included) are durable under the fsync policy: the pipeline runs inline all the
same, collecting the waits, and the handler awaits them
(:mod:`~infertrace.collector.durability`) without holding up the loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from infertrace.collector import body as bodies
from infertrace.collector.body import BodyError, Format
from infertrace.collector.durability import collected, settled
from infertrace.collector.otlp import otlp_json
from infertrace.collector.pipeline import Outcome, Pipeline, Signal
from infertrace.collector.status import error_body
from infertrace.errormap import Answer, answer_for, retry_after_header
from infertrace.telemetry.protocols import writes_block

log = logging.getLogger(__name__)

WORKER_THREADS = 2
"""Threads decoding and storing big bodies. Python runs one at a time (GIL); two
let one thread wait on a store lock or I/O while the other works."""

INLINE_BYTES = 1 << 20
"""Bodies up to this size (a 500-span request is ~100 KB) are processed inline."""

COMPRESSION_GUESS = 8
"""How much a compressed body is assumed to grow (OTLP protobuf gzips 5-10x)."""


class OtlpHttpReceiver:
    """The three OTLP/HTTP endpoints over one pipeline."""

    def __init__(self, pipeline: Pipeline, max_body_bytes: int, max_inflight: int) -> None:
        self._pipeline = pipeline
        self._limit = max_body_bytes
        self._max_inflight = max_inflight
        self._inflight = 0
        self._blocking = writes_block(pipeline.store)
        self._limiter = anyio.CapacityLimiter(max_inflight if self._blocking else WORKER_THREADS)

    def routes(self) -> list[Route]:
        """One POST route per signal, ready to add to any Starlette/FastAPI app."""
        return [Route(s.path, self._endpoint(s), methods=["POST"]) for s in Signal]

    def _endpoint(self, signal: Signal) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            response = await self._handle(signal, request)
            self._pipeline.metrics.request(
                signal.label, "http", str(response.status_code), time.perf_counter() - started
            )
            return response

        endpoint.__name__ = f"otlp_{signal.name.lower()}"
        return endpoint

    async def _handle(self, signal: Signal, request: Request) -> Response:
        headers = request.headers
        try:
            fmt = bodies.payload_format(headers.get("content-type"))
        except BodyError as exc:
            return _answered(answer_for(exc), Format.JSON)
        if self._inflight >= self._max_inflight:
            return _error(503, "collector is busy, retry later", fmt, retry_after=1.0)
        self._inflight += 1
        try:
            codings = bodies.content_codings(headers.get("content-encoding"))
            raw = await bodies.read_limited(
                request.stream(), self._limit, headers.get("content-length")
            )
            size = len(raw) * (COMPRESSION_GUESS if codings else 1)
            if size <= INLINE_BYTES and not self._blocking:
                outcome, waits = collected(self._process, signal, raw, codings, fmt)
            else:
                outcome, waits = await anyio.to_thread.run_sync(
                    collected, self._process, signal, raw, codings, fmt, limiter=self._limiter
                )
            await settled(waits)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception as exc:  # answered by the one error mapping
            answer = answer_for(exc)
            if answer.logged:
                log.exception("OTLP/HTTP %s export failed", signal.name.lower())
            return _answered(answer, fmt)
        finally:
            self._inflight -= 1
        return _encoded(outcome.response(signal), fmt)

    def _process(self, signal: Signal, raw: bytes, codings: list[str], fmt: Format) -> Outcome:
        return self._pipeline.export(signal, bodies.decode_body(raw, codings, self._limit), fmt)


def _encoded(message: Any, fmt: Format, status: int = 200) -> Response:
    if fmt is Format.JSON:
        return Response(otlp_json.dumps(message), status, media_type=Format.JSON.value)
    return Response(message.SerializeToString(), status, media_type=Format.PROTOBUF.value)


def _answered(answer: Answer, fmt: Format) -> Response:
    return _error(answer.status, answer.otlp_message, fmt, answer.retry_after)


def _error(status: int, message: str, fmt: Format, retry_after: float | None = None) -> Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after_header(retry_after)}
    return Response(
        error_body(status, message, fmt, retry_after), status, headers, media_type=fmt.value
    )
