"""Any sequence of writes, evictions, TTL purges, snapshots and restarts leaves a store
that answers every query as the uninterrupted store does.

Two stores see the same operations at the same fake clock: ``reference`` never
stops; ``live`` logs to an in-memory journal, takes snapshots (``capture``) and
is "restarted": a fresh store restores the newest snapshot (or none) and replays
the whole journal, skipping what each table's ``applied_lsn`` covers, then
goes on logging to the same journal.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace import MemoryStore
from infertrace.engine.snapfile import TableState
from tests.telemetry.memory.kit import (
    ListJournal,
    answers,
    assert_same_answers,
    rich_logs,
    rich_points,
    rich_spans,
)

CAPACITIES = (40, 30, 35)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000_000

    def __call__(self) -> int:
        return self.now


class DurableStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.reference = MemoryStore(*CAPACITIES, clock=self.clock)
        self.journal = ListJournal()
        self.live = self._fresh()
        self.snapshot: Mapping[str, TableState] | None = None
        self.restarts = 0

    def _fresh(self) -> MemoryStore:
        store = MemoryStore(*CAPACITIES, clock=self.clock)
        store.attach(self.journal)
        return store

    @rule(seed=st.integers(0, 10**6), n=st.integers(1, 30))
    def write_spans(self, seed: int, n: int) -> None:
        spans = rich_spans(seed, n)
        self.reference.write_batch(spans)
        self.live.write_batch(spans)

    @rule(seed=st.integers(0, 10**6), n=st.integers(1, 25))
    def write_logs(self, seed: int, n: int) -> None:
        logs = rich_logs(seed, n)
        self.reference.write_logs(logs)
        self.live.write_logs(logs)

    @rule(seed=st.integers(0, 10**6), n=st.integers(1, 25))
    def write_metrics(self, seed: int, n: int) -> None:
        points = rich_points(seed, n)
        self.reference.write_metrics(points)
        self.live.write_metrics(points)

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += seconds * 10**9

    @rule(max_age=st.integers(1, 200))
    def ttl_purge(self, max_age: int) -> None:
        assert self.live.purge_older_than(max_age) == self.reference.purge_older_than(max_age)

    @rule()
    def snapshot_now(self) -> None:
        self.snapshot = self.live.capture()

    @rule()
    def restart(self) -> None:
        store = self._fresh()
        store.attach(None)  # replay logs nothing
        if self.snapshot is not None:
            store.restore(self.snapshot)
        self.journal.replay_into(store)
        store.attach(self.journal)
        self.live = store
        self.restarts += 1
        assert_same_answers(answers(self.live), answers(self.reference))

    @precondition(lambda self: self.restarts > 0)
    @rule()
    def everything_answers_alike(self) -> None:
        assert_same_answers(answers(self.live), answers(self.reference))

    @invariant()
    def tables_hold_their_invariants(self) -> None:
        self.live._check()
        a, b = self.live.stats(), self.reference.stats()
        for name in ("spans", "logs", "metrics"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x.count, x.evicted, x.index_entries) == (y.count, y.evicted, y.index_entries)

    def teardown(self) -> None:
        assert_same_answers(answers(self.live), answers(self.reference))


DurableStoreMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None
)
TestDurableStore = DurableStoreMachine.TestCase
