"""Records to COPY rows and result rows back to records.

Encoding runs in the caller's thread, before a write is acknowledged: every
text value becomes UTF-8 bytes and every JSONB value its binary form, so a
value PostgreSQL would refuse (a NUL, a lone surrogate) is an InvalidRecord
now, never a failed COPY later. The COPY then only moves bytes (the text and
JSONB columns are declared ``bytea`` to the COPY so psycopg passes them
through; the server runs each column's own binary input function).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
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
)
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

Row = tuple[Any, ...]

SPAN_COLUMNS = (
    ("trace_id", "bytea"),
    ("span_id", "bytea"),
    ("parent_span_id", "bytea"),
    ("service_name", "bytea"),
    ("operation_name", "bytea"),
    ("kind", "int2"),
    ("start_time_unix_nano", "int8"),
    ("duration_nanos", "int8"),
    ("status_code", "int2"),
    ("status_message", "bytea"),
    ("model_name", "bytea"),
    ("model_version", "bytea"),
    ("batch_size", "int4"),
    ("input_tokens", "int4"),
    ("output_tokens", "int4"),
    ("gpu_utilization", "float8"),
    ("time_to_first_token_nanos", "int8"),
    ("attributes", "bytea"),
    ("resource_attributes", "bytea"),
    ("events", "bytea"),
    ("links", "bytea"),
)
LOG_COLUMNS = (
    ("time_unix_nano", "int8"),
    ("observed_time_unix_nano", "int8"),
    ("severity_number", "int2"),
    ("severity_text", "bytea"),
    ("body", "bytea"),
    ("trace_id", "bytea"),
    ("span_id", "bytea"),
    ("service_name", "bytea"),
    ("attributes", "bytea"),
    ("resource_attributes", "bytea"),
)
METRIC_COLUMNS = (
    ("name", "bytea"),
    ("type", "int2"),
    ("unit", "bytea"),
    ("description", "bytea"),
    ("service_name", "bytea"),
    ("time_unix_nano", "int8"),
    ("start_time_unix_nano", "int8"),
    ("value", "float8"),
    ("is_monotonic", "bool"),
    ("attributes", "bytea"),
    ("resource_attributes", "bytea"),
    ("histogram", "bytea"),
)

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
        f'["{bytes(k.trace_id).hex()}","{bytes(k.span_id).hex()}",{attributes_json(k.attributes)}]'
        for k in links
    ]
    return jsonb_bytes("[" + ",".join(parts) + "]")


def span_row(s: Span) -> Row:
    """The COPY row of a validated span (see SPAN_COLUMNS)."""
    gpu = s.gpu_utilization
    return (
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        text_bytes(s.service_name),
        text_bytes(s.operation_name),
        int(s.kind),
        s.start_time_unix_nano,
        s.duration_nanos,
        int(s.status_code),
        text_bytes(s.status_message),
        _opt_text(s.model_name),
        _opt_text(s.model_version),
        s.batch_size,
        s.input_tokens,
        s.output_tokens,
        None if gpu is None else float(gpu),
        s.time_to_first_token_nanos,
        _attrs_jsonb(s.attributes),
        _attrs_jsonb(s.resource_attributes),
        _events_json(s.events),
        _links_json(s.links),
    )


def log_row(r: LogRecord) -> Row:
    """The COPY row of a validated log record (see LOG_COLUMNS)."""
    return (
        r.time_unix_nano,
        r.observed_time_unix_nano,
        int(r.severity_number),
        text_bytes(r.severity_text),
        text_bytes(r.body),
        r.trace_id,
        r.span_id,
        text_bytes(r.service_name),
        _attrs_jsonb(r.attributes),
        _attrs_jsonb(r.resource_attributes),
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


def metric_row(p: MetricPoint) -> Row:
    """The COPY row of a validated metric point (see METRIC_COLUMNS)."""
    return (
        text_bytes(p.name),
        int(p.type),
        text_bytes(p.unit),
        text_bytes(p.description),
        text_bytes(p.service_name),
        p.time_unix_nano,
        p.start_time_unix_nano,
        None if p.value is None else float(p.value),
        bool(p.is_monotonic),
        _attrs_jsonb(p.attributes),
        _attrs_jsonb(p.resource_attributes),
        _histogram_json(p.histogram),
    )


def encode_all(records: Sequence[Any], encode: Any) -> list[Row]:
    """Encode a validated batch; a value PostgreSQL cannot hold rejects the batch."""
    out = []
    for i, rec in enumerate(records):
        try:
            out.append(encode(rec))
        except EncodingProblem as exc:
            raise InvalidRecord(i, str(exc)) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidRecord(i, f"cannot be stored: {exc}") from None
    return out


SPAN_SELECT = (
    "trace_id, span_id, parent_span_id, service_name, operation_name, kind,"
    " start_time_unix_nano, duration_nanos, status_code, status_message, model_name,"
    " model_version, batch_size, input_tokens, output_tokens, gpu_utilization,"
    " time_to_first_token_nanos, attributes::text, resource_attributes::text,"
    " events::text, links::text"
)
_KINDS = tuple(SpanKind)
_STATUS = tuple(StatusCode)


def _events(text: str) -> tuple[SpanEvent, ...]:
    if text == "[]":
        return ()
    return tuple(SpanEvent(n, t, decode_attributes(dumps(a))) for n, t, a in loads(text))


def _links(text: str) -> tuple[SpanLink, ...]:
    if text == "[]":
        return ()
    return tuple(
        SpanLink(bytes.fromhex(t), bytes.fromhex(s), decode_attributes(dumps(a)))
        for t, s, a in loads(text)
    )


def span_from_row(r: Row) -> Span:
    """The Span of a row selected with SPAN_SELECT."""
    return Span(
        trace_id=r[0],
        span_id=r[1],
        parent_span_id=r[2],
        service_name=r[3],
        operation_name=r[4],
        kind=_KINDS[r[5]],
        start_time_unix_nano=r[6],
        duration_nanos=r[7],
        status_code=_STATUS[r[8]],
        status_message=r[9],
        model_name=r[10],
        model_version=r[11],
        batch_size=r[12],
        input_tokens=r[13],
        output_tokens=r[14],
        gpu_utilization=r[15],
        time_to_first_token_nanos=r[16],
        attributes=decode_attributes(r[17]),
        resource_attributes=decode_attributes(r[18]),
        events=_events(r[19]),
        links=_links(r[20]),
    )


LOG_SELECT = (
    "time_unix_nano, observed_time_unix_nano, severity_number, severity_text, body,"
    " trace_id, span_id, service_name, attributes::text, resource_attributes::text"
)


def log_from_row(r: Row) -> LogRecord:
    """The LogRecord of a row selected with LOG_SELECT."""
    return LogRecord(
        time_unix_nano=r[0],
        observed_time_unix_nano=r[1],
        severity_number=r[2],
        severity_text=r[3],
        body=r[4],
        trace_id=r[5],
        span_id=r[6],
        service_name=r[7],
        attributes=decode_attributes(r[8]),
        resource_attributes=decode_attributes(r[9]),
    )


METRIC_SELECT = (
    "name, type, unit, description, service_name, time_unix_nano, start_time_unix_nano,"
    " value, is_monotonic, attributes::text, resource_attributes::text, histogram::text"
)
_MTYPES = {int(t): t for t in MetricType}


def _histogram(text: str | None) -> HistogramData | None:
    if text is None:
        return None
    fields: dict[str, Any] = {
        k: None if v is None else untag_value(v) for k, v in loads(text).items()
    }
    return HistogramData(**fields)


def metric_from_row(r: Row) -> MetricPoint:
    """The MetricPoint of a row selected with METRIC_SELECT."""
    return MetricPoint(
        name=r[0],
        type=_MTYPES[r[1]],
        unit=r[2],
        description=r[3],
        service_name=r[4],
        time_unix_nano=r[5],
        start_time_unix_nano=r[6],
        value=r[7],
        is_monotonic=r[8],
        attributes=decode_attributes(r[9]),
        resource_attributes=decode_attributes(r[10]),
        histogram=_histogram(r[11]),
    )
