"""PostgreSQL-only behaviour: migrations, duplicates, partitions, values PG cannot hold."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord, Span
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.postgres import MigrationError, PostgresStore, migrate
from infertrace.telemetry.postgres.schema import DAY_NS, LATEST
from infertrace.workload import Workload

T0 = 1_700_000_000_000_000_000


def _span(i: int, t: int = T0, **kw: Any) -> Span:
    fields: dict[str, Any] = {
        "trace_id": bytes([1 + i % 5]) * 16,
        "span_id": (i + 1).to_bytes(8, "big"),
        "service_name": "svc",
        "operation_name": "op",
        "start_time_unix_nano": t + i,
        "duration_nanos": 10,
    }
    return Span(**{**fields, **kw})


def test_migrate_is_versioned_and_idempotent(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        first = migrate(conn, use_timescale=False)
        again = migrate(conn)
        versions = conn.execute("SELECT version FROM infertrace_migrations").fetchall()
    every = tuple(range(1, LATEST + 1))  # a fresh database gets every migration, in order
    assert (first.layout, first.version, first.applied) == ("partitioned", LATEST, every)
    assert (again.version, again.applied) == (LATEST, ())
    assert versions == [(v,) for v in every]


def test_timescale_required_but_missing_is_an_error(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn, pytest.raises(MigrationError):
        migrate(conn, use_timescale=True)


def test_store_without_migrations_refuses_an_empty_database(pg_dsn: str) -> None:
    with pytest.raises(MigrationError, match="infertrace db migrate"):
        PostgresStore(pg_dsn, run_migrations=False)


def test_duplicate_spans_are_stored_once(pg_dsn: str) -> None:
    batch = [_span(i) for i in range(50)]
    with PostgresStore(pg_dsn) as store:
        store.write_batch(batch)
        store.write_batch([*batch[10:20], _span(100), *batch[10:12]])  # an OTLP retry
        got = store.list_spans(SpanFilter(limit=1000))
        assert len(got) == 51
        assert len({(s.trace_id, s.span_id) for s in got}) == 51
        assert store.stats().spans.count == 51
        assert len(store.get_trace(bytes([1]) * 16)) == 11


@pytest.mark.parametrize(
    "bad",
    [
        {"service_name": "a\x00b"},
        {"status_message": "\ud800"},
        {"attributes": {"k": "nul\x00"}},
        {"attributes": {"k\x00": 1}},
        {"resource_attributes": {"k": ("ok", "\udfff")}},
        {"model_name": "m\x00"},
    ],
)
def test_values_postgres_cannot_hold_are_invalid_records(pg_dsn: str, bad: dict[str, Any]) -> None:
    with PostgresStore(pg_dsn) as store:
        with pytest.raises(InvalidRecord) as exc:
            store.write_batch([_span(0), _span(1, **bad)])
        assert exc.value.index == 1
        with pytest.raises(InvalidRecord):
            store.write_logs([LogRecord(T0, "svc", "body\x00")])
        assert store.list_spans(SpanFilter()) == []


def _partitions(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def test_day_partitions_created_on_demand_and_dropped_by_retention(pg_dsn: str) -> None:
    now = T0 + 10 * DAY_NS
    with PostgresStore(pg_dsn, clock=lambda: now) as store:
        for day in range(5):
            store.write_batch([_span(i, T0 + day * DAY_NS) for i in range(day * 10, day * 10 + 10)])
        store.flush()
        with psycopg.connect(pg_dsn) as conn:
            before = _partitions(conn, "spans")
        assert {f"spans_d{(T0 + d * DAY_NS) // DAY_NS}" for d in range(5)} <= set(before)
        removed = store.purge_older_than(8 * 86_400)  # keeps days 2, 3, 4 only
        assert removed == 20
        assert len(store.list_spans(SpanFilter(limit=100))) == 30
        with psycopg.connect(pg_dsn) as conn:
            after = _partitions(conn, "spans")
        assert f"spans_d{T0 // DAY_NS}" not in after
        assert f"spans_d{(T0 + 2 * DAY_NS) // DAY_NS}" in after


def test_get_trace_is_bounded_to_the_trace_partitions(pg_dsn: str) -> None:
    w = Workload(seed=5, start_ns=T0)
    with PostgresStore(pg_dsn) as store:
        for day in range(6):
            spans = [
                Span(
                    **{**_fields(s), "start_time_unix_nano": s.start_time_unix_nano + day * DAY_NS}
                )
                for s in w.spans(60)
            ]
            store.write_batch(spans)
        target = spans[0].trace_id
        assert store.get_trace(target)[0].trace_id == target
        with psycopg.connect(pg_dsn) as conn:
            plan = "\n".join(
                r[0]
                for r in conn.execute(
                    "EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM spans WHERE trace_id = %s"
                    " AND start_time_unix_nano >= (SELECT first_start FROM trace_bounds"
                    " WHERE trace_id = %s) AND start_time_unix_nano <= (SELECT last_start"
                    " FROM trace_bounds WHERE trace_id = %s)",
                    (target, target, target),
                )
            )
        assert plan.count("(never executed)") >= 5, plan


def _fields(s: Span) -> dict[str, Any]:
    return {f: getattr(s, f) for f in Span.__dataclass_fields__}


def test_upgrade_from_v1_keeps_the_rows_and_adds_the_columns(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's database created by the first release migrates in place: old spans
    read back with the new columns empty, new spans keep them."""
    import importlib

    from infertrace.telemetry.postgres.partitions import Partitions
    from infertrace.telemetry.postgres.schema import MIGRATIONS

    migrate_module = importlib.import_module("infertrace.telemetry.postgres.migrate")

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with monkeypatch.context() as m:
            m.setattr(migrate_module, "MIGRATIONS", MIGRATIONS[:1])
            m.setattr(migrate_module, "LATEST", 1)
            assert migrate(conn, use_timescale=False).version == 1
        old = _span(1, input_tokens=7)
        Partitions("partitioned").ensure(conn, "spans", [old.start_time_unix_nano // DAY_NS])
        conn.execute(  # the first release's columns only
            "INSERT INTO spans (trace_id, span_id, parent_span_id, service_name, operation_name,"
            " kind, start_time_unix_nano, duration_nanos, status_code, status_message,"
            " input_tokens, attributes, resource_attributes, events, links)"
            " VALUES (%s, %s, '', %s, %s, 0, %s, %s, 0, '', %s, '{}', '{}', '[]', '[]')",
            (old.trace_id, old.span_id, old.service_name, old.operation_name,
             old.start_time_unix_nano, old.duration_nanos, old.input_tokens),
        )  # fmt: skip
        upgraded = migrate(conn)
    assert upgraded.applied == tuple(range(2, LATEST + 1)) and upgraded.version == LATEST
    new = _span(2, queue_time_nanos=5, e2e_time_nanos=9, request_id="r", finish_reason="stop")
    with PostgresStore(pg_dsn) as store:
        store.write_batch([new])
        got = {s.span_id: s for s in store.list_spans(SpanFilter(limit=10))}
    assert got[old.span_id].input_tokens == 7
    assert got[old.span_id].queue_time_nanos is None and got[old.span_id].request_id is None
    assert got[new.span_id].queue_time_nanos == 5 and got[new.span_id].finish_reason == "stop"
