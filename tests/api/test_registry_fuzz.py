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

from infertrace.registry import ThreadSafeRegistry
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore
from tests.api.fuzzing import CHECKS, fuzz_operation, operations, serving

STREAM = "GET /api/registry/events"
OPERATIONS = operations(lambda op: op.path.startswith("/api/registry/") and op.label != STREAM)
EXAMPLES = 40


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    store = MemoryStore()
    service = RegistryService(ThreadSafeRegistry())
    for i in range(3):
        service.register("svc", f"p{i}", providers=[f"m{i}"])
    try:
        with serving(store, registry=service) as url:
            yield url
    finally:
        service.store.close()
        store.close()


def test_every_registry_route_but_the_stream_is_fuzzed() -> None:
    labels = {op.label for op in OPERATIONS}
    assert len(labels) == 12
    assert {"POST /api/registry/pods", "GET /api/registry/events/recent"} <= labels


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_generated_requests_get_no_server_error(base_url: str, operation: Any) -> None:
    fuzz_operation(base_url, operation, CHECKS, EXAMPLES)
