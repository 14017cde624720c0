"""A schemathesis run over the activity routes of a server that holds activity.

The query API's own fuzz run (test_openapi_fuzz.py) serves no activity database,
so there every activity route answers 404; here the routes do their work on
generated requests, valid and invalid, against seeded records: no server error,
only documented statuses and content types, bodies that match their models, and
requests the schema forbids refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infertrace.activity.generate import generate
from infertrace.activity.service import ActivityService
from infertrace.telemetry.memory import MemoryStore
from tests.api.fuzzing import CHECKS, fuzz_operation, operations, serving

OPERATIONS = operations(lambda op: op.path.startswith("/api/activity/"))
EXAMPLES = 25


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    store = MemoryStore(span_capacity=16)
    service = ActivityService.open({"sessions": 500})
    population = generate(20, 5, commits=60, changes=80, sessions=10, seed=4)
    service.store.save_batch(population.developers)
    service.store.save_batch(population.commits)
    service.store.save_batch(population.changes)
    service.store.save_batch(population.sessions)
    try:
        with serving(store, activity=service) as url:
            yield url
    finally:
        service.close()
        store.close()


def test_every_activity_route_is_fuzzed() -> None:
    labels = {op.label for op in OPERATIONS}
    assert len(labels) == 4 * 6 + 14
    assert {"POST /api/activity/commits/batch", "GET /api/activity/leaderboard"} <= labels


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_generated_requests_get_no_server_error(base_url: str, operation: Any) -> None:
    fuzz_operation(base_url, operation, CHECKS, EXAMPLES)
