"""ServiceInfo and its key: validation naming the value, and immutability."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from infertrace.errors import InvalidParameter
from infertrace.registry import Origin, ServiceInfo, ServiceStatus, parse_key, service_key

from .conftest import pod


def test_key_joins_name_and_pod() -> None:
    info = pod("svc", "p1")
    assert info.key == "svc:p1" == service_key("svc", "p1")
    assert parse_key(info.key) == ("svc", "p1")


@pytest.mark.parametrize("key", ["", "nocolon", "a:b:c", ":pod", "svc:", ":", 5, None])
def test_parse_key_refuses_naming_the_value(key: object) -> None:
    with pytest.raises(InvalidParameter, match="key") as caught:
        parse_key(key)  # type: ignore[arg-type]
    assert repr(key) in str(caught.value)
    assert caught.value.name == "key"


@pytest.mark.parametrize(("name", "pod_name"), [("", "p"), ("s", ""), ("a:b", "p"), ("s", "p:q")])
def test_service_key_refuses_bad_names(name: str, pod_name: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        service_key(name, pod_name)
    bad = name if not name or ":" in name else pod_name
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "field", "value"),
    [
        ({"service_name": ""}, "service_name", ""),
        ({"pod_name": "a:b"}, "pod_name", "a:b"),
        ({"port": 70000}, "port", 70000),
        ({"port": "80"}, "port", "80"),
        ({"address": 5}, "address", 5),
        ({"health_check_url": ""}, "health_check_url", ""),
        ({"notification_url": 3}, "notification_url", 3),
        ({"providers": "llama"}, "providers", "llama"),
        ({"providers": [""]}, "providers", ""),
        ({"status": "sleepy"}, "status", "sleepy"),
        ({"origin": "rumour"}, "origin", "rumour"),
        ({"metadata": ["a"]}, "metadata", ["a"]),
        ({"last_seen": -1}, "last_seen", -1),
        ({"registered_at": 1.5}, "registered_at", 1.5),
    ],
)
def test_construction_refuses_bad_fields_naming_the_value(
    fields: dict[str, object], field: str, value: object
) -> None:
    base: dict[str, object] = {"service_name": "svc", "pod_name": "p"}
    base.update(fields)
    with pytest.raises(InvalidParameter) as caught:
        ServiceInfo(**base)  # type: ignore[arg-type]
    assert caught.value.name == field
    assert repr(value) in str(caught.value)


def test_fields_are_normalised() -> None:
    meta = {"zone": "a"}
    info = ServiceInfo("s", "p", providers=["m1", "m2", "m1"], status="healthy",  # type: ignore[arg-type]
                       origin="both", metadata=meta)  # type: ignore[arg-type]  # fmt: skip
    assert info.providers == frozenset({"m1", "m2"})
    assert info.status is ServiceStatus.HEALTHY
    assert info.origin is Origin.BOTH
    assert isinstance(info.metadata, MappingProxyType)
    meta["zone"] = "b"  # the record holds a copy
    assert info.metadata == {"zone": "a"}
    assert ServiceInfo("s", "p").metadata == {}


def test_records_cannot_be_changed() -> None:
    info = pod(metadata={"k": "v"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.status = ServiceStatus.HEALTHY  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.metadata["k"] = "w"  # type: ignore[index]
    with pytest.raises(AttributeError):
        info.providers.add("other")  # type: ignore[attr-defined]
    with pytest.raises((AttributeError, TypeError)):
        info.extra = 1  # type: ignore[attr-defined]
    assert info.metadata == {"k": "v"} and info.status is ServiceStatus.UNKNOWN
