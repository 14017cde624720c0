"""What only the PostgreSQL registry has: its tables and migration, the table checks,
values PostgreSQL cannot hold, and an unreachable server. The behaviour it shares
with the other stores is in test_conformance."""

from __future__ import annotations

import importlib
import socket
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from infertrace.errors import InvalidParameter, StoreClosed, StoreOverloaded
from infertrace.registry import ServiceInfo
from infertrace.registry.factory import open_registry
from infertrace.registry.postgres import PostgresRegistry
from infertrace.telemetry.postgres.cluster import ThrowawayCluster
from infertrace.telemetry.postgres.migrate import migrate, schema_state
from infertrace.telemetry.postgres.schema import LATEST, MIGRATIONS

from .conftest import open_store, pod

REGISTRY_VERSION = next(v for v, description, _ in MIGRATIONS if description.startswith("registry"))


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[PostgresRegistry]:
    store = open_store("postgres", request)
    assert isinstance(store, PostgresRegistry)
    yield store
    store.close()


def _columns(conn: psycopg.Connection[tuple[object, ...]], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _indexes(conn: psycopg.Connection[tuple[object, ...]], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
        (table,),
    ).fetchall()
    return {str(r[0]).split(" ON ", 1)[1].split(" USING btree ", 1)[1] for r in rows}


def _assert_registry_tables(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    services = _columns(conn, "registry_services")
    assert services["key"] == "text" and services["providers"] == "ARRAY"
    assert services["metadata"] == "jsonb" and services["port"] == "integer"
    times = ("registered_at", "last_seen", "last_health_check", "last_status_change")
    assert {services[t] for t in times} == {"bigint"}  # unix ns, as the record holds them
    record_fields = set(ServiceInfo.__dataclass_fields__)
    assert set(services) == record_fields | {"key"}
    assert _columns(conn, "registry_subscriptions") == {
        "subscriber_key": "text", "service_group": "text"}  # fmt: skip
    assert _indexes(conn, "registry_services") == {"(key)", "(service_name)"}
    assert _indexes(conn, "registry_subscriptions") == {
        "(subscriber_key, service_group)", "(service_group)"}  # fmt: skip


def test_a_fresh_database_gets_the_registry_tables(pg_dsn: str) -> None:
    open_registry("postgres", pg_dsn).close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert schema_state(conn) == ("partitioned", LATEST)
        _assert_registry_tables(conn)
        described = conn.execute(
            "SELECT description FROM infertrace_migrations WHERE version = %s",
            (REGISTRY_VERSION,),
        ).fetchone()
    assert described is not None and str(described[0]).startswith("registry")


def test_a_database_one_version_behind_upgrades_in_place(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database at the version before the registry's keeps its data, gains the
    tables when the factory opens the registry, and a second open migrates nothing."""
    migrate_module = importlib.import_module("infertrace.telemetry.postgres.migrate")
    before = tuple(m for m in MIGRATIONS if m[0] < REGISTRY_VERSION)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with monkeypatch.context() as m:
            m.setattr(migrate_module, "MIGRATIONS", before)
            m.setattr(migrate_module, "LATEST", before[-1][0])
            assert migrate(conn, use_timescale=False).version == REGISTRY_VERSION - 1
        assert conn.execute("SELECT to_regclass('registry_services')").fetchone() == (None,)
        conn.execute("INSERT INTO infertrace_settings (key, value) VALUES ('kept', 'yes')")
    with open_registry("postgres", pg_dsn) as registry:
        registry.save_service(pod("svc", "p1"))
        registry.add_subscription("svc:p1", "g")
        assert registry.get_subscriber_services("g") == [pod("svc", "p1")]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM infertrace_migrations")]
        assert sorted(applied) == list(range(1, LATEST + 1))
        _assert_registry_tables(conn)
        kept = "SELECT value FROM infertrace_settings WHERE key = 'kept'"
        assert conn.execute(kept).fetchone() == ("yes",)
        assert migrate(conn).applied == ()
    with open_registry("postgres", pg_dsn) as again:  # already current: nothing to apply
        assert [s.key for s in again.get_all_services()] == ["svc:p1"]


def _service_row(key: str, name: str, pod_name: str, port: int = 0, status: str = "unknown",
                 origin: str = "telemetry") -> str:  # fmt: skip
    return (
        f"INSERT INTO registry_services VALUES ('{key}', '{name}', '{pod_name}', '', {port},"
        f" NULL, NULL, '{{}}', '{status}', '{{}}', NULL, NULL, NULL, NULL, '{origin}')"
    )


# Rows another writer might try; the table checks refuse each.
BROKEN_ROWS: dict[str, str] = {
    "key not its names": _service_row("a:b", "a", "c"),
    "colon in a name": _service_row("a:b:c", "a:b", "c"),
    "empty pod name": _service_row("a:", "a", ""),
    "unknown status": _service_row("a:b", "a", "b", status="sleepy"),
    "port out of range": _service_row("a:b", "a", "b", port=70000),
    "unknown origin": _service_row("a:b", "a", "b", origin="rumour"),
    "subscriber key without colon": "INSERT INTO registry_subscriptions VALUES ('ab', 'g')",
    "subscriber key with two colons": "INSERT INTO registry_subscriptions VALUES ('a:b:c', 'g')",
    "empty group": "INSERT INTO registry_subscriptions VALUES ('a:b', '')",
}


@pytest.mark.parametrize("sql", BROKEN_ROWS.values(), ids=BROKEN_ROWS.keys())
def test_the_tables_refuse_rows_that_break_the_record_rules(
    registry: PostgresRegistry, request: pytest.FixtureRequest, sql: str
) -> None:
    dsn = request.getfixturevalue("registry_dsn")
    with psycopg.connect(dsn, autocommit=True) as conn, pytest.raises(errors.CheckViolation):
        conn.execute(sql.encode())
    assert registry.stats() == (0, 0)
    registry._check()


# Values a record allows but PostgreSQL cannot store: (call, the value named, parameter).
UNSTORABLE = {
    "NUL in a name": (lambda r: r.save_service(pod("s\x00", "p")), "'s\\x00'", "info"),
    "NUL in metadata": (lambda r: r.save_service(pod("s", "p", metadata={"k": "v\x00"})),
                        "'v\\x00'", "info"),
    "NUL in a provider": (lambda r: r.save_service(pod("s", "p", providers={"m\x00"})),
                          "'m\\x00'", "info"),
    "time past bigint": (lambda r: r.save_service(pod("s", "p", last_seen=2**63)),
                         str(2**63), "info"),
    "NUL in a key": (lambda r: r.get_service("s:p\x00"), "'s:p\\x00'", "key"),
    "NUL in a group": (lambda r: r.add_subscription("s:p", "g\x00"), "'g\\x00'", "subscription"),
}  # fmt: skip


@pytest.mark.parametrize(("call", "named", "name"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_values_postgres_cannot_hold_are_refused_naming_them(
    registry: PostgresRegistry, call: object, named: str, name: str
) -> None:
    registry.save_service(pod("s", "kept"))
    with pytest.raises(InvalidParameter) as caught:
        call(registry)  # type: ignore[operator]
    assert caught.value.name == name and named in str(caught.value)
    assert [s.key for s in registry.get_all_services()] == ["s:kept"]
    assert registry.stats() == (1, 0)


def test_ping_is_a_query_and_close_is_idempotent(registry: PostgresRegistry) -> None:
    assert registry.ping() is True
    registry.close()
    registry.close()
    assert registry.ping() is False
    with pytest.raises(StoreClosed):
        registry.stats()
    with pytest.raises(StoreClosed):
        registry.clear()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_store_overloaded_naming_it() -> None:
    port = _closed_port()
    dsn = f"host=127.0.0.1 port={port} dbname=none user=nobody connect_timeout=1"
    with pytest.raises(StoreOverloaded) as caught:
        open_registry("postgres", dsn)
    assert str(port) in str(caught.value)


def test_a_server_outage_is_store_overloaded_and_the_store_recovers(
    own_cluster: ThrowawayCluster,
) -> None:
    """While the server is down every call is StoreOverloaded within the pool timeout and
    ping() is False; once it is back the pool replaces its dead connections and the
    data is there."""
    open_registry("postgres", own_cluster.dsn).close()  # migrate
    with PostgresRegistry(own_cluster.dsn, pool_size=2, timeout=1.0) as registry:
        registry.save_service(pod("svc", "p1"))
        own_cluster.stop("immediate")
        assert registry.ping() is False
        for call in (lambda: registry.get_service("svc:p1"), lambda: registry.stats()):
            began = time.monotonic()
            with pytest.raises(StoreOverloaded):
                call()
            assert time.monotonic() - began < 10
        own_cluster.start()
        answers: list[object] = []
        deadline = time.monotonic() + 30
        while not answers and time.monotonic() < deadline:
            try:
                answers.append(registry.get_service("svc:p1"))
            except StoreOverloaded:
                time.sleep(0.1)
        assert answers == [pod("svc", "p1")]
        assert registry.ping() is True
