"""WHERE clauses built from resolved filters: fixed SQL text, bound parameters.

No user-supplied text is ever placed in the SQL: column names and operators
come from this module, every value is a parameter. A value no stored record
could hold (a NUL character, a time outside the int64 range) short-circuits to
"nothing matches" instead of reaching the server.

Attribute equality follows :func:`filters.attribute_equal`, against the typed
JSON of ``codec``: strings match strings, bools bools, and numbers match by
value across int and float, exactly as Python compares them.
"""

from __future__ import annotations

import math
from typing import Any

from infertrace.errors import InferTraceError
from infertrace.model import AttributeValue
from infertrace.telemetry.filters import (
    ResolvedLogFilter,
    ResolvedMetricFilter,
    ResolvedSpanFilter,
)
from infertrace.telemetry.postgres.codec import storable_text

INT64_MAX = 2**63 - 1


class NoMatch(InferTraceError):
    """The filter cannot match any stored record."""


class Where:
    """An AND of conditions and their parameters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, *params: Any) -> None:
        self.parts.append(sql)
        self.params.extend(params)

    def text(self, column: str, value: str | None) -> None:
        if value is None:
            return
        if not storable_text(value):
            raise NoMatch
        self.add(f"{column} = %s", value)

    def window(self, column: str, since: int, until: int) -> None:
        """``since <= column < until`` for int64 nanosecond columns (never negative)."""
        if since > INT64_MAX or until <= 0 or since >= until:
            raise NoMatch
        if since > 0:
            self.add(f"{column} >= %s", since)
        if until <= INT64_MAX:
            self.add(f"{column} < %s", until)

    def sql(self) -> str:
        return " AND ".join(self.parts) if self.parts else "TRUE"


def _number_targets(wanted: int | float) -> tuple[int | None, float | None]:
    """(what a stored int must equal, what a stored float must equal), None = nothing."""
    if isinstance(wanted, int):
        try:
            as_float = float(wanted)
        except OverflowError:
            return wanted, None
        return wanted, (as_float if int(as_float) == wanted else None)
    if math.isnan(wanted):
        return None, None
    as_int = int(wanted) if math.isfinite(wanted) and wanted.is_integer() else None
    return as_int, wanted


def attribute_condition(
    where: Where, expr: str, key_params: tuple[str, ...], wanted: AttributeValue
) -> None:
    """Add ``attribute_equal(<expr>, wanted)``; ``expr`` binds ``key_params`` in order."""
    if not all(storable_text(k) for k in key_params):
        raise NoMatch
    if isinstance(wanted, bool):
        where.add(f"({expr}) = %s::jsonb", *key_params, "true" if wanted else "false")
        return
    if isinstance(wanted, str):
        if not storable_text(wanted):
            raise NoMatch
        where.add(f"({expr}) = to_jsonb(%s::text)", *key_params, wanted)
        return
    if not isinstance(wanted, int | float):
        raise NoMatch
    as_int, as_float = _number_targets(wanted)
    branches: list[str] = []
    params: list[Any] = []
    if as_int is not None:
        branches.append(
            "(jsonb_typeof(v) = 'number' AND strpos(v::text, '.') = 0"
            " AND v::text::numeric = %s::numeric)"
        )
        params.append(str(as_int))
    if as_float is not None:
        branches.append(
            "(jsonb_typeof(v) = 'number' AND strpos(v::text, '.') > 0"
            " AND v::text::float8 = %s::float8)"
        )
        branches.append("(jsonb_typeof(v) = 'object' AND (v ->> '$f')::float8 = %s::float8)")
        params.extend([as_float, as_float])
    if not branches:
        raise NoMatch
    where.add(
        f"EXISTS (SELECT 1 FROM (SELECT {expr} AS v) a WHERE {' OR '.join(branches)})",
        *key_params,
        *params,
    )


SPAN_ATTRIBUTE = "COALESCE(attributes -> %s, resource_attributes -> %s)"
"""A span attribute, or the resource attribute when the span has no such key."""


def span_where(r: ResolvedSpanFilter) -> Where:
    """The WHERE of list_spans; raises NoMatch when nothing can match."""
    w = Where()
    w.text("service_name", r.service_name)
    w.text("model_name", r.model_name)
    w.text("operation_name", r.operation_name)
    w.window("start_time_unix_nano", r.since, r.until)
    if r.min_duration > INT64_MAX:
        raise NoMatch
    if r.min_duration > 0:
        w.add("duration_nanos >= %s", r.min_duration)
    if r.max_duration < INT64_MAX:
        w.add("duration_nanos <= %s", r.max_duration)
    if r.status is not None:
        w.add("status_code = %s", int(r.status))
    for key, wanted in r.attributes.items():
        attribute_condition(w, SPAN_ATTRIBUTE, (key, key), wanted)
    return w


def log_where(r: ResolvedLogFilter) -> Where:
    """The WHERE of list_logs; raises NoMatch when nothing can match."""
    w = Where()
    w.text("service_name", r.service_name)
    if r.min_severity > 0:
        w.add("severity_number >= %s", r.min_severity)
    if r.trace_id is not None:
        w.add("trace_id = %s", r.trace_id)
    if r.body_contains is not None:
        if not storable_text(r.body_contains):
            raise NoMatch
        w.add("strpos(body, %s) > 0", r.body_contains)
    w.window("time_unix_nano", r.since, r.until)
    return w


def metric_where(r: ResolvedMetricFilter) -> Where:
    """The WHERE of list_metric_points; raises NoMatch when nothing can match."""
    w = Where()
    w.text("name", r.name)
    w.text("service_name", r.service_name)
    if r.type is not None:
        w.add("type = %s", int(r.type))
    w.window("time_unix_nano", r.since, r.until)
    for key, wanted in r.attributes.items():
        attribute_condition(w, "attributes -> %s", (key,), wanted)
    return w
