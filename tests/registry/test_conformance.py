"""Every registry store behaves the same: one suite over the two in-memory variants
and PostgreSQL.

The ``store`` fixture (conftest) gives each variant in turn and checks its
invariants after the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from infertrace.errors import InvalidParameter, ServiceNotFound, StoreClosed
from infertrace.registry import ServiceInfo, ServiceStatus

from .conftest import pod, same

Store = Any  # LocalRegistry | ThreadSafeRegistry | PostgresRegistry: the protocol's methods


def keys(infos: list[ServiceInfo]) -> list[str]:
    return [i.key for i in infos]


def test_save_then_get_returns_the_record_saved(store: Store) -> None:
    info = pod("svc", "p1")
    store.save_service(info)
    assert same(store, store.get_service("svc:p1"), info)


FULL = {
    "address": "2001:db8::1", "port": 65535, "health_check_url": "http://p/health",
    "notification_url": "http://p/notify", "providers": {"llama-70b", "mistral-7b", "é"},
    "status": ServiceStatus.DRAINING, "metadata": {"zone": "a", "gpu": "H100", "ü": ""},
    "registered_at": 0, "last_seen": 2**63 - 1, "last_health_check": 1_700_000_000_000_000_001,
    "last_status_change": 5, "origin": "both",
}  # fmt: skip
BARE: dict[str, object] = {"providers": (), "metadata": {}}


@pytest.mark.parametrize("fields", [FULL, BARE], ids=["every field set", "defaults"])
def test_every_field_reads_back_as_saved(store: Store, fields: dict[str, object]) -> None:
    info = ServiceInfo("svc", "p1", **fields)  # type: ignore[arg-type]
    store.save_service(info)
    for got in (store.get_service("svc:p1"), *store.get_all_services(),
                *store.get_services_by_name("svc")):  # fmt: skip
        assert got == info
        for name, value in fields.items():
            want = frozenset(value) if name == "providers" else value  # type: ignore[arg-type]
            assert getattr(got, name) == want, name
        assert type(got.status) is ServiceStatus and type(got.providers) is frozenset
        with pytest.raises(TypeError):
            got.metadata["zone"] = "b"  # type: ignore[index]


def test_save_replaces_the_record_under_its_key(store: Store) -> None:
    store.save_service(pod("svc", "p1", port=1))
    store.save_service(pod("svc", "p1", port=2))
    assert store.get_service("svc:p1").port == 2
    assert keys(store.get_all_services()) == ["svc:p1"]
    assert keys(store.get_services_by_name("svc")) == ["svc:p1"]


def test_by_name_and_all_are_sorted_by_key(store: Store) -> None:
    for name, p in [("b", "p2"), ("a", "p9"), ("b", "p1"), ("c", "p0")]:
        store.save_service(pod(name, p))
    assert keys(store.get_services_by_name("b")) == ["b:p1", "b:p2"]
    assert keys(store.get_all_services()) == ["a:p9", "b:p1", "b:p2", "c:p0"]
    assert store.get_services_by_name("nobody") == []


def test_keys_sort_by_code_point_whatever_the_case_or_script(store: Store) -> None:
    keys_saved = ["b:x", "B:x", "a:é", "a:z", "a:Z", "_:x", "a-b:x", "ä:x", "a:10", "a:9"]
    for key in keys_saved:
        store.save_service(pod(*key.split(":")))
        store.add_subscription(key, "g")
    assert keys(store.get_all_services()) == sorted(keys_saved)
    assert keys(store.get_services_by_name("a")) == sorted(k for k in keys_saved if k[:2] == "a:")
    assert store.get_subscribers("g") == sorted(keys_saved)
    assert keys(store.get_subscriber_services("g")) == sorted(keys_saved)


def test_delete_removes_the_record_and_its_name_entry(store: Store) -> None:
    store.save_service(pod("svc", "p1"))
    store.save_service(pod("svc", "p2"))
    store.delete_service("svc:p1")
    assert keys(store.get_services_by_name("svc")) == ["svc:p2"]
    store.delete_service("svc:p2")
    assert store.get_services_by_name("svc") == []
    assert store.get_all_services() == []
    with pytest.raises(ServiceNotFound):
        store.get_service("svc:p1")


def test_update_health_status_stamps_the_check_and_the_change(store: Store) -> None:
    store.save_service(pod("svc", "p1"))
    first = store.update_health_status("svc:p1", ServiceStatus.HEALTHY, 100)
    assert (first.status, first.last_health_check, first.last_status_change) == (
        ServiceStatus.HEALTHY, 100, 100)  # fmt: skip
    kept = store.update_health_status("svc:p1", "healthy", 200)
    assert (kept.last_health_check, kept.last_status_change) == (200, 100)
    changed = store.update_health_status("svc:p1", "draining", 300)
    assert (changed.status, changed.last_status_change) == (ServiceStatus.DRAINING, 300)
    assert same(store, store.get_service("svc:p1"), changed)
    assert first.status is ServiceStatus.HEALTHY  # handed-out records never change


def test_subscriptions_add_twice_remove_absent_are_no_ops(store: Store) -> None:
    store.add_subscription("router:r1", "llama")
    store.add_subscription("router:r1", "llama")
    store.add_subscription("router:r0", "llama")
    assert store.get_subscribers("llama") == ["router:r0", "router:r1"]
    store.remove_subscription("router:r9", "llama")
    store.remove_subscription("router:r1", "nogroup")
    store.remove_subscription("router:r1", "llama")
    store.remove_subscription("router:r1", "llama")
    assert store.get_subscribers("llama") == ["router:r0"]
    assert store.get_subscribers("nogroup") == []


def test_remove_all_subscriptions_of_one_subscriber(store: Store) -> None:
    for group in ("g1", "g2", "g3"):
        store.add_subscription("router:r1", group)
    store.add_subscription("router:r2", "g2")
    store.remove_all_subscriptions("router:r1")
    store.remove_all_subscriptions("router:r1")
    store.remove_all_subscriptions("router:never")
    assert [store.get_subscribers(g) for g in ("g1", "g2", "g3")] == [[], ["router:r2"], []]


def test_get_subscriptions_lists_a_subscribers_groups(store: Store) -> None:
    for group in ("g3", "g1", "g2"):
        store.add_subscription("router:r1", group)
    store.add_subscription("router:r2", "g2")
    assert store.get_subscriptions("router:r1") == ["g1", "g2", "g3"]
    store.remove_subscription("router:r1", "g2")
    assert store.get_subscriptions("router:r1") == ["g1", "g3"]
    assert store.get_subscriptions("router:r2") == ["g2"]
    store.remove_all_subscriptions("router:r1")
    assert store.get_subscriptions("router:r1") == []
    assert store.get_subscriptions("router:never") == []
    with pytest.raises(InvalidParameter, match="no-colon"):
        store.get_subscriptions("no-colon")


def test_subscriber_services_skip_subscribers_without_a_record(store: Store) -> None:
    store.save_service(pod("router", "r1"))
    store.save_service(pod("router", "r2"))
    for key in ("router:r1", "router:r2", "router:gone"):
        store.add_subscription(key, "llama")
    store.delete_service("router:r2")
    assert keys(store.get_subscriber_services("llama")) == ["router:r1"]
    assert store.get_subscribers("llama") == ["router:gone", "router:r1", "router:r2"]
    store.save_service(pod("router", "r2"))  # re-registered: its subscription stands
    assert keys(store.get_subscriber_services("llama")) == ["router:r1", "router:r2"]


def test_records_handed_out_cannot_change_the_store(store: Store) -> None:
    store.save_service(pod("svc", "p1", metadata={"zone": "a"}))
    got = store.get_service("svc:p1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.port = 1
    with pytest.raises(TypeError):
        got.metadata["zone"] = "b"
    listed = store.get_all_services()
    listed.clear()  # the list is the caller's
    assert store.get_service("svc:p1").metadata == {"zone": "a"}
    assert store.get_service("svc:p1").port == 8000
    assert keys(store.get_all_services()) == ["svc:p1"]


# Every refusal, by call: (operation, the bad value, the error, the parameter named).
BAD_CALLS: list[tuple[str, Callable[[Store], object], object, type[Exception], str]] = [
    ("get unknown", lambda s: s.get_service("svc:none"), "svc:none", ServiceNotFound, ""),
    ("delete unknown", lambda s: s.delete_service("svc:none"), "svc:none", ServiceNotFound, ""),
    ("health unknown", lambda s: s.update_health_status("svc:none", "healthy", 1), "svc:none",
     ServiceNotFound, ""),
    ("get no colon", lambda s: s.get_service("svcp1"), "svcp1", InvalidParameter, "key"),
    ("get two colons", lambda s: s.get_service("a:b:c"), "a:b:c", InvalidParameter, "key"),
    ("get empty pod", lambda s: s.get_service("svc:"), "svc:", InvalidParameter, "key"),
    ("delete empty name", lambda s: s.delete_service(":p"), ":p", InvalidParameter, "key"),
    ("health bad key", lambda s: s.update_health_status("x", "healthy", 1), "x",
     InvalidParameter, "key"),
    ("health bad status", lambda s: s.update_health_status("svc:p0", "sleepy", 1), "sleepy",
     InvalidParameter, "status"),
    ("health status None", lambda s: s.update_health_status("svc:p0", None, 1), None,
     InvalidParameter, "status"),
    ("health bad time", lambda s: s.update_health_status("svc:p0", "healthy", -5), -5,
     InvalidParameter, "at"),
    ("health no time", lambda s: s.update_health_status("svc:p0", "healthy", None), None,
     InvalidParameter, "at"),
    ("by empty name", lambda s: s.get_services_by_name(""), "", InvalidParameter,
     "service_name"),
    ("by name with colon", lambda s: s.get_services_by_name("a:b"), "a:b", InvalidParameter,
     "service_name"),
    ("save not a record", lambda s: s.save_service({"key": "a:b"}), {"key": "a:b"},
     InvalidParameter, "info"),
    ("subscribe bad key", lambda s: s.add_subscription("r1", "g"), "r1", InvalidParameter,
     "key"),
    ("subscribe empty group", lambda s: s.add_subscription("r:1", ""), "", InvalidParameter,
     "service_group"),
    ("unsubscribe bad key", lambda s: s.remove_subscription("::", "g"), "::",
     InvalidParameter, "key"),
    ("unsubscribe empty group", lambda s: s.remove_subscription("r:1", ""), "",
     InvalidParameter, "service_group"),
    ("unsubscribe all bad key", lambda s: s.remove_all_subscriptions(""), "",
     InvalidParameter, "key"),
    ("subscribers empty group", lambda s: s.get_subscribers(""), "", InvalidParameter,
     "service_group"),
    ("subscriber services empty group", lambda s: s.get_subscriber_services(""), "",
     InvalidParameter, "service_group"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "value", "error", "name"),
                         [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS])  # fmt: skip
def test_bad_calls_are_refused_naming_the_value_and_change_nothing(
    store: Store, call: Callable[[Store], object], value: object, error: type[Exception],
    name: str,
) -> None:  # fmt: skip
    store.save_service(pod("svc", "p0"))
    store.add_subscription("svc:p0", "g")
    before = (store.get_all_services(), store.get_subscribers("g"))
    with pytest.raises(error) as caught:
        call(store)
    assert repr(value) in str(caught.value)
    if name:
        assert isinstance(caught.value, InvalidParameter) and caught.value.name == name
    assert (store.get_all_services(), store.get_subscribers("g")) == before


def test_service_not_found_is_a_key_error_naming_the_key(store: Store) -> None:
    with pytest.raises(KeyError) as caught:
        store.get_service("svc:missing")
    assert isinstance(caught.value, ServiceNotFound)
    assert caught.value.key == "svc:missing"
    assert str(caught.value) == "service 'svc:missing' not found"


def test_close_is_idempotent_and_refuses_later_calls(store: Store) -> None:
    store.save_service(pod())
    assert store.ping() is True
    store.close()
    store.close()
    assert store.ping() is False
    for call in (lambda: store.get_all_services(), lambda: store.save_service(pod()),
                 lambda: store.add_subscription("a:b", "g")):  # fmt: skip
        with pytest.raises(StoreClosed):
            call()
