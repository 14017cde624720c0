"""verify_consistency finds each kind of problem; repair fixes the safe ones."""

from __future__ import annotations

import dataclasses
from typing import Any

from infertrace.activity import Commit, Developer, MemoryActivityStore, repair, verify_consistency
from tests.activity.conftest import change, commit, dev


def test_a_clean_store_is_consistent(store: MemoryActivityStore) -> None:
    store.save_batch([dev(1), dev(2)])
    store.save_batch([commit(1, 1, 0), commit(2, 2, 1)])
    report = verify_consistency(store)
    assert report.ok
    assert report.counts == {"developer": 2, "commit": 2, "change": 0, "session": 0}
    assert report.lines() == ["consistent: 2 developers, 2 commits, 0 changes, 0 sessions"]


def test_orphans_and_missing_commits_are_reported_and_dropped_only_when_asked(
    store: MemoryActivityStore,
) -> None:
    store.save(dev(1))
    store.save_batch([commit(1, 1, 0), commit(2, 7, 0)])  # d007 is not stored
    linked = dataclasses.replace(change(1, 1, 0), commit_sha="f" * 40)  # no such commit
    store.save_batch([linked, change(2, 8, 0)])
    report = verify_consistency(store)
    assert {(o.kind, o.key, o.developer_id) for o in report.orphans} == {
        ("commit", commit(2, 7, 0).sha, "d007"), ("change", "c2", "d008")}  # fmt: skip
    assert report.missing_commits == (("c1", "f" * 40),)
    assert "orphans (developer not stored): 1 changes, 1 commits" in report.lines()[0]
    kept = repair(store)
    assert len(kept.after.orphans) == 2  # not deleted by default
    dropped = repair(store, drop_orphans=True)
    assert "deleted 2 orphan records" in dropped.actions
    assert dropped.after.orphans == () and store.count(Commit) == 1
    store._check()


def _row(table: Any, pk: str) -> int:
    return table.primary.owner(table.primary.key_of(pk))  # type: ignore[no-any-return]


def test_index_drift_and_misplaced_records_are_found_and_repaired(
    store: MemoryActivityStore,
) -> None:
    store.save_batch([dev(i, "EU" if i % 2 else "US") for i in range(6)])
    with store.exclusive() as tables:  # corrupt it as a bug would
        table = tables[Developer]
        region = table.indexes["region"]
        region.merge(table.n, table.live)  # every row in the sorted part, then lose d001
        keep = region.rows != _row(table, "d001")
        region.rows, region.sorted_keys = region.rows[keep], region.sorted_keys[keep]
        table.primary.by_code[table.columns["id"].code_of("d003")] = _row(table, "d004")
    report = verify_consistency(store)
    assert any("index id 'd003'" in m and "'d004'" in m for m in report.misplaced), report
    assert any("index region" in d and "'d001'" in d for d in report.index_drift)
    assert not report.ok
    fixed = repair(store)
    assert any(a.startswith("rebuilt every index") for a in fixed.actions)
    assert fixed.after.ok, fixed.after.lines()
    assert [d.id for d in store.list(Developer, {"region": "EU"})] == ["d001", "d003", "d005"]
    assert store.get(Developer, "d003") == dev(3, "EU")
    store._check()


def test_duplicate_emails_are_reported_not_merged(store: MemoryActivityStore) -> None:
    store.save_batch([dev(1), dev(2)])
    with store.exclusive() as tables:
        table = tables[Developer]
        email = table.columns["email"]
        email.data[_row(table, "d002")] = email.code_of("dev1@example.com")
    report = verify_consistency(store)
    assert report.duplicate_emails == ("dev1@example.com",)
    after = repair(store).after
    assert after.duplicate_emails == ("dev1@example.com",)
    assert store.count(Developer) == 2
