"""Every registry store against a plain model, step by step (hypothesis).

The model is two dicts: key -> record, and group -> subscriber keys. After each
step the store's ``_check()`` holds and every read agrees with the model. The
PostgreSQL run reuses one store, emptied at the start of each example, with
fewer examples: every step is a dozen queries.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from infertrace.errors import ServiceNotFound
from infertrace.registry import LocalRegistry, ServiceInfo, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.postgres import PostgresRegistry

from .conftest import open_store

NAMES = st.sampled_from(["svc", "llm"])
PODS = st.sampled_from(["p0", "p1", "p2"])
KEYS = st.builds(lambda n, p: f"{n}:{p}", NAMES, PODS)
GROUPS = st.sampled_from(["g0", "g1"])
STATUSES = st.sampled_from(list(ServiceStatus))


class RegistryMachine(RuleBasedStateMachine):
    """Rules call the store and the model alike; the invariant compares them."""

    factory: Any = LocalRegistry

    def __init__(self) -> None:
        super().__init__()
        self.store = self.factory()
        self.services: dict[str, ServiceInfo] = {}
        self.groups: dict[str, set[str]] = {}

    @rule(name=NAMES, pod_name=PODS, port=st.integers(0, 65535), status=STATUSES)
    def save(self, name: str, pod_name: str, port: int, status: ServiceStatus) -> None:
        info = ServiceInfo(name, pod_name, port=port, status=status)
        self.store.save_service(info)
        self.services[info.key] = info

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        try:
            self.store.delete_service(key)
        except ServiceNotFound:
            assert key not in self.services
        else:
            del self.services[key]

    @rule(key=KEYS, status=STATUSES, at=st.integers(0, 100))
    def health(self, key: str, status: ServiceStatus, at: int) -> None:
        try:
            got = self.store.update_health_status(key, status, at)
        except ServiceNotFound:
            assert key not in self.services
            return
        old = self.services[key]
        changed = old.last_status_change if old.status is status else at
        self.services[key] = dataclasses.replace(
            old, status=status, last_health_check=at, last_status_change=changed
        )
        assert got == self.services[key]

    @rule(key=KEYS, group=GROUPS)
    def subscribe(self, key: str, group: str) -> None:
        self.store.add_subscription(key, group)
        self.groups.setdefault(group, set()).add(key)

    @rule(key=KEYS, group=GROUPS)
    def unsubscribe(self, key: str, group: str) -> None:
        self.store.remove_subscription(key, group)
        self.groups.get(group, set()).discard(key)

    @rule(key=KEYS)
    def unsubscribe_all(self, key: str) -> None:
        self.store.remove_all_subscriptions(key)
        for subscribers in self.groups.values():
            subscribers.discard(key)

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.store._check()
        assert self.store.get_all_services() == [self.services[k] for k in sorted(self.services)]
        for name in ("svc", "llm"):
            assert self.store.get_services_by_name(name) == [
                self.services[k] for k in sorted(self.services) if k.startswith(name + ":")
            ]
        for group in ("g0", "g1"):
            subscribers = sorted(self.groups.get(group, ()))
            assert self.store.get_subscribers(group) == subscribers
            assert self.store.get_subscriber_services(group) == [
                self.services[k] for k in subscribers if k in self.services
            ]
        every = {k for subscribers in self.groups.values() for k in subscribers}
        for key in every | set(self.services):
            assert self.store.get_subscriptions(key) == sorted(
                g for g, subscribers in self.groups.items() if key in subscribers
            )
        if isinstance(self.store, ThreadSafeRegistry | PostgresRegistry):
            pairs = sum(len(s) for s in self.groups.values())
            assert self.store.stats() == (len(self.services), pairs)

    def teardown(self) -> None:
        self.store.close()


class LocalMachine(RegistryMachine):
    factory = LocalRegistry


class ThreadSafeMachine(RegistryMachine):
    factory = ThreadSafeRegistry


BOUNDED = settings(max_examples=60, stateful_step_count=40, deadline=None)
POSTGRES_BOUNDED = settings(max_examples=15, stateful_step_count=25, deadline=None)
TestLocalRegistryMachine = LocalMachine.TestCase
TestLocalRegistryMachine.settings = BOUNDED
TestThreadSafeRegistryMachine = ThreadSafeMachine.TestCase
TestThreadSafeRegistryMachine.settings = BOUNDED


def test_postgres_registry_agrees_with_the_model(request: pytest.FixtureRequest) -> None:
    shared = open_store("postgres", request)

    class PostgresMachine(RegistryMachine):
        @staticmethod
        def factory() -> PostgresRegistry:
            shared.clear()
            return shared

        def teardown(self) -> None:  # the next example reuses the store
            pass

    try:
        run_state_machine_as_test(PostgresMachine, settings=POSTGRES_BOUNDED)
    finally:
        shared.close()
