"""MemoryActivityStore: the seed's example tests, every refusal, limits and stats."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infertrace.activity import (
    ActivityStore,
    Between,
    Change,
    Commit,
    Developer,
    MemoryActivityStore,
    Session,
)
from infertrace.activity.records import DAY_NS
from infertrace.errors import CapacityExceeded, DuplicateRecord, InvalidParameter, RecordNotFound
from tests.activity.conftest import DAY0, at, change, commit, dev


def test_the_store_satisfies_the_protocol(store: MemoryActivityStore) -> None:
    assert isinstance(store, ActivityStore)


def test_create_and_read(store: MemoryActivityStore) -> None:
    d = dev(1)
    store.save(d)  # rows are stored by column: a read builds an equal record
    assert store.get(Developer, "d001") == d
    assert store.find_developer("DEV1@example.com") == d
    c = commit(1, 1, 0)
    store.save(c)
    assert store.get(Commit, c.sha.upper()) == c
    store._check()


def test_index_by_region(store: MemoryActivityStore) -> None:
    regions = ["US", "EU", "APAC", "EU", "other", "EU"]
    store.save_batch([dev(i, region) for i, region in enumerate(regions)])
    eu = store.list(Developer, {"region": "EU"})
    assert [d.id for d in eu] == [f"d{i:03d}" for i, r in enumerate(regions) if r == "EU"]
    assert store.count(Developer, {"region": "EU"}) == regions.count("EU")
    assert store.list(Developer, {"region": "EU"}, limit=1, offset=1) == eu[1:2]


def test_date_range(store: MemoryActivityStore) -> None:
    commits = [commit(n, 1, day=n % 5, hour=n % 24) for n in range(1, 60)]
    store.save_batch(commits)
    start, end = at(1, 0), at(3, 0)
    got = store.get_commits_in_range(start, end)
    want = sorted((c for c in commits if start <= c.timestamp < end),
                  key=lambda c: (c.timestamp, c.sha))  # fmt: skip
    assert got == want and got
    assert store.get_commits_in_range(start, end, limit=3, offset=2) == want[2:5]
    assert store.get_commits_in_range(start, end, developer_id="d999") == []
    newest = store.list(Commit, {"day": DAY0 + 2}, order_by="timestamp", reverse=True)
    assert newest == sorted((c for c in commits if c.timestamp // DAY_NS == DAY0 + 2),
                            key=lambda c: (c.timestamp, c.sha), reverse=True)  # fmt: skip


def test_filters_use_indexes_and_scans_alike(store: MemoryActivityStore) -> None:
    commits = [commit(n, n % 4, day=n % 3, ai=n % 2 == 0) for n in range(1, 41)]
    store.save_batch(commits)
    cases: list[dict[str, Any]] = [
        {"developer_id": "d002"},  # hash index
        {"developer_id": "d002", "day": DAY0 + 1},  # composite index
        {"ai_assisted": True},  # no index: a scan
        {"timestamp": Between("timestamp", at(1), at(2) + 1), "ai_assisted": False},
    ]
    for filters in cases:
        want = sorted(
            (c for c in commits if all(
                v.test(getattr(c, k)) if isinstance(v, Between)
                else (getattr(c, k) if k != "day" else c.timestamp // DAY_NS) == v
                for k, v in filters.items())),
            key=lambda c: c.sha,
        )  # fmt: skip
        assert store.list(Commit, filters) == want, filters
        assert store.count(Commit, filters) == len(want), filters


def test_a_batch_of_1000(store: MemoryActivityStore) -> None:
    developers = [dev(i) for i in range(1000)]
    assert store.save_batch(developers) == 1000
    assert store.count(Developer) == 1000
    assert store.get(Developer, "d999").email == "dev999@example.com"
    store._check()


def test_a_failed_batch_reports_every_bad_record_and_stores_nothing(
    store: MemoryActivityStore,
) -> None:
    store.save(dev(1))
    batch = [dev(2), dev(1), dev(3), dataclasses.replace(dev(4), email="dev2@example.com"), dev(2)]
    with pytest.raises(DuplicateRecord) as err:
        store.save_batch(batch)
    assert [i for i, _ in err.value.problems] == [1, 3, 4]
    assert "id 'd001' already exists" in dict(err.value.problems)[1]
    assert "email 'dev2@example.com' repeats record 0" in dict(err.value.problems)[3]
    assert "3 of 5" in str(err.value)
    assert store.count(Developer) == 1
    with pytest.raises(InvalidParameter, match=r"records \[1\]"):
        store.save_batch([dev(5), commit(1, 5, 0)])  # type: ignore[list-item]


def test_update_and_delete(store: MemoryActivityStore) -> None:
    store.save_batch([dev(1, "US"), dev(2, "EU")])
    moved = dataclasses.replace(dev(1), region="EU", team="infra")
    assert store.update(moved) == dev(1, "US")
    assert [d.id for d in store.list(Developer, {"region": "EU"})] == ["d001", "d002"]
    assert store.delete(Developer, "d002") == dev(2, "EU")
    assert store.count(Developer, {"region": "EU"}) == 1
    store._check()


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda s: s.get(Developer, "nobody"), RecordNotFound, "developer 'nobody' not found"),
        (lambda s: s.get(Session, ["x"]), RecordNotFound, "session ['x'] not found"),
        (lambda s: s.delete(Change, "c9"), RecordNotFound, "change 'c9' not found"),
        (lambda s: s.update(dev(9)), RecordNotFound, "developer 'd009' not found"),
        (lambda s: s.update(dataclasses.replace(dev(1), email="dev2@example.com")),
         DuplicateRecord, "email 'dev2@example.com' already exists"),
        (lambda s: s.save(dev(2)), DuplicateRecord, "id 'd002' already exists"),
        (lambda s: s.find_developer("x@y.z"), RecordNotFound, "x@y.z"),
        (lambda s: s.find_developer(None), InvalidParameter, "email None"),
        (lambda s: s.list(Developer, {"zone": "EU"}), InvalidParameter, "filter 'zone'"),
        (lambda s: s.list(Developer, limit=-1), InvalidParameter, "limit -1"),
        (lambda s: s.list(Developer, offset="2"), InvalidParameter, "offset '2'"),
        (lambda s: s.list(Commit, order_by="sha"), InvalidParameter, "order_by 'sha'"),
        (lambda s: s.list(str), InvalidParameter, "kind <class 'str'>"),
        (lambda s: s.save("record"), InvalidParameter, "kind <class 'str'>"),
        (lambda s: s.get_commits_in_range(-1, 5), InvalidParameter, "start -1"),
        (lambda s: s.get_commits_in_range(0, 5, limit=0.5), InvalidParameter, "limit 0.5"),
    ],
)  # fmt: skip
def test_refusals_name_the_value_and_change_nothing(
    store: MemoryActivityStore, call: Any, error: type[Exception], named: str
) -> None:
    store.save_batch([dev(1), dev(2)])
    with pytest.raises(error) as err:
        call(store)
    assert named in str(err.value)
    assert store.list(Developer) == [dev(1), dev(2)]
    store._check()


def test_limits_refuse_writes_past_them() -> None:
    store = MemoryActivityStore(limits={"developer": 3, Commit: 1})
    store.save_batch([dev(1), dev(2)])
    with pytest.raises(CapacityExceeded, match="developer limit 3 reached: 2 stored, 2 more"):
        store.save_batch([dev(3), dev(4)])
    store.save(dev(3))
    with pytest.raises(CapacityExceeded):
        store.save(dev(4))
    assert store.count(Developer) == 3
    assert store.memory_stats()["developer"].limit == 3
    with pytest.raises(InvalidParameter, match="'robot'"):
        MemoryActivityStore(limits={"robot": 1})


def test_memory_stats_are_measured_per_type(store: MemoryActivityStore) -> None:
    empty = store.memory_stats()
    store.save_batch([dev(i) for i in range(200)])
    store.save_batch([commit(n, n % 200, n % 9) for n in range(1, 1001)])
    stats = store.memory_stats()
    assert stats["developer"].count == 200 and stats["commit"].count == 1000
    assert stats["change"].count == 0
    for name in ("developer", "commit"):
        grew = stats[name].total_bytes - empty[name].total_bytes
        assert grew > 0 and stats[name].index_bytes > 0
        # each record is a slotted object of at least 16 + 8 bytes per field
        assert stats[name].row_bytes >= stats[name].count * 16
    assert stats["commit"].bytes_per_record == stats["commit"].total_bytes / 1000


def test_changes_link_to_commits(store: MemoryActivityStore) -> None:
    c = commit(5, 1, 0)
    linked = dataclasses.replace(change(1, 1, 0), commit_sha=c.sha)
    store.save_batch([linked, change(2, 1, 0)])
    assert store.list(Change, {"commit_sha": c.sha}) == [linked]
    assert store.list(Change, {"commit_sha": None}) == [change(2, 1, 0)]
