"""The OTLP/gRPC receiver: TraceService, LogsService and MetricsService ``Export``.

Requests arrive as raw bytes (no deserializer registered) and go through the
same pipeline as OTLP/HTTP, so a malformed message is answered with
INVALID_ARGUMENT and a message saying what was wrong, not gRPC's generic
INTERNAL deserialisation failure. Small requests are processed on the event
loop, big ones on worker threads, as in :mod:`infertrace.collector.http`
(every request on a thread, up to the concurrency limit, when the store's
writes block). With a data directory an answer waits, without blocking the
loop, until the request's logged records are durable
(:mod:`infertrace.collector.durability`).
gzip-compressed requests are inflated by gRPC itself;
``max_receive_message_length`` (the body limit) bounds the inflated size, so a
compression bomb gets RESOURCE_EXHAUSTED. An overloaded store answers
UNAVAILABLE with a ``RetryInfo`` in the trailers (both the
``google.rpc.retryinfo-bin`` key the OTel SDKs read and the standard
``grpc-status-details-bin``).

Hostile clients (see :mod:`infertrace.collector.grpc_gate` and
:func:`server_options`): a call must deliver its message within the receive
timeout and stalled calls are shed oldest first, so they cannot hold the
in-flight slots; connections are capped, idle ones closed, a connection that
never completes its HTTP/2 handshake dropped, and clients that ping too often
told to go away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import grpc.aio

from infertrace.auth import bearer_matches
from infertrace.collector.connections import clamp_connections
from infertrace.collector.durability import collected, settled
from infertrace.collector.grpc_gate import CallGate, CallRefused
from infertrace.collector.http import INLINE_BYTES
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.collector.status import retry_info, rpc_status
from infertrace.errormap import answer_for
from infertrace.telemetry.protocols import writes_block

log = logging.getLogger(__name__)

SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
}

MAX_STREAMS_PER_CONNECTION = 100
"""Concurrent calls one HTTP/2 connection may open (Envoy's default is about this;
an OpenTelemetry SDK exporter uses one at a time)."""
MAX_CONNECTION_AGE_MS = 30 * 60 * 1000
"""Connections are recycled (GOAWAY, then MAX_CONNECTION_AGE_GRACE_MS to finish)."""
MAX_CONNECTION_AGE_GRACE_MS = 30_000
KEEPALIVE_TIME_MS = 60_000
"""The server pings an idle client this often and drops it without an answer within
KEEPALIVE_TIMEOUT_MS: half-open connections go away in under 90 s."""
KEEPALIVE_TIMEOUT_MS = 20_000
MIN_CLIENT_PING_INTERVAL_MS = 10_000
"""Clients pinging more often than this get strikes; MAX_PING_STRIKES of them end the
connection with GOAWAY ``too_many_pings`` (keepalive enforcement)."""
MAX_PING_STRIKES = 2
FD_SHARE_GRPC = 4
"""The gRPC connection cap is at most a quarter of the open-file limit."""

Handler = Callable[[AsyncIterator[bytes], grpc.aio.ServicerContext], Awaitable[bytes]]


class OtlpGrpcReceiver:
    """Builds the gRPC handlers over one pipeline; decoding runs on worker threads.

    Export is registered as a stream-unary method (wire-compatible with the unary
    calls clients make), so its handler runs when a call starts and the
    :class:`CallGate` bounds how long, and how many, calls wait for their message.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        workers: int = 2,
        token: str | None = None,
        max_inflight: int = 64,
        receive_timeout: float = 10.0,
        count: Callable[[str], None] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._token = token or None
        self.gate = CallGate(max_inflight, receive_timeout, count=count)
        blocking = writes_block(pipeline.store)  # then every export waits on a commit
        self._inline_bytes = -1 if blocking else INLINE_BYTES
        workers = max(workers, max_inflight) if blocking else workers
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="infertrace-grpc")

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """One generic handler per OTLP service."""
        return [
            grpc.method_handlers_generic_handler(
                service, {"Export": grpc.stream_unary_rpc_method_handler(self._export(signal))}
            )
            for signal, service in SERVICES.items()
        ]

    def _export(self, signal: Signal) -> Handler:
        pipeline = self._pipeline
        token = self._token
        gate = self.gate

        async def export(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
        ) -> bytes:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            if token is not None and not _authorized(context, token):
                code = grpc.StatusCode.UNAUTHENTICATED
                pipeline.metrics.request(signal.label, "grpc", code.name, 0.0)
                await context.abort(code, "missing or wrong bearer token for ingest")
            try:
                request = await gate.receive(requests)
                gate.enter()
            except CallRefused as exc:
                code = exc.code
                elapsed = time.perf_counter() - started
                pipeline.metrics.request(signal.label, "grpc", code.name, elapsed)
                trailers = _retry_trailers(code, str(exc), 1.0) if exc.reason == "busy" else ()
                await context.abort(code, str(exc), trailing_metadata=trailers)
            try:
                if len(request) <= self._inline_bytes:
                    outcome, waits = collected(pipeline.export, signal, request)
                else:
                    loop = asyncio.get_running_loop()
                    outcome, waits = await loop.run_in_executor(
                        self._executor, collected, pipeline.export, signal, request
                    )
                await settled(waits)
                return bytes(outcome.response(signal).SerializeToString())
            except Exception as exc:  # answered by the one error mapping
                answer = answer_for(exc)
                if answer.logged:
                    log.exception("OTLP/gRPC %s export failed", signal.name.lower())
                code = grpc.StatusCode[answer.rpc_code.name]
                message = answer.otlp_message
                trailers = (
                    ()
                    if answer.retry_after is None
                    else _retry_trailers(code, message, answer.retry_after)
                )
                await context.abort(code, message, trailing_metadata=trailers)
            finally:
                gate.leave()
                pipeline.metrics.request(
                    signal.label, "grpc", code.name, time.perf_counter() - started
                )
            raise AssertionError("unreachable: context.abort raises")

        return export

    def close(self) -> None:
        """Stop the worker threads (after the server has stopped); safe to call twice."""
        self._executor.shutdown(wait=True)


