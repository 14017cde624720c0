"""The OTLP/gRPC receiver: TraceService, LogsService and MetricsService ``Export``.

Requests arrive as raw bytes (no deserializer registered) and go through the
same pipeline as OTLP/HTTP, so a malformed message is answered with
INVALID_ARGUMENT and a message saying what was wrong, not gRPC's generic
INTERNAL deserialisation failure. Small requests are processed on the event
loop, big ones on worker threads, as in :mod:`infertrace.collector.http`.
gzip-compressed requests are inflated by gRPC itself;
``max_receive_message_length`` (the body limit) bounds the inflated size, so a
compression bomb gets RESOURCE_EXHAUSTED. An overloaded store answers
UNAVAILABLE with a ``RetryInfo`` in the trailers (both the
``google.rpc.retryinfo-bin`` key the OTel SDKs read and the standard
``grpc-status-details-bin``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import grpc.aio

from infertrace.api.auth import bearer_matches
from infertrace.collector.body import BodyError
from infertrace.collector.http import INLINE_BYTES
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.collector.status import retry_info, rpc_status
from infertrace.errors import StoreClosed, StoreOverloaded

log = logging.getLogger(__name__)

SERVICES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
}

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


class OtlpGrpcReceiver:
    """Builds the gRPC handlers over one pipeline; decoding runs on worker threads."""

    def __init__(self, pipeline: Pipeline, workers: int = 2, token: str | None = None) -> None:
        self._pipeline = pipeline
        self._token = token or None
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="infertrace-grpc")

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        """One generic handler per OTLP service."""
        return [
            grpc.method_handlers_generic_handler(
                service, {"Export": grpc.unary_unary_rpc_method_handler(self._export(signal))}
            )
            for signal, service in SERVICES.items()
        ]

    def _export(self, signal: Signal) -> Handler:
        pipeline = self._pipeline
        token = self._token

        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            if token is not None and not _authorized(context, token):
                code = grpc.StatusCode.UNAUTHENTICATED
                pipeline.metrics.request(signal.label, "grpc", code.name, 0.0)
                await context.abort(code, "missing or wrong bearer token for ingest")
            try:
                if len(request) <= INLINE_BYTES:
                    outcome = pipeline.export(signal, request)
                else:
                    loop = asyncio.get_running_loop()
                    outcome = await loop.run_in_executor(
                        self._executor, pipeline.export, signal, request
                    )
                return bytes(outcome.response(signal).SerializeToString())
            except BodyError as exc:
                code = grpc.StatusCode.INVALID_ARGUMENT
                await context.abort(code, str(exc))
            except (StoreOverloaded, StoreClosed) as exc:
                code = grpc.StatusCode.UNAVAILABLE
                delay = exc.retry_after if isinstance(exc, StoreOverloaded) else 1.0
                message = f"store unavailable: {exc}"
                status = rpc_status(code.value[0], message, delay)
                await context.abort(
                    code,
                    message,
                    trailing_metadata=(
                        ("google.rpc.retryinfo-bin", retry_info(delay).SerializeToString()),
                        ("grpc-status-details-bin", status.SerializeToString()),
                    ),
                )
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("OTLP/gRPC %s export failed", signal.name.lower())
                await context.abort(code, "internal error while storing the request")
            finally:
                pipeline.metrics.request(
                    signal.label, "grpc", code.name, time.perf_counter() - started
                )
            raise AssertionError("unreachable: context.abort raises")

        return export

    def close(self) -> None:
        """Stop the worker threads (after the server has stopped); safe to call twice."""
        self._executor.shutdown(wait=True)


def _authorized(context: grpc.aio.ServicerContext, token: str) -> bool:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            return bearer_matches(text, token)
    return False


def create_grpc_server(
    pipeline: Pipeline, max_message_bytes: int, max_concurrent: int, token: str | None = None
) -> tuple[grpc.aio.Server, OtlpGrpcReceiver]:
    """An unstarted grpc.aio server with the OTLP services; bind it with add_insecure_port.

    With ``token`` set, every export needs ``authorization: Bearer <token>`` metadata
    (UNAUTHENTICATED otherwise), as OTLP/HTTP ingest does.
    """
    receiver = OtlpGrpcReceiver(pipeline, token=token)
    server = grpc.aio.server(
        handlers=receiver.handlers(),
        maximum_concurrent_rpcs=max_concurrent,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    return server, receiver
