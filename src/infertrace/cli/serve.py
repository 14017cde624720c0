"""``infertrace serve``: the whole server, composed here and run until a signal.

The one place the parts meet: a store from the settings
(:func:`infertrace.telemetry.factory.build_store`), the collector's receivers
and pipeline over it (:func:`infertrace.collector.run`), the query API and
UI installed on the collector's HTTP app (:func:`infertrace.api.install_query_api`),
and the pod registry over a registry store of the same kind
(:func:`infertrace.registry.factory.open_registry`), fed by the pipeline and run
with the servers, and the activity database
(:class:`~infertrace.activity.service.ActivityService`), fed by the coding-agent
processor and served under ``/api/activity``.
Every flag can also come from an ``INFERTRACE_*`` environment variable (see
:mod:`infertrace.config`).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from infertrace import __version__
from infertrace.config import (
    STORE_KINDS,
    ConfigError,
    Settings,
    parse_activity_limit,
    parse_bound,
    parse_duration,
    parse_fsync,
    parse_model_for,
    parse_size,
)
from infertrace.errors import InferTraceError
from infertrace.telemetry.protocols import Drains, Maintenance


class _Parsed(click.ParamType[Any, Any]):
    """A flag value read by one of :mod:`infertrace.config`'s parsers; its error, verbatim."""

    def __init__(self, name: str, parse: Callable[[Any], Any]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self._parse(value if isinstance(value, int | float) else str(value))
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


SIZE = _Parsed("size", parse_size)
DURATION = _Parsed("duration", parse_duration)
BOUND = _Parsed("duration|off", parse_bound)
MODEL_FOR = _Parsed("SERVICE=MODEL", parse_model_for)
FSYNC = _Parsed("always|interval=DURATION|off", parse_fsync)
ACTIVITY_LIMIT = _Parsed("KIND=N", parse_activity_limit)


def _env(name: str) -> str:
    return f"[env INFERTRACE_{name.upper()}]"


@click.command()
@click.option("--host", help=f"Interface to listen on (default 127.0.0.1). {_env('host')}")
@click.option(
    "--port", type=int, help=f"OTLP/HTTP, health and metrics port (default 4318). {_env('port')}"
)
@click.option("--grpc-port", type=int, help=f"OTLP/gRPC port (default 4317). {_env('grpc_port')}")
@click.option("--store", type=click.Choice(STORE_KINDS), help=f"Backend (memory). {_env('store')}")
@click.option("--dsn", help=f"PostgreSQL DSN for --store postgres. {_env('dsn')}")
@click.option("--span-capacity", type=int, help=f"Spans kept (10000). {_env('span_capacity')}")
@click.option("--log-capacity", type=int, help=f"Logs kept (50000). {_env('log_capacity')}")
@click.option(
    "--metric-capacity", type=int, help=f"Points kept (100000). {_env('metric_capacity')}"
)
@click.option("--max-age", type=DURATION, help=f"Drop data older, e.g. 6h. {_env('max_age')}")
@click.option(
    "--max-body-bytes", type=SIZE, help=f"Request limit (20MiB). {_env('max_body_bytes')}"
)
@click.option(
    "--accept-past",
    type=BOUND,
    help="Refuse records timed earlier than this before now, or off "
    f"(max-age + 1h, else 7d). {_env('accept_past')}",
)
@click.option(
    "--accept-future",
    type=BOUND,
    help=f"Refuse records timed later than this after now, or off (5m). {_env('accept_future')}",
)
@click.option("--max-inflight", type=int, help=f"Concurrent requests (64). {_env('max_inflight')}")
@click.option(
    "--max-connections",
    type=int,
    help="Open connections per port; beyond it the oldest idle one is closed (1024,"
    f" at most half the open-file limit). {_env('max_connections')}",
)
@click.option(
    "--receive-timeout",
    type=DURATION,
    help="Time to send HTTP headers, then the body, or a gRPC message (10s)."
    f" {_env('receive_timeout')}",
)
@click.option(
    "--idle-timeout",
    type=DURATION,
    help=f"Idle keep-alive connections are closed after (30s). {_env('idle_timeout')}",
)
@click.option("--pool-size", type=int, help=f"PostgreSQL connections (4). {_env('pool_size')}")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help=f"Upgrade the PostgreSQL schema at start-up (yes). {_env('migrate')}",
)
@click.option(
    "--api-token",
    help=f"Bearer token required on /api and /jaeger (none). {_env('api_token')}",
)
@click.option(
    "--ingest-token",
    help=f"Bearer token required for OTLP ingest (none). {_env('ingest_token')}",
)
@click.option(
    "--shutdown-timeout",
    type=DURATION,
    help="On SIGTERM/SIGINT, how long accepted writes get to commit before they are"
    f" answered 503 and the exit status is 1 (10s). {_env('shutdown_timeout')}",
)
@click.option(
    "--model-for",
    type=MODEL_FOR,
    multiple=True,
    help="The model of SERVICE's inference spans when neither the span, its resource nor"
    " its pod names one; repeatable (none). [env INFERTRACE_MODEL_FOR, comma-separated]",
)
@click.option(
    "--stale-after",
    type=DURATION,
    help=f"A pod without telemetry this long turns unhealthy (60s). {_env('stale_after')}",
)
@click.option(
    "--degraded-error-rate",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="A pod whose share of error spans passes this is degraded (0.5)."
    f" {_env('degraded_error_rate')}",
)
@click.option(
    "--health-check-interval",
    type=DURATION,
    help="Pods with a health-check URL are polled this often (10s)."
    f" {_env('health_check_interval')}",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Keep what is held in memory (telemetry with --store memory, pods, activity) in"
    f" a write-ahead log and snapshots in this directory (none). {_env('data_dir')}",
)
@click.option(
    "--no-persist",
    is_flag=True,
    default=None,
    help=f"Ignore --data-dir: keep nothing across a restart. {_env('no_persist')}",
)
@click.option(
    "--fsync",
    type=FSYNC,
    help="When the log is fsynced before an OTLP success: always, interval=100ms (the"
    f" answer waits for the next group flush) or off. {_env('fsync')}",
)
@click.option(
    "--snapshot-interval",
    type=DURATION,
    help=f"Snapshot the data directory this often (5m). {_env('snapshot_interval')}",
)
@click.option(
    "--snapshot-log-bytes",
    type=SIZE,
    help=f"... and whenever this much was logged since (256MiB). {_env('snapshot_log_bytes')}",
)
@click.option(
    "--move-damaged-aside",
    is_flag=True,
    default=None,
    help="At start-up, move a damaged part of the log into DIR/damaged-<time>/ and start"
    f" from what is intact, instead of refusing to start. {_env('move_damaged_aside')}",
)
@click.option(
    "--activity-limit",
    type=ACTIVITY_LIMIT,
    multiple=True,
    help="Most records of an activity kind (developers, commits, changes, sessions), e.g."
    " developers=100000; past it writes are refused (507); repeatable (none)."
    " [env INFERTRACE_ACTIVITY_LIMIT, comma-separated]",
)
@click.option(
    "--activity-snapshot-dir",
    help="Where POST /api/activity/snapshot writes (DATA_DIR/activity, else a temporary"
    f" directory). {_env('activity_snapshot_dir')}",
)
@click.option(
    "--agent-prefix",
    multiple=True,
    help="Metric and event name prefix of coding-agent telemetry shaped like Claude Code's;"
    " repeatable (claude_code). [env INFERTRACE_AGENT_PREFIX, comma-separated]",
)
@click.option(
    "--activity-attribute",
    multiple=True,
    help="Resource attribute KEY giving a developer's FIELD (region, division or team),"
    " as KEY=FIELD, e.g. department=division; repeatable."
    " [env INFERTRACE_ACTIVITY_ATTRIBUTE, comma-separated]",
)
def serve(**flags: Any) -> None:
    """Run the collector: OTLP/HTTP and OTLP/gRPC receivers in front of a store."""
    from infertrace.activity.agent_feed import CodingAgentProcessor
    from infertrace.api import install_query_api
    from infertrace.cli.persist import banner_lines, configured_capacities, open_data_dir
    from infertrace.collector.connections import raise_fd_limit
    from infertrace.collector.datadir_metrics import DataDirCollector
    from infertrace.collector.server import Endpoints, run
    from infertrace.registry.checker import CheckSettings
    from infertrace.registry.factory import open_registry
    from infertrace.registry.service import RegistryService
    from infertrace.telemetry.factory import build_store, start_purge

    raise_fd_limit()  # connection caps are clamped below it: a higher limit, higher caps
    console = Console(soft_wrap=True)
    flags["model_for"] = tuple(flags.get("model_for") or ()) or None  # none given: the env's
    for name in ("activity_limit", "agent_prefix", "activity_attribute"):
        flags[name] = tuple(flags.get(name) or ()) or None
    try:
        settings = Settings.from_env(os.environ, **flags)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:  # a purge must not race the data directory's replay: started once restored
        store = build_store(settings, purge=settings.persist_dir is None)
    except InferTraceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        activity, agent_feed = _open_activity(settings)
    except (InferTraceError, OSError) as exc:
        store.close()
        raise click.ClickException(f"activity: {exc}") from None
    try:
        registry_store = open_registry(settings.store, settings.dsn)
    except InferTraceError as exc:
        activity.close()
        store.close()
        raise click.ClickException(f"registry: {exc}") from None
    try:  # restored before the registry service reads its pods
        data_dir = open_data_dir(
            settings,
            [store, registry_store, activity.store],
            on_restored=configured_capacities(store, settings),
        )
    except (OSError, ValueError) as exc:
        registry_store.close()
        activity.close()
        store.close()
        raise click.ClickException(f"cannot open the data directory: {exc}") from None
    if settings.persist_dir is not None:
        start_purge(store, settings)
    try:  # reads the stored pods: the database may fail here too
        registry = RegistryService(
            registry_store,
            stale_after=settings.stale_after,
            degraded_error_rate=settings.degraded_error_rate,
            checks=CheckSettings(interval=settings.health_check_interval),
        )
    except InferTraceError as exc:
        if data_dir is not None:
            data_dir.close(snapshot=False)
        registry_store.close()
        activity.close()
        store.close()
        raise click.ClickException(f"registry: {exc}") from None

    def ready(endpoints: Endpoints) -> None:
        # Objects alive after start-up live as long as the process: keep them out of
        # every future garbage-collector pass, which otherwise rescans them all.
        gc.freeze()
        # Decoding allocates ~10 container objects per span that die with the request;
        # at the default 700-allocation trigger the collector ran a young-generation
        # pass every ~70 spans and a full pass every few requests (~3 µs of ~19 per
        # span). At 50,000 a pass stays a few ms, and OTLP ingest got 28-35% faster
        # (benchmarks/collector_ingest.py).
        gc.set_threshold(50_000, 20, 10)
        _print_endpoints(console, settings, endpoints, store)
        url = endpoints.http_url
        temporary = " (temporary)" if activity.temporary_dir else ""
        console.print(
            f"  Activity   {url}/api/activity/...   view {url}/#/agents   agent prefixes"
            f" {', '.join(agent_feed.prefixes)}   snapshots {activity.snapshot_dir}{temporary}",
            markup=False,
            highlight=False,
        )
        held = _held(store, registry_store, activity.store)
        for line in banner_lines(settings, data_dir, held):
            console.print(line, markup=False, highlight=False)
        console.print("Press Ctrl+C to stop.", highlight=False)

    def install(app: Any) -> None:
        install_query_api(app)
        if data_dir is not None:  # a refusing disk makes /readyz say unavailable
            app.state.ready_checks.append(data_dir.problem)
            app.state.pipeline.metrics.registry.register(DataDirCollector(data_dir))

    drain = _Drain(store, settings.shutdown_timeout)
    try:
        run(
            store,
            settings,
            ready,
            drain.start,
            install,
            processors=[CodingAgentProcessor(activity.store, agent_feed)],
            registry=registry,
            activity=activity,
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from None
    finally:
        if data_dir is not None:  # the servers are stopped: a final snapshot, then close
            data_dir.close()
        left = drain.finish()
        registry_store.close()
        activity.close()
    if left is not None:
        raise click.ClickException(f"stopped with writes left unacknowledged: {left}")
    console.print("InferTrace collector stopped.")


def _open_activity(settings: Settings) -> tuple[Any, Any]:
    """The activity service (limits, snapshot directory) and the agent feed's settings."""
    from infertrace.activity.agent_feed import AgentFeedSettings
    from infertrace.activity.service import ActivityService

    feed = AgentFeedSettings.parse(settings.agent_prefix, settings.activity_attribute)
    snapshots = settings.activity_snapshot_dir
    if snapshots is None and settings.persist_dir is not None:
        snapshots = os.path.join(settings.persist_dir, "activity")
    service = ActivityService.open(dict(settings.activity_limit), snapshots)
    return service, feed


class _Drain:
    """The store's shutdown at SIGTERM/SIGINT, concurrent with the servers' grace period.

    Accepted writes get ``timeout`` seconds to commit; the rest are answered 503
    by the requests still waiting on them. ``finish`` closes the store (if the
    signal never came) and returns what was left unacknowledged, or None.
    """

    def __init__(self, store: Any, timeout: float) -> None:
        self._store = store
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self._left: str | None = None

    def start(self) -> None:
        if isinstance(self._store, Drains) and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="infertrace-drain")
            self._thread.start()

    def _run(self) -> None:
        self._left = self._store.shutdown(self._timeout)

    def finish(self) -> str | None:
        if self._thread is None:
            if isinstance(self._store, Drains):
                return self._store.shutdown(self._timeout)
            self._store.close()
            return None
        self._thread.join()
        return self._left


