"""Apply the schema migrations: versioned, idempotent, safe to race.

``migrate()`` runs in one transaction under an advisory lock, so two processes
starting at once apply each migration exactly once, and a failure leaves the
database as it was. The storage layout (``timescaledb`` or ``partitioned``) is
chosen on the first run and recorded, so later runs and other processes agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from infertrace.telemetry.postgres import timescale
from infertrace.telemetry.postgres.schema import LATEST, MIGRATIONS

_LOCK_KEY = 0x1AFE7ACE  # advisory lock id owned by InferTrace migrations

Conn = psycopg.Connection[Any]


class MigrationError(RuntimeError):
    """The schema could not be brought up to date."""


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """What ``migrate`` found and did."""

    layout: str
    version: int
    applied: tuple[int, ...]


def _prepare(conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS infertrace_migrations ("
        " version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS infertrace_settings (key text PRIMARY KEY, value text NOT NULL)"
    )


def _layout(conn: Conn, use_timescale: bool | None) -> str:
    row = conn.execute("SELECT value FROM infertrace_settings WHERE key = 'layout'").fetchone()
    if row is not None:
        return str(row[0])
    layout = "partitioned"
    if use_timescale is not False and timescale.try_enable(conn):
        layout = "timescaledb"
    elif use_timescale:
        raise MigrationError("TimescaleDB was requested but the extension is not available")
    conn.execute("INSERT INTO infertrace_settings (key, value) VALUES ('layout', %s)", (layout,))
    return layout


def migrate(conn: Conn, use_timescale: bool | None = None) -> MigrationResult:
    """Bring the schema to the latest version; a no-op when it is already there.

    ``use_timescale``: None uses TimescaleDB when available, False never, True
    requires it. Only the first run of a database decides the layout.
    """
    try:
        with conn.transaction():
            _prepare(conn)
            layout = _layout(conn, use_timescale)
            done = {r[0] for r in conn.execute("SELECT version FROM infertrace_migrations")}
            applied = []
            for version, description, apply in MIGRATIONS:
                if version in done:
                    continue
                apply(conn, layout)
                conn.execute(
                    "INSERT INTO infertrace_migrations (version, description) VALUES (%s, %s)",
                    (version, description),
                )
                applied.append(version)
            newest = max(done | set(applied))
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    if newest > LATEST:
        raise MigrationError(
            f"database schema version {newest} is newer than this InferTrace ({LATEST})"
        )
    return MigrationResult(layout, newest, tuple(applied))


def schema_state(conn: Conn) -> tuple[str, int] | None:
    """(layout, version) of a migrated database, or None before the first migration."""
    row = conn.execute(
        "SELECT to_regclass('infertrace_migrations') IS NOT NULL"
        " AND to_regclass('infertrace_settings') IS NOT NULL"
    ).fetchone()
    if not row or not row[0]:
        return None
    version = conn.execute("SELECT max(version) FROM infertrace_migrations").fetchone()
    layout = conn.execute("SELECT value FROM infertrace_settings WHERE key = 'layout'").fetchone()
    if version is None or version[0] is None or layout is None:
        return None
    return str(layout[0]), int(version[0])
