"""Fast constructors for the frozen record classes, for the decoder's hot loop.

A frozen dataclass ``__init__`` sets each field through
``object.__setattr__`` looked up as a global, which for the 21 fields of a Span
costs about 3.5 µs here, as much as decoding the span. These builders set the
same slots through their member descriptors bound once, about 1.4 µs, and
produce objects identical to what the constructor makes (same class, same
fields, equal and hashable alike); ``tests/collector/test_build.py`` checks it.

Like ``dataclasses`` itself, the builder is generated code. Arguments are
positional, in the order the caller declares, and every field must be given:
no defaults, no checks (the decoder has checked the values). The declared
order must be exactly the model's field order, checked at import, so a change
to ``model.py`` fails loudly here instead of building wrong records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from infertrace.model import LogRecord, MetricPoint, Span, SpanEvent, fast_constructor

T = TypeVar("T")


def builder(cls: type[T], order: tuple[str, ...]) -> Callable[..., T]:
    """A function taking the fields of dataclass ``cls`` positionally, in ``order``.

    Raises TypeError when ``order`` is not the class's field order.
    """
    return fast_constructor(cls, order)


new_span: Callable[..., Span] = builder(
    Span,
    (
        "trace_id",
        "span_id",
        "service_name",
        "operation_name",
        "start_time_unix_nano",
        "duration_nanos",
        "parent_span_id",
        "kind",
        "status_code",
        "status_message",
        "model_name",
        "model_version",
        "batch_size",
        "input_tokens",
        "output_tokens",
        "gpu_utilization",
        "time_to_first_token_nanos",
        "attributes",
        "resource_attributes",
        "events",
        "links",
    ),
)
new_log: Callable[..., LogRecord] = builder(
    LogRecord,
    (
        "time_unix_nano",
        "service_name",
        "body",
        "observed_time_unix_nano",
        "severity_number",
        "severity_text",
        "trace_id",
        "span_id",
        "attributes",
        "resource_attributes",
    ),
)
new_point: Callable[..., MetricPoint] = builder(
    MetricPoint,
    (
        "name",
        "type",
        "service_name",
        "time_unix_nano",
        "value",
        "unit",
        "start_time_unix_nano",
        "attributes",
        "resource_attributes",
        "histogram",
        "is_monotonic",
        "description",
    ),
)
new_event: Callable[..., SpanEvent] = builder(SpanEvent, ("name", "time_unix_nano", "attributes"))
