"""One fixture, every registry store: the conformance suite runs over each.

The PostgreSQL store gets one migrated schema per test session (``registry_dsn``)
and starts each test empty (``clear()``); it skips, or in CI fails, without a
server, as every PostgreSQL test does (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from infertrace.registry import LocalRegistry, RegistryStore, ServiceInfo, ThreadSafeRegistry
from infertrace.registry.factory import open_registry
from infertrace.registry.postgres import PostgresRegistry
from tests.pg_schema import fresh_schema
from tests.registry.journal_double import MemoryJournal

Store = LocalRegistry | ThreadSafeRegistry | PostgresRegistry


def _journaled() -> ThreadSafeRegistry:
    """The thread-safe store attached to a journal, as under ``serve --data-dir``."""
    registry = ThreadSafeRegistry()
    registry.attach(MemoryJournal())
    return registry


MEMORY: dict[str, Callable[[], LocalRegistry | ThreadSafeRegistry]] = {
    "local": LocalRegistry,
    "threadsafe": ThreadSafeRegistry,
    "journaled": _journaled,
}
VARIANTS = (*sorted(MEMORY), "postgres")


@pytest.fixture(scope="session")
def registry_dsn(pg_server: str) -> Iterator[str]:
    """A DSN on a schema migrated by the factory, shared by the session's tests."""
    with fresh_schema(pg_server) as dsn:
        open_registry("postgres", dsn).close()
        yield dsn


def open_store(variant: str, request: pytest.FixtureRequest, pool_size: int = 4) -> Store:
    """A new, empty store of ``variant``."""
    if variant != "postgres":
        return MEMORY[variant]()
    registry = PostgresRegistry(request.getfixturevalue("registry_dsn"), pool_size=pool_size)
    registry.clear()
    return registry


@pytest.fixture(params=VARIANTS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    registry = open_store(request.param, request)
    assert isinstance(registry, RegistryStore)
    yield registry
    if registry.ping() or not isinstance(registry, PostgresRegistry):
        registry._check()
    registry.close()


def same(store: Store, got: object, saved: object) -> bool:
    """Whether ``got`` is the record ``saved``: the very object from a memory store
    (no copies), an equal one from PostgreSQL (built from its row)."""
    return got == saved if isinstance(store, PostgresRegistry) else got is saved


def pod(name: str = "vllm-llama", pod_name: str = "pod-0", **fields: object) -> ServiceInfo:
    """A record with a few fields set; ``fields`` override them."""
    values: dict[str, object] = {
        "address": "10.0.0.1",
        "port": 8000,
        "providers": {"llama-70b"},
        "registered_at": 1,
        "last_seen": 2,
    }
    values.update(fields)
    return ServiceInfo(name, pod_name, **values)  # type: ignore[arg-type]
