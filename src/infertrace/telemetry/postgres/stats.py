"""Measured sizes of the PostgreSQL store: rows, table and index bytes per signal.

Capacity is None (unbounded): PostgreSQL holds what its disk holds, and the store
is bounded by retention (``--max-age``), not by a number of rows.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from infertrace.telemetry.postgres import extension
from infertrace.telemetry.protocols import SignalStats, StoreStats

_PARTITION_SIZES = sql.SQL(
    "SELECT coalesce(sum(pg_table_size(t.relid)), 0),"
    " coalesce(sum(pg_indexes_size(t.relid)), 0)"
    " FROM pg_partition_tree(%s::regclass) t WHERE t.isleaf"
)
_HYPERTABLE_SIZES = sql.SQL(
    "SELECT coalesce(sum(table_bytes + toast_bytes), 0), coalesce(sum(index_bytes), 0)"
    " FROM {}(%s::regclass)"
)


def _sizes(conn: psycopg.Connection[Any], layout: str) -> sql.SQL | sql.Composed:
    if layout == "timescaledb":
        return _HYPERTABLE_SIZES.format(extension.function(conn, "hypertable_detailed_size"))
    return _PARTITION_SIZES


def _signal(conn: psycopg.Connection[Any], table: str, layout: str, evicted: int) -> SignalStats:
    count_row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    count = int(count_row[0]) if count_row else 0
    size_row = conn.execute(_sizes(conn, layout), (table,)).fetchone()
    data, index = (int(size_row[0]), int(size_row[1])) if size_row else (0, 0)
    n_idx = conn.execute(
        "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (table,)
    ).fetchone()
    traces = 0
    if table == "spans":
        t = conn.execute("SELECT count(*) FROM trace_bounds").fetchone()
        traces = int(t[0]) if t else 0
    return SignalStats(
        capacity=None,
        count=count,
        evicted=evicted,
        index_entries=count * (int(n_idx[0]) if n_idx else 0),
        data_bytes=data,
        index_bytes=index,
        distinct_traces=traces,
    )


def store_stats(conn: psycopg.Connection[Any], layout: str, evicted: dict[str, int]) -> StoreStats:
    """Exact row counts and on-disk bytes; capacity None (bounded by retention, not rows)."""
    return StoreStats(
        spans=_signal(conn, "spans", layout, evicted["spans"]),
        logs=_signal(conn, "logs", layout, evicted["logs"]),
        metrics=_signal(conn, "metric_points", layout, evicted["metric_points"]),
    )
