"""Every consumer of a record's field list agrees with ``telemetry.schema``.

One table per consumer, each parametrized over the three record schemas: the
dataclasses, the memory tables' specs and null sentinels, the PostgreSQL COPY
rows and the table the migrations create, the export's Arrow schema, the REST
JSON key order and semconv's inference columns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest

from infertrace.api import export
from infertrace.api.serialize import log_json, metric_json, span_json
from infertrace.collector.otlp import build
from infertrace.engine.table import OBJECT, TableSpec
from infertrace.model import (
    HistogramData,
    LogRecord,
    MetricPoint,
    MetricType,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
)
from infertrace.telemetry import semconv
from infertrace.telemetry.memory import logs as memory_logs
from infertrace.telemetry.memory import metrics as memory_metrics
from infertrace.telemetry.memory import spans as memory_spans
from infertrace.telemetry.postgres import migrate
from infertrace.telemetry.postgres import rows as pg_rows
from infertrace.telemetry.schema import LOG, METRIC, SCHEMAS, SPAN, Field, FieldType, RecordSchema

IDS = [s.record.__name__ for s in SCHEMAS]

FULL_SPAN = Span(
    trace_id=bytes(range(1, 17)),
    span_id=bytes(range(21, 29)),
    service_name="svc",
    operation_name="op",
    start_time_unix_nano=1_000,
    duration_nanos=20,
    parent_span_id=bytes(range(31, 39)),
    kind=SpanKind.SERVER,
    status_code=StatusCode.ERROR,
    status_message="boom",
    model_name="llama",
    model_version="3.1",
    batch_size=4,
    input_tokens=11,
    output_tokens=12,
    gpu_utilization=0.5,
    time_to_first_token_nanos=13,
    queue_time_nanos=14,
    prefill_time_nanos=15,
    decode_time_nanos=16,
    e2e_time_nanos=17,
    request_id="cmpl-1",
    finish_reason="stop",
    model_source="span",
    attributes={"a": 1},
    resource_attributes={"r": "x"},
    events=(SpanEvent("e", 1_001),),
    links=(SpanLink(bytes(range(41, 57)), bytes(range(61, 69)), {}, "a=1", 0x201),),
    trace_state="vendor=x",
    flags=0x101,
    dropped_attributes_count=18,
    dropped_events_count=19,
    dropped_links_count=20,
)
FULL_LOG = LogRecord(
    time_unix_nano=2_000,
    service_name="svc",
    body="hello",
    observed_time_unix_nano=2_001,
    severity_number=9,
    severity_text="INFO",
    trace_id=bytes(range(1, 17)),
    span_id=bytes(range(21, 29)),
    attributes={"a": 1},
    resource_attributes={"r": "x"},
)
FULL_POINT = MetricPoint(
    name="m",
    type=MetricType.SUM,
    service_name="svc",
    time_unix_nano=3_000,
    value=2.5,
    unit="s",
    start_time_unix_nano=2_500,
    attributes={"a": 1},
    resource_attributes={"r": "x"},
    histogram=None,
    is_monotonic=True,
    description="d",
)
FULL: dict[str, Any] = {"Span": FULL_SPAN, "LogRecord": FULL_LOG, "MetricPoint": FULL_POINT}
"""A record of each type with every field present (a sum: its histogram is absent)."""

MEMORY_SPECS: dict[str, TableSpec] = {
    "Span": memory_spans.SPEC,
    "LogRecord": memory_logs.SPEC,
    "MetricPoint": memory_metrics.SPEC,
}


def _name(schema: RecordSchema) -> str:
    return schema.record.__name__


def _nullable_fields() -> list[Any]:
    return [
        pytest.param(s, f, id=f"{_name(s)}.{f.name}")
        for s in SCHEMAS
        for f in s.fields
        if f.nullable
    ]


@pytest.mark.parametrize("schema", SCHEMAS, ids=IDS)
def test_the_dataclass_has_the_schema_fields_in_order(schema: RecordSchema) -> None:
    fields = dataclasses.fields(schema.record)
    assert tuple(f.name for f in fields) == schema.names
    for f in fields:  # optional in the record exactly when nullable (ids: b"", not None)
        spec = schema[f.name]
        optional = "None" in str(f.type)
        assert optional == (spec.nullable and not spec.type.is_id), f.name
    assert sorted(schema.columns) == sorted(schema.names)


@pytest.mark.parametrize("schema", SCHEMAS, ids=IDS)
def test_every_field_has_its_memory_column(schema: RecordSchema) -> None:
    spec = MEMORY_SPECS[_name(schema)]
    for f in schema.fields:
        column = spec.column(f.storage)
        assert (column.dictionary is not None) == f.dictionary, f.name
        if f.null is not None and column.dictionary is None and column.dtype != OBJECT:
            empty_slot = np.full(column.shape, column.fill, column.dtype)
            assert _same(empty_slot, f.null), f.name


def _stored(schema: RecordSchema, record: Any) -> dict[str, Any]:
    """The storage columns' slot 0 after ``record`` was appended to an empty memory table."""
    if schema is SPAN:
        spans = memory_spans.SpanTable(4)
        spans.append(spans.prepare([record]), [record], 0)
        cols = spans.table.cols
    elif schema is LOG:
        logs = memory_logs.LogTable(4)
        logs.append([record], 0)
        cols = logs.table.cols
    else:
        points = memory_metrics.MetricTable(4)
        points.append([record], 0)
        cols = points.table.cols
    return {name: col[0] for name, col in cols.items()}


