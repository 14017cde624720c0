"""Shared pieces of the API fuzz tests: the app's OpenAPI document as schemathesis
reads it, the checks every run applies, a served app, and one runner where hypothesis
drives an operation's generated requests against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from infertrace.api import install_query_api
from infertrace.collector.app import create_app
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore

SCHEMA = schemathesis.openapi.from_dict(
    create_app(MemoryStore(span_capacity=16), install=install_query_api).openapi()
)
"""The OpenAPI document of an app with the query API (every route, served or not)."""
CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
"""No server error, documented statuses, content types and bodies; forbidden
requests refused. ``positive_data_acceptance`` is left out: some schema-valid
combinations are refused by design with a 422."""


def operations(keep: Callable[[Any], bool]) -> list[Any]:
    """The operations of :data:`SCHEMA` that ``keep`` accepts, in document order."""
    found = (result.ok() for result in SCHEMA.get_all_operations())  # type: ignore[union-attr]
    return [op for op in found if keep(op)]


@contextmanager
def serving(store: MemoryStore, **services: Any) -> Iterator[str]:
    """The base URL of a real server on free 127.0.0.1 ports over ``store`` with the
    query API and ``services`` (``registry=``, ``activity=``), stopped on exit."""
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, **services
    )
    endpoints = collector.start()
    try:
        yield endpoints.http_url
    finally:
        collector.stop()


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