def _print_endpoints(console: Console, settings: Settings, endpoints: Any, store: Any) -> None:
    layout_note = None
    if settings.store == "memory":
        what = (
            f"memory ({settings.span_capacity:,} spans, {settings.log_capacity:,} logs, "
            f"{settings.metric_capacity:,} points)"
        )
    else:  # the PostgreSQL store says where it is (never the password) and why its layout
        what = f"postgres, {getattr(store, 'server', '?')}"
        layout_note = getattr(store, "layout_note", None)
    url = endpoints.http_url
    console.print(f"[bold]InferTrace {__version__}[/bold] collector, store: {escape(what)}")
    if layout_note:
        console.print(f"  Layout     {layout_note}", markup=False, highlight=False)
    console.print(f"  OTLP/HTTP  {url}  (POST /v1/traces, /v1/logs, /v1/metrics)")
    console.print(f"  OTLP/gRPC  {endpoints.grpc_target}")
    console.print(f"  Web UI     {url}/")
    console.print(f"  REST API   {url}/api/...   docs {url}/docs   OpenAPI {url}/openapi.json")
    console.print(f"  Jaeger API {url}/jaeger   (Grafana: a Jaeger data source with this URL)")
    console.print(f"  Registry   {url}/api/registry/pods   events {url}/api/registry/events")
    console.print(f"  Health     {url}/healthz   readiness {url}/readyz   Prometheus {url}/metrics")
    if settings.api_token:
        console.print("  The query APIs need: Authorization: Bearer <api token>")
    if settings.ingest_token:
        console.print("  OTLP ingest needs:   Authorization: Bearer <ingest token>")
    console.print(f"  SDKs:      export OTEL_EXPORTER_OTLP_ENDPOINT={url}")


def _held(store: Any, registry_store: Any, activity_store: Any) -> str:
    """What the stores a data directory keeps hold, for the banner's restore line."""
    from infertrace.activity.records import Change, Commit, Developer, Session
    from infertrace.engine.journal import Durable

    parts = []
    if isinstance(store, Durable) and isinstance(store, Maintenance):
        stats = store.stats()
        parts.append(
            f"{stats.spans.count:,} spans, {stats.logs.count:,} logs,"
            f" {stats.metrics.count:,} points"
        )
    if isinstance(registry_store, Durable):
        held = getattr(registry_store, "stats", lambda: ())()
        if isinstance(held, tuple) and held:
            parts.append(f"{held[0]:,} pods")
    kept = isinstance(activity_store, Durable)  # a flag: the store stays Any, its count()
    if kept:
        kinds = ((Developer, "developers"), (Commit, "commits"), (Change, "changes"))
        counts = [f"{activity_store.count(k):,} {name}" for k, name in kinds]
        counts.append(f"{activity_store.count(Session):,} agent sessions")
        parts.append(", ".join(counts))
    return ", ".join(parts) or "nothing"
