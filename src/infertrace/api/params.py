"""Query-string values of the REST API: times, durations, statuses, attribute filters.

Every parser raises :class:`BadParameter` naming the parameter and the value, which
the API answers with 422 in FastAPI's own error shape, so clients see one shape
for every invalid parameter.

- Times: RFC 3339 (``2026-11-22T10:00:00Z``, ``...+01:00``; naive means UTC),
  relative to now (``1h``, ``15m``, ``90s``, ``2d``, ``500ms`` ago), ``now``, or
  integer unix nanoseconds.
- Durations: a number and a unit, ``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``,
  ``h``: ``250ms``, ``2s``, ``1.5m``.
- Attribute filters: ``attr.KEY=VALUE``. A value that reads as an integer, a
  float or ``true``/``false`` matches attributes of that type; quote it
  (``attr.k="200"``) to match the string.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime

from infertrace.errors import InvalidParameter
from infertrace.model import AttributeValue, StatusCode
from infertrace.telemetry.filters import MAX_LIMIT, to_unix_nano

ATTR_PREFIX = "attr."
"""Query parameters named ``attr.KEY`` filter on attribute ``KEY``."""

MAX_TIME_NS = 2**63 - 1
"""Times and durations are int64 nanoseconds, as in OTLP."""

MAX_ATTR_FILTERS = 16
"""More attribute filters than this in one query is refused (bounded work)."""

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_AMOUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)\s*")
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_STATUSES = {"unset": StatusCode.UNSET, "ok": StatusCode.OK, "error": StatusCode.ERROR}


# The syntax of each kind of value, published in /openapi.json. The parsers are
# the authority (a date can match TIME_PATTERN and still not exist).
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d)\s*$"
TIME_PATTERN = (
    r"^(now|\d+|\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d)|"
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?)$"
)
STATUS_PATTERN = r"^(ok|error|unset|OK|ERROR|UNSET)$"
TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"


class BadParameter(InvalidParameter):
    """A REST query parameter has a value the API cannot use: answered with 422."""

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


def now_ns() -> int:
    """The current time in unix nanoseconds."""
    return time.time_ns()


def parse_amount_ns(text: str, name: str) -> int:
    """Nanoseconds of ``250ms``, ``2s``, ``1.5m``; raises BadParameter otherwise."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise BadParameter(name, f"{text!r} is not a duration like 250ms, 2s, 15m or 1h")
    value = round(float(match.group(1)) * _UNITS_NS[match.group(2)])
    if value > MAX_TIME_NS:
        raise BadParameter(name, f"{text!r} is longer than 292 years")
    return value


def parse_duration(text: str | None, name: str) -> int | None:
    """A duration parameter in nanoseconds (None when absent)."""
    if text is None or text == "":
        return None
    return parse_amount_ns(text, name)


def parse_time(text: str | None, name: str, now: int | None = None) -> int | None:
    """A time parameter in unix nanoseconds (None when absent).

    Accepts RFC 3339, a relative amount meaning that long before ``now``,
    ``now`` itself, or integer unix nanoseconds.
    """
    if text is None or text == "":
        return None
    value = text.strip()
    if value.lower() == "now":
        result = now_ns() if now is None else now
    elif value.isdigit():
        result = int(value)
    elif _AMOUNT.fullmatch(value):
        result = (now_ns() if now is None else now) - parse_amount_ns(value, name)
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadParameter(
                name,
                f"{text!r} is not a time: use RFC 3339 (2026-11-22T10:00:00Z), "
                "a relative time (15m, 1h, 2d) or unix nanoseconds",
            ) from None
        result = to_unix_nano(parsed, name)
    if not 0 <= result <= MAX_TIME_NS:
        raise BadParameter(name, f"{text!r} is outside 1970-01-01 .. 2262-04-11")
    return result


def parse_window(
    since: str | None, until: str | None, now: int | None = None
) -> tuple[int | None, int | None]:
    """``since`` and ``until`` read against one ``now``; since must come before until."""
    now = now_ns() if now is None else now
    lo = parse_time(since, "since", now)
    hi = parse_time(until, "until", now)
    if lo is not None and hi is not None and lo >= hi:
        raise BadParameter("until", f"until ({until}) must be later than since ({since})")
    return lo, hi


def parse_status(text: str | None) -> StatusCode | None:
    """``ok``, ``error`` or ``unset`` (any case); None when absent."""
    if text is None or text == "":
        return None
    try:
        return _STATUSES[text.strip().lower()]
    except KeyError:
        raise BadParameter("status", f"{text!r} is not one of ok, error, unset") from None


def parse_limit(value: int | None, default: int) -> int:
    """A positive limit, capped at ``MAX_LIMIT``."""
    if value is None:
        return default
    if value < 1:
        raise BadParameter("limit", f"must be at least 1, got {value}")
    return min(value, MAX_LIMIT)


def attribute_value(text: str) -> AttributeValue:
    """The typed value an ``attr.`` filter compares with (see the module docstring)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def attribute_filters(items: Iterable[tuple[str, str]]) -> dict[str, AttributeValue]:
    """The ``attr.KEY=VALUE`` pairs among query items, typed; at most MAX_ATTR_FILTERS."""
    found: dict[str, AttributeValue] = {}
    for name, value in items:
        if not name.startswith(ATTR_PREFIX):
            continue
        key = name[len(ATTR_PREFIX) :]
        if not key:
            raise BadParameter(name, "an attribute filter needs a key: attr.KEY=VALUE")
        if key in found:
            raise BadParameter(name, f"attribute {key!r} is filtered more than once")
        found[key] = attribute_value(value)
        if len(found) > MAX_ATTR_FILTERS:
            raise BadParameter(name, f"at most {MAX_ATTR_FILTERS} attribute filters per query")
    return found
