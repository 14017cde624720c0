"""Checks of the web pages that need outside programs: node and headless Chromium.

Without them these tests skip, with the reason; with ``INFERTRACE_REQUIRE_BROWSER=1``
(CI sets it, and ``.ci/run`` installs Debian's ``chromium``) they fail instead, so
the web UI is checked in a real browser on every submission.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])

NODE = shutil.which("node")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the network here is closed: no update pings
    "--disable-component-update",
    "--disable-sync",
)


def browser_unavailable(reason: str) -> NoReturn:
    """Skip (or, when CI requires the browser tools, fail) with ``reason``."""
    if os.environ.get("INFERTRACE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tools required but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def _needs(found: Callable[[], bool], reason: str) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not found():
                browser_unavailable(reason)
            return test(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


needs_node = _needs(lambda: NODE is not None, "node is not installed")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
needs_chromium = _needs(
    lambda: CHROMIUM is not None, "no headless Chromium installed on this machine"
)


def module_syntax_error(path: Path) -> str | None:
    """node's complaint about ``path`` as an ES module, or None when it parses.

    ``node --check file.js`` parses a .js file as CommonJS first and may let an
    ES module's syntax error through, so stdin is parsed as a module instead.
    """
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--input-type=module", "--check"],
        input=path.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return None if result.returncode == 0 else result.stderr.decode(errors="replace")


def rendered_dom(url: str) -> str:
    """The DOM of ``url`` after its scripts ran in headless Chromium."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="infertrace-chromium-") as profile:
        result = subprocess.run(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode("utf-8", errors="replace")
