"""Parameters of the Jaeger query API: Jaeger's own syntax, parsed and checked.

Times are unix microseconds, durations Go durations (``1.2s``, ``1h30m``),
tags a JSON object or repeated ``key:value``; every error names the parameter
and the value, in Jaeger's wording (``unable to parse param 'start': ...``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from infertrace.api.jaeger_model import KIND_NAMES
from infertrace.errors import InvalidParameter
from infertrace.telemetry.filters import NO_LOWER, NO_UPPER

DEFAULT_TRACES = 20
MAX_TRACES = 1_000
MAX_TAGS = 16

_MS = 1_000_000
_GO_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": _MS,
    "s": 1_000 * _MS,
    "m": 60_000 * _MS,
    "h": 3_600_000 * _MS,
}
_LOOKBACK_UNITS = {**_GO_UNITS, "d": 86_400_000 * _MS, "w": 604_800_000 * _MS}
_GO_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h|d|w)")
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_TRACE_ID = re.compile(r"[0-9a-fA-F]{1,32}")
SPAN_KIND_NAMES = set(KIND_NAMES.values())


class ParamError(InvalidParameter):
    """A Jaeger query parameter the API cannot use; the message names it and its value."""


def _unparsable(name: str, problem: str) -> ParamError:
    return ParamError(name, f"unable to parse param '{name}': {problem}")


def parse_go_duration(text: str, name: str, units: dict[str, int] = _GO_UNITS) -> int:
    """Nanoseconds of a non-negative Go duration (``1.2s``, ``1h30m``, ``0``), at most 64 chars."""
    s = text.strip().removeprefix("+")
    if s == "0":
        return 0
    total = pos = 0
    while 0 < len(s) <= 64:
        match = _GO_PART.match(s, pos)
        if match is None or match.group(3) not in units or not (match.group(1) or match.group(2)):
            break
        whole, frac, unit = match.groups()
        total += int(whole or 0) * units[unit]
        if frac:
            total += int(frac) * units[unit] // 10 ** len(frac)
        pos = match.end()
        if pos == len(s):
            return min(total, NO_UPPER)  # longer than any span: no bound
    shown = ", ".join(u for u in units if u not in ("µs", "μs"))
    raise _unparsable(name, f"{text!r} is not a duration like 1.2s, 100ms or 1m ({shown})")


def parse_micros(text: str, name: str) -> int:
    """Unix nanoseconds of an integer of unix microseconds."""
    s = text.strip()
    if not _INT.fullmatch(s):
        raise _unparsable(name, f"{text!r} is not an integer of unix epoch microseconds")
    return int(s) * 1000


def _given(text: str | None) -> str | None:
    """The parameter's text, or None when absent or blank (blank means absent)."""
    return None if text is None else (text.strip() or None)


def parse_window(
    start: str | None, end: str | None, lookback: str | None, now_ns: int
) -> tuple[int | None, int | None]:
    """The store's half-open [since, until) in ns for inclusive µs ``start``..``end``.

    A start after the end matches nothing, as in Jaeger; beyond int64 is unbounded.
    """
    start, end, lookback = _given(start), _given(end), _given(lookback)
    since = parse_micros(start, "start") if start else None
    until = parse_micros(end, "end") + 1000 if end else None
    if since is None and lookback and lookback != "custom":
        reference = now_ns if until is None else until - 1000
        since = reference - parse_go_duration(lookback, "lookback", _LOOKBACK_UNITS)
    return (
        None if since is None else min(max(since, NO_LOWER), NO_UPPER),
        None if until is None else min(max(until, NO_LOWER), NO_UPPER),
    )


def parse_durations(low: str | None, high: str | None) -> tuple[int | None, int | None]:
    """``minDuration`` and ``maxDuration`` in ns (a max below the min matches nothing)."""
    low, high = _given(low), _given(high)
    lo = parse_go_duration(low, "minDuration") if low else None
    hi = parse_go_duration(high, "maxDuration") if high else None
    return lo, hi


def parse_limit(text: str | None) -> int:
    """Traces to return: ``DEFAULT_TRACES`` when absent or 0, capped at ``MAX_TRACES``."""
    if text is None or not text.strip():
        return DEFAULT_TRACES
    s = text.strip()
    if not _INT.fullmatch(s):
        raise _unparsable("limit", f"{text!r} is not an integer")
    n = int(s)
    if n < 0:
        raise ParamError("limit", f"'limit' must not be negative, got {n}")
    return min(n, MAX_TRACES) if n else DEFAULT_TRACES


def parse_tags(simple: Sequence[str], json_tags: Sequence[str]) -> dict[str, str]:
    """Tags from repeated ``tag=k:v`` and JSON-object ``tags``; later ones win."""
    tags: dict[str, str] = {}
    for item in simple:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise ParamError("tag", f"malformed 'tag' parameter {item!r}, expecting key:value")
        tags[key] = value
    for text in json_tags:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise _unparsable("tags", f'{text!r} is not a JSON object like {{"error":"true"}}')
        for key, value in obj.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, int | float):
                value = str(value)
            if not key or not isinstance(value, str):
                raise _unparsable("tags", f"tag {key!r}: {value!r} is not a string value")
            tags[key] = value
    if len(tags) > MAX_TAGS:
        raise ParamError("tags", f"'tags': at most {MAX_TAGS} tags per search, got {len(tags)}")
    return tags


def parse_trace_id(text: str, name: str = "traceID") -> bytes:
    """A trace id of up to 32 hex digits (shorter ids are zero-padded, as in Jaeger)."""
    s = text.strip()
    if not _TRACE_ID.fullmatch(s):
        raise ParamError(name, f"{name} {text!r} is not 1 to 32 hexadecimal characters")
    return bytes.fromhex(s.lower().rjust(32, "0"))
