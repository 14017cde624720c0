"""A hypothesis state machine over the developer routes against a plain dict.

Creates, replacements, deletes and batches under every ``on_conflict`` rule, over
a small space of ids and emails so keys and emails clash often. The model is a
dict id -> email; after every step the listed developers must equal it, and
every refused write must have changed nothing. One server serves every run;
each run starts from an empty store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.api.activity_server import Server, serving

SHARED: list[Server] = []
"""The server of this module's runs (set by the fixture below)."""


@pytest.fixture(autouse=True, scope="module")
def shared_server() -> Iterator[None]:
    with serving() as server:
        SHARED.append(server)
        yield
        SHARED.clear()


IDS = st.integers(0, 5)
EMAILS = st.integers(0, 5)
PAIRS = st.lists(st.tuples(IDS, EMAILS), min_size=1, max_size=6)


def body(i: int, e: int) -> dict[str, Any]:
    return {"id": f"d{i}", "email": f"e{e}@example.com"}


def expected_batch(model: dict[str, str], pairs: list[tuple[int, int]], rule: str) -> int:
    """The status the batch must get, applying it to ``model`` when it succeeds."""
    items = [(f"d{i}", f"e{e}@example.com") for i, e in pairs]
    owners = {email: dev for dev, email in model.items()}
    if rule == "error":
        ids = [d for d, _ in items]
        emails = [m for _, m in items]
        if len(set(ids)) < len(ids) or set(ids) & model.keys():
            return 409
        if len(set(emails)) < len(emails) or set(emails) & owners.keys():
            return 409
        model.update(items)
        return 200
    chosen: dict[str, str] = {}
    for dev, email in items:
        if rule == "skip":
            chosen.setdefault(dev, email)
        else:
            chosen[dev] = email
    if rule == "skip":
        fresh = {d: m for d, m in chosen.items() if d not in model}
        emails = list(fresh.values())
        if len(set(emails)) < len(emails) or set(emails) & owners.keys():
            return 409
        model.update(fresh)
        return 200
    emails = list(chosen.values())
    if len(set(emails)) < len(emails):
        return 409
    if any(owners.get(m, d) != d for d, m in chosen.items()):
        return 409
    model.update(chosen)
    return 200


class DeveloperRoutes(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        server = SHARED[0]
        self.service = server.service
        self.service.store.clear()
        self.client: httpx.Client = server.client
        self.model: dict[str, str] = {}

    def _holder(self, email: str) -> str | None:
        return next((d for d, m in self.model.items() if m == email), None)

    @rule(i=IDS, e=EMAILS)
    def create(self, i: int, e: int) -> None:
        new = body(i, e)
        taken = new["id"] in self.model or self._holder(new["email"]) is not None
        response = self.client.post("/api/activity/developers", json=new)
        assert response.status_code == (409 if taken else 201), response.text
        if not taken:
            self.model[new["id"]] = new["email"]

    @rule(i=IDS, e=EMAILS)
    def replace(self, i: int, e: int) -> None:
        new = body(i, e)
        response = self.client.put(f"/api/activity/developers/d{i}", json=new)
        if new["id"] not in self.model:
            assert response.status_code == 404
        elif self._holder(new["email"]) not in (None, new["id"]):
            assert response.status_code == 409
        else:
            assert response.status_code == 200, response.text
            self.model[new["id"]] = new["email"]

    @rule(i=IDS)
    def delete(self, i: int) -> None:
        response = self.client.delete(f"/api/activity/developers/d{i}")
        assert response.status_code == (204 if f"d{i}" in self.model else 404)
        self.model.pop(f"d{i}", None)

    @rule(pairs=PAIRS, how=st.sampled_from(["error", "skip", "replace"]))
    def batch(self, pairs: list[tuple[int, int]], how: str) -> None:
        status = expected_batch(self.model, pairs, how)
        response = self.client.post(f"/api/activity/developers/batch?on_conflict={how}",
                                    json={"records": [body(i, e) for i, e in pairs]})  # fmt: skip
        assert response.status_code == status, (how, pairs, response.text)
        if status == 409:
            assert response.json()["errors"]

    @invariant()
    def listing_matches_the_model(self) -> None:
        page = self.client.get("/api/activity/developers?limit=100").json()
        assert page["total"] == len(self.model)
        assert {d["id"]: d["email"] for d in page["items"]} == self.model
        assert [d["id"] for d in page["items"]] == sorted(self.model)
        self.service.store._check()


TestDeveloperRoutes = DeveloperRoutes.TestCase
TestDeveloperRoutes.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
