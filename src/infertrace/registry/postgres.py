"""PostgresRegistry: the registry in PostgreSQL, behind the same protocol as the others.

Two tables, created by the telemetry schema's migration 6 (see
:mod:`infertrace.telemetry.postgres.schema`): ``registry_services``, one row per
:class:`ServiceInfo` keyed ``service_name:pod_name`` (providers ``text[]``,
metadata ``jsonb``, times ``bigint`` unix ns as the record holds them), and
``registry_subscriptions``, one row per (subscriber key, service group). Keys
use the "C" collation, so ``ORDER BY key`` is the code point order the in-memory
stores sort by.

Every operation is one parameterised statement on a pooled autocommit
connection, so each is atomic on its own: a save is an upsert, a health update
one ``UPDATE ... RETURNING`` that decides ``last_status_change`` from the row it
changes. Arguments are validated before any SQL with the in-memory stores'
rules, in their order, so a bad call raises the same error with the same
message. Records are built from rows: equal to what was saved, never the same
object. A database that cannot be reached is StoreOverloaded (retry later).
One difference from memory: a value PostgreSQL cannot hold (text with NUL, a
time past 2**63 - 1) is InvalidParameter naming it, on a lookup too, where the
memory stores would store it or answer not found.

Threading: every public method may be called from any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from infertrace.errors import InvalidParameter, ServiceNotFound, StoreClosed, StoreOverloaded
from infertrace.registry.core import _check_group
from infertrace.registry.records import (
    Origin,
    ServiceInfo,
    ServiceStatus,
    check_time,
    parse_key,
    to_status,
)

_COLUMNS = (
    "service_name, pod_name, address, port, health_check_url, notification_url, providers,"
    " status, metadata, registered_at, last_seen, last_health_check, last_status_change, origin"
)
"""The ServiceInfo fields in constructor order: every SELECT and RETURNING lists them."""

_UPSERT: LiteralString = (
    f"INSERT INTO registry_services (key, {_COLUMNS})"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::text[], %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (key) DO UPDATE SET"
    " address = EXCLUDED.address, port = EXCLUDED.port,"
    " health_check_url = EXCLUDED.health_check_url,"
    " notification_url = EXCLUDED.notification_url, providers = EXCLUDED.providers,"
    " status = EXCLUDED.status, metadata = EXCLUDED.metadata,"
    " registered_at = EXCLUDED.registered_at, last_seen = EXCLUDED.last_seen,"
    " last_health_check = EXCLUDED.last_health_check,"
    " last_status_change = EXCLUDED.last_status_change, origin = EXCLUDED.origin"
)
_GET: LiteralString = f"SELECT {_COLUMNS} FROM registry_services WHERE key = %s"
_BY_NAME: LiteralString = (
    f"SELECT {_COLUMNS} FROM registry_services WHERE service_name = %s ORDER BY key"
)
_ALL: LiteralString = f"SELECT {_COLUMNS} FROM registry_services ORDER BY key"
_DELETE: LiteralString = "DELETE FROM registry_services WHERE key = %s"
# In an UPDATE, ``status`` on the right-hand side is the row's old value.
_HEALTH: LiteralString = (
    "UPDATE registry_services SET status = %(status)s, last_health_check = %(at)s,"
    " last_status_change = CASE WHEN status = %(status)s THEN last_status_change"
    " ELSE %(at)s END"
    f" WHERE key = %(key)s RETURNING {_COLUMNS}"
)
_SUBSCRIBE: LiteralString = (
    "INSERT INTO registry_subscriptions (subscriber_key, service_group) VALUES (%s, %s)"
    " ON CONFLICT DO NOTHING"
)
_UNSUBSCRIBE: LiteralString = (
    "DELETE FROM registry_subscriptions WHERE subscriber_key = %s AND service_group = %s"
)
_UNSUBSCRIBE_ALL: LiteralString = "DELETE FROM registry_subscriptions WHERE subscriber_key = %s"
_SUBSCRIBERS: LiteralString = (
    "SELECT subscriber_key FROM registry_subscriptions WHERE service_group = %s"
    " ORDER BY subscriber_key"
)
_SUBSCRIPTIONS: LiteralString = (  # the primary key (subscriber_key, service_group) serves it
    "SELECT service_group FROM registry_subscriptions WHERE subscriber_key = %s"
    " ORDER BY service_group"
)
_SUBSCRIBER_SERVICES: LiteralString = (
    f"SELECT {_COLUMNS} FROM registry_services WHERE key IN"
    " (SELECT subscriber_key FROM registry_subscriptions WHERE service_group = %s)"
    " ORDER BY key"
)
_STATS: LiteralString = (
    "SELECT (SELECT count(*) FROM registry_services), (SELECT count(*) FROM registry_subscriptions)"
)
_CLEAR = ("DELETE FROM registry_subscriptions", "DELETE FROM registry_services")
_BROKEN_ROWS: LiteralString = (
    "SELECT 'service ' || key FROM registry_services"
    " WHERE key <> service_name || ':' || pod_name"
    " OR array_position(providers, NULL) IS NOT NULL OR '' = ANY (providers)"
    " OR jsonb_typeof(metadata) <> 'object'"
    " UNION ALL SELECT 'subscription ' || subscriber_key || ' -> ' || service_group"
    " FROM registry_subscriptions"
    " WHERE subscriber_key !~ '^[^:]+:[^:]+$' OR service_group = ''"
)
"""Rows that break the invariants the records hold (the table checks hold them too)."""

_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)
RETRY_AFTER = 2.0
"""Retry-After (seconds) of StoreOverloaded while the database cannot be reached."""


_STATUS = {s.value: s for s in ServiceStatus}
_ORIGIN = {o.value: o for o in Origin}


def _record(row: Sequence[Any]) -> ServiceInfo:
    """The record of a row in ``_COLUMNS`` order. Members and a frozenset are passed
    as such: the record's checks skip converting them (a quarter of its cost)."""
    (name, pod_name, address, port, health, notify, providers, status, metadata,
     registered, seen, checked, changed, origin) = row  # fmt: skip
    return ServiceInfo(
        name, pod_name, address, port, health, notify, frozenset(providers), _STATUS[status],
        metadata, registered, seen, checked, changed, _ORIGIN[origin],
    )  # fmt: skip


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or ":" in name:
        raise InvalidParameter(
            "service_name", f"service_name {name!r} must be a non-empty string without ':'"
        )
    return name


