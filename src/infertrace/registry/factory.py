"""Open the registry store a configuration names: ``memory`` or ``postgres``.

The server picks the registry with the telemetry store's ``--store``/``--dsn``,
so both are chosen by one name here and the caller holds only the
:class:`~infertrace.registry.store.RegistryStore` protocol.
"""

from __future__ import annotations

import psycopg

from infertrace.errors import InvalidParameter, StoreOverloaded
from infertrace.registry.postgres import RETRY_AFTER, PostgresRegistry
from infertrace.registry.store import RegistryStore
from infertrace.registry.threadsafe import ThreadSafeRegistry
from infertrace.telemetry.postgres.connect import connect
from infertrace.telemetry.postgres.migrate import migrate, schema_state
from infertrace.telemetry.postgres.schema import LATEST

KINDS = ("memory", "postgres")


def open_registry(kind: str, dsn: str | None = None) -> RegistryStore:
    """A new registry store of ``kind``; the caller closes it.

    ``memory``: a :class:`~infertrace.registry.threadsafe.ThreadSafeRegistry`
    (``dsn`` is ignored). ``postgres``: a PostgreSQL registry on ``dsn``, whose
    schema is migrated first when it is behind. An unknown kind, or ``postgres``
    without a DSN, is InvalidParameter naming the value.
    """
    if kind == "memory":
        return ThreadSafeRegistry()
    if kind == "postgres":
        if not dsn:
            raise InvalidParameter("dsn", f"dsn {dsn!r}: the postgres registry needs a DSN")
        _migrate_if_behind(dsn)
        return PostgresRegistry(dsn)
    raise InvalidParameter("kind", f"kind {kind!r} is not one of {', '.join(KINDS)}")


def _migrate_if_behind(dsn: str, timeout: float = 10.0) -> None:
    """Bring the schema to LATEST unless it is there already (no advisory lock then).

    The registry's tables live in the telemetry schema's migrations, so this is
    the telemetry store's migration: open the telemetry store first when its
    layout options (``--timescale``) matter, and this finds nothing to do. One
    direct connection, so a bad DSN fails at once with psycopg's own message.
    """
    try:
        with connect(dsn, timeout) as conn:
            state = schema_state(conn)
            if state is None or state[1] < LATEST:
                migrate(conn)
    except psycopg.Error as exc:
        raise StoreOverloaded(
            f"cannot use PostgreSQL for the registry: {exc}", RETRY_AFTER
        ) from exc
