"""One schema per record type: the fields of Span, LogRecord and MetricPoint, stated once.

Each :class:`Field` says what a field is (its logical :class:`FieldType`), whether
it may be absent and how the memory store holds an absent value (its sentinel),
which storage column of the memory table holds it, whether that column is
dictionary-encoded, and whether it is an inference column lifted from attributes
by :mod:`infertrace.telemetry.semconv`.

A :class:`RecordSchema` lists the fields twice over, for two readers:

- ``fields``, in the record's own order: the dataclass's field order (Python puts
  fields without a default first, and callers build records positionally in it),
  used by the memory tables' field getters and the decoder's record builders.
- ``columns``, the order of every tabular view: the REST JSON keys (less the
  display keys the serializers add), the export columns and the PostgreSQL COPY
  row. It is a permutation of the field names, checked at import.

What comes from here: the memory tables' field getters, semconv's inference
columns, the PostgreSQL COPY column lists and SELECT lists, the export's Arrow
schema and column order, the decoder's builder order. What is checked against it
by ``tests/telemetry/test_schema.py``: the dataclasses, the memory table specs
and sentinels, the PostgreSQL table created by the migrations, the REST JSON key
order. Adding a column is a field here plus the code that fills and reads it.

Absent values: a nullable field is ``None`` in the record, except ids, which are
``b""``; PostgreSQL stores ``None`` as NULL and an empty id as ``''``; the REST
JSON shows both as null.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from infertrace.model import LogRecord, MetricPoint, Span


class FieldType(enum.Enum):
    """The logical type of a field, from which each store and view picks its own."""

    ID16 = "id16"
    """16 bytes (a trace id)."""
    ID8 = "id8"
    """8 bytes (a span id)."""
    TEXT = "text"
    TIME = "int64 ns"
    """Unix nanoseconds, or a duration in nanoseconds."""
    COUNT = "int32 count"
    """A non-negative count below 2**31."""
    FLAGS = "uint32 flags"
    """A 32-bit unsigned bit field (OTLP ``flags``)."""
    FLOAT = "float64"
    ENUM = "enum"
    """A small integer code (an IntEnum in the record)."""
    BOOL = "bool"
    ATTRIBUTES = "attributes"
    """An attribute map."""
    EVENTS = "events"
    LINKS = "links"
    HISTOGRAM = "histogram"
    """A HistogramData payload."""

    @property
    def is_id(self) -> bool:
        return self in (FieldType.ID16, FieldType.ID8)

    @property
    def is_payload(self) -> bool:
        """Nested data (a map or a list of records): JSON in PostgreSQL and exports."""
        return self in _PAYLOADS


_PAYLOADS = frozenset(
    (FieldType.ATTRIBUTES, FieldType.EVENTS, FieldType.LINKS, FieldType.HISTOGRAM)
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a record.

    ``storage`` names the memory table's column that holds it (several fields may
    share one: a payload column, a metric's series code); ``null`` is what that
    column holds for an absent value (``None`` in the record, ``b""`` for an id),
    for nullable fields only; ``dictionary`` says the column holds dictionary codes
    (-1 absent); ``inference`` marks the columns semconv lifts from attributes.
    """

    name: str
    type: FieldType
    storage: str
    nullable: bool = False
    null: Any = None
    dictionary: bool = False
    inference: bool = False

    def __post_init__(self) -> None:
        if self.null is not None and not self.nullable:
            raise ValueError(f"field {self.name!r} has a null sentinel but is not nullable")


