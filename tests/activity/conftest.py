"""Shared builders for the activity tests: small explicit records."""

from __future__ import annotations

import pytest

from infertrace.activity import Change, ChangeKind, Commit, Developer, MemoryActivityStore
from infertrace.activity.records import DAY_NS

DAY0 = 20_000
"""A UTC day number (2024-10-04) the tests build their days from."""


def at(day: int, hour: int = 12) -> int:
    """Unix ns of ``hour`` o'clock on day ``DAY0 + day``."""
    return (DAY0 + day) * DAY_NS + hour * 3_600_000_000_000


def dev(i: int, region: str = "US", team: str = "core", division: str = "eng") -> Developer:
    return Developer(f"d{i:03d}", f"dev{i}@example.com", f"Dev {i}", region, division, team)


def commit(n: int, developer: int, day: int, *, ai: bool = False, hour: int = 12) -> Commit:
    return Commit(f"{n:040x}", f"d{developer:03d}", "repo", at(day, hour), n % 50, n % 7, ai,
                  "claude-code" if ai else None)  # fmt: skip


def change(n: int, developer: int, day: int, *, agent: bool = True, accepted: bool = True,
           lines: int = 10) -> Change:  # fmt: skip
    kind = ChangeKind.AGENT_EDIT if agent else ChangeKind.MANUAL
    return Change(f"c{n}", f"d{developer:03d}", at(day), kind, "claude-code", "python", lines, 1,
                  accepted)  # fmt: skip


@pytest.fixture
def store() -> MemoryActivityStore:
    return MemoryActivityStore()
