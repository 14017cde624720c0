"""Threads: LocalRegistry refuses a second thread; ThreadSafeRegistry and
PostgresRegistry hold under 30."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable

import pytest

from infertrace.errors import NotOwnerThread, ServiceNotFound
from infertrace.registry import LocalRegistry, ServiceInfo, ServiceStatus

from .conftest import Store, open_store, pod

STATUSES = list(ServiceStatus)


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


THREADS, OPS, PODS, GROUPS = 30, 100, 4, 4


class Worker:
    """One thread's share of the hammering: it alone writes its own pods, so its own
    model (records, subscriptions) says what the store must hold of them at the end;
    it reads everyone's pods, and all threads save one shared ``hot:p0``."""

    def __init__(self, registry: Store, index: int) -> None:
        self.registry, self.index = registry, index
        self.rng = random.Random(index)
        self.services: dict[str, ServiceInfo] = {}
        self.subscriptions: set[tuple[str, str]] = set()
        self.hot_ports: set[int] = set()

    def own_key(self) -> str:
        return f"svc{self.index % 2}:t{self.index}-p{self.rng.randrange(PODS)}"

    def step(self) -> None:
        rng, registry = self.rng, self.registry
        key, group, op = self.own_key(), f"g{rng.randrange(GROUPS)}", rng.randrange(11)
        if op < 3:
            name, pod_name = key.split(":")
            port, status = rng.randrange(65536), rng.choice(STATUSES)
            info = pod(name, pod_name, port=port, status=status, metadata={"t": str(self.index)})
            registry.save_service(info)
            self.services[key] = info
        elif op == 3:
            if self.services.pop(key, None) is None:
                with pytest.raises(ServiceNotFound):
                    registry.delete_service(key)
            else:
                registry.delete_service(key)
        elif op == 4:
            status, at = rng.choice(STATUSES), rng.randrange(1000)
            old = self.services.get(key)
            if old is None:
                with pytest.raises(ServiceNotFound):
                    registry.update_health_status(key, status, at)
                return
            got = registry.update_health_status(key, status, at)
            changed = old.last_status_change if old.status is status else at
            self.services[key] = dataclasses.replace(
                old, status=status, last_health_check=at, last_status_change=changed
            )
            assert got == self.services[key]
        elif op == 5:
            registry.add_subscription(key, group)
            self.subscriptions.add((key, group))
        elif op == 6:
            registry.remove_subscription(key, group)
            self.subscriptions.discard((key, group))
        elif op == 7:
            registry.remove_all_subscriptions(key)
            self.subscriptions = {(k, g) for k, g in self.subscriptions if k != key}
        elif op == 8:
            other = f"svc{rng.randrange(2)}:t{rng.randrange(THREADS)}-p{rng.randrange(PODS)}"
            try:
                got = registry.get_service(other)
            except ServiceNotFound:
                assert other not in self.services
            else:
                assert got.key == other
                assert other not in self.services or got == self.services[other]
        elif op == 9:
            name = f"svc{rng.randrange(2)}"
            listed = [s.key for s in registry.get_services_by_name(name)]
            assert listed == sorted(listed) and all(k.startswith(name + ":") for k in listed)
            following = [s.key for s in registry.get_subscriber_services(group)]
            assert following == sorted(following)
            services, subscriptions = registry.stats()
            assert services >= 0 and subscriptions >= 0
        else:
            port = 1 + self.index * 1000 + rng.randrange(1000)
            registry.save_service(pod("hot", "p0", port=port))
            self.hot_ports.add(port)


@pytest.mark.parametrize("variant", ["threadsafe", "postgres"])
def test_30_threads_3000_mixed_operations_leave_what_they_imply(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """30 threads x 100 mixed operations; the final state is the union of the threads'
    own models (each wrote only its pods), the shared pod holds one thread's last save,
    and the store's invariants hold."""
    registry = open_store(variant, request, pool_size=8)
    workers = [Worker(registry, i) for i in range(THREADS)]
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def run(worker: Worker) -> None:
        start.wait()
        try:
            for _ in range(OPS):
                worker.step()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    registry._check()
    services = {k: v for w in workers for k, v in w.services.items()}
    hot = [s for s in registry.get_all_services() if s.key == "hot:p0"]
    assert [s for s in registry.get_all_services() if s.key != "hot:p0"] == [
        services[k] for k in sorted(services)
    ]
    hot_ports = {p for w in workers for p in w.hot_ports}
    assert len(hot) == (1 if hot_ports else 0) and all(s.port in hot_ports for s in hot)
    pairs = {pair for w in workers for pair in w.subscriptions}
    for g in range(GROUPS):
        group = f"g{g}"
        assert registry.get_subscribers(group) == sorted(k for k, gr in pairs if gr == group)
    assert registry.stats() == (len(services) + len(hot), len(pairs))
    registry.clear()
    assert registry.stats() == (0, 0)
    registry._check()
    registry.close()
