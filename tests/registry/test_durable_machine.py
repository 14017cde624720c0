"""Capture and restart at any point leave the registry as if it never stopped (hypothesis).

Two stores get the same calls: ``oracle``, plain and never restarted, and
``store``, attached to a journal. ``snapshot`` captures the durable store as a
data directory does (the log's last LSN first, the state after); ``restart``
replaces it by a fresh store restored from the newest capture plus the log,
attached again, and writing goes on. After every step the two answer alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.engine.snapfile import TableState
from infertrace.errors import ServiceNotFound
from infertrace.registry import ServiceInfo, ServiceStatus, ThreadSafeRegistry

from .journal_double import MemoryJournal
from .test_durable import GROUPS, KEYS, contents

NAMES = st.sampled_from(["svc", "llm"])
PODS = st.sampled_from(["p0", "p1", "p2"])
KEY = st.sampled_from(KEYS)
GROUP = st.sampled_from(GROUPS)
TIMES = st.none() | st.integers(0, 2**63 - 1)


class DurableRegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.oracle = ThreadSafeRegistry()
        self.journal = MemoryJournal()
        self.store = ThreadSafeRegistry()
        self.store.attach(self.journal)
        self.snapshot_: tuple[int, dict[str, TableState]] = (0, {})
        self.restarts = 0

    def both(self, call: str, *args: Any) -> None:
        """Make ``call`` on both stores; they must agree on its outcome."""
        outcomes = []
        for target in (self.oracle, self.store):
            try:
                outcomes.append(getattr(target, call)(*args))
            except ServiceNotFound as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]

    @rule(
        name=NAMES,
        pod_name=PODS,
        port=st.integers(0, 65535),
        providers=st.frozensets(st.sampled_from(["m1", "m2", "m3"])),
        meta=st.dictionaries(st.sampled_from(["a", "b"]), st.text(max_size=3), max_size=2),
        seen=TIMES,
        url=st.none() | st.just("http://127.0.0.1:1/health"),
    )
    def register(
        self,
        name: str,
        pod_name: str,
        port: int,
        providers: frozenset[str],
        meta: dict[str, str],
        seen: int | None,
        url: str | None,
    ) -> None:
        info = ServiceInfo(
            name,
            pod_name,
            port=port,
            providers=providers,
            metadata=meta,
            last_seen=seen,
            health_check_url=url,
        )
        self.both("save_service", info)

    @rule(key=KEY, seen=st.integers(0, 10**18))
    def heartbeat(self, key: str, seen: int) -> None:
        try:
            old = self.oracle.get_service(key)
        except ServiceNotFound:
            return
        self.both("save_service", dataclasses.replace(old, last_seen=seen))

    @rule(key=KEY, status=st.sampled_from(list(ServiceStatus)), at=st.integers(0, 10**18))
    def status(self, key: str, status: ServiceStatus, at: int) -> None:
        self.both("update_health_status", key, status, at)

    @rule(key=KEY)
    def deregister(self, key: str) -> None:
        self.both("delete_service", key)

    @rule(key=KEY, group=GROUP)
    def subscribe(self, key: str, group: str) -> None:
        self.both("add_subscription", key, group)

    @rule(key=KEY, group=GROUP)
    def unsubscribe(self, key: str, group: str) -> None:
        self.both("remove_subscription", key, group)

    @rule(key=KEY)
    def unsubscribe_all(self, key: str) -> None:
        self.both("remove_all_subscriptions", key)

    @rule()
    def clear(self) -> None:
        self.both("clear")

    @rule()
    def snapshot(self) -> None:
        lsn = self.journal.last_lsn
        self.snapshot_ = (lsn, dict(self.store.capture()))

    @rule()
    def restart(self) -> None:
        lsn, states = self.snapshot_
        fresh = ThreadSafeRegistry()
        fresh.restore(states)
        for rec_lsn, table, payload in self.journal.after(lsn):
            fresh.replay(table, rec_lsn, payload)
        fresh.attach(self.journal)
        self.store.close()
        self.store = fresh
        self.restarts += 1

    @invariant()
    def answers_as_the_uninterrupted_store(self) -> None:
        self.store._check()
        assert contents(self.store) == contents(self.oracle)

    def teardown(self) -> None:
        self.store.close()
        self.oracle.close()


TestDurableRegistryMachine = DurableRegistryMachine.TestCase
TestDurableRegistryMachine.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None
)
