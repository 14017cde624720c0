"""Query parameters of the activity API: record filters, paging and day ranges.

- Field filters: any field of the record type, ``name=value``, compared for
  equality after the value is read as the field's type (``ai_assisted=true``,
  ``additions=12``, ``region=EU``). ``since``/``until`` bound the type's time
  field (RFC 3339, unix ns or relative like ``7d``, as the other query routes).
- Day ranges: ``from``/``to`` are UTC days ``YYYY-MM-DD``, both included; by
  default the last 30 days up to today; at most ``MAX_DAYS`` days.

Every parser raises :class:`~infertrace.api.params.BadParameter` naming the
parameter and the value (answered 422).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from infertrace.activity.aggregations import MAX_DAYS
from infertrace.activity.records import DAY_NS, ChangeKind, Record, Region
from infertrace.activity.tables import LAYOUTS
from infertrace.api.params import BadParameter, parse_window
from infertrace.engine.planner import Between

MAX_PAGE = 10_000
"""The largest page a list route answers."""
DEFAULT_DAYS = 30
"""Days a range covers when ``from`` is not given."""
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
"""The syntax of a day parameter, published in /openapi.json (the parser is the authority)."""
PAGING = frozenset({"limit", "offset", "since", "until"})
"""Query parameters of a list route that are not field filters."""


def _integer(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise BadParameter(name, f"{name} {text!r} is not an integer") from None
        if value < 0:
            raise BadParameter(name, f"{name} {text!r} must be >= 0")
        return value

    return parse


def _number(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise BadParameter(name, f"{name} {text!r} is not a number") from None

    return parse


def _flag(name: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        value = text.strip().lower()
        if value not in ("true", "false"):
            raise BadParameter(name, f"{name} {text!r} must be true or false")
        return value == "true"

    return parse


def _member(name: str, values: Iterable[str]) -> Callable[[str], str]:
    allowed = tuple(values)

    def parse(text: str) -> str:
        if text not in allowed:
            raise BadParameter(name, f"{name} {text!r} is not one of {', '.join(allowed)}")
        return text

    return parse


def _hex(name: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        return text.lower()

    return parse


_TYPES: dict[str, Callable[[str], Callable[[str], Any]]] = {
    "int": _integer,
    "float": _number,
    "bool": _flag,
    "Region": lambda n: _member(n, [r.value for r in Region]),
    "ChangeKind": lambda n: _member(n, [k.value for k in ChangeKind]),
}


def filter_parsers(kind: type[Record]) -> dict[str, Callable[[str], Any]]:
    """A parser per field of ``kind``, by its annotation (text stays text; shas lower)."""
    out: dict[str, Callable[[str], Any]] = {}
    for f in fields(kind):
        annotation = str(f.type)
        make = _TYPES.get(annotation)
        if f.name in ("sha", "commit_sha"):
            out[f.name] = _hex(f.name)
        elif make is not None:
            out[f.name] = make(f.name)
        else:
            out[f.name] = str
    return out


def record_filters(
    kind: type[Record], items: Iterable[tuple[str, str]], now: int | None = None
) -> dict[str, object]:
    """The store filters of a list request's query items (paging excluded)."""
    parsers = filter_parsers(kind)
    filters: dict[str, object] = {}
    since = until = None
    for name, text in items:
        if name == "since":
            since = text
        elif name == "until":
            until = text
        elif name in ("limit", "offset"):
            continue
        elif name not in parsers:
            known = ", ".join([*parsers, "since", "until", "limit", "offset"])
            raise BadParameter(name, f"{name!r} is not a filter of {kind.__name__} ({known})")
        elif name in filters:
            raise BadParameter(name, f"{name!r} is given more than once")
        else:
            filters[name] = parsers[name](text)
    if since or until:
        column = LAYOUTS[kind].time
        if column in filters:
            raise BadParameter("since", f"since/until and {column}= filter the same field")
        low, high = parse_window(since, until, now)
        filters[column] = Between(column, low, high)
    return filters


def page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """``(limit, offset)``: limit 1..MAX_PAGE (default 100), offset >= 0 (default 0)."""
    limit = 100 if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_PAGE:
        raise BadParameter("limit", f"limit {limit} must be 1..{MAX_PAGE}")
    if offset < 0:
        raise BadParameter("offset", f"offset {offset} must be >= 0")
    return limit, offset


def parse_day(text: str, name: str) -> int:
    """The UTC day number of ``YYYY-MM-DD``."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadParameter(name, f"{name} {text!r} is not a day like 2026-11-22") from None
    if not re.fullmatch(DAY_PATTERN, text.strip()):
        raise BadParameter(name, f"{name} {text!r} is not a day like 2026-11-22")
    number = (day - date(1970, 1, 1)).days
    if number < 0:
        raise BadParameter(name, f"{name} {text!r} is before 1970-01-01")
    return number


def today(now_ns: int | None = None) -> int:
    """Today's UTC day number."""
    return (time.time_ns() if now_ns is None else now_ns) // DAY_NS


def day_range(first: str | None, last: str | None, now_ns: int | None = None) -> tuple[int, int]:
    """``(first_day, last_day)`` of ``from``/``to`` (see the module docstring)."""
    last_day = today(now_ns) if not last else parse_day(last, "to")
    first_day = last_day - DEFAULT_DAYS + 1 if not first else parse_day(first, "from")
    first_day = max(first_day, 0)
    if last_day < first_day:
        raise BadParameter("to", f"to {day_text(last_day)} is before from {day_text(first_day)}")
    if last_day - first_day >= MAX_DAYS:
        raise BadParameter(
            "to", f"range {day_text(first_day)}..{day_text(last_day)} is over {MAX_DAYS} days"
        )
    return first_day, last_day


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a UTC day number."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).date().isoformat()
