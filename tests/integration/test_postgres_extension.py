"""TimescaleDB detection against a real catalog, with contrib extensions standing in.

TimescaleDB cannot be installed here, so the states it shares with other
extensions are reproduced with ones that ship with PostgreSQL:
``pg_stat_statements`` (a library that must be preloaded, not trusted) and
``pgcrypto`` (trusted: any role with CREATE on the database may create it).
``read_facts`` and ``function`` take the extension to look at, and read the same
catalog rows for TimescaleDB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from tests.conftest import started_cluster

from infertrace.telemetry.postgres import extension
from infertrace.telemetry.postgres.extension import Extension, decide, read_facts
from infertrace.telemetry.postgres.migrate import layout_note, migrate

STATEMENTS = Extension("pg_stat_statements", "pg_stat_statements", "pg_stat_statements.max")
# pgcrypto needs no preloading: a setting every server defines stands in for a loader
PGCRYPTO = Extension("pgcrypto", "pgcrypto", "max_connections")


class Recorder:
    """A connection that records every statement it runs (and runs it)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements: list[str] = []

    def execute(self, query: Any, params: Any = None) -> Any:
        text = query if isinstance(query, str) else query.as_string(self.conn)
        self.statements.append(text)
        return self.conn.execute(query, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def database(server: str) -> Iterator[tuple[str, str]]:
    """(superuser DSN, DSN of role ``app`` without CREATE on it) for a new database."""
    name = f"x_{uuid.uuid4().hex[:10]}"
    role = f"app_{name}"
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]:  # type: ignore[index]
            pytest.skip("needs a superuser DSN to create databases and roles")
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE DATABASE {name}")
        conn.execute(f"REVOKE CREATE, TEMP ON DATABASE {name} FROM PUBLIC")
    admin = make_conninfo(server, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA app AUTHORIZATION {role}")
    try:
        yield admin, make_conninfo(admin, user=role, options="-c search_path=app")
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
            conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def plain_db(pg_server: str) -> Iterator[tuple[str, str]]:
    """A database on the session server (nothing preloaded)."""
    yield from database(pg_server)


@pytest.fixture(scope="module")
def preloading_server() -> Iterator[str]:
    """A server with ``pg_stat_statements`` in shared_preload_libraries."""
    settings = {"fsync": "off", "shared_preload_libraries": "'pg_stat_statements'"}
    with started_cluster(settings) as cluster:
        yield cluster.dsn


@pytest.fixture
def preloaded_db(preloading_server: str) -> Iterator[tuple[str, str]]:
    yield from database(preloading_server)


def test_detection_reads_the_catalog_and_creates_nothing(plain_db: tuple[str, str]) -> None:
    admin, _ = plain_db
    with psycopg.connect(admin, autocommit=True) as conn:
        recorder = Recorder(conn)
        facts = read_facts(recorder)  # type: ignore[arg-type]
        [sql] = recorder.statements  # one query
        assert "pg_available_extensions" in sql and "shared_preload_libraries" in sql
        assert "pg_extension" in sql and "CREATE" not in sql.replace("'CREATE'", "")
        assert (facts.offered, facts.schema) == (None, None)  # not installed on this server
        assert facts.preload_setting == "" and facts.superuser and facts.can_create
        # a whole first migration: the layout is chosen without CREATE EXTENSION
        result = migrate(recorder)  # type: ignore[arg-type]
        assert result.layout == "partitioned"
        assert (
            result.note == "TimescaleDB: not installed on this server: using native day partitions"
        )
        assert not [s for s in recorder.statements if "CREATE EXTENSION" in s.upper()]


@pytest.mark.parametrize(
    ("server", "as_app", "preloaded", "listed"),
    [
        ("preloaded_db", False, True, "preloaded (in shared_preload_libraries)"),
        (
            "preloaded_db",
            True,
            True,
            "preloaded (its loader is loaded)",
        ),  # app cannot read the list
        ("plain_db", False, False, "shared_preload_libraries = ''"),
        ("plain_db", True, False, "its loader is not loaded"),
    ],
)
def test_preload_is_read_from_the_list_or_the_libraries_own_setting(
    request: pytest.FixtureRequest, server: str, as_app: bool, preloaded: bool, listed: str
) -> None:
    admin, app = request.getfixturevalue(server)
    with psycopg.connect(app if as_app else admin, autocommit=True) as conn:
        facts = read_facts(conn, STATEMENTS)
    assert (facts.preload_setting is None) == as_app
    assert facts.preloaded("pg_stat_statements") is preloaded
    assert facts.offered is not None and facts.schema is None
    decision = decide(facts, None, STATEMENTS)
    assert listed in decision.line
    if not preloaded:
        assert not decision.use and "add pg_stat_statements to shared_preload_libraries" in (
            decision.line
        )
    elif as_app:  # preloaded, but not a trusted extension: needs a superuser
        assert not decision.use and "needs a superuser and role app_" in decision.line
    else:
        assert decision.use and decision.create


@pytest.mark.parametrize("grant", [False, True])
def test_a_role_without_create_on_the_database_is_named(
    plain_db: tuple[str, str], grant: bool
) -> None:
    admin, app = plain_db
    if grant:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT 1")
            db = conn.info.dbname
            conn.execute(f"GRANT CREATE ON DATABASE {db} TO {make_role(app)}")
    with psycopg.connect(app, autocommit=True) as conn:
        facts = read_facts(conn, PGCRYPTO)
    decision = decide(facts, None, PGCRYPTO)
    assert facts.can_create is grant and not facts.superuser and not facts.needs_superuser
    assert facts.preload_setting is None  # the app role cannot read it
    if grant:
        assert decision.use and decision.create
    else:
        assert not decision.use
        assert f"role {make_role(app)} has no CREATE privilege on database" in decision.line


def make_role(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn)["user"]  # type: ignore[return-value]


def test_functions_are_called_through_the_extensions_schema(plain_db: tuple[str, str]) -> None:
    """An extension created in a schema the search_path lacks (issue 15, item 2)."""
    admin, app = plain_db
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA ext")
        conn.execute("CREATE EXTENSION pgcrypto SCHEMA ext")
        conn.execute(f"GRANT USAGE ON SCHEMA ext TO {make_role(app)}")
    with psycopg.connect(app, autocommit=True) as conn:
        assert conn.execute("SHOW search_path").fetchone() == ("app",)
        facts = read_facts(conn, PGCRYPTO)
        assert (facts.schema, facts.version) == ("ext", "1.3")
        name = extension.function(conn, "gen_random_bytes", PGCRYPTO)
        assert name.as_string(conn) == '"ext"."gen_random_bytes"'
        row = conn.execute(psycopg.sql.SQL("SELECT length({}(4))").format(name)).fetchone()
        assert row == (4,)
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("SELECT gen_random_bytes(4)")
    with (
        psycopg.connect(app, autocommit=True) as conn,
        pytest.raises(LookupError, match="extension timescaledb is not created"),
    ):
        extension.function(conn, "create_hypertable")


def test_migrate_as_a_role_without_create_on_the_database(plain_db: tuple[str, str]) -> None:
    """Falls back to partitions, and says why (issue 15, item 4)."""
    _, app = plain_db
    with psycopg.connect(app, autocommit=True) as conn:
        result = migrate(conn)
        assert result.layout == "partitioned" and result.note.startswith("TimescaleDB: ")
        assert layout_note(conn) == result.note