class PostgresRegistry:
    """A :class:`~infertrace.registry.store.RegistryStore` on PostgreSQL.

    ``dsn`` names the database; its schema must hold migration 6 (the factory,
    :func:`~infertrace.registry.factory.open_registry`, migrates first).
    ``pool_size`` bounds the connections, ``timeout`` how long a call waits for
    one. Each call is one indexed statement: O(log n) plus the rows it returns.
    Plus :meth:`clear` and :meth:`stats` as on ThreadSafeRegistry.
    """

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout: float = 5.0) -> None:
        self._closed = False
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
            timeout=timeout,
            open=False,
            name="infertrace-registry",
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreOverloaded(
                f"cannot reach the registry database: {exc}", RETRY_AFTER
            ) from exc

    def _rows(
        self,
        sql: LiteralString,
        params: Sequence[object] | Mapping[str, object],
        what: str = "",
        value: object = None,
    ) -> list[Any]:
        """Run ``sql`` on a pooled connection: its rows, or ``[rowcount]`` for a
        statement without. ``value`` (the parameter ``what``) is named when
        PostgreSQL cannot hold it: text with NUL, which the records allow."""
        if self._closed:
            raise StoreClosed("the registry is closed")
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else [cur.rowcount]
        except _UNAVAILABLE as exc:
            raise StoreOverloaded(f"registry database unavailable: {exc}", RETRY_AFTER) from exc
        except psycopg.DataError as exc:
            raise InvalidParameter(
                what, f"{what} {value!r} cannot be stored in PostgreSQL: {exc}"
            ) from exc

    def save_service(self, info: ServiceInfo) -> None:
        """Insert or replace the row of ``info.key``: one upsert."""
        if type(info) is not ServiceInfo:
            raise InvalidParameter("info", f"service {info!r} must be a ServiceInfo")
        params = (
            info.key, info.service_name, info.pod_name, info.address, info.port,
            info.health_check_url, info.notification_url, sorted(info.providers),
            info.status.value, Jsonb(dict(info.metadata)), info.registered_at,
            info.last_seen, info.last_health_check, info.last_status_change,
            info.origin.value,
        )  # fmt: skip
        self._rows(_UPSERT, params, "info", info)

    def get_service(self, key: str) -> ServiceInfo:
        """The record under ``key``; ServiceNotFound if none."""
        parse_key(key)
        rows = self._rows(_GET, (key,), "key", key)
        if not rows:
            raise ServiceNotFound(key)
        return _record(rows[0])

    def get_services_by_name(self, name: str) -> list[ServiceInfo]:
        """The pods of service ``name``, by key; [] for an unknown name."""
        rows = self._rows(_BY_NAME, (_check_name(name),), "service_name", name)
        return [_record(r) for r in rows]

    def get_all_services(self) -> list[ServiceInfo]:
        """Every record, by key. O(n)."""
        return [_record(r) for r in self._rows(_ALL, ())]

    def delete_service(self, key: str) -> None:
        """Remove the row of ``key`` (its subscriptions stay); ServiceNotFound if none."""
        parse_key(key)
        if self._rows(_DELETE, (key,), "key", key) == [0]:
            raise ServiceNotFound(key)

    def update_health_status(self, key: str, status: ServiceStatus | str, at: int) -> ServiceInfo:
        """Set the status of ``key`` as checked at ``at`` in one UPDATE; the new record."""
        new_status = to_status(status)
        if at is None:
            raise InvalidParameter("at", "at None must be unix nanoseconds (an int >= 0)")
        check_time("at", at)
        parse_key(key)
        params = {"status": new_status.value, "at": at, "key": key}
        rows = self._rows(_HEALTH, params, "key", key)
        if not rows:
            raise ServiceNotFound(key)
        return _record(rows[0])

    def add_subscription(self, subscriber_key: str, service_group: str) -> None:
        """``subscriber_key`` follows ``service_group``; a no-op if it already does."""
        parse_key(subscriber_key)
        _check_group(service_group)
        pair = (subscriber_key, service_group)
        self._rows(_SUBSCRIBE, pair, "subscription", pair)

    def remove_subscription(self, subscriber_key: str, service_group: str) -> None:
        """``subscriber_key`` stops following ``service_group``; a no-op if it did not."""
        parse_key(subscriber_key)
        _check_group(service_group)
        pair = (subscriber_key, service_group)
        self._rows(_UNSUBSCRIBE, pair, "subscription", pair)

    def remove_all_subscriptions(self, subscriber_key: str) -> None:
        """Drop every subscription of ``subscriber_key``."""
        parse_key(subscriber_key)
        self._rows(_UNSUBSCRIBE_ALL, (subscriber_key,), "key", subscriber_key)

    def get_subscribers(self, service_group: str) -> list[str]:
        """The keys following ``service_group``, sorted."""
        _check_group(service_group)
        rows = self._rows(_SUBSCRIBERS, (service_group,), "service_group", service_group)
        return [r[0] for r in rows]

    def get_subscriptions(self, subscriber_key: str) -> list[str]:
        """The groups ``subscriber_key`` follows, sorted."""
        parse_key(subscriber_key)
        rows = self._rows(_SUBSCRIPTIONS, (subscriber_key,), "subscriber_key", subscriber_key)
        return [r[0] for r in rows]

    def get_subscriber_services(self, service_group: str) -> list[ServiceInfo]:
        """The records of ``service_group``'s subscribers, by key; one join."""
        _check_group(service_group)
        rows = self._rows(_SUBSCRIBER_SERVICES, (service_group,), "service_group", service_group)
        return [_record(r) for r in rows]

    def clear(self) -> None:
        """Forget every service and subscription, in one transaction."""
        if self._closed:
            raise StoreClosed("the registry is closed")
        try:
            with self._pool.connection() as conn, conn.transaction():
                for sql in _CLEAR:
                    conn.execute(sql)
        except _UNAVAILABLE as exc:
            raise StoreOverloaded(f"registry database unavailable: {exc}", RETRY_AFTER) from exc

    def stats(self) -> tuple[int, int]:
        """``(services, subscriptions)``: rows in each table. O(n) (two counts)."""
        services, subscriptions = self._rows(_STATS, ())[0]
        return int(services), int(subscriptions)

    def close(self) -> None:
        """Close the pool; later calls raise StoreClosed. Safe to call twice."""
        self._closed = True
        self._pool.close()

    def ping(self) -> bool:
        """Whether ``SELECT 1`` answers (False once closed or while unreachable)."""
        if self._closed:
            return False
        try:
            return self._rows("SELECT 1", ()) == [(1,)]
        except (StoreOverloaded, StoreClosed, psycopg.Error):
            return False

    def __enter__(self) -> PostgresRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> None:
        """Assert the invariants in the database: every row decodes into a record whose
        key is its own, no subscription holds a malformed key, and the counts agree."""
        broken = [r[0] for r in self._rows(_BROKEN_ROWS, ())]
        assert broken == [], broken
        services = self.get_all_services()  # ServiceInfo() re-checks every field
        assert [s.key for s in services] == sorted(s.key for s in services)
        names = {s.service_name for s in services}
        assert sum(len(self.get_services_by_name(n)) for n in names) == len(services)
        assert self.stats()[0] == len(services)
