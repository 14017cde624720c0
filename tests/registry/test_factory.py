"""open_registry: the store a configuration names, or a refusal naming the value."""

from __future__ import annotations

import pytest

from infertrace.errors import InvalidParameter
from infertrace.registry import RegistryStore, ThreadSafeRegistry
from infertrace.registry.factory import open_registry


def test_memory_is_a_thread_safe_registry() -> None:
    registry = open_registry("memory")
    assert isinstance(registry, ThreadSafeRegistry)
    assert isinstance(registry, RegistryStore)
    assert registry.ping()
    registry.close()


@pytest.mark.parametrize(
    ("kind", "dsn", "name", "value"),
    [
        ("sqlite", None, "kind", "sqlite"),
        ("", None, "kind", ""),
        ("Memory", None, "kind", "Memory"),
        ("postgres", None, "dsn", None),
        ("postgres", "", "dsn", ""),
    ],
)
def test_bad_configurations_are_refused_naming_the_value(
    kind: str, dsn: str | None, name: str, value: object
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        open_registry(kind, dsn)
    assert caught.value.name == name
    assert repr(value) in str(caught.value)