def _same(stored: Any, null: Any) -> bool:
    if isinstance(null, bytes):
        return bool(stored.tobytes() == null)
    if isinstance(null, float) and math.isnan(null):
        return bool(np.isnan(stored))
    return bool(stored == null)


HIST_POINT = dataclasses.replace(
    FULL_POINT, type=MetricType.HISTOGRAM, value=None, histogram=HistogramData(count=1)
)
"""A point whose value is absent and histogram present, as for every distribution kind."""


def _with_and_without(schema: RecordSchema, field: Field) -> tuple[Any, Any]:
    if schema is METRIC and field.name == "value":
        return FULL_POINT, HIST_POINT
    if schema is METRIC and field.name == "histogram":
        return HIST_POINT, FULL_POINT
    full = FULL[_name(schema)]
    return full, dataclasses.replace(full, **{field.name: b"" if field.type.is_id else None})


@pytest.mark.parametrize(("schema", "field"), _nullable_fields())
def test_an_absent_value_is_stored_as_its_sentinel(schema: RecordSchema, field: Field) -> None:
    present, stored = (_stored(schema, r)[field.storage] for r in _with_and_without(schema, field))
    if field.dictionary:
        assert stored == -1 and present >= 0
    elif field.null is None:  # an object slot holds None
        assert stored is None and present is not None
    else:
        assert _same(stored, field.null) and not _same(present, field.null)


def _cell(f: Field, value: Any) -> Any:
    """What a COPY row holds for ``value`` of field ``f`` (payloads: JSONB binary)."""
    if f.type is FieldType.TEXT:
        return value.encode()
    if f.type is FieldType.ENUM:
        return int(value)
    return value


ROW_ENCODERS: dict[str, tuple[Callable[[Any], tuple[Any, ...]], tuple[tuple[str, str], ...]]] = {
    "Span": (pg_rows.span_row, pg_rows.SPAN_COLUMNS),
    "LogRecord": (pg_rows.log_row, pg_rows.LOG_COLUMNS),
    "MetricPoint": (pg_rows.metric_row, pg_rows.METRIC_COLUMNS),
}


@pytest.mark.parametrize("schema", SCHEMAS, ids=IDS)
def test_copy_rows_follow_the_schema_columns(schema: RecordSchema) -> None:
    encode, columns = ROW_ENCODERS[_name(schema)]
    assert columns == tuple((f.name, pg_rows.COPY_TYPES[f.type]) for f in schema.in_columns())
    record = FULL[_name(schema)]
    row = encode(tuple(getattr(record, name) for name in schema.names))  # a batch row
    assert len(row) == len(columns)
    for f, cell in zip(schema.in_columns(), row, strict=True):
        value = getattr(record, f.name)
        if f.type.is_payload:
            assert cell is None if value is None else cell[:1] == b"\x01", f.name  # jsonb v1
        else:
            assert cell == _cell(f, value), f.name


