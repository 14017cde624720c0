"""Threads: LocalRegistry refuses a second thread; ThreadSafeRegistry holds under 30."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from infertrace.errors import NotOwnerThread, ServiceNotFound
from infertrace.registry import LocalRegistry, ServiceStatus, ThreadSafeRegistry

from .conftest import pod


def _in_thread(fn: Callable[[], object]) -> BaseException | None:
    """Run ``fn`` in a new thread; what it raised, or None."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return raised[0] if raised else None


SECOND_THREAD_CALLS: dict[str, Callable[[LocalRegistry], object]] = {
    "save": lambda r: r.save_service(pod("svc", "intruder")),
    "get": lambda r: r.get_service("svc:p0"),
    "by_name": lambda r: r.get_services_by_name("svc"),
    "all": lambda r: r.get_all_services(),
    "delete": lambda r: r.delete_service("svc:p0"),
    "health": lambda r: r.update_health_status("svc:p0", "healthy", 5),
    "subscribe": lambda r: r.add_subscription("svc:p9", "g"),
    "unsubscribe": lambda r: r.remove_subscription("svc:p0", "g"),
    "unsubscribe_all": lambda r: r.remove_all_subscriptions("svc:p0"),
    "subscribers": lambda r: r.get_subscribers("g"),
    "subscriber_services": lambda r: r.get_subscriber_services("g"),
}


@pytest.mark.parametrize("call", SECOND_THREAD_CALLS.values(), ids=SECOND_THREAD_CALLS.keys())
def test_local_registry_refuses_a_second_thread_and_changes_nothing(
    call: Callable[[LocalRegistry], object],
) -> None:
    registry = LocalRegistry()
    registry.save_service(pod("svc", "p0"))
    registry.add_subscription("svc:p0", "g")
    before = (registry.get_all_services(), registry.get_subscribers("g"))
    raised = _in_thread(lambda: call(registry))
    assert isinstance(raised, NotOwnerThread)
    assert str(threading.get_ident()) in str(raised)
    assert (registry.get_all_services(), registry.get_subscribers("g")) == before
    registry._check()


def test_local_registry_belongs_to_its_first_user() -> None:
    registry = LocalRegistry()
    assert registry.owner is None
    assert _in_thread(lambda: registry.save_service(pod("svc", "p1"))) is None
    with pytest.raises(NotOwnerThread):
        registry.get_service("svc:p1")
    assert registry.ping()
    registry.close()  # close and ping from any thread
    assert not registry.ping()


def test_thread_safe_registry_holds_under_30_threads() -> None:
    """30 threads, 3,000 mixed operations over 20 pods and 4 groups; then the invariants."""
    registry = ThreadSafeRegistry()
    failures: list[BaseException] = []
    start = threading.Barrier(30)
    statuses = list(ServiceStatus)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        try:
            for _ in range(100):
                name, p = f"svc{rng.randrange(2)}", f"p{rng.randrange(10)}"
                key, group = f"{name}:{p}", f"g{rng.randrange(4)}"
                op = rng.randrange(10)
                try:
                    if op < 3:
                        registry.save_service(pod(name, p, port=rng.randrange(65536)))
                    elif op == 3:
                        registry.delete_service(key)
                    elif op == 4:
                        registry.update_health_status(key, rng.choice(statuses), rng.randrange(9))
                    elif op == 5:
                        registry.add_subscription(key, group)
                    elif op == 6:
                        registry.remove_subscription(key, group)
                    elif op == 7:
                        registry.get_service(key)
                    elif op == 8:
                        assert all(s.service_name == name
                                   for s in registry.get_services_by_name(name))  # fmt: skip
                    else:
                        registry.get_subscriber_services(group)
                        registry.stats()
                except ServiceNotFound:
                    pass
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    registry._check()
    services, subscriptions = registry.stats()
    assert services == len(registry.get_all_services())
    assert subscriptions == sum(len(registry.get_subscribers(f"g{i}")) for i in range(4))
    registry.clear()
    assert registry.stats() == (0, 0)
    registry._check()
