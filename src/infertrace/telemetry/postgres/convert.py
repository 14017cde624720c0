"""Move a database from native day partitions to TimescaleDB hypertables, in place.

``infertrace db convert-to-hypertables``. The layout of a database is chosen at
its first migration; this is the way from partitions to TimescaleDB once the
server can offer it. One transaction under the migration lock:

1. check: the schema is migrated, partitioned and current, and ``extension.decide``
   says TimescaleDB can be used (creating the extension if needed);
2. per record table: rename it aside, create the table again ``LIKE`` it (columns,
   defaults, NOT NULL), make it a hypertable with one-day chunks, copy the rows
   (``INSERT ... SELECT``), drop the old table with its partitions, and recreate
   its indexes from their own definitions;
3. configure compression as a first migration would, and record the new layout
   with the line saying why.

A failure at any step leaves the database as it was. The tables are locked
(ACCESS EXCLUSIVE) for the whole copy: stop every collector on the database first,
also because a running one would go on creating day partitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from infertrace.telemetry.postgres import extension, timescale
from infertrace.telemetry.postgres.migrate import LOCK_KEY, MigrationError, schema_state
from infertrace.telemetry.postgres.schema import DAY_NS, LATEST, TIME_COLUMNS

Conn = psycopg.Connection[Any]
MakeTable = Callable[[Conn, str, str, int], None]
"""``(conn, table, time column, chunk ns)``: turn an empty table into a hypertable."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """What ``convert_to_hypertables`` moved, and the layout line it recorded."""

    rows: dict[str, int]
    note: str


def convert_to_hypertables(conn: Conn) -> Conversion:
    """Convert a partitioned database to hypertables; MigrationError when it cannot."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            decision = check(conn)
            if decision.create:
                timescale.create(conn)
            rows = rebuild_tables(conn, timescale.make_hypertable)
            timescale.configure_compression(conn)
            note = f"converted from native day partitions; {decision.line}"
            record_layout(conn, "timescaledb", note)
    except psycopg.Error as exc:
        raise MigrationError(f"conversion failed, nothing changed: {exc}") from exc
    return Conversion(rows, note)


def check(conn: Conn) -> extension.Decision:
    """Whether this database can be converted: MigrationError saying why not."""
    _check_schema(conn)
    decision = extension.decide(extension.read_facts(conn), True)
    if not decision.use:
        raise MigrationError(f"TimescaleDB cannot be used: {decision.reason}")
    return decision


def _check_schema(conn: Conn) -> None:
    state = schema_state(conn)
    if state is None:
        raise MigrationError("not migrated: run `infertrace db migrate --timescale` instead")
    layout, version = state
    if layout != "partitioned":
        raise MigrationError(f"this database already uses {layout}: nothing to convert")
    if version != LATEST:
        raise MigrationError(
            f"schema version {version}, this InferTrace converts {LATEST}: run `db migrate` first"
        )


def rebuild_tables(conn: Conn, make_table: MakeTable) -> dict[str, int]:
    """Recreate every record table through ``make_table``; rows copied per table.

    Runs in the caller's transaction. ``make_table`` is ``timescale.make_hypertable``;
    the steps around it are plain PostgreSQL.
    """
    rows = {}
    for table, column in TIME_COLUMNS.items():
        old = f"{table}_partitioned_old"
        indexes = [
            str(r[0])
            for r in conn.execute(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid = %s::regclass ORDER BY indexrelid",
                (table,),
            )
        ]
        conn.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table))
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(table), sql.Identifier(old)
            )
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                " INCLUDING STORAGE INCLUDING COMMENTS)"
            ).format(sql.Identifier(table), sql.Identifier(old))
        )
        make_table(conn, table, column, DAY_NS)
        cur = conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                sql.Identifier(table), sql.Identifier(old)
            )
        )
        rows[table] = cur.rowcount
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))  # and its partitions
        for ddl in indexes:  # a partitioned parent's index is "ON ONLY": here, on the table
            conn.execute(ddl.replace(" ON ONLY ", " ON ", 1).encode())
    return rows


def record_layout(conn: Conn, layout: str, note: str) -> None:
    """Record ``layout`` and why, replacing what the first migration recorded."""
    conn.execute(
        "INSERT INTO infertrace_settings (key, value) VALUES ('layout', %s), ('layout_note', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (layout, note),
    )
