"""Apply the schema migrations: versioned, idempotent, safe to race.

``migrate()`` runs in one transaction under an advisory lock, so two processes
starting at once apply each migration exactly once, and a failure leaves the
database as it was. The storage layout (``timescaledb`` or ``partitioned``) is
chosen on the first run, from the catalog alone (see ``extension``), and recorded
with the one line saying why, so later runs and other processes agree and
``db status`` and ``serve`` can repeat the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from infertrace.errors import InferTraceError
from infertrace.telemetry.postgres import extension, timescale
from infertrace.telemetry.postgres.schema import LATEST, MIGRATIONS

LOCK_KEY = 0x1AFE7ACE  # advisory lock id owned by InferTrace migrations (and conversions)

Conn = psycopg.Connection[Any]


class MigrationError(InferTraceError, RuntimeError):
    """The schema could not be brought up to date, or not in the layout asked for."""


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """What ``migrate`` found and did."""

    layout: str
    version: int
    applied: tuple[int, ...]
    note: str = ""
    """Why this layout: what was found of TimescaleDB and what was chosen, in one line."""


def _prepare(conn: Conn) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    conn.execute(
        "CREATE TABLE IF NOT EXISTS infertrace_migrations ("
        " version integer PRIMARY KEY, description text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS infertrace_settings (key text PRIMARY KEY, value text NOT NULL)"
    )


CONVERT_HINT = (
    "convert it with `infertrace db convert-to-hypertables` (README: PostgreSQL,"
    " moving to TimescaleDB)"
)


def _layout(conn: Conn, use_timescale: bool | None) -> tuple[str, str]:
    row = conn.execute("SELECT value FROM infertrace_settings WHERE key = 'layout'").fetchone()
    if row is not None:
        layout = str(row[0])
        if use_timescale and layout != "timescaledb":
            raise MigrationError(
                "TimescaleDB was required (--timescale), but this database was set up"
                f" with native day partitions at its first migration: {CONVERT_HINT},"
                " or migrate without --timescale"
            )
        if use_timescale is False and layout == "timescaledb":
            raise MigrationError(
                "--no-timescale was given, but this database was set up with TimescaleDB"
                " hypertables at its first migration: migrate without --no-timescale"
            )
        return layout, layout_note(conn) or f"layout {layout} (recorded without a reason)"
    decision = extension.decide(extension.read_facts(conn), use_timescale)
    if use_timescale and not decision.use:
        raise MigrationError(
            f"TimescaleDB was required (--timescale) but cannot be used: {decision.reason}"
        )
    layout, note = ("timescaledb" if decision.use else "partitioned"), decision.line
    if decision.create:
        try:
            with conn.transaction():
                timescale.create(conn)
        except psycopg.Error as exc:  # the catalog said it would work; say what did not
            if use_timescale:
                raise MigrationError(f"CREATE EXTENSION timescaledb failed: {exc}") from exc
            layout = "partitioned"
            note = f"TimescaleDB: CREATE EXTENSION failed ({exc}): {extension.PARTITIONS}"
    conn.execute(
        "INSERT INTO infertrace_settings (key, value) VALUES ('layout', %s), ('layout_note', %s)",
        (layout, note),
    )
    return layout, note


def migrate(conn: Conn, use_timescale: bool | None = None) -> MigrationResult:
    """Bring the schema to the latest version; a no-op when it is already there.

    ``use_timescale``: None uses TimescaleDB when available, False never, True
    requires it. Only the first run of a database decides the layout; a later
    ``use_timescale`` that contradicts the recorded layout is a MigrationError.
    """
    try:
        with conn.transaction():
            _prepare(conn)
            layout, note = _layout(conn, use_timescale)
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
    return MigrationResult(layout, newest, tuple(applied), note)


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


def layout_note(conn: Conn) -> str | None:
    """The line recorded at the first migration saying why its layout was chosen."""
    if conn.execute("SELECT to_regclass('infertrace_settings') IS NULL").fetchone() == (True,):
        return None
    row = conn.execute("SELECT value FROM infertrace_settings WHERE key = 'layout_note'").fetchone()
    return None if row is None else str(row[0])
