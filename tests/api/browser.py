"""Checks of the web pages that need outside programs: node and headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium installed on this machine"
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
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
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
