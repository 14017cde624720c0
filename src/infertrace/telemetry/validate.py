"""Per-record validation: the one definition of a well-formed record.

Stores may check faster in bulk, but when they find a problem they call these
functions so that every backend rejects the same records with the same words.
Each ``*_problem`` returns None for a good record (or value), or the reason it
is bad. The OTLP decoders check the same rules inline on their hot path and
take their reasons from the per-value functions here (:func:`id_problem`,
:func:`time_problem`, :func:`range_problem`), so a request's bad records are
rejected, with the store's words, in the decoding pass: the store is left
nothing to refuse, and a request with k bad records costs one write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from infertrace.errors import InvalidRecord
from infertrace.model import HistogramData, LogRecord, MetricPoint, MetricType, Span
from infertrace.telemetry.batches import ColumnBatch

INT32_LIMIT = 2**31
UINT32_LIMIT = 2**32
INT64_LIMIT = 2**63
_PRIMITIVES = (str, bool, int, float, bytes)


NOT_HEX = b"\x00not hex\x00"
"""Prefix of what OTLP/JSON parsing puts in an id field whose text is not hex (see
:func:`not_hex_id`): the record is then rejected on its own, naming the text,
instead of the whole request failing."""


def not_hex_id(text: str) -> bytes:
    """The placeholder id for ``text``, which is not hex: never a valid id length."""
    raw = NOT_HEX + text[:64].encode(errors="replace")
    return raw + b"\x00" if len(raw) in (8, 16) else raw


def id_problem(value: object, size: int, what: str, optional: bool = False) -> str | None:
    """Why a trace id (``size`` 16) or span id (8) is invalid, or None.

    Ids are ``size`` bytes, not all zeros; an ``optional`` one may be empty.
    """
    if not isinstance(value, bytes):
        return f"{what} must be bytes, got {type(value).__name__}"
    if value.startswith(NOT_HEX):
        text = value[len(NOT_HEX) :].rstrip(b"\x00").decode(errors="replace")
        return f"{what} {text!r} is not a hex id"
    if optional and not value:
        return None
    if len(value) != size:
        shown = f": {value[:32].hex()!r}" if value else ""
        return f"{what} must be {size} bytes, got {len(value)}{shown}"
    if value == bytes(size):
        return f"{what} must not be all zeros"
    return None


def time_problem(value: object, what: str) -> str | None:
    """Why a time or duration in nanoseconds is invalid (not an int in [0, 2**63)), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{what} must be an int of nanoseconds, got {value!r}"
    if value < 0:
        return f"{what} must not be negative, got {value}"
    if value >= INT64_LIMIT:
        return f"{what} {value} is beyond 2**63-1"
    return None


def range_problem(value: object, what: str, top: int) -> str | None:
    """Why an enum-like integer (span kind, status code, severity) is not in 0..``top``."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top:
        return None
    return f"{what} must be 0..{top}, got {value!r}"


def text_problem(value: object, what: str, required: bool) -> str | None:
    if not isinstance(value, str):
        return f"{what} must be a string, got {type(value).__name__}"
    if required and not value:
        return f"{what} must not be empty"
    return None


def _optional_text_problem(value: object, what: str) -> str | None:
    """None or non-empty text, else why not."""
    return None if value is None else text_problem(value, what, True)


def _optional_int_problem(value: object, what: str, limit: int = INT32_LIMIT) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        return f"{what} must be an integer from 0 to {limit - 1} or None, got {value!r}"
    return None


def count_problem(value: object, what: str, limit: int = INT32_LIMIT) -> str | None:
    """Why a count or bit field is not an int in [0, ``limit``), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        return f"{what} must be an integer from 0 to {limit - 1}, got {value!r}"
    return None


def attributes_problem(attrs: object, what: str = "attributes") -> str | None:
    """Why an attribute map is malformed, or None."""
    if not isinstance(attrs, Mapping):
        return f"{what} must be a mapping, got {type(attrs).__name__}"
    for key, value in attrs.items():
        if not isinstance(key, str) or not key:
            return f"{what} key {key!r} must be a non-empty string"
        if isinstance(value, _PRIMITIVES):
            continue
        if isinstance(value, tuple) and all(isinstance(v, _PRIMITIVES) for v in value):
            continue
        return f"{what}[{key!r}] has unsupported value {value!r}"
    return None


