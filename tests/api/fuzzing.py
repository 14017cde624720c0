"""One schemathesis runner for the API fuzz tests: hypothesis drives an operation's
generated requests against a served app and applies the given checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings


def fuzz_operation(
    base_url: str, operation: Any, checks: Sequence[Callable[..., Any]], examples: int
) -> None:
    """Send ``examples`` generated requests for ``operation``; each must pass ``checks``."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=base_url, checks=list(checks), timeout=30)

    run()
