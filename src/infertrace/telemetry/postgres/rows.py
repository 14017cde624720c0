"""Records to COPY rows and result rows back to records.

Encoding runs in the caller's thread, before a write is acknowledged: every
text value becomes UTF-8 bytes and every JSONB value its binary form, so a
value PostgreSQL would refuse (a NUL, a lone surrogate) is an InvalidRecord
now, never a failed COPY later. The COPY then only moves bytes (the text and
JSONB columns are declared ``bytea`` to the COPY so psycopg passes them
through; the server runs each column's own binary input function).

Column lists, SELECT lists and the row readers come from
:mod:`infertrace.telemetry.schema`, in each record's view order; the row
encoders follow that order by hand (they are the hot path), and
``tests/telemetry/test_schema.py`` holds them, and the tables the migrations
create, to the schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from infertrace.errors import InvalidRecord
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
    Temporality,
    fast_constructor,
)
from infertrace.telemetry.batches import ColumnBatch
from infertrace.telemetry.postgres.codec import (
    EncodingProblem,
    attributes_json,
    decode_attributes,
    dumps,
    jsonb_bytes,
    loads,
    tag_value,
    text_bytes,
    untag_value,
)
from infertrace.telemetry.schema import LOG, METRIC, SPAN, FieldType, RecordSchema

Row = tuple[Any, ...]

COPY_TYPES: dict[FieldType, str] = {
    FieldType.ID16: "bytea",
    FieldType.ID8: "bytea",
    FieldType.TEXT: "bytea",  # UTF-8 made here, see the module doc
    FieldType.TIME: "int8",
    FieldType.COUNT: "int4",
    FieldType.FLAGS: "int8",
    FieldType.FLOAT: "float8",
    FieldType.ENUM: "int2",
    FieldType.BOOL: "bool",
    FieldType.ATTRIBUTES: "bytea",  # JSONB binary, see the module doc
    FieldType.EVENTS: "bytea",
    FieldType.LINKS: "bytea",
    FieldType.HISTOGRAM: "bytea",
}
"""The binary COPY type of each logical type."""

SQL_TYPES: dict[FieldType, str] = {
    FieldType.ID16: "bytea",
    FieldType.ID8: "bytea",
    FieldType.TEXT: "text",
    FieldType.TIME: "bigint",
    FieldType.COUNT: "integer",
    FieldType.FLAGS: "bigint",
    FieldType.FLOAT: "double precision",
    FieldType.ENUM: "smallint",
    FieldType.BOOL: "boolean",
    FieldType.ATTRIBUTES: "jsonb",
    FieldType.EVENTS: "jsonb",
    FieldType.LINKS: "jsonb",
    FieldType.HISTOGRAM: "jsonb",
}
"""The table column type of each logical type (the migrations' DDL is checked
against it by tests/telemetry/test_schema.py; a released migration is never edited)."""


def copy_columns(schema: RecordSchema) -> tuple[tuple[str, str], ...]:
    """(column, COPY type) of a record's table, in the schema's view order."""
    return tuple((f.name, COPY_TYPES[f.type]) for f in schema.in_columns())


def select_list(schema: RecordSchema) -> str:
    """The SELECT list of a record's columns in view order, JSONB as text."""
    return ", ".join(f.name + ("::text" if f.type.is_payload else "") for f in schema.in_columns())


SPAN_COLUMNS = copy_columns(SPAN)
LOG_COLUMNS = copy_columns(LOG)
METRIC_COLUMNS = copy_columns(METRIC)

_JSON_CACHE: dict[int, tuple[object, bytes]] = {}


def _attrs_jsonb(attrs: Any) -> bytes:
    """JSONB bytes of an attribute map, cached by identity for shared maps."""
    key = id(attrs)
    hit = _JSON_CACHE.get(key)
    if hit is not None and hit[0] is attrs:
        return hit[1]
    out = jsonb_bytes(attributes_json(attrs))
    if len(_JSON_CACHE) >= 1024:
        _JSON_CACHE.clear()
    _JSON_CACHE[key] = (attrs, out)
    return out


