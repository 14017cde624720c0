"""One fixture, every in-memory registry store: the conformance suite runs over each."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from infertrace.registry import LocalRegistry, RegistryStore, ServiceInfo, ThreadSafeRegistry

VARIANTS: dict[str, Callable[[], LocalRegistry | ThreadSafeRegistry]] = {
    "local": LocalRegistry,
    "threadsafe": ThreadSafeRegistry,
}


@pytest.fixture(params=sorted(VARIANTS))
def store(request: pytest.FixtureRequest) -> Iterator[LocalRegistry | ThreadSafeRegistry]:
    registry = VARIANTS[request.param]()
    assert isinstance(registry, RegistryStore)
    yield registry
    registry._check()
    registry.close()


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
