"""Running the collector: OTLP/HTTP (uvicorn) and OTLP/gRPC on one event loop.

:class:`Collector` starts and stops both servers on the running loop and
reports the ports actually bound (port 0 picks a free one). :func:`run` is
what ``infertrace serve`` calls: it serves until SIGINT or SIGTERM, then stops
accepting, lets in-flight requests finish, and returns. :class:`BackgroundCollector`
runs a collector on its own thread, for tests, benchmarks and embedding.
The store is the caller's: nothing here closes it. A pod registry given to the
collector (``registry=``) is fed by a :class:`~infertrace.registry.processor.RegistryProcessor`
in the pipeline, tells the model resolver what each pod serves, is served on
``app.state.registry`` and is started and shut down with the servers (its store
stays the caller's too). An activity database (``activity=``) is served on
``app.state.activity``; it stays the caller's (its feed is one of ``processors``).

Connection hygiene is set up here: the HTTP connection cap, receive
timeouts and slow-body shedding (:mod:`infertrace.collector.connections`,
with uvicorn's keep-alive timeout as the idle timeout), the gRPC limits
(:func:`~infertrace.collector.grpc_server.server_options`), and rate-limited
logging of failed accepts (:mod:`infertrace.collector.accept_errors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from infertrace.activity.service import ActivityService
from infertrace.collector.accept_errors import AcceptErrorLog
from infertrace.collector.app import Install, create_app
from infertrace.collector.connections import (
    FD_SHARE_HTTP,
    ConnectionGuard,
    accept_backlog,
    clamp_connections,
    guarded_protocol,
)
from infertrace.collector.grpc_server import OtlpGrpcReceiver, create_grpc_server
from infertrace.collector.models import ModelResolver
from infertrace.collector.pipeline import Pipeline
from infertrace.collector.processors import Processor
from infertrace.collector.shed import ShedCounter
from infertrace.config import Settings
from infertrace.registry.processor import RegistryProcessor
from infertrace.registry.service import RegistryService
from infertrace.telemetry.protocols import TelemetryStore

GRACE_SECONDS = 5.0
"""How long in-flight requests get to finish at shutdown."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a running collector listens."""

    host: str
    http_port: int
    grpc_port: int

    @property
    def http_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.grpc_port}"


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: :func:`run` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Responses go out as two writes (headers, then body); with Nagle's algorithm
    # the body waits for the client's delayed ACK, adding 40 ms to every answer.
    # Accepted connections inherit this option from the listening socket.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Collector:
    """Both receivers over one store, started and stopped on the running event loop."""

    def __init__(
        self,
        store: TelemetryStore,
        settings: Settings,
        install: Install | None = None,
        processors: Iterable[Processor] = (),
        registry: RegistryService | None = None,
        activity: ActivityService | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        """The pod registry, or None; see the module docstring."""
        processors = list(processors)
        pod_models = None
        if registry is not None:
            processors.append(RegistryProcessor(registry))
            pod_models = registry.models_of
        self.pipeline = Pipeline(
            store,
            processors=processors,
            models=ModelResolver(settings.model_for, pod_models=pod_models),
        )
        """Decode, write, then the ``processors`` (registered here, at start-up)."""
        self.app = create_app(
            store, settings, self.pipeline, install=install, registry=registry, activity=activity
        )
        """The HTTP app; ``install`` adds to it (see :func:`create_app`)."""
        self._http: _Uvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._grpc: Any = None
        self._grpc_receiver: OtlpGrpcReceiver | None = None
        self._shed = ShedCounter(self.pipeline.metrics.registry)
        self.connections = ConnectionGuard(
            clamp_connections(settings.max_connections, FD_SHARE_HTTP),
            settings.receive_timeout,
            self._shed.http,
            max_receiving=max(1, settings.max_inflight // 2),
        )
        """The HTTP connections: cap, receive deadlines, counts of those shed."""
        self._accept_errors = AcceptErrorLog()
        self.endpoints: Endpoints | None = None

    async def start(self) -> Endpoints:
        """Bind both ports and start serving; raises OSError if a port is taken."""
        s = self.settings
        sock = _bind(s.host, s.port)
        grpc_server, self._grpc_receiver = create_grpc_server(
            self.pipeline,
            s.max_body_bytes,
            s.max_inflight,
            s.ingest_token,
            max_connections=s.max_connections,
            receive_timeout=s.receive_timeout,
            idle_timeout=s.idle_timeout,
            count=self._shed.grpc,
        )
        try:
            grpc_port = grpc_server.add_insecure_port(f"{s.host}:{s.grpc_port}")
        except RuntimeError as exc:
            sock.close()
            raise OSError(f"cannot listen for OTLP/gRPC on {s.host}:{s.grpc_port}: {exc}") from exc
        self._accept_errors.install(asyncio.get_running_loop())
        await grpc_server.start()
        self._grpc = grpc_server
        config = uvicorn.Config(
            self.app,
            http=guarded_protocol(self.connections),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=s.idle_timeout,  # type: ignore[arg-type]  # a float works
            backlog=accept_backlog(),
            timeout_graceful_shutdown=int(self._grace()),
        )
        self.connections.start(asyncio.get_running_loop())
        self._http = _Uvicorn(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        while not self._http.started:
            if self._http_task.done():
                await self._http_task
                raise OSError(f"OTLP/HTTP server on {s.host}:{s.port} stopped while starting")
            await asyncio.sleep(0.01)
        self.endpoints = Endpoints(s.host, sock.getsockname()[1], grpc_port)
        if self.registry is not None:
            self.registry.start()
        return self.endpoints

    def _grace(self) -> float:
        # In-flight writes may wait for the store's drain: their answers must go out.
        return max(GRACE_SECONDS, self.settings.shutdown_timeout + 2.0)

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (GRACE_SECONDS, or the
        shutdown timeout plus 2 s when that is longer); then the registry's threads."""
        self.app.state.stopping.set()  # endless answers (event streams) end now
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            self._http = self._http_task = None
        if self._grpc is not None:
            await self._grpc.stop(self._grace())
            self._grpc = None
        if self._grpc_receiver is not None:
            self._grpc_receiver.close()
            self._grpc_receiver = None
        self.connections.stop()
        self._accept_errors.uninstall()
        self.pipeline.shutdown()
        if self.registry is not None:
            self.registry.shutdown()


async def _serve_until_signalled(
    store: TelemetryStore,
    settings: Settings,
    on_ready: Callable[[Endpoints], None],
    on_stop: Callable[[], None] | None,
    install: Install | None,
    processors: Iterable[Processor],
    registry: RegistryService | None,
    activity: ActivityService | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    collector = Collector(store, settings, install, processors, registry, activity)
    try:
        on_ready(await collector.start())
        await stop.wait()
    finally:
        if on_stop is not None:
            on_stop()  # e.g. start the store's drain, concurrent with the servers' grace
        await collector.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(
    store: TelemetryStore,
    settings: Settings,
    on_ready: Callable[[Endpoints], None],
    on_stop: Callable[[], None] | None = None,
    install: Install | None = None,
    processors: Iterable[Processor] = (),
    registry: RegistryService | None = None,
    activity: ActivityService | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM (main thread only); ``on_ready`` gets the bound ports.

    ``on_stop`` (non-blocking) runs on the signal, before the servers stop;
    ``install`` adds to the HTTP app (see :func:`~infertrace.collector.app.create_app`);
    ``processors`` see every stored batch (:mod:`infertrace.collector.processors`);
    ``registry`` is the pod registry to feed, serve and run (see :class:`Collector`);
    ``activity`` the activity database to serve.
    """
    asyncio.run(
        _serve_until_signalled(
            store, settings, on_ready, on_stop, install, processors, registry, activity
        )
    )


class BackgroundCollector:
    """A collector serving from a daemon thread; ``with`` starts and stops it."""

    def __init__(
        self,
        store: TelemetryStore,
        settings: Settings | None = None,
        install: Install | None = None,
        processors: Iterable[Processor] = (),
        registry: RegistryService | None = None,
        activity: ActivityService | None = None,
    ) -> None:
        self.settings = settings or Settings(port=0, grpc_port=0)
        self._collector = Collector(store, self.settings, install, processors, registry, activity)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.endpoints: Endpoints | None = None

    @property
    def pipeline(self) -> Pipeline:
        return self._collector.pipeline

    @property
    def connections(self) -> ConnectionGuard:
        """The HTTP connection guard (read its counts from the collector's thread or tests)."""
        return self._collector.connections

    def start(self, timeout: float = 10.0) -> Endpoints:
        """Start serving; returns the bound endpoints or raises what start() raised."""
        self._thread = threading.Thread(target=self._main, name="infertrace-collector", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"collector did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self.endpoints is not None
        return self.endpoints

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self.endpoints = loop.run_until_complete(self._collector.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._collector.stop())
        loop.close()

    def stop(self) -> None:
        """Stop serving and join the thread; safe to call twice."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()

    def __enter__(self) -> BackgroundCollector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