@dataclass(frozen=True, slots=True)
class RecordSchema:
    """The fields of one record type, in record order, and its view order ``columns``."""

    record: type
    fields: tuple[Field, ...]
    columns: tuple[str, ...]
    names: tuple[str, ...] = field(init=False)
    """Field names in record order."""
    inference: tuple[str, ...] = field(init=False)
    """The inference columns' names, in record order."""

    def __post_init__(self) -> None:
        names = tuple(f.name for f in self.fields)
        if len(set(names)) != len(names) or sorted(names) != sorted(self.columns):
            raise ValueError(f"{self.record.__name__}: columns {self.columns} must order {names}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "inference", tuple(f.name for f in self.fields if f.inference))

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def in_columns(self) -> tuple[Field, ...]:
        """The fields in view order (``columns``)."""
        return tuple(self[name] for name in self.columns)


T = FieldType

SPAN = RecordSchema(
    Span,
    (
        Field("trace_id", T.ID16, "tid"),
        Field("span_id", T.ID8, "sid"),
        Field("service_name", T.TEXT, "svc", dictionary=True),
        Field("operation_name", T.TEXT, "op", dictionary=True),
        Field("start_time_unix_nano", T.TIME, "start"),
        Field("duration_nanos", T.TIME, "dur"),
        Field("parent_span_id", T.ID8, "pid", nullable=True, null=bytes(8)),
        Field("kind", T.ENUM, "kind"),
        Field("status_code", T.ENUM, "status"),
        Field("status_message", T.TEXT, "extras"),
        Field("model_name", T.TEXT, "model", True, -1, dictionary=True, inference=True),
        Field("model_version", T.TEXT, "mver", True, -1, dictionary=True, inference=True),
        Field("batch_size", T.COUNT, "batch", True, -1, inference=True),
        Field("input_tokens", T.COUNT, "itok", True, -1, inference=True),
        Field("output_tokens", T.COUNT, "otok", True, -1, inference=True),
        Field("gpu_utilization", T.FLOAT, "gpu", True, float("nan"), inference=True),
        Field("time_to_first_token_nanos", T.TIME, "ttft", True, -1, inference=True),
        Field("queue_time_nanos", T.TIME, "queue", True, -1, inference=True),
        Field("prefill_time_nanos", T.TIME, "prefill", True, -1, inference=True),
        Field("decode_time_nanos", T.TIME, "decode", True, -1, inference=True),
        Field("e2e_time_nanos", T.TIME, "e2e", True, -1, inference=True),
        Field("request_id", T.TEXT, "rid", True, -1, dictionary=True, inference=True),
        Field("finish_reason", T.TEXT, "finish", True, -1, dictionary=True, inference=True),
        Field("model_source", T.TEXT, "msrc", True, -1, dictionary=True),
        Field("attributes", T.ATTRIBUTES, "ashape"),
        Field("resource_attributes", T.ATTRIBUTES, "res", dictionary=True),
        Field("events", T.EVENTS, "extras"),
        Field("links", T.LINKS, "extras"),
        Field("trace_state", T.TEXT, "extras"),
        Field("flags", T.FLAGS, "flags"),
        Field("dropped_attributes_count", T.COUNT, "extras"),
        Field("dropped_events_count", T.COUNT, "extras"),
        Field("dropped_links_count", T.COUNT, "extras"),
    ),
    (
        "trace_id", "span_id", "parent_span_id", "service_name", "operation_name", "kind",
        "start_time_unix_nano", "duration_nanos", "status_code", "status_message",
        "model_name", "model_version", "batch_size", "input_tokens", "output_tokens",
        "gpu_utilization", "time_to_first_token_nanos", "queue_time_nanos",
        "prefill_time_nanos", "decode_time_nanos", "e2e_time_nanos", "request_id",
        "finish_reason", "model_source", "trace_state", "flags", "attributes",
        "resource_attributes", "events", "links", "dropped_attributes_count",
        "dropped_events_count", "dropped_links_count",
    ),
)  # fmt: skip
"""Spans. Memory: ids fixed-width (a root's parent is zeros), strings and resources
dictionary codes, optional numbers -1 / NaN, attributes in the codec (shape and
offset columns), flags a uint32 column; the rare status message, events, links,
trace state and dropped counts in one object column."""

LOG = RecordSchema(
    LogRecord,
    (
        Field("time_unix_nano", T.TIME, "time"),
        Field("service_name", T.TEXT, "svc", dictionary=True),
        Field("body", T.TEXT, "body"),
        Field("observed_time_unix_nano", T.TIME, "observed"),
        Field("severity_number", T.ENUM, "sev"),
        Field("severity_text", T.TEXT, "sevtext", dictionary=True),
        Field("trace_id", T.ID16, "tid", nullable=True, null=bytes(16)),
        Field("span_id", T.ID8, "sid", nullable=True, null=bytes(8)),
        Field("attributes", T.ATTRIBUTES, "ashape"),
        Field("resource_attributes", T.ATTRIBUTES, "res", dictionary=True),
    ),
    (
        "time_unix_nano", "observed_time_unix_nano", "service_name", "severity_number",
        "severity_text", "body", "trace_id", "span_id", "attributes", "resource_attributes",
    ),
)  # fmt: skip
"""Log records. Memory: the body in an object column, ids zeros when absent."""

METRIC = RecordSchema(
    MetricPoint,
    (
        Field("name", T.TEXT, "series", dictionary=True),
        Field("type", T.ENUM, "series", dictionary=True),
        Field("service_name", T.TEXT, "series", dictionary=True),
        Field("time_unix_nano", T.TIME, "dod"),
        Field("value", T.FLOAT, "value", nullable=True, null=float("nan")),
        Field("unit", T.TEXT, "series", dictionary=True),
        Field("start_time_unix_nano", T.TIME, "start"),
        Field("attributes", T.ATTRIBUTES, "series", dictionary=True),
        Field("resource_attributes", T.ATTRIBUTES, "series", dictionary=True),
        Field("histogram", T.HISTOGRAM, "hist", nullable=True),
        Field("is_monotonic", T.BOOL, "series", dictionary=True),
        Field("description", T.TEXT, "series", dictionary=True),
        Field("temporality", T.ENUM, "series", dictionary=True),
    ),
    (
        "name", "type", "service_name", "time_unix_nano", "start_time_unix_nano", "value",
        "unit", "description", "is_monotonic", "temporality", "attributes",
        "resource_attributes", "histogram",
    ),
)  # fmt: skip
"""Metric points. Memory: what a point shares with its series (name, type, unit,
description, monotonicity, temporality, service, attributes, resource) is one series code; the
time a delta of deltas; a histogram-kind point's value NaN, its payload an object."""

SCHEMAS = (SPAN, LOG, METRIC)

__all__ = ["LOG", "METRIC", "SCHEMAS", "SPAN", "Field", "FieldType", "RecordSchema"]