def _retry_trailers(code: grpc.StatusCode, message: str, delay: float) -> Any:
    status = rpc_status(code.value[0], message, delay)
    return (
        ("google.rpc.retryinfo-bin", retry_info(delay).SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


def _authorized(context: grpc.aio.ServicerContext, token: str) -> bool:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            return bearer_matches(text, token)
    return False


def server_options(
    max_message_bytes: int, max_connections: int, receive_timeout: float, idle_timeout: float
) -> list[tuple[str, int]]:
    """The grpc core options of the OTLP server; see the constants above for each limit.

    ``max_connections`` is clamped to a quarter of the open-file limit; a connection
    beyond it is closed by grpc right after accept.
    """
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),
        (
            "grpc.max_allowed_incoming_connections",
            clamp_connections(max_connections, FD_SHARE_GRPC),
        ),
        ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        ("grpc.server_handshake_timeout_ms", int(receive_timeout * 1000)),
        ("grpc.max_connection_idle_ms", int(idle_timeout * 1000)),
        ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
        ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
    ]


def create_grpc_server(
    pipeline: Pipeline,
    max_message_bytes: int,
    max_concurrent: int,
    token: str | None = None,
    *,
    max_connections: int = 1024,
    receive_timeout: float = 10.0,
    idle_timeout: float = 30.0,
    count: Callable[[str], None] | None = None,
) -> tuple[grpc.aio.Server, OtlpGrpcReceiver]:
    """An unstarted grpc.aio server with the OTLP services; bind it with add_insecure_port.

    With ``token`` set, every export needs ``authorization: Bearer <token>`` metadata
    (UNAUTHENTICATED otherwise), as OTLP/HTTP ingest does. ``max_concurrent`` bounds
    exports being processed and, separately, calls waiting for their message (see
    :class:`CallGate`); grpc's own ``maximum_concurrent_rpcs`` is not used, as it
    counts stalled calls too. ``count`` is told the reason of every call the gate ends.
    """
    receiver = OtlpGrpcReceiver(
        pipeline,
        token=token,
        max_inflight=max_concurrent,
        receive_timeout=receive_timeout,
        count=count,
    )
    options = server_options(max_message_bytes, max_connections, receive_timeout, idle_timeout)
    server = grpc.aio.server(handlers=receiver.handlers(), options=options)
    return server, receiver