TABLES = {"Span": "spans", "LogRecord": "logs", "MetricPoint": "metric_points"}


def _sql_null(f: Field) -> bool:
    return f.nullable and not f.type.is_id  # an absent id is stored as ''


def test_the_created_tables_have_the_schema_columns(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        migrate(conn, use_timescale=False)
        for schema in SCHEMAS:
            table = TABLES[_name(schema)]
            found = conn.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s"
                " AND column_name <> 'seq'",
                (table,),
            ).fetchall()
            expected = {
                (
                    f.name,
                    pg_rows.SQL_TYPES[f.type],
                    "YES" if f.nullable and not f.type.is_id else "NO",
                )
                for f in schema.fields
            }
            assert set(found) == expected, table
            assert len(found) == len(expected)


def test_the_export_schema_is_the_span_columns_with_display_columns() -> None:
    display = {name for cols in export.DISPLAY_COLUMNS.values() for name, _ in cols}
    stored = [f for f in export.SCHEMA if f.name not in display]
    assert tuple(f.name for f in stored) == SPAN.columns
    for arrow, f in zip(stored, SPAN.in_columns(), strict=True):
        assert arrow.type == export.ARROW_TYPES[f.type], f.name
        assert arrow.nullable == f.nullable, f.name
    for after, cols in export.DISPLAY_COLUMNS.items():
        at = export.SCHEMA.names.index(after)
        assert tuple(export.SCHEMA.names[at + 1 : at + 1 + len(cols)]) == tuple(n for n, _ in cols)
    assert tuple(export.SCHEMA.names) == export.COLUMNS
    assert tuple(f.name for f in SPAN.in_columns() if f.type.is_payload) == export.JSON_COLUMNS


REST: dict[str, tuple[Callable[[Any], dict[str, Any]], dict[str, tuple[str, ...]]]] = {
    "Span": (
        span_json,
        {k: tuple(n for n, _ in v) for k, v in export.DISPLAY_COLUMNS.items()},
    ),
    "LogRecord": (log_json, {"time_unix_nano": ("time",)}),
    "MetricPoint": (metric_json, {"time_unix_nano": ("time",)}),
}
"""Each /api serializer and the display keys it adds after a field."""


@pytest.mark.parametrize("schema", SCHEMAS, ids=IDS)
def test_rest_json_keys_are_the_schema_columns_in_order(schema: RecordSchema) -> None:
    serialize, display = REST[_name(schema)]
    expected = [k for name in schema.columns for k in (name, *display.get(name, ()))]
    assert list(serialize(FULL[_name(schema)])) == expected
    if schema is SPAN:
        assert tuple(expected) == export.COLUMNS


def test_semconv_lifts_into_the_inference_columns() -> None:
    assert SPAN.inference == semconv.COLUMNS
    assert all(SPAN[name].nullable for name in SPAN.inference)
    assert len(SPAN.inference) == semconv.FINISH_REASON + 1


@pytest.mark.parametrize(
    ("schema", "new"),
    [(SPAN, build.new_span), (LOG, build.new_log), (METRIC, build.new_point)],
    ids=IDS,
)
def test_the_decoder_builders_take_the_record_order(schema: RecordSchema, new: Any) -> None:
    record = FULL[_name(schema)]
    assert new(*(getattr(record, name) for name in schema.names)) == record


def test_a_schema_refuses_columns_that_are_not_its_fields() -> None:
    with pytest.raises(ValueError, match="columns"):
        RecordSchema(Span, SPAN.fields, SPAN.columns[1:])
    with pytest.raises(ValueError, match="sentinel"):
        Field("x", FieldType.COUNT, "x", null=-1)
    with pytest.raises(KeyError):
        SPAN["nope"]
