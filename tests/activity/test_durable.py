"""The activity store as a data directory's participant: capture, restore and replay
give back exactly what an uninterrupted store holds; a journal that refuses a write
leaves nothing applied."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.activity import Change, Commit, Developer, MemoryActivityStore, Session
from infertrace.activity.durable import TABLE
from infertrace.activity.generate import generate
from infertrace.activity.snapshot import restore_snapshot, write_snapshot
from infertrace.engine import snapfile
from infertrace.engine.journal import APPLIED_LSN, Durable
from infertrace.errors import DuplicateRecord, LogUnavailable, RecordNotFound
from tests.activity.conftest import change, commit, dev

KINDS = (Developer, Commit, Change, Session)


class MemoryJournal:
    """A journal double: records kept in a list; ``refuse`` makes appends fail,
    ``unsynced`` makes waits fail."""

    def __init__(self) -> None:
        self.records: list[tuple[int, str, bytes]] = []
        self.refuse = False
        self.unsynced = False

    def append(self, table: str, payload: bytes | memoryview) -> int:
        if self.refuse:
            raise OSError(28, "No space left on device")
        self.records.append((len(self.records) + 1, table, bytes(payload)))
        return len(self.records)

    def wait(self, lsn: int) -> None:
        if self.unsynced:
            raise OSError(5, "Input/output error")

    @property
    def last(self) -> int:
        return len(self.records)


def contents(store: MemoryActivityStore) -> dict[type, list[Any]]:
    """Every record of every type, by key."""
    return {kind: store.list(kind) for kind in KINDS}


def populated() -> MemoryActivityStore:
    p = generate(40, 6, commits=300, changes=300, sessions=60, seed=5)
    store = MemoryActivityStore()
    for records in (p.developers, p.commits, p.changes, p.sessions):
        store.save_batch(records)
    store.delete(Commit, p.commits[3].sha)  # a retired row: capture must leave it out
    store.update(dataclasses.replace(p.developers[0], team="moved"))
    return store


def test_the_store_is_a_durable_participant() -> None:
    store = MemoryActivityStore()
    assert isinstance(store, Durable)
    assert list(store.table_names()) == [TABLE]


def test_capture_and_restore_round_trip_through_snapshot_files(tmp_path: Path) -> None:
    store = populated()
    states = store.capture()
    assert states[TABLE].meta[APPLIED_LSN] == 0
    snapfile.save(tmp_path, states, lsn=0)
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None
    fresh = MemoryActivityStore()
    fresh.restore(loaded.tables)
    assert contents(fresh) == contents(store)
    assert fresh.get(Developer, store.list(Developer, limit=1)[0].id).region in {
        d.region for d in store.list(Developer)}  # fmt: skip
    fresh._check()
    fresh.restore({})  # no state: empty
    assert all(fresh.count(kind) == 0 for kind in KINDS)


def test_every_write_is_logged_and_replays_to_the_same_store() -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    store.save_batch([dev(1), dev(2, "EU")])
    store.save(commit(1, 1, 0))
    store.save_batch([change(1, 1, 0), change(2, 2, 1, agent=False)])
    store.update(dataclasses.replace(dev(2, "EU"), team="infra"))
    store.delete(Change, "c1")
    assert [t for _, t, _ in journal.records] == [TABLE] * 5
    assert store.capture()[TABLE].meta[APPLIED_LSN] == journal.last
    replayed = MemoryActivityStore()
    for lsn, table, payload in journal.records:
        replayed.replay(table, lsn, payload)
    assert contents(replayed) == contents(store)
    for lsn, table, payload in journal.records:  # at or below the applied LSN: skipped
        replayed.replay(table, lsn, payload)
    assert contents(replayed) == contents(store)
    replayed._check()


def test_restoring_a_snapshot_file_and_clearing_are_logged(tmp_path: Path) -> None:
    source = populated()
    path = tmp_path / "a.snap"
    write_snapshot(source, path)
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    store.save(dev(1))
    restore_snapshot(store, path)
    assert contents(store) == contents(source)
    replayed = MemoryActivityStore()
    for lsn, table, payload in journal.records:
        replayed.replay(table, lsn, payload)
    assert contents(replayed) == contents(source)
    store.clear()
    replayed.replay(*journal.records[-1][1:2], journal.last, journal.records[-1][2])
    assert all(replayed.count(kind) == 0 for kind in KINDS)


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.save(dev(9)),
        lambda s: s.save_batch([commit(n, 1, 0) for n in range(20, 30)]),
        lambda s: s.update(dataclasses.replace(dev(1), team="other")),
        lambda s: s.delete(Developer, "d001"),
        lambda s: s.clear(),
        lambda s: s.drop(Commit, [commit(1, 1, 0).sha]),
    ],
)
def test_a_refused_append_raises_log_unavailable_and_applies_nothing(write: Any) -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.save_batch([dev(1), dev(2)])
    store.save(commit(1, 1, 0))
    before = contents(store)
    store.attach(journal)
    journal.refuse = True
    with pytest.raises(LogUnavailable, match="nothing stored"):
        write(store)
    assert contents(store) == before and journal.records == []
    store._check()
    journal.refuse = False
    write(store)  # the disk is back: the same write goes through, logged
    assert len(journal.records) == 1


def test_a_failed_fsync_is_not_acknowledged() -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    journal.unsynced = True
    with pytest.raises(LogUnavailable, match="not made durable"):
        store.save(dev(1))


def test_a_refused_batch_is_not_logged() -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    store.save(dev(1))
    with pytest.raises(DuplicateRecord):
        store.save_batch([dev(3), dev(1)])
    with pytest.raises(RecordNotFound):
        store.delete(Developer, "d777")
    assert len(journal.records) == 1


def test_unusable_records_and_states_are_refused() -> None:
    store = MemoryActivityStore()
    with pytest.raises(ValueError, match="no table"):
        store.replay("spans", 1, b"I\x00")
    with pytest.raises(ValueError, match="too short"):
        store.replay(TABLE, 1, b"")
    with pytest.raises(ValueError, match="unknown tag"):
        store.replay(TABLE, 1, b"Z\x00")
    state = populated().capture()[TABLE]
    parts = {k: v for k, v in state.parts.items() if k != "commit.rows"}
    with pytest.raises(ValueError, match=r"no commit\.rows"):
        store.restore({TABLE: snapfile.TableState(state.meta, parts)})


# -- the state machine: restart anywhere, replay, compare with the uninterrupted store --

DEVS = st.integers(1, 5)
SHAS = st.integers(1, 8)


class RestartMachine(RuleBasedStateMachine):
    """Two stores take the same writes; one is journaled and is, at any step,
    rebuilt from its last captured state plus the journal after it."""

    def __init__(self) -> None:
        super().__init__()
        self.journal = MemoryJournal()
        self.store = MemoryActivityStore()
        self.store.attach(self.journal)
        self.oracle = MemoryActivityStore()
        self.snapshot: tuple[int, Any] | None = None

    def _both(self, write: Any) -> None:
        errors = []
        for store in (self.store, self.oracle):
            try:
                write(store)
                errors.append(None)
            except (DuplicateRecord, RecordNotFound) as exc:
                errors.append(type(exc))
        assert errors[0] == errors[1]

    @rule(ids=st.lists(DEVS, max_size=4), region=st.sampled_from(["US", "EU"]))
    def save_developers(self, ids: list[int], region: str) -> None:
        self._both(lambda s: s.save_batch([dev(i, region) for i in ids]))

    @rule(shas=st.lists(SHAS, max_size=4), who=DEVS, day=st.integers(0, 3))
    def save_commits(self, shas: list[int], who: int, day: int) -> None:
        self._both(lambda s: s.save_batch([commit(n, who, day, ai=n % 2 == 0) for n in shas]))

    @rule(n=SHAS, who=DEVS, day=st.integers(0, 3), agent=st.booleans())
    def save_change(self, n: int, who: int, day: int, agent: bool) -> None:
        self._both(lambda s: s.save(change(n, who, day, agent=agent)))

    @rule(i=DEVS, team=st.sampled_from(["core", "infra"]))
    def update_developer(self, i: int, team: str) -> None:
        self._both(lambda s: s.update(dataclasses.replace(dev(i), team=team)))

    @rule(n=SHAS)
    def delete_commit(self, n: int) -> None:
        self._both(lambda s: s.delete(Commit, commit(n, 1, 0).sha))

    @rule()
    def clear(self) -> None:
        self._both(lambda s: s.clear())

    @rule()
    def capture(self) -> None:
        lsn = self.journal.last  # the log's position first, then the state (the protocol)
        states = self.store.capture()
        assert states[TABLE].meta[APPLIED_LSN] <= lsn or lsn == 0
        self.snapshot = (lsn, states)

    @rule()
    def restart(self) -> None:
        fresh = MemoryActivityStore()
        if self.snapshot is not None:
            fresh.restore(self.snapshot[1])
        for lsn, table, payload in self.journal.records:
            fresh.replay(table, lsn, payload)
        fresh.attach(self.journal)
        self.store = fresh

    @precondition(lambda self: self.snapshot is not None)
    @rule()
    def restart_replaying_everything(self) -> None:
        """Replay from the first record: those the state holds are skipped."""
        assert self.snapshot is not None
        fresh = MemoryActivityStore()
        fresh.restore(self.snapshot[1])
        for lsn, table, payload in self.journal.records:
            fresh.replay(table, lsn, payload)
        assert contents(fresh) == contents(self.oracle)

    @invariant()
    def answers_as_the_uninterrupted_store(self) -> None:
        self.store._check()
        assert contents(self.store) == contents(self.oracle)
        assert self.store.count(Developer, {"region": "EU"}) == self.oracle.count(
            Developer, {"region": "EU"})  # fmt: skip


TestRestartMachine = RestartMachine.TestCase
TestRestartMachine.settings = settings(max_examples=50, stateful_step_count=25, deadline=None)
