"""Notifications: payload shape, delivery with retries to a real local receiver, bounds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from infertrace.errors import InvalidParameter
from infertrace.registry import ServiceInfo, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.events import EventLog, EventType, RegistryEvent
from infertrace.registry.notifier import Notifier, NotifySettings, payload
from infertrace.registry.service import RegistryService

from .local_http import LocalHTTP, local_http, wait_for

FAST = {"timeout": 2.0, "backoff": 0.01, "workers": 2}


@pytest.fixture
def server() -> Iterator[LocalHTTP]:
    with local_http() as s:
        yield s


def test_payload_names_the_group_the_event_and_its_pods() -> None:
    event = RegistryEvent(
        9, EventType.STATUS_CHANGED, 1234, "vllm", "vllm:p1", ServiceStatus.UNHEALTHY,
        ServiceStatus.HEALTHY, ("llama",),
    )  # fmt: skip
    pods = [
        ServiceInfo("vllm", "p0", address="10.0.0.1", port=8000, providers={"qwen", "llama"}),
        ServiceInfo("vllm", "p1", providers={"llama"}, status="unhealthy"),  # type: ignore[arg-type]
    ]
    assert json.loads(payload(event, pods)) == {
        "service_name": "vllm",
        "event": {
            "id": 9, "type": "status_changed", "at": 1234, "service_name": "vllm",
            "key": "vllm:p1", "status": "unhealthy", "previous_status": "healthy",
            "providers": ["llama"],
        },
        "time": 1234,
        "pods": [
            {"key": "vllm:p0", "status": "unknown", "providers": ["llama", "qwen"],
             "address": "10.0.0.1", "port": 8000},
            {"key": "vllm:p1", "status": "unhealthy", "providers": ["llama"], "address": "",
             "port": 0},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("timeout", 0, "notify_timeout"),
        ("retries", -1, "notify_retries"),
        ("backoff", "1", "notify_backoff"),
        ("queue", 0, "notify_queue"),
        ("workers", 2.0, "notify_workers"),
    ],
)
def test_bad_settings_are_refused_naming_them(field: str, value: object, name: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        NotifySettings(**{field: value})  # type: ignore[arg-type]
    assert info.value.name == name


@pytest.mark.parametrize("url", ["file:///tmp/x", "ftp://h/x", ""])
def test_a_notification_url_must_be_http(url: str) -> None:
    service = RegistryService(ThreadSafeRegistry())
    with pytest.raises(InvalidParameter) as info:
        service.register("router", "r0", notification_url=url)
    assert info.value.name == "notification_url"


def _group_changes(service: RegistryService) -> None:
    """Four events on group vllm: two registrations, a drain, a deregistration."""
    service.register("vllm", "p0", address="10.0.0.1", port=8000, providers=["llama"])
    service.register("vllm", "p1", providers=["llama"])
    service.set_status("vllm:p0", "draining")
    service.deregister("vllm:p1")


def test_a_receiver_failing_its_first_posts_gets_every_notification_in_order(
    server: LocalHTTP,
) -> None:
    server.fail_first["r0"] = 3
    service = RegistryService(ThreadSafeRegistry(), notify=NotifySettings(retries=3, **FAST))  # type: ignore[arg-type]
    service.register("router", "r0", notification_url=server.url("/hook/r0"))
    service.subscribe("router:r0", "vllm")
    service.start()
    try:
        _group_changes(service)
        assert wait_for(lambda: len(server.received.get("r0", [])) == 4)
    finally:
        service.shutdown()
    got = server.received["r0"]
    expected = [e for e in service.events.since(0) if e.service_name == "vllm"]
    assert [g["event"]["id"] for g in got] == [e.id for e in expected]
    assert [g["event"]["type"] for g in got] == [
        "registered", "registered", "status_changed", "deregistered",
    ]  # fmt: skip
    assert {g["service_name"] for g in got} == {"vllm"}
    assert got[-1]["pods"] == [
        {"key": "vllm:p0", "status": "draining", "providers": ["llama"], "address": "10.0.0.1",
         "port": 8000},
    ]  # fmt: skip
    assert server.hits["/hook/r0"] == 4 + 3
    counts = service.counters()
    assert (counts["notifications_delivered"], counts["notifications_retried"]) == (4, 3)
    assert (counts["notifications_failed"], counts["notifications_dropped"]) == (0, 0)


def test_a_notification_whose_attempts_all_fail_is_counted_failed(server: LocalHTTP) -> None:
    server.fail_first["r0"] = 4  # retries=1: the first two notifications fail twice each
    service = RegistryService(ThreadSafeRegistry(), notify=NotifySettings(retries=1, **FAST))  # type: ignore[arg-type]
    service.register("router", "r0", notification_url=server.url("/hook/r0"))
    service.subscribe("router:r0", "vllm")
    service.start()
    try:
        _group_changes(service)
        assert wait_for(lambda: service.counters()["notifications_delivered"] == 2)
    finally:
        service.shutdown()
    counts = service.counters()
    assert (counts["notifications_failed"], counts["notifications_retried"]) == (2, 2)
    ids = [e.id for e in service.events.since(0) if e.service_name == "vllm"]
    assert [g["event"]["id"] for g in server.received["r0"]] == ids[2:]


def test_subscribers_of_other_groups_and_without_a_url_get_nothing(server: LocalHTTP) -> None:
    service = RegistryService(ThreadSafeRegistry(), notify=NotifySettings(**FAST))  # type: ignore[arg-type]
    service.register("router", "r0", notification_url=server.url("/hook/r0"))
    service.register("router", "r1")  # follows vllm but has no URL
    service.register("router", "r2", notification_url=server.url("/hook/r2"))
    service.subscribe("router:r0", "tgi")
    service.subscribe("router:r1", "vllm")
    service.subscribe("router:r2", "vllm")
    service.start()
    try:
        _group_changes(service)
        assert wait_for(lambda: len(server.received.get("r2", [])) == 4)
    finally:
        service.shutdown()
    assert "r0" not in server.received
    assert service.counters()["notifications_delivered"] == 4


def _event(i: int, group: str = "vllm") -> RegistryEvent:
    return RegistryEvent(
        i, EventType.STATUS_CHANGED, i, group, f"{group}:p0", ServiceStatus.HEALTHY, None, ()
    )


def test_a_dead_subscriber_has_a_bounded_queue_and_does_not_stall_others() -> None:
    """The dead subscriber's POST never returns until released. Events come one at a
    time, each delivered to the live subscriber while the dead one holds a worker; 50
    events later the dead one's outbox holds 5 (the queue), one is in flight, and the
    other 44 were dropped and counted."""
    release = threading.Event()
    live: list[int] = []
    subscribers = [
        ServiceInfo("router", "dead", notification_url="http://dead/n"),
        ServiceInfo("router", "live", notification_url="http://live/n"),
    ]

    def post(url: str, body: bytes, timeout: float) -> bool:
        if url == "http://dead/n":
            release.wait(30)
            return False
        live.append(json.loads(body)["event"]["id"])
        return True

    settings = NotifySettings(queue=5, retries=0, workers=2)
    notifier = Notifier(lambda group: subscribers, lambda group: [], settings, post=post)
    notifier.start()
    try:
        for i in range(1, 51):
            notifier.on_event(_event(i))
            assert wait_for(lambda: len(live) == i)  # noqa: B023 (i is read at once)
            notifier._check()
            assert notifier.pending().get("router:dead", 0) <= 5
        assert wait_for(lambda: notifier.counters()["notifications_dropped"] == 50 - 5 - 1)
        assert notifier.pending() == {"router:dead": 5}
        notifier._check()
    finally:
        release.set()
        notifier.stop()
        notifier.stop()
    assert live == list(range(1, 51))


def test_the_inbox_is_bounded_before_dispatch() -> None:
    notifier = Notifier(lambda g: [], lambda g: [], NotifySettings(queue=2))  # not started
    for i in range(1, 26):
        notifier.on_event(_event(i))
    assert notifier.counters()["notifications_dropped"] == 25 - 20
    assert [e.id for e in notifier._inbox] == list(range(6, 26))


def test_events_before_start_and_after_shutdown_are_not_sent(server: LocalHTTP) -> None:
    log = EventLog()
    service = RegistryService(ThreadSafeRegistry(), log, notify=NotifySettings(**FAST))  # type: ignore[arg-type]
    service.register("router", "r0", notification_url=server.url("/hook/r0"))
    service.subscribe("router:r0", "vllm")
    service.register("vllm", "early")
    service.start()
    service.register("vllm", "p0")
    assert wait_for(lambda: len(server.received.get("r0", [])) == 1)
    service.shutdown()
    service.register("vllm", "late")
    assert [g["event"]["key"] for g in server.received["r0"]] == ["vllm:p0"]
