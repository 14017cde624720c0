"""Measured sizes of the PostgreSQL store: rows, table and index bytes per signal."""

from __future__ import annotations

from typing import Any

import psycopg

from infertrace.telemetry.protocols import SignalStats, StoreStats

_SIZES = {
    "partitioned": (
        "SELECT coalesce(sum(pg_table_size(t.relid)), 0),"
        " coalesce(sum(pg_indexes_size(t.relid)), 0)"
        " FROM pg_partition_tree(%s::regclass) t WHERE t.isleaf"
    ),
    "timescaledb": (
        "SELECT coalesce(sum(table_bytes + toast_bytes), 0), coalesce(sum(index_bytes), 0)"
        " FROM hypertable_detailed_size(%s::regclass)"
    ),
}


def _signal(conn: psycopg.Connection[Any], table: str, layout: str, evicted: int) -> SignalStats:
    count_row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    count = int(count_row[0]) if count_row else 0
    size_row = conn.execute(_SIZES[layout], (table,)).fetchone()
    data, index = (int(size_row[0]), int(size_row[1])) if size_row else (0, 0)
    n_idx = conn.execute(
        "SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass", (table,)
    ).fetchone()
    traces = 0
    if table == "spans":
        t = conn.execute("SELECT count(*) FROM trace_bounds").fetchone()
        traces = int(t[0]) if t else 0
    return SignalStats(
        capacity=0,
        count=count,
        evicted=evicted,
        index_entries=count * (int(n_idx[0]) if n_idx else 0),
        data_bytes=data,
        index_bytes=index,
        distinct_traces=traces,
    )


def store_stats(conn: psycopg.Connection[Any], layout: str, evicted: dict[str, int]) -> StoreStats:
    """Exact row counts and on-disk bytes (capacity 0: bounded by retention, not rows)."""
    return StoreStats(
        spans=_signal(conn, "spans", layout, evicted["spans"]),
        logs=_signal(conn, "logs", layout, evicted["logs"]),
        metrics=_signal(conn, "metric_points", layout, evicted["metric_points"]),
    )
