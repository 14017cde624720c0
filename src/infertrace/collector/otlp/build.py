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
to ``model.py`` fails loudly here instead of building wrong records. The
records' orders are those of :mod:`infertrace.telemetry.schema` (whose test
holds them to the dataclasses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from infertrace.model import LogRecord, MetricPoint, Span, SpanEvent, fast_constructor
from infertrace.telemetry.schema import LOG, METRIC, SPAN

T = TypeVar("T")


def builder(cls: type[T], order: tuple[str, ...]) -> Callable[..., T]:
    """A function taking the fields of dataclass ``cls`` positionally, in ``order``.

    Raises TypeError when ``order`` is not the class's field order.
    """
    return fast_constructor(cls, order)


new_span: Callable[..., Span] = builder(Span, SPAN.names)
new_log: Callable[..., LogRecord] = builder(LogRecord, LOG.names)
new_point: Callable[..., MetricPoint] = builder(MetricPoint, METRIC.names)
new_event: Callable[..., SpanEvent] = builder(SpanEvent, ("name", "time_unix_nano", "attributes"))
