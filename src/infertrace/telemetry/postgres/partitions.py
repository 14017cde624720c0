"""Day partitions (plain PostgreSQL) and retention for both layouts.

Partitions are named ``<table>_d<day>`` where ``day`` is the unix day number,
so their bounds follow from their name. They are created ahead of time (today
and tomorrow, at start and on every purge) and on demand for the days a batch
touches, in their own short transaction before the batch's COPY. Retention
drops whole partitions (or TimescaleDB chunks) that are entirely older than
the cutoff and deletes the remaining older rows from the one that straddles it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import errors

from infertrace.telemetry.postgres import timescale
from infertrace.telemetry.postgres.schema import DAY_NS, TIME_COLUMNS

Conn = psycopg.Connection[Any]
_MAX = 2**63 - 1


def partition_name(table: str, day: int) -> str:
    return f"{table}_d{day}"


class Partitions:
    """Knows which day partitions exist; creates missing ones. Thread-safe."""

    def __init__(self, layout: str) -> None:
        self.layout = layout
        self._known: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @property
    def native(self) -> bool:
        return self.layout == "partitioned"

    def load(self, conn: Conn) -> None:
        """Read the partitions that exist now (at start, and after an error)."""
        if not self.native:
            return
        found = set()
        for table in TIME_COLUMNS:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = %s::regclass",
                (table,),
            ).fetchall()
            for (name,) in rows:
                prefix = f"{table}_d"
                if name.startswith(prefix) and name[len(prefix) :].lstrip("-").isdigit():
                    found.add((table, int(name[len(prefix) :])))
        with self._lock:
            self._known = found

    def ensure(self, conn: Conn, table: str, days: Iterable[int]) -> None:
        """Create the partitions of ``days`` that do not exist yet. O(new days)."""
        if not self.native:
            return
        with self._lock:
            missing = sorted({d for d in days if (table, d) not in self._known})
        for day in missing:
            lo = day * DAY_NS
            hi = "MAXVALUE" if (day + 1) * DAY_NS > _MAX else str((day + 1) * DAY_NS)
            try:
                with conn.transaction():
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)}"
                        f" PARTITION OF {table} FOR VALUES FROM ({lo}) TO ({hi})"
                    )
            except (errors.DuplicateTable, errors.UniqueViolation):
                pass  # another process created it between our check and our CREATE
            with self._lock:
                self._known.add((table, day))

    def ensure_ahead(self, conn: Conn, now_ns: int | None = None) -> None:
        """Create today's and tomorrow's partitions of every table."""
        today = (time.time_ns() if now_ns is None else now_ns) // DAY_NS
        for table in TIME_COLUMNS:
            self.ensure(conn, table, (today, today + 1))

    def forget(self) -> None:
        """Drop the cache (a COPY found a partition missing: someone dropped it)."""
        with self._lock:
            self._known.clear()

    def purge(self, conn: Conn, cutoff_ns: int) -> dict[str, int]:
        """Remove every record older than ``cutoff_ns``; rows removed per table."""
        removed: dict[str, int] = {}
        self.load(conn)
        for table, column in TIME_COLUMNS.items():
            with conn.transaction():
                row = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {column} < %s", (cutoff_ns,)
                ).fetchone()
                removed[table] = int(row[0]) if row else 0
                if removed[table] == 0:
                    continue
                if self.native:
                    self._drop_old(conn, table, cutoff_ns)
                else:
                    timescale.drop_chunks(conn, table, cutoff_ns)
                conn.execute(f"DELETE FROM {table} WHERE {column} < %s", (cutoff_ns,))
        with conn.transaction():
            conn.execute("DELETE FROM trace_bounds WHERE last_start < %s", (cutoff_ns,))
            conn.execute(
                "DELETE FROM infertrace_batches WHERE committed_at < now() - interval '1 hour'"
            )
        return removed

    def _drop_old(self, conn: Conn, table: str, cutoff_ns: int) -> None:
        with self._lock:
            old = sorted(d for t, d in self._known if t == table and (d + 1) * DAY_NS <= cutoff_ns)
        for day in old:
            conn.execute(f"DROP TABLE IF EXISTS {partition_name(table, day)}")
            with self._lock:
                self._known.discard((table, day))
