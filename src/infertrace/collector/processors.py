"""Processors: what the pipeline calls with every stored batch, after the write.

In the spirit of the OpenTelemetry SDK's span processors, a processor is the
place for new behaviour on incoming telemetry (a pod registry, the activity
feed): the receivers and the store stay as they are. The pipeline calls a
processor once per signal batch of a request, after the store accepted the
batch, so a processor sees exactly what was stored and never a rejected record.
``resources`` are the distinct resource attribute maps of the batch (one per
producing process, shared by its records), so per-resource work is done once,
not once per record.

Processors are registered at start-up (``Pipeline(..., processors=[...])``,
``Collector``/``BackgroundCollector``/``run`` take ``processors=`` too) and are
called in registration order, from whichever thread runs the request (the event
loop or a worker): each must be thread-safe and quick, since the request waits
for it. An exception in a processor is logged and counted, and never fails the
request: the data is already stored. ``shutdown()`` is called once when the
collector stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from infertrace.model import Attributes, LogRecord, MetricPoint, Span


@runtime_checkable
class Processor(Protocol):
    """Sees every stored batch, one method per signal."""

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        """Called with a request's stored spans and their distinct resources."""
        ...

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        """Called with a request's stored log records and their distinct resources."""
        ...

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        """Called with a request's stored metric points and their distinct resources."""
        ...

    def shutdown(self) -> None:
        """Release what the processor holds; called once, when the collector stops."""
        ...


class BaseProcessor:
    """A processor that does nothing: subclass it and override the signals you need."""

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        """Does nothing."""

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        """Does nothing."""

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        """Does nothing."""

    def shutdown(self) -> None:
        """Does nothing."""
