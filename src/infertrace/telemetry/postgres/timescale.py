"""The TimescaleDB path: feature-detected, small, and kept to documented calls.

Whether to take it is decided in ``extension`` from the catalog, before anything
is created. Every function of the extension is called schema-qualified (its
schema read from ``pg_extension``), so a ``search_path`` without that schema works.

What it relies on (TimescaleDB 2.x, the 2.28 series being the last for PostgreSQL 15):

- ``create_hypertable(relation, time_column, chunk_time_interval => bigint,
  create_default_indexes => false, if_not_exists => true)``: integer time columns
  take an integer chunk interval, here one day of nanoseconds.
- ``drop_chunks(relation, older_than => bigint)``: for an integer time column the
  cutoff is a time value; whole chunks entirely older than it are dropped. It
  works under the Apache license, so our own scheduler (``PostgresStore.start_purge``)
  does retention there.
- Compression (``timescaledb.compress`` with ``compress_segmentby`` /
  ``compress_orderby``) and background policies (``add_retention_policy``,
  ``add_compression_policy``) are community-licensed: used only when
  ``timescaledb.license`` is ``timescale``. Integer time needs
  ``set_integer_now_func`` before a policy can be added.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from infertrace.telemetry.postgres import extension

Conn = psycopg.Connection[Any]

COMPRESS_AFTER_NS = 2 * 86_400 * 1_000_000_000
_SEGMENT_BY = {
    "spans": "service_name, model_name",
    "logs": "service_name",
    "metric_points": "name, service_name",
}


def create(conn: Conn) -> None:
    """``CREATE EXTENSION timescaledb``; only after ``extension.decide`` said it is safe."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")


def community_license(conn: Conn) -> bool:
    """Whether compression and policies are available (license ``timescale``)."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row is not None and row[0] == "timescale"


def make_hypertable(conn: Conn, table: str, time_column: str, chunk_ns: int) -> None:
    """Turn an empty table into a hypertable with ``chunk_ns`` wide chunks."""
    conn.execute(
        sql.SQL(
            "SELECT {}(%s::regclass, %s::name, chunk_time_interval => %s::bigint,"
            " create_default_indexes => false, if_not_exists => true)"
        ).format(_fn(conn, "create_hypertable")),
        (table, time_column, chunk_ns),
    )


def configure_compression(conn: Conn) -> None:
    """Compression segmented by service/model, ordered by time, when licensed."""
    if not community_license(conn):
        return
    conn.execute(
        "CREATE OR REPLACE FUNCTION infertrace_now_ns() RETURNS bigint LANGUAGE sql STABLE"
        " AS $$ SELECT (extract(epoch FROM now()) * 1000000000)::bigint $$"
    )
    for table, segment in _SEGMENT_BY.items():
        conn.execute(
            sql.SQL("SELECT {}(%s::regclass, 'infertrace_now_ns'::regproc)").format(
                _fn(conn, "set_integer_now_func")
            ),
            (table,),
        )
        order = "start_time_unix_nano DESC" if table == "spans" else "time_unix_nano DESC"
        conn.execute(
            f"ALTER TABLE {table} SET (timescaledb.compress,"
            f" timescaledb.compress_segmentby = {_literal(segment)},"
            f" timescaledb.compress_orderby = {_literal(order)})"
        )
        conn.execute(
            sql.SQL(
                "SELECT {}(%s::regclass, compress_after => %s::bigint, if_not_exists => true)"
            ).format(_fn(conn, "add_compression_policy")),
            (table, COMPRESS_AFTER_NS),
        )


def set_retention_policy(conn: Conn, max_age_ns: int) -> bool:
    """Install a background retention policy when licensed; False otherwise."""
    if not community_license(conn):
        return False
    for table in _SEGMENT_BY:
        conn.execute(
            sql.SQL("SELECT {}(%s::regclass, if_exists => true)").format(
                _fn(conn, "remove_retention_policy")
            ),
            (table,),
        )
        conn.execute(
            sql.SQL("SELECT {}(%s::regclass, drop_after => %s::bigint)").format(
                _fn(conn, "add_retention_policy")
            ),
            (table, max_age_ns),
        )
    return True


def drop_chunks(conn: Conn, table: str, cutoff_ns: int) -> None:
    """Drop every chunk of ``table`` whose rows are all older than ``cutoff_ns``."""
    conn.execute(
        sql.SQL("SELECT {}(%s::regclass, older_than => %s::bigint)").format(
            _fn(conn, "drop_chunks")
        ),
        (table, cutoff_ns),
    )


def _fn(conn: Conn, name: str) -> sql.Identifier:
    """A TimescaleDB function, qualified by the schema the extension lives in."""
    return extension.function(conn, name, extension.TIMESCALEDB)


def _literal(text: str) -> str:
    """A SQL string literal of one of our own fixed settings (never user input)."""
    return "'" + text.replace("'", "''") + "'"
