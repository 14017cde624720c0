"""``infertrace db convert-to-hypertables``: the plain-PostgreSQL half, on a real server.

Creating hypertables needs TimescaleDB, which cannot be installed here; every
other step (locking, renaming aside, recreating the tables and their indexes,
copying, dropping the partitions, recording the layout, rolling back on failure)
is exercised with ``make_table`` standing in for ``create_hypertable``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from infertrace.cli.db import db
from infertrace.telemetry.postgres import PostgresStore
from infertrace.telemetry.postgres.convert import rebuild_tables, record_layout
from infertrace.telemetry.postgres.migrate import layout_note, schema_state
from infertrace.telemetry.postgres.schema import DAY_NS, LATEST, TIME_COLUMNS
from infertrace.workload import Workload

T0 = 1_700_000_000_000_000_000
FINGERPRINT = "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY seq)) FROM {} t"


@pytest.fixture
def filled(pg_dsn: str) -> Iterator[str]:
    """A partitioned database holding spans, logs and points over three days."""
    w = Workload(seed=3, start_ns=T0)
    with PostgresStore(pg_dsn, clock=lambda: T0 + 3 * DAY_NS) as store:
        for day in range(3):
            shift = day * DAY_NS
            store.write_batch([_shift(s, "start_time_unix_nano", shift) for s in w.spans(40)])
            store.write_logs([_shift(r, "time_unix_nano", shift) for r in w.logs(20)])
            store.write_metrics([_shift(p, "time_unix_nano", shift) for p in w.metrics(20)])
        store.flush()
    yield pg_dsn


def _shift(record: Any, field: str, by: int) -> Any:
    return dataclasses.replace(record, **{field: getattr(record, field) + by})


def _state(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in TIME_COLUMNS:
        out[table] = conn.execute(FINGERPRINT.format(table).encode()).fetchone()
        out[f"{table} kind"] = conn.execute(
            "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)
        ).fetchone()
        out[f"{table} indexes"] = sorted(
            r[0]
            for r in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass",
                (table,),
            )
        )
    return out


def test_tables_are_rebuilt_with_their_rows_and_indexes(filled: str) -> None:
    made: list[tuple[str, str, int]] = []
    with psycopg.connect(filled, autocommit=True) as conn:
        before = _state(conn)
        assert before["spans"][0] == 120 and before["spans kind"] == ("p",)
        with conn.transaction():
            rows = rebuild_tables(conn, lambda c, t, col, ns: made.append((t, col, ns)))
            record_layout(conn, "timescaledb", "converted (test)")
        after = _state(conn)
        assert made == [(t, c, DAY_NS) for t, c in TIME_COLUMNS.items()]
        assert rows == {t: before[t][0] for t in TIME_COLUMNS}
        for table in TIME_COLUMNS:
            assert after[table] == before[table]  # every row, every value, same order
            assert after[f"{table} kind"] == ("r",)  # no longer partitioned
            assert after[f"{table} indexes"] == before[f"{table} indexes"]
        assert not conn.execute(
            "SELECT relname FROM pg_class WHERE relname ~ '_d[0-9]+$|_partitioned_old$'"
            " AND relnamespace = current_schema()::regnamespace"
        ).fetchall()
        assert schema_state(conn) == ("timescaledb", LATEST)
        assert layout_note(conn) == "converted (test)"
        unique = conn.execute(
            "SELECT indisunique FROM pg_index WHERE indexrelid = 'spans_trace_idx'::regclass"
        ).fetchone()
        assert unique == (True,)


def test_a_failure_midway_changes_nothing(filled: str) -> None:
    def fail_on_logs(conn: Any, table: str, column: str, ns: int) -> None:
        if table == "logs":
            raise psycopg.errors.FeatureNotSupported("hypertables refused (test)")

    with psycopg.connect(filled, autocommit=True) as conn:
        before = _state(conn)
        with pytest.raises(psycopg.errors.FeatureNotSupported), conn.transaction():
            rebuild_tables(conn, fail_on_logs)
        assert _state(conn) == before
        assert schema_state(conn) == ("partitioned", LATEST)


@pytest.mark.parametrize("yes", [False, True])
@pytest.mark.parametrize(
    ("migrated", "says"),
    [
        (True, "TimescaleDB cannot be used: not installed on this server"),
        (False, "not migrated: run `infertrace db migrate --timescale` instead"),
    ],
)
def test_command_refuses_clearly_and_changes_nothing(
    pg_dsn: str, migrated: bool, says: str, yes: bool
) -> None:
    runner = CliRunner()
    if migrated:
        assert runner.invoke(db, ["migrate", "--dsn", pg_dsn]).exit_code == 0
    result = runner.invoke(db, ["convert-to-hypertables", "--dsn", pg_dsn, *(["--yes"] * yes)])
    assert result.exit_code == 1, result.output
    assert says in result.output
    with psycopg.connect(pg_dsn) as conn:
        assert schema_state(conn) == (("partitioned", LATEST) if migrated else None)
