"""The one place a concrete store is chosen: ``--store memory|postgres``.

The receivers, the pipeline and the query API see only the store protocols;
the command that starts a server calls :func:`build_store` and hands the store
down. Backends are imported lazily so the memory default never loads the
PostgreSQL driver.
"""

from __future__ import annotations

import math

from infertrace.config import ConfigError, Settings
from infertrace.telemetry.protocols import TelemetryStore
from infertrace.telemetry.timebounds import TimeBounds

PURGE_INTERVAL_SECONDS = 10.0
"""How often a store with ``max_age`` drops old telemetry (at most this late)."""


def purge_interval(max_age: float) -> float:
    """The purge period for ``max_age``: every 10 s, or sooner for a shorter max age."""
    return min(PURGE_INTERVAL_SECONDS, max_age / 2)


def time_bounds(settings: Settings) -> TimeBounds:
    """The accepted window of record times the settings ask for (``inf``: no bound)."""
    past = settings.accept_past
    future = settings.accept_future
    bounds = TimeBounds.for_retention(
        settings.max_age,
        past_seconds=None if past is None or math.isinf(past) else past,
        future_seconds=None if math.isinf(future) else future,
    )
    if past is not None and math.isinf(past):
        bounds = TimeBounds(None, bounds.future_seconds)
    return bounds


def build_store(settings: Settings, purge: bool = True) -> TelemetryStore:
    """A new, open store as ``settings`` describe; the caller closes it.

    ``purge=False`` leaves the memory store's ``max_age`` purge unstarted, for a
    caller that restores the store from a data directory first (a purge racing
    the replay would change tables being rebuilt): it calls :func:`start_purge`
    once restored. Raises ConfigError when the settings do not make a usable store.
    """
    if settings.store == "memory":
        from infertrace.telemetry.memory import MemoryStore

        if settings.dsn:
            raise ConfigError("--dsn applies to --store postgres only")
        return MemoryStore(
            span_capacity=settings.span_capacity,
            log_capacity=settings.log_capacity,
            metric_capacity=settings.metric_capacity,
            max_age=settings.max_age if purge else None,
            purge_interval=purge_interval(settings.max_age or PURGE_INTERVAL_SECONDS),
            time_bounds=time_bounds(settings),
        )
    if settings.store == "postgres":
        if not settings.dsn:
            raise ConfigError(
                "--store postgres needs --dsn (or INFERTRACE_DSN), "
                "e.g. postgresql://user@localhost/infertrace"
            )
        from infertrace.telemetry.postgres import PostgresStore

        store = PostgresStore(
            settings.dsn,
            pool_size=settings.pool_size,
            run_migrations=settings.migrate,
            time_bounds=time_bounds(settings),
        )
        if purge:
            start_purge(store, settings)
        return store
    raise ConfigError(f"unknown store {settings.store!r}: use memory or postgres")


def start_purge(store: TelemetryStore, settings: Settings) -> None:
    """Start the ``max_age`` purge that ``build_store(settings, purge=False)`` left out
    (nothing without ``max_age``)."""
    if settings.max_age is not None:
        store.start_purge(purge_interval(settings.max_age), settings.max_age)
