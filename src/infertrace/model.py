"""Telemetry records: spans, logs and metric points.

All records are frozen, slotted dataclasses. Times are integer unix nanoseconds,
ids are bytes inside and lowercase hex outside. Stores hand these out without
copying: a record can never change once built.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias, TypeVar

T = TypeVar("T")
Primitive: TypeAlias = str | bool | int | float | bytes
AttributeValue: TypeAlias = Primitive | tuple[Primitive, ...]
Attributes: TypeAlias = Mapping[str, AttributeValue]


class _NoAttributes(Mapping[str, AttributeValue]):
    """The shared, hashable, empty attribute map used as the default."""

    __slots__ = ()

    def __getitem__(self, key: str) -> NoReturn:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY_ATTRIBUTES: Attributes = _NoAttributes()


class SpanKind(enum.IntEnum):
    """OTLP span kinds, same numbers as the protocol."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    """OTLP status codes, same numbers as the protocol."""

    UNSET = 0
    OK = 1
    ERROR = 2


class MetricType(enum.IntEnum):
    """The five OTLP metric data kinds."""

    GAUGE = 1
    SUM = 2
    HISTOGRAM = 3
    EXPONENTIAL_HISTOGRAM = 4
    SUMMARY = 5


class Temporality(enum.IntEnum):
    """How a sum's or histogram's points aggregate over time (OTLP's AggregationTemporality).

    Delta points each cover their own interval; cumulative points cover everything
    since ``start_time_unix_nano``. Gauges and summaries have none (UNSPECIFIED).
    """

    UNSPECIFIED = 0
    DELTA = 1
    CUMULATIVE = 2


def hex_id(raw: bytes) -> str:
    """Lowercase hex of an id ('' for an empty id)."""
    return raw.hex()


def parse_id(value: str | bytes, size: int, what: str = "id") -> bytes:
    """Turn a hex string or raw bytes into an id of ``size`` bytes.

    Raises ValueError naming the value when it is not a valid id.
    """
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip().lower()
        if len(text) != 2 * size:
            raise ValueError(f"{what} {value!r} must be {2 * size} hex characters")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{what} {value!r} is not hexadecimal") from None
    if len(raw) != size:
        raise ValueError(f"{what} {raw.hex()!r} must be {size} bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timestamped annotation inside a span (OTLP Span.Event)."""

    name: str
    time_unix_nano: int
    attributes: Attributes = EMPTY_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A reference from a span to a span of another (or the same) trace."""

    trace_id: bytes
    span_id: bytes
    attributes: Attributes = EMPTY_ATTRIBUTES
    trace_state: str = ""
    """The linked span's W3C ``tracestate``, as sent."""
    flags: int = 0
    """OTLP ``SpanLink.flags`` (W3C trace flags in bits 0-7, is-remote in 8-9), as sent."""


@dataclass(frozen=True, slots=True)
class Span:
    """One operation of a trace, with the inference columns lifted out.

    ``attributes`` holds what was not lifted into a column.
    """

    trace_id: bytes
    span_id: bytes
    service_name: str
    operation_name: str
    start_time_unix_nano: int
    duration_nanos: int
    parent_span_id: bytes = b""
    kind: SpanKind = SpanKind.UNSPECIFIED
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    model_name: str | None = None
    model_version: str | None = None
    batch_size: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    gpu_utilization: float | None = None
    time_to_first_token_nanos: int | None = None
    queue_time_nanos: int | None = None
    prefill_time_nanos: int | None = None
    decode_time_nanos: int | None = None
    e2e_time_nanos: int | None = None
    request_id: str | None = None
    finish_reason: str | None = None
    model_source: str | None = None
    """Which rule supplied ``model_name`` (see :mod:`infertrace.telemetry.semconv`):
    ``"span"``, ``"resource"``, ``"pod"`` or ``"config"``; None when none did."""
    attributes: Attributes = EMPTY_ATTRIBUTES
    resource_attributes: Attributes = EMPTY_ATTRIBUTES
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    trace_state: str = ""
    """The W3C ``tracestate`` header value of the span's context, as sent."""
    flags: int = 0
    """OTLP ``Span.flags``: W3C trace flags in bits 0-7 (bit 0: sampled), whether the
    parent is remote in bits 8-9; the rest reserved and, as the spec asks of readers,
    kept as sent (an unsigned 32-bit value)."""
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    """How many attributes, events and links the producer dropped (its limits)."""

    @property
    def end_time_unix_nano(self) -> int:
        return self.start_time_unix_nano + self.duration_nanos

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def span_id_hex(self) -> str:
        return self.span_id.hex()

    @property
    def parent_span_id_hex(self) -> str:
        return self.parent_span_id.hex()

    @property
    def is_error(self) -> bool:
        return self.status_code == StatusCode.ERROR


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log line; ``body`` is text (structured bodies arrive as JSON text)."""

    time_unix_nano: int
    service_name: str
    body: str = ""
    observed_time_unix_nano: int = 0
    severity_number: int = 0
    severity_text: str = ""
    trace_id: bytes = b""
    span_id: bytes = b""
    attributes: Attributes = EMPTY_ATTRIBUTES
    resource_attributes: Attributes = EMPTY_ATTRIBUTES

    @property
    def trace_id_hex(self) -> str:
        return self.trace_id.hex()

    @property
    def span_id_hex(self) -> str:
        return self.span_id.hex()


@dataclass(frozen=True, slots=True)
class HistogramData:
    """Bucketed distribution of a histogram, exponential histogram or summary point.

    Explicit histograms use ``bounds``/``bucket_counts``; exponential ones use
    ``scale``, ``zero_count`` and the offset/bucket pairs; summaries use
    ``quantiles`` as (quantile, value) pairs.
    """

    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()
    scale: int = 0
    zero_count: int = 0
    positive_offset: int = 0
    positive_bucket_counts: tuple[int, ...] = ()
    negative_offset: int = 0
    negative_bucket_counts: tuple[int, ...] = ()
    quantiles: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of a metric series.

    Gauges and sums carry ``value``; the distribution kinds carry ``histogram``.
    """

    name: str
    type: MetricType
    service_name: str
    time_unix_nano: int
    value: float | int | None = None
    """A gauge's or sum's value: an int when the producer sent an integer (OTLP
    ``asInt``, 64-bit, kept exact), else a float."""
    unit: str = ""
    start_time_unix_nano: int = 0
    attributes: Attributes = EMPTY_ATTRIBUTES
    resource_attributes: Attributes = EMPTY_ATTRIBUTES
    histogram: HistogramData | None = None
    is_monotonic: bool = False
    description: str = ""
    temporality: Temporality = Temporality.UNSPECIFIED


def fast_constructor(cls: type[T], order: tuple[str, ...] | None = None) -> Callable[..., T]:
    """A positional constructor for a frozen slotted dataclass that skips its __init__.

    A frozen dataclass sets each field with ``object.__setattr__``, about 100 ns
    a field; stores and decoders build records in hot loops, so this sets the
    slots through their member descriptors instead (2x faster for Span) and
    makes records equal to what the constructor makes. Arguments come in field
    order, all of them, unchecked: for trusted internal callers. A caller that
    passes ``order`` gets a TypeError at import if the model's fields changed.
    """
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    if order is not None and names != order:
        raise TypeError(f"{cls.__name__} fields are {names}, the caller expects {order}")
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for i, name in enumerate(names):
        env[f"_s{i}"] = getattr(cls, name).__set__
    params = ", ".join(f"a{i}" for i in range(len(names)))
    body = "".join(f"    _s{i}(o, a{i})\n" for i in range(len(names)))
    src = f"def make({params}):\n    o = _new(_cls)\n{body}    return o\n"
    exec(compile(src, f"<constructor {cls.__name__}>", "exec"), env)  # as dataclasses does
    fn: Callable[..., T] = env["make"]
    fn.__doc__ = f"Build a {cls.__name__} from its fields in order: {', '.join(names)}."
    return fn


__all__ = [
    "EMPTY_ATTRIBUTES",
    "AttributeValue",
    "Attributes",
    "HistogramData",
    "LogRecord",
    "MetricPoint",
    "MetricType",
    "Span",
    "SpanEvent",
    "SpanKind",
    "SpanLink",
    "StatusCode",
    "Temporality",
    "hex_id",
    "parse_id",
]

make_span = fast_constructor(Span)
make_log = fast_constructor(LogRecord)
make_point = fast_constructor(MetricPoint)