def _opt_text(value: str | None) -> bytes | None:
    return None if value is None else text_bytes(value)


def _events_json(events: tuple[SpanEvent, ...]) -> bytes:
    if not events:
        return b"\x01[]"
    parts = [
        f"[{dumps(e.name)},{int(e.time_unix_nano)},{attributes_json(e.attributes)}]" for e in events
    ]
    return jsonb_bytes("[" + ",".join(parts) + "]")


def _links_json(links: tuple[SpanLink, ...]) -> bytes:
    if not links:
        return b"\x01[]"
    parts = [
        f'["{bytes(k.trace_id).hex()}","{bytes(k.span_id).hex()}",{attributes_json(k.attributes)}'
        + (f",{dumps(k.trace_state)},{int(k.flags)}]" if k.trace_state or k.flags else "]")
        for k in links
    ]
    return jsonb_bytes("[" + ",".join(parts) + "]")


def span_row(fields: tuple[Any, ...]) -> Row:
    """The COPY row (see SPAN_COLUMNS) of a validated span given as its fields in record
    order: a row of a :class:`~infertrace.telemetry.batches.SpanBatch`."""
    (tid, sid, svc, op, start, dur, pid, kind, status, msg, model, mver, batch, itok, otok,
     gpu, ttft, queue, prefill, decode, e2e, rid, finish, msrc, attrs, res, events,
     links, state, flags, dropped_attrs, dropped_events, dropped_links) = fields  # fmt: skip
    return (
        tid,
        sid,
        pid,
        text_bytes(svc),
        text_bytes(op),
        int(kind),
        start,
        dur,
        int(status),
        text_bytes(msg),
        _opt_text(model),
        _opt_text(mver),
        batch,
        itok,
        otok,
        None if gpu is None else float(gpu),
        ttft,
        queue,
        prefill,
        decode,
        e2e,
        _opt_text(rid),
        _opt_text(finish),
        _opt_text(msrc),
        text_bytes(state),
        flags,
        _attrs_jsonb(attrs),
        _attrs_jsonb(res),
        _events_json(events),
        _links_json(links),
        dropped_attrs,
        dropped_events,
        dropped_links,
    )


def log_row(fields: tuple[Any, ...]) -> Row:
    """The COPY row (see LOG_COLUMNS) of a validated log record given as its fields in
    record order: a row of a :class:`~infertrace.telemetry.batches.LogBatch`."""
    (time_ns, svc, body, observed, sev, sevtext, tid, sid, attrs, res) = fields
    return (
        time_ns,
        observed,
        text_bytes(svc),
        int(sev),
        text_bytes(sevtext),
        text_bytes(body),
        tid,
        sid,
        _attrs_jsonb(attrs),
        _attrs_jsonb(res),
    )


_HIST_FIELDS = tuple(f.name for f in dataclasses.fields(HistogramData))
_HIST_DEFAULT = HistogramData()


def _histogram_json(h: HistogramData | None) -> bytes | None:
    if h is None:
        return None
    obj = {}
    for name in _HIST_FIELDS:
        v = getattr(h, name)
        if v != getattr(_HIST_DEFAULT, name) or type(v) is not type(getattr(_HIST_DEFAULT, name)):
            obj[name] = None if v is None else tag_value(v)
    return jsonb_bytes(dumps(obj))


def metric_row(fields: tuple[Any, ...]) -> Row:
    """The COPY row (see METRIC_COLUMNS) of a validated metric point given as its fields
    in record order: a row of a :class:`~infertrace.telemetry.batches.MetricBatch`."""
    (name, kind, svc, time_ns, value, unit, start, attrs, res, hist, mono, desc, temp) = fields
    return (
        text_bytes(name),
        int(kind),
        text_bytes(svc),
        time_ns,
        start,
        None if value is None else float(value),
        text_bytes(unit),
        text_bytes(desc),
        bool(mono),
        int(temp),
        _attrs_jsonb(attrs),
        _attrs_jsonb(res),
        # an integer beyond 2**53, which the float column rounds, is kept exact as
        # the JSONB number (arbitrary precision) of the otherwise empty histogram
        jsonb_bytes(str(value))
        if value.__class__ is int and not -EXACT_INT <= value <= EXACT_INT
        else _histogram_json(hist),
    )


