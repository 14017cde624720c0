"""Bounded reliability probes: what InferTrace was put through and what held.

Each scenario module has ``TITLE`` and ``run(quick: bool) -> list[Row]``; every
probe is bounded in count and time and talks only to servers it starts on
127.0.0.1. ``python -m reliability`` (``make reliability``) runs them all,
prints one table and writes ``reliability/results.json``, from which the
README's "Reliability" table is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    """One probe: what was tried, how much of it, and whether the promise held."""

    tried: str
    amount: str
    held: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["Row"]
