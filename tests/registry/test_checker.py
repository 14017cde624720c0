"""Active health checks against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from infertrace.errors import InvalidParameter
from infertrace.registry import ServiceInfo, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.checker import CheckSettings, HealthChecker
from infertrace.registry.events import EventType, RegistryEvent
from infertrace.registry.outbound import http_ok
from infertrace.registry.service import RegistryService

from .local_http import LocalHTTP, local_http, wait_for


@pytest.fixture
def server() -> Iterator[LocalHTTP]:
    with local_http() as s:
        yield s


@pytest.mark.parametrize(
    ("code", "ok"),
    [(200, True), (204, True), (299, True), (404, False), (500, False), (503, False)],
)
def test_http_ok_is_true_only_for_2xx(server: LocalHTTP, code: int, ok: bool) -> None:
    server.set_code("x", code)
    assert http_ok(server.url("/code/x"), timeout=5) is ok


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/refused", "file:///etc/hostname", "ftp://127.0.0.1/x", "nonsense"]
)
def test_http_ok_is_false_for_what_cannot_answer(url: str) -> None:
    assert http_ok(url, timeout=2) is False


def test_http_ok_gives_up_after_the_timeout(server: LocalHTTP) -> None:
    server.slow_seconds = 2.0
    assert http_ok(server.url("/slow"), timeout=0.2) is False


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("interval", 0, "check_interval"),
        ("timeout", -1.0, "check_timeout"),
        ("retries", -1, "check_retries"),
        ("retries", 1.5, "check_retries"),
        ("backoff", -0.1, "check_backoff"),
        ("workers", 0, "check_workers"),
    ],
)
def test_bad_settings_are_refused_naming_them(field: str, value: object, name: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        CheckSettings(**{field: value})  # type: ignore[arg-type]
    assert info.value.name == name
    assert repr(value) in info.value.message


@pytest.mark.parametrize(
    ("answers", "retries", "reported", "retried"),
    [
        ([True], 2, True, 0),
        ([False, True], 2, True, 1),
        ([False, False, True], 2, True, 2),
        ([False, False, False], 2, False, 2),
        ([False], 0, False, 0),
    ],
)
def test_a_check_retries_until_an_answer_or_its_attempts_run_out(
    answers: list[bool], retries: int, reported: bool, retried: int
) -> None:
    calls: list[str] = []
    outcomes: list[tuple[str, bool]] = []
    done = threading.Event()

    def probe(url: str, timeout: float) -> bool:
        calls.append(url)
        return answers[len(calls) - 1]

    def report(key: str, ok: bool) -> None:
        outcomes.append((key, ok))
        done.set()

    target = ServiceInfo("vllm", "p0", health_check_url="http://h/health")
    settings = CheckSettings(interval=60, retries=retries, backoff=0.001)
    checker = HealthChecker(lambda: [target], report, settings, probe=probe)
    checker.start()
    try:
        assert done.wait(10)
    finally:
        checker.stop()
        checker.stop()
    assert outcomes == [("vllm:p0", reported)]
    assert len(calls) == len(answers)
    assert checker.counters() == {
        "health_checks_ok": int(reported),
        "health_checks_failed": int(not reported),
        "health_checks_retried": retried,
    }


def _status_changes(service: RegistryService, key: str) -> list[ServiceStatus]:
    return [
        e.status for e in service.events.since(0)
        if e.key == key and e.type in (EventType.STATUS_CHANGED, EventType.REGISTERED)
    ]  # fmt: skip


def test_a_target_flipping_between_200_and_500_flips_the_pod(server: LocalHTTP) -> None:
    settings = CheckSettings(interval=0.05, timeout=2, retries=1, backoff=0.01, workers=2)
    service = RegistryService(ThreadSafeRegistry(), checks=settings)
    service.register("vllm", "p0", health_check_url=server.url("/code/p0"))
    service.start()
    try:
        assert wait_for(lambda: service.get("vllm:p0").status is ServiceStatus.HEALTHY)
        server.set_code("p0", 500)
        assert wait_for(lambda: service.get("vllm:p0").status is ServiceStatus.UNHEALTHY)
        server.set_code("p0", 200)
        assert wait_for(lambda: service.get("vllm:p0").status is ServiceStatus.HEALTHY)
    finally:
        service.shutdown()
    assert _status_changes(service, "vllm:p0") == [
        ServiceStatus.UNKNOWN, ServiceStatus.HEALTHY, ServiceStatus.UNHEALTHY,
        ServiceStatus.HEALTHY,
    ]  # fmt: skip
    counts = service.counters()
    assert counts["health_checks_failed"] >= 1
    assert counts["health_checks_retried"] >= 1  # a 500 is tried again before it counts
    assert service.get("vllm:p0").last_health_check is not None


def test_a_slow_pod_does_not_stall_the_others(server: LocalHTTP) -> None:
    """The slow target answers after 3 s (timeout 2 s); the fast one flips twice and
    both changes are applied while the slow check is still in flight."""
    server.slow_seconds = 3.0
    settings = CheckSettings(interval=0.05, timeout=2, retries=0, workers=2)
    service = RegistryService(ThreadSafeRegistry(), checks=settings)
    service.register("slow", "s0", health_check_url=server.url("/slow"))
    service.register("fast", "f0", health_check_url=server.url("/code/f0"))
    changes: list[tuple[RegistryEvent, bool]] = []
    service.events.listen(lambda e: changes.append((e, server.slow_done.is_set())))
    service.start()
    try:
        assert wait_for(lambda: server.hits["/slow"] == 1)
        assert wait_for(lambda: service.get("fast:f0").status is ServiceStatus.HEALTHY)
        server.set_code("f0", 500)
        assert wait_for(lambda: service.get("fast:f0").status is ServiceStatus.UNHEALTHY)
        assert not server.slow_done.is_set()
    finally:
        service.shutdown()
    fast = [(e.status, slow_done) for e, slow_done in changes if e.key == "fast:f0"]
    assert fast == [(ServiceStatus.HEALTHY, False), (ServiceStatus.UNHEALTHY, False)]
    assert server.hits["/slow"] == 1  # not queued again while in flight
    assert server.hits["/code/f0"] >= 2


def test_draining_pods_are_not_checked_and_stay_draining(server: LocalHTTP) -> None:
    server.set_code("d0", 500)
    settings = CheckSettings(interval=0.05, timeout=2, retries=0)
    service = RegistryService(ThreadSafeRegistry(), checks=settings)
    service.register("vllm", "d0", health_check_url=server.url("/code/d0"))
    service.register("vllm", "ok", health_check_url=server.url("/code/ok"))
    service.set_status("vllm:d0", "draining")
    service.start()
    try:
        assert wait_for(lambda: server.hits["/code/ok"] >= 3)
    finally:
        service.shutdown()
    assert server.hits["/code/d0"] == 0
    assert service.get("vllm:d0").status is ServiceStatus.DRAINING
