"""OTLP log export requests -> a column batch of log records.

Same approach as the trace decoder: lean classes, cached attributes, one pass.
Rules beyond the protocol's, each chosen so that a record is never lost or
misdated silently:

- ``time_unix_nano`` 0 takes ``observed_time_unix_nano``, and the receive time
  when both are 0 (a record must have a time to be found by time).
- An all-zero trace or span id means "no trace context" and is stored empty.
- A non-string body is stored as its JSON text; ``event_name`` (OTLP 1.5+)
  is kept as the ``event.name`` attribute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from infertrace.collector.otlp.anyvalue import body_text
from infertrace.collector.otlp.common import (
    EMPTY_KEY,
    TIME_LIMIT,
    ZERO_SPAN_ID,
    ZERO_TRACE_ID,
    Decoded,
    resource_info,
    scope_items,
)
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.lean import LeanLogsRequest
from infertrace.model import EMPTY_ATTRIBUTES, AttributeValue, LogRecord
from infertrace.telemetry.batches import LogBatch
from infertrace.telemetry.validate import id_problem, range_problem, time_problem


def _problem(
    time_ns: int, observed: int, severity: int, trace_id: bytes, span_id: bytes
) -> str | None:
    """Why a record breaks :func:`~infertrace.telemetry.validate.log_problem`'s rules, or None.

    The rules are tested inline first (the hot path); the reason comes from validate.
    """
    if (
        time_ns < TIME_LIMIT
        and observed < TIME_LIMIT
        and 0 <= severity <= 24
        and (not trace_id or len(trace_id) == 16)
        and (not span_id or len(span_id) == 8)
    ):
        return None
    return (
        time_problem(time_ns, "time_unix_nano")
        or time_problem(observed, "observed_time_unix_nano")
        or range_problem(severity, "severity_number", 24)
        or id_problem(trace_id, 16, "trace_id", optional=True)
        or id_problem(span_id, 8, "span_id", optional=True)
    )


class LogDecoder:
    """Turns log export request bytes into a log batch; safe to share between threads."""

    def __init__(
        self, cache: KeyValueCache | None = None, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._cache = cache or KeyValueCache()
        self._clock = clock

    def decode(self, body: bytes) -> Decoded[LogRecord]:
        """The log records of a serialized request; raises ``DecodeError`` when malformed."""
        return self.decode_message(LeanLogsRequest.FromString(body))

    def decode_message(self, request: Any) -> Decoded[LogRecord]:
        """Like :meth:`decode`, for an already parsed lean request. O(records + attributes)."""
        result: Decoded[LogRecord] = Decoded(LogBatch.empty())
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        attributes = self._cache.attributes
        now = self._clock()
        for r, resource_logs in enumerate(request.resource_logs):
            res = resource_info(resource_logs.resource)
            before = len(rows)
            for s, scope_logs in enumerate(resource_logs.scope_logs):
                records = scope_logs.log_records
                if res.problem:
                    result.reject(f"resource {r}", res.problem, len(records))
                    continue
                scope: dict[str, AttributeValue] = dict(scope_items(scope_logs.scope))
                for i, rec in enumerate(records):
                    observed = rec.observed_time_unix_nano
                    time_ns = rec.time_unix_nano or observed or now
                    trace_id, span_id = rec.trace_id, rec.span_id
                    if trace_id == ZERO_TRACE_ID:
                        trace_id = b""
                    if span_id == ZERO_SPAN_ID:
                        span_id = b""
                    attrs = scope.copy()
                    attrs.update(attributes(rec.attributes))
                    if rec.event_name:
                        attrs["event.name"] = rec.event_name
                    problem = _problem(
                        time_ns, observed, rec.severity_number, trace_id, span_id
                    ) or ("attributes " + EMPTY_KEY if "" in attrs else None)
                    if problem:
                        result.reject(f"resource {r} scope {s} log record {i}", problem)
                        continue
                    append(  # one record's fields in record order (schema.LOG)
                        (
                            time_ns,
                            res.service_name,
                            body_text(rec.body),
                            observed,
                            rec.severity_number,
                            rec.severity_text,
                            trace_id,
                            span_id,
                            MappingProxyType(attrs) if attrs else EMPTY_ATTRIBUTES,
                            res.attributes,
                        )
                    )
            if len(rows) > before:
                result.resources.append(res.attributes)
        result.records = LogBatch.from_rows(rows, checked=True)
        return result
