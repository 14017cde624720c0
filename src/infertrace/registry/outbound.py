"""The registry's calls out to pods (health checks, notifications): URLs, limits, HTTP.

Standard library only (``urllib.request``). Only http and https URLs are ever
called: a pod registers its own URLs over REST, and a ``file:`` URL must never
be read by the collector. Each call has a timeout and reads at most 64 KiB of
the answer, so a misbehaving pod cannot hold a worker or memory for long.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from infertrace.errors import InvalidParameter

SCHEMES = ("http://", "https://")
_READ_LIMIT = 65_536
_HEADERS = {"User-Agent": "infertrace-registry"}


def check_url(what: str, url: str | None) -> str | None:
    """``url`` if None or http(s); InvalidParameter naming it otherwise."""
    if url is not None and not (isinstance(url, str) and url.lower().startswith(SCHEMES)):
        raise InvalidParameter(what, f"{what} {url!r} must be an http:// or https:// URL")
    return url


def check_positive(what: str, value: object, *, integer: bool = False, zero: bool = False) -> None:
    """InvalidParameter naming ``value`` unless it is a number > 0 (>= 0 with ``zero``),
    and an int when ``integer``."""
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if not ok or not (value >= 0 if zero else value > 0):  # type: ignore[operator]
        kind = "an int" if integer else "a number"
        raise InvalidParameter(what, f"{what} {value!r} must be {kind} {'>= 0' if zero else '> 0'}")


def _call(url: str, timeout: float, body: bytes | None = None) -> bool:
    if not isinstance(url, str) or not url.lower().startswith(SCHEMES):
        return False
    headers = _HEADERS if body is None else {**_HEADERS, "Content-Type": "application/json"}
    try:
        request = urllib.request.Request(url, data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(_READ_LIMIT)
            return 200 <= int(response.status) < 300
    except urllib.error.HTTPError as exc:
        exc.close()
        return False
    except (OSError, ValueError):  # refused, reset, timed out, DNS, a malformed URL
        return False


def http_ok(url: str, timeout: float) -> bool:
    """Whether GET ``url`` answers 2xx within ``timeout`` seconds; False on any failure."""
    return _call(url, timeout)


def http_post_ok(url: str, body: bytes, timeout: float) -> bool:
    """Whether POST ``body`` (JSON) to ``url`` answers 2xx within ``timeout`` seconds."""
    return _call(url, timeout, body)
