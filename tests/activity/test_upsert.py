"""MemoryActivityStore.upsert_batch: each rule x new, stored and repeated keys, unique
email clashes and limits, against hand-derived counts and the plain model in
``upsert_model.py``; one listener call and one journal record per batch, replay
reproducing the store row for row, and a refused log leaving nothing behind."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infertrace.activity import Commit, Developer, MemoryActivityStore
from infertrace.activity.records import DAY_NS
from infertrace.activity.store import UpsertResult
from infertrace.errors import CapacityExceeded, DuplicateRecord, InvalidParameter, LogUnavailable
from tests.activity.conftest import DAY0, commit, dev
from tests.activity.test_durable import MemoryJournal
from tests.activity.upsert_model import model_upsert


def d(i: int, *, team: str = "core", email: str | None = None) -> Developer:
    base = dev(i, team=team)
    return base if email is None else dataclasses.replace(base, email=email)


def stored_two() -> MemoryActivityStore:
    store = MemoryActivityStore()
    store.save_batch([d(1), d(2)])
    return store


def by_id(store: MemoryActivityStore) -> dict[str, Developer]:
    return {r.id: r for r in store.list(Developer)}


def rows(store: MemoryActivityStore, kind: type) -> list[Any]:
    """Every record in arrival (row) order, which a replay must reproduce too."""
    with store.reading() as view:
        return list(view.tables[kind])


E = "e@example.com"
CASES = [
    # (mode, batch on top of d001 and d002, (inserted, skipped, replaced) or refused indexes)
    ("error", [d(3), d(4)], (2, 0, 0)),
    ("error", [d(3), d(1)], [1]),
    ("error", [d(3), d(3, team="x")], [1]),
    ("error", [d(3, email="dev1@example.com")], [0]),
    ("skip", [d(3), d(1, team="x")], (1, 1, 0)),
    ("skip", [d(3, team="a"), d(3, team="b")], (1, 1, 0)),
    ("skip", [d(1, team="x"), d(2, team="x")], (0, 2, 0)),
    ("skip", [d(1, email="dev2@example.com")], (0, 1, 0)),  # stored: its email is not written
    ("skip", [d(5, email=E), d(6, email=E)], [1]),
    ("skip", [d(5, email="dev1@example.com"), d(6)], [0]),
    ("replace", [d(3, team="a"), d(3, team="b")], (1, 1, 0)),
    ("replace", [d(1, team="x"), d(3)], (1, 0, 1)),
    ("replace", [d(1, team="a"), d(1, team="b"), d(2, team="c")], (0, 1, 2)),
    ("replace", [d(1, email="new1@example.com")], (0, 0, 1)),
    ("replace", [d(5, email="dev2@example.com")], [0]),
    ("replace", [d(1, email="dev2@example.com")], [0]),
    ("replace", [d(2, email=E), d(1, email="dev2@example.com")], [1]),  # no swaps in one batch
    ("replace", [d(5, email=E), d(6, email=E), d(7, email="dev1@example.com")], [1, 2]),
    ("replace", [d(5, email=E), d(5, email="f@example.com"), d(6, email=E)], (2, 1, 0)),
]


@pytest.mark.parametrize(("mode", "batch", "expected"), CASES)
def test_each_rule_on_new_stored_and_repeated_keys(
    mode: str, batch: list[Developer], expected: tuple[int, int, int] | list[int]
) -> None:
    store = stored_two()
    before = by_id(store)
    model = model_upsert(before, batch, mode, key=lambda r: r.id, unique=lambda r: r.email)
    if isinstance(expected, list):
        assert model.refused == expected  # the table and the model agree
        with pytest.raises(DuplicateRecord) as caught:
            store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        assert [i for i, _ in caught.value.problems] == expected
        assert all(r.split(" ", 1)[0] in ("id", "email") for _, r in caught.value.problems)
        assert by_id(store) == before
    else:
        assert model.counts == expected
        done = store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        assert (done.inserted, done.skipped, done.replaced) == expected
        assert by_id(store) == model.after
        for record in by_id(store).values():  # the email index follows every replacement
            assert store.find_developer(record.email) == record
    store._check()


def test_a_replaced_email_is_free_for_the_next_batch() -> None:
    store = stored_two()
    store.upsert_batch([d(1, email="new1@example.com")], "replace")
    store.upsert_batch([d(5, email="dev1@example.com")], "error")
    assert store.find_developer("dev1@example.com").id == "d005"
    store._check()


@pytest.mark.parametrize(
    ("mode", "batch", "fits"),
    [
        ("replace", [d(1, team="x"), d(3)], True),  # 2 stored + 1 new = the limit
        ("replace", [d(3), d(4)], False),
        ("skip", [d(1), d(2), d(3), d(3)], True),
        ("skip", [d(3), d(4), d(1)], False),
        ("error", [d(3), d(4)], False),
        ("replace", [d(1, team="x"), d(2, team="y")], True),  # replacing takes no room
    ],
)
def test_the_limit_counts_inserted_records_only(
    mode: str, batch: list[Developer], fits: bool
) -> None:
    store = MemoryActivityStore(limits={"developer": 3})
    store.save_batch([d(1), d(2)])
    before = by_id(store)
    if fits:
        store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        assert store.count(Developer) == len(before | {r.id: r for r in batch})
    else:
        with pytest.raises(CapacityExceeded, match="developer limit 3"):
            store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        assert by_id(store) == before
    store._check()


def test_bad_rules_and_mixed_batches_are_refused_by_name() -> None:
    store = stored_two()
    with pytest.raises(InvalidParameter, match="on_conflict 'merge'"):
        store.upsert_batch([d(3)], "merge")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"records \[1\]"):
        store.upsert_batch([d(3), commit(1, 1, 0)], "replace")
    assert store.upsert_batch([], "skip") == UpsertResult(0, 0, 0)
    assert by_id(store) == {"d001": d(1), "d002": d(2)}


def test_listeners_hear_once_the_days_of_old_and_new_versions() -> None:
    store = MemoryActivityStore()
    store.save_batch([commit(1, 1, 0), commit(2, 1, 1)])
    heard: list[tuple[type, frozenset[int] | None]] = []
    store.subscribe(lambda kind, days: heard.append((kind, days)))
    moved = dataclasses.replace(commit(1, 1, 0), timestamp=(DAY0 + 5) * DAY_NS)
    store.upsert_batch([moved, commit(3, 1, 2), commit(2, 1, 1)], "replace")
    assert heard == [(Commit, frozenset({DAY0, DAY0 + 1, DAY0 + 2, DAY0 + 5}))]
    store.upsert_batch([commit(3, 1, 2)], "skip")  # nothing written: nobody told
    assert len(heard) == 1
    store.upsert_batch([d(1, team="x")], "replace")
    assert heard[-1] == (Developer, None)  # a developer's change touches every day


@pytest.mark.parametrize("mode", ["error", "skip", "replace"])
def test_one_journal_record_per_batch_and_replay_reproduces_the_rows(mode: str) -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    store.save_batch([d(1), d(2), d(3)])
    store.save_batch([commit(n, 1, n % 3) for n in range(1, 40)])
    batches: list[list[Any]] = [
        [d(4), d(2, team="x"), d(5), d(2, team="y"), d(1, email="new1@example.com")],
        [commit(n, 2, (n + 1) % 4) for n in range(30, 60)] + [commit(7, 3, 3)],
        [d(6), d(3, team="z")],
    ]
    for batch in batches:
        logged = len(journal.records)
        try:
            store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        except DuplicateRecord:
            assert mode == "error"
            assert len(journal.records) == logged  # a refused batch is not logged
            continue
        assert len(journal.records) == logged + 1
    half = MemoryActivityStore()  # a snapshot after the first batches, then the log's tail
    replayed = MemoryActivityStore()
    for lsn, table, payload in journal.records:
        replayed.replay(table, lsn, payload)
        if lsn == 3:
            half.restore(replayed.capture())
    for lsn, table, payload in journal.records:
        half.replay(table, lsn, payload)
    for copy in (replayed, half):
        for kind in (Developer, Commit):
            assert rows(copy, kind) == rows(store, kind)
        copy._check()


def test_a_refused_log_record_leaves_the_store_and_its_dictionaries_as_they_were() -> None:
    journal = MemoryJournal()
    store = stored_two()
    store.attach(journal)
    before = rows(store, Developer)
    with store.reading() as view:
        sizes = {c: len(view.tables[Developer].dictionary(c)) for c in ("id", "email", "team")}
    journal.refuse = True
    for mode in ("error", "skip", "replace"):
        first = d(8, team="new") if mode == "error" else d(1, team="new")
        with pytest.raises(LogUnavailable, match="nothing stored"):
            store.upsert_batch([first, d(7, team="new")], mode)
        assert rows(store, Developer) == before and journal.records == []
        with store.reading() as view:
            table = view.tables[Developer]
            assert {c: len(table.dictionary(c)) for c in sizes} == sizes
        store._check()
    journal.refuse = False
    done = store.upsert_batch([d(1, team="new"), d(7, team="new")], "replace")
    assert done == UpsertResult(inserted=1, skipped=0, replaced=1)
    assert len(journal.records) == 1
