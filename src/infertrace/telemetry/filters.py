"""Query filters shared by every store.

Filters are plain frozen dataclasses; ``resolve()`` checks them and turns times
into unix nanoseconds once, so stores only see clean values.
Time windows are half-open: ``since <= t < until``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeAlias

from infertrace.errors import InvalidFilter
from infertrace.model import EMPTY_ATTRIBUTES, AttributeValue, MetricType, StatusCode

TimeBound: TypeAlias = datetime | int | None

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
NO_LOWER = -(2**63)
NO_UPPER = 2**63 - 1


def to_unix_nano(value: datetime | int, what: str) -> int:
    """Unix nanoseconds of a datetime (naive means UTC) or an int of nanoseconds."""
    if isinstance(value, bool):
        raise InvalidFilter(f"{what} must be a datetime or unix nanoseconds, got {value!r}")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(value, int):
        return value
    raise InvalidFilter(f"{what} must be a datetime or unix nanoseconds, got {value!r}")


def window(since: TimeBound, until: TimeBound) -> tuple[int, int]:
    """The half-open window [since, until) in unix nanoseconds; None means unbounded."""
    lo = NO_LOWER if since is None else to_unix_nano(since, "since")
    hi = NO_UPPER if until is None else to_unix_nano(until, "until")
    return lo, hi


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidFilter(f"limit must be a positive integer, got {limit!r}")
    return min(limit, MAX_LIMIT)


def _attrs(attributes: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise InvalidFilter(f"attribute filter key must be a non-empty string, got {key!r}")
        if not isinstance(value, str | bool | int | float):
            raise InvalidFilter(
                f"attribute filter {key!r} must be a string, number or bool, got {value!r}"
            )
    return MappingProxyType(dict(attributes))


def attribute_equal(stored: object, wanted: AttributeValue) -> bool:
    """The one equality rule for attribute filters in every store.

    Strings match strings, bools match bools, and numbers (int or float) match
    numbers by value; nothing matches across those kinds.
    """
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(wanted, bool) and isinstance(stored, bool) and wanted == stored
    if isinstance(wanted, str) or isinstance(stored, str):
        return isinstance(wanted, str) and isinstance(stored, str) and wanted == stored
    if isinstance(stored, int | float) and isinstance(wanted, int | float):
        return stored == wanted
    return False


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """Which spans ``list_spans`` returns, newest start time first.

    ``attributes`` matches a key on the span's attributes, or on its resource
    attributes when the span has no such key (see :func:`attribute_equal`).
    """

    service_name: str | None = None
    model_name: str | None = None
    operation_name: str | None = None
    since: TimeBound = None
    until: TimeBound = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    status: StatusCode | None = None
    attributes: Mapping[str, AttributeValue] = field(default=EMPTY_ATTRIBUTES)
    limit: int = DEFAULT_LIMIT

    def resolve(self) -> ResolvedSpanFilter:
        lo, hi = window(self.since, self.until)
        for name in ("min_duration_ns", "max_duration_ns"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise InvalidFilter(f"{name} must be a non-negative integer, got {v!r}")
        status = None
        if self.status is not None:
            try:
                status = StatusCode(self.status)
            except ValueError:
                raise InvalidFilter(
                    f"status must be unset, ok or error, got {self.status!r}"
                ) from None
        return ResolvedSpanFilter(
            service_name=self.service_name,
            model_name=self.model_name,
            operation_name=self.operation_name,
            since=lo,
            until=hi,
            min_duration=0 if self.min_duration_ns is None else self.min_duration_ns,
            max_duration=NO_UPPER if self.max_duration_ns is None else self.max_duration_ns,
            status=status,
            attributes=_attrs(self.attributes),
            limit=_limit(self.limit),
        )


@dataclass(frozen=True, slots=True)
class ResolvedSpanFilter:
    """A checked SpanFilter: times in unix nanoseconds, limit capped."""

    service_name: str | None
    model_name: str | None
    operation_name: str | None
    since: int
    until: int
    min_duration: int
    max_duration: int
    status: StatusCode | None
    attributes: Mapping[str, AttributeValue]
    limit: int


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which log records ``list_logs`` returns, newest first."""

    service_name: str | None = None
    min_severity: int | None = None
    trace_id: str | bytes | None = None
    body_contains: str | None = None
    since: TimeBound = None
    until: TimeBound = None
    limit: int = DEFAULT_LIMIT

    def resolve(self) -> ResolvedLogFilter:
        from infertrace.model import parse_id

        lo, hi = window(self.since, self.until)
        trace_id = None
        if self.trace_id is not None:
            try:
                trace_id = parse_id(self.trace_id, 16, "trace_id")
            except ValueError as exc:
                raise InvalidFilter(str(exc)) from None
        sev = self.min_severity
        if sev is not None and (
            isinstance(sev, bool) or not isinstance(sev, int) or not 0 <= sev <= 24
        ):
            raise InvalidFilter(f"min_severity must be an integer from 0 to 24, got {sev!r}")
        return ResolvedLogFilter(
            service_name=self.service_name,
            min_severity=0 if sev is None else sev,
            trace_id=trace_id,
            body_contains=self.body_contains or None,
            since=lo,
            until=hi,
            limit=_limit(self.limit),
        )


@dataclass(frozen=True, slots=True)
class ResolvedLogFilter:
    """A checked LogFilter."""

    service_name: str | None
    min_severity: int
    trace_id: bytes | None
    body_contains: str | None
    since: int
    until: int
    limit: int


@dataclass(frozen=True, slots=True)
class MetricFilter:
    """Which metric points ``list_metric_points`` returns, newest first.

    ``attributes`` matches the point's attributes (see :func:`attribute_equal`).
    """

    name: str | None = None
    service_name: str | None = None
    type: MetricType | None = None
    attributes: Mapping[str, AttributeValue] = field(default=EMPTY_ATTRIBUTES)
    since: TimeBound = None
    until: TimeBound = None
    limit: int = DEFAULT_LIMIT

    def resolve(self) -> ResolvedMetricFilter:
        lo, hi = window(self.since, self.until)
        mtype = None
        if self.type is not None:
            try:
                mtype = MetricType(self.type)
            except ValueError:
                raise InvalidFilter(f"type must be a metric type, got {self.type!r}") from None
        return ResolvedMetricFilter(
            name=self.name,
            service_name=self.service_name,
            type=mtype,
            attributes=_attrs(self.attributes),
            since=lo,
            until=hi,
            limit=_limit(self.limit),
        )


@dataclass(frozen=True, slots=True)
class ResolvedMetricFilter:
    """A checked MetricFilter."""

    name: str | None
    service_name: str | None
    type: MetricType | None
    attributes: Mapping[str, AttributeValue]
    since: int
    until: int
    limit: int