def span_problem(span: object) -> str | None:
    """Why a span cannot be stored, or None."""
    if not isinstance(span, Span):
        return f"expected a Span, got {type(span).__name__}"
    return (
        id_problem(span.trace_id, 16, "trace_id")
        or id_problem(span.span_id, 8, "span_id")
        or id_problem(span.parent_span_id, 8, "parent_span_id", optional=True)
        or text_problem(span.service_name, "service_name", True)
        or text_problem(span.operation_name, "operation_name", True)
        or time_problem(span.start_time_unix_nano, "start_time_unix_nano")
        or time_problem(span.duration_nanos, "duration_nanos")
        or text_problem(span.status_message, "status_message", False)
        or _optional_text_problem(span.model_name, "model_name")
        or _optional_text_problem(span.model_version, "model_version")
        or _optional_int_problem(span.batch_size, "batch_size")
        or _optional_int_problem(span.input_tokens, "input_tokens")
        or _optional_int_problem(span.output_tokens, "output_tokens")
        or _optional_int_problem(
            span.time_to_first_token_nanos, "time_to_first_token_nanos", INT64_LIMIT
        )
        or _optional_int_problem(span.queue_time_nanos, "queue_time_nanos", INT64_LIMIT)
        or _optional_int_problem(span.prefill_time_nanos, "prefill_time_nanos", INT64_LIMIT)
        or _optional_int_problem(span.decode_time_nanos, "decode_time_nanos", INT64_LIMIT)
        or _optional_int_problem(span.e2e_time_nanos, "e2e_time_nanos", INT64_LIMIT)
        or _optional_text_problem(span.request_id, "request_id")
        or _optional_text_problem(span.finish_reason, "finish_reason")
        or _optional_text_problem(span.model_source, "model_source")
        or _gpu_problem(span.gpu_utilization)
        or range_problem(span.kind, "kind", 5)
        or range_problem(span.status_code, "status_code", 2)
        or attributes_problem(span.attributes)
        or attributes_problem(span.resource_attributes, "resource_attributes")
        or (None if isinstance(span.events, tuple) else "events must be a tuple")
        or (None if isinstance(span.links, tuple) else "links must be a tuple")
        or text_problem(span.trace_state, "trace_state", False)
        or count_problem(span.flags, "flags", UINT32_LIMIT)
        or count_problem(span.dropped_attributes_count, "dropped_attributes_count")
        or count_problem(span.dropped_events_count, "dropped_events_count")
        or count_problem(span.dropped_links_count, "dropped_links_count")
    )


def _gpu_problem(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return f"gpu_utilization must be a number or None, got {value!r}"
    return None


def log_problem(record: object) -> str | None:
    """Why a log record cannot be stored, or None."""
    if not isinstance(record, LogRecord):
        return f"expected a LogRecord, got {type(record).__name__}"
    return (
        time_problem(record.time_unix_nano, "time_unix_nano")
        or time_problem(record.observed_time_unix_nano, "observed_time_unix_nano")
        or text_problem(record.service_name, "service_name", True)
        or text_problem(record.body, "body", False)
        or text_problem(record.severity_text, "severity_text", False)
        or range_problem(record.severity_number, "severity_number", 24)
        or id_problem(record.trace_id, 16, "trace_id", optional=True)
        or id_problem(record.span_id, 8, "span_id", optional=True)
        or attributes_problem(record.attributes)
        or attributes_problem(record.resource_attributes, "resource_attributes")
    )


def metric_problem(point: object) -> str | None:
    """Why a metric point cannot be stored, or None."""
    if not isinstance(point, MetricPoint):
        return f"expected a MetricPoint, got {type(point).__name__}"
    problem = (
        text_problem(point.name, "name", True)
        or text_problem(point.service_name, "service_name", True)
        or text_problem(point.unit, "unit", False)
        or text_problem(point.description, "description", False)
        or time_problem(point.time_unix_nano, "time_unix_nano")
        or time_problem(point.start_time_unix_nano, "start_time_unix_nano")
        or attributes_problem(point.attributes)
        or attributes_problem(point.resource_attributes, "resource_attributes")
        or range_problem(point.temporality, "temporality", 2)
    )
    if problem:
        return problem
    if point.type not in (1, 2, 3, 4, 5):
        return f"type must be a MetricType, got {point.type!r}"
    if point.type in (MetricType.GAUGE, MetricType.SUM):
        v = point.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"{MetricType(point.type).name.lower()} point needs a numeric value, got {v!r}"
        if point.histogram is not None:
            return "a gauge or sum point must not carry histogram data"
    else:
        if not isinstance(point.histogram, HistogramData):
            return f"{MetricType(point.type).name.lower()} point needs histogram data"
        if point.value is not None:
            return "a distribution point must not carry a scalar value"
    return None


def check_batch(records: Sequence[object], problem: Callable[[object], str | None]) -> None:
    """Raise InvalidRecord naming every bad record of ``records``. O(n).

    A column batch whose producer already applied these rules
    (:attr:`~infertrace.telemetry.batches.ColumnBatch.checked`) is not checked again.
    """
    if isinstance(records, ColumnBatch) and records.checked:
        return
    for i, rec in enumerate(records):
        reason = problem(rec)
        if reason is not None:
            problems = [(i, reason)]
            for j in range(i + 1, len(records)):
                later = problem(records[j])
                if later is not None:
                    problems.append((j, later))
            raise InvalidRecord(i, reason, problems)
