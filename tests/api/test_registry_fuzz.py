"""A schemathesis run over the registry routes of a server that runs a registry.

The query API's own fuzz run (test_openapi_fuzz.py) serves no registry, so there
every registry route answers 404; here the routes do their work on generated
requests, valid and invalid. The event stream is left out: it never ends by
design (test_registry_api.py checks it with a reader that stops).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
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
from infertrace.registry import ThreadSafeRegistry
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore
from tests.api.fuzzing import fuzz_operation

STREAM = "GET /api/registry/events"
SCHEMA = schemathesis.openapi.from_dict(
    create_app(MemoryStore(span_capacity=16), install=install_query_api).openapi()
)
OPERATIONS = [
    op
    for op in (result.ok() for result in SCHEMA.get_all_operations())  # type: ignore[union-attr]
    if op.path.startswith("/api/registry/") and op.label != STREAM
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES = 40


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    store = MemoryStore()
    service = RegistryService(ThreadSafeRegistry())
    for i in range(3):
        service.register("svc", f"p{i}", providers=[f"m{i}"])
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, registry=service
    )
    endpoints = collector.start()
    try:
        yield endpoints.http_url
    finally:
        collector.stop()
        service.store.close()
        store.close()


def test_every_registry_route_but_the_stream_is_fuzzed() -> None:
    labels = {op.label for op in OPERATIONS}
    assert len(labels) == 12
    assert {"POST /api/registry/pods", "GET /api/registry/events/recent"} <= labels


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_generated_requests_get_no_server_error(base_url: str, operation: Any) -> None:
    fuzz_operation(base_url, operation, CHECKS, EXAMPLES)