def encode_all(batch: ColumnBatch[Any], encode: Callable[[tuple[Any, ...]], Row]) -> list[Row]:
    """COPY rows of a validated batch, straight from its columns; a value PostgreSQL
    cannot hold rejects the batch, naming the record."""
    out = []
    for i, fields in enumerate(batch.rows()):
        try:
            out.append(encode(fields))
        except EncodingProblem as exc:
            raise InvalidRecord(i, str(exc)) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidRecord(i, f"cannot be stored: {exc}") from None
    return out


SPAN_SELECT = select_list(SPAN)
LOG_SELECT = select_list(LOG)
METRIC_SELECT = select_list(METRIC)
_KINDS = tuple(SpanKind)
_STATUS = tuple(StatusCode)


def _events(text: str) -> tuple[SpanEvent, ...]:
    if text == "[]":
        return ()
    return tuple(SpanEvent(n, t, decode_attributes(dumps(a))) for n, t, a in loads(text))


def _links(text: str) -> tuple[SpanLink, ...]:
    if text == "[]":
        return ()
    # [trace id, span id, attributes] with the trace state and flags appended when set
    return tuple(
        SpanLink(bytes.fromhex(t), bytes.fromhex(s), decode_attributes(dumps(a)), *more)
        for t, s, a, *more in loads(text)
    )


_MTYPES = {int(t): t for t in MetricType}
_TEMPORALITIES = tuple(Temporality)


def _histogram(text: str | None) -> HistogramData | None:
    if text is None:
        return None
    fields: dict[str, Any] = {
        k: None if v is None else untag_value(v) for k, v in loads(text).items()
    }
    return HistogramData(**fields)


_FROM_TEXT: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.ATTRIBUTES: decode_attributes,
    FieldType.EVENTS: _events,
    FieldType.LINKS: _links,
    FieldType.HISTOGRAM: _histogram,
}


def record_reader(
    schema: RecordSchema, enums: dict[str, Callable[[int], Any]]
) -> Callable[[Row], Any]:
    """A function from a row selected with :func:`select_list` to its record.

    ``enums`` turns the named fields' integers into their IntEnum; JSONB columns
    (selected as text) are decoded by type. O(fields) per row.
    """
    make: Callable[..., Any] = fast_constructor(schema.record)
    steps = [
        (schema.columns.index(f.name), enums.get(f.name) or _FROM_TEXT.get(f.type))
        for f in schema.fields
    ]

    def read(r: Row) -> Any:
        return make(*[r[i] if convert is None else convert(r[i]) for i, convert in steps])

    return read


span_from_row: Callable[[Row], Span] = record_reader(
    SPAN, {"kind": _KINDS.__getitem__, "status_code": _STATUS.__getitem__}
)
"""The Span of a row selected with SPAN_SELECT."""
log_from_row: Callable[[Row], LogRecord] = record_reader(LOG, {})
"""The LogRecord of a row selected with LOG_SELECT."""
_metric_record: Callable[[Row], MetricPoint] = record_reader(
    METRIC, {"type": _MTYPES.__getitem__, "temporality": _TEMPORALITIES.__getitem__}
)
_TYPE = METRIC.columns.index("type")
_VALUE = METRIC.columns.index("value")
_HISTOGRAM = METRIC.columns.index("histogram")
EXACT_INT = 2**53
"""Integers up to this size are exact in a double precision column."""


def metric_from_row(row: Row) -> MetricPoint:
    """The MetricPoint of a row selected with METRIC_SELECT."""
    if row[_TYPE] < MetricType.HISTOGRAM and row[_HISTOGRAM] is not None:
        exact = list(row)  # a scalar's exact integer, see metric_row
        exact[_VALUE], exact[_HISTOGRAM] = int(row[_HISTOGRAM]), None
        row = tuple(exact)
    return _metric_record(row)
