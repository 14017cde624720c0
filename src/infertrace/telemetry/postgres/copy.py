"""Binary COPY of encoded rows: one transaction per write group.

Spans go straight into ``spans`` by COPY. When the group holds a span that is
already stored (an OTLP retry), the unique index refuses the COPY; the group
is then copied into a temporary staging table and moved with
``INSERT ... ON CONFLICT DO NOTHING``, so a retried span is stored once and the
common case pays nothing for the check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors

from infertrace.telemetry.postgres.partitions import Partitions
from infertrace.telemetry.postgres.rows import LOG_COLUMNS, METRIC_COLUMNS, SPAN_COLUMNS, Row
from infertrace.telemetry.postgres.schema import DAY_NS, TIME_COLUMNS
from infertrace.telemetry.schema import LOG, METRIC, SPAN

Conn = psycopg.Connection[Any]
Columns = tuple[tuple[str, str], ...]

_STAGE = "infertrace_spans_stage"
_TRACE_ID = SPAN.columns.index("trace_id")
_TIME_AT = {
    table: schema.columns.index(TIME_COLUMNS[table])
    for table, schema in (("spans", SPAN), ("logs", LOG), ("metric_points", METRIC))
}
"""Where each table's row holds the time it is partitioned by."""


def copy_rows(conn: Conn, table: str, columns: Columns, rows: Sequence[Row]) -> None:
    """COPY ``rows`` into ``table`` in binary format. O(rows)."""
    names = ", ".join(c for c, _ in columns)
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as cp,
    ):
        cp.set_types([t for _, t in columns])
        write = cp.write_row
        for row in rows:
            write(row)


def _copy_spans_deduplicated(conn: Conn, rows: Sequence[Row]) -> None:
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE spans INCLUDING DEFAULTS)"
        " ON COMMIT DELETE ROWS"
    )
    copy_rows(conn, _STAGE, SPAN_COLUMNS, rows)
    conn.execute(f"INSERT INTO spans SELECT * FROM {_STAGE} ORDER BY seq ON CONFLICT DO NOTHING")


def _upsert_trace_bounds(conn: Conn, rows: Sequence[Row]) -> None:
    bounds: dict[bytes, list[int]] = {}
    at = _TIME_AT["spans"]
    for r in rows:
        tid, start = r[_TRACE_ID], r[at]
        b = bounds.get(tid)
        if b is None:
            bounds[tid] = [start, start]
        elif start < b[0]:
            b[0] = start
        elif start > b[1]:
            b[1] = start
    ids = sorted(bounds)  # one lock order for every writer: no deadlocks
    conn.execute(
        "INSERT INTO trace_bounds (trace_id, first_start, last_start)"
        " SELECT * FROM unnest(%s::bytea[], %s::bigint[], %s::bigint[])"
        " ON CONFLICT (trace_id) DO UPDATE SET"
        " first_start = LEAST(trace_bounds.first_start, EXCLUDED.first_start),"
        " last_start = GREATEST(trace_bounds.last_start, EXCLUDED.last_start)",
        (ids, [bounds[t][0] for t in ids], [bounds[t][1] for t in ids]),
        binary=True,
    )


def write_spans(conn: Conn, rows: Sequence[Row]) -> None:
    """Store span rows (inside the caller's transaction), each (trace, span, start) once."""
    try:
        with conn.transaction():
            copy_rows(conn, "spans", SPAN_COLUMNS, rows)
    except errors.UniqueViolation:
        _copy_spans_deduplicated(conn, rows)
    _upsert_trace_bounds(conn, rows)


def committed(conn: Conn, batch_id: uuid.UUID) -> bool:
    """Whether the write group ``batch_id`` was committed (its reply may have been lost)."""
    row = conn.execute(
        "SELECT 1 FROM infertrace_batches WHERE batch_id = %s", (batch_id,)
    ).fetchone()
    return row is not None


def write_group(
    conn: Conn,
    partitions: Partitions,
    spans: Sequence[Row],
    logs: Sequence[Row],
    metrics: Sequence[Row],
    batch_id: uuid.UUID,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Store one write group atomically, recording ``batch_id`` with it.

    ``before_commit`` runs last inside the transaction; if it raises, the
    transaction rolls back and the exception propagates.
    """
    for table, rows in (("spans", spans), ("logs", logs), ("metric_points", metrics)):
        at = _TIME_AT[table]
        partitions.ensure(conn, table, {r[at] // DAY_NS for r in rows})
    with conn.transaction():
        if spans:
            write_spans(conn, spans)
        if logs:
            copy_rows(conn, "logs", LOG_COLUMNS, logs)
        if metrics:
            copy_rows(conn, "metric_points", METRIC_COLUMNS, metrics)
        conn.execute("INSERT INTO infertrace_batches (batch_id) VALUES (%s)", (batch_id,))
        if before_commit is not None:
            before_commit()
