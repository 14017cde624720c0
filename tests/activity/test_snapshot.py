"""Snapshots: a round trip keeps every record; a damaged file is refused and the
live store stays as it was."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from infertrace.activity import (
    Change,
    Commit,
    Developer,
    MemoryActivityStore,
    Session,
    restore_snapshot,
    write_snapshot,
)
from infertrace.activity.generate import generate
from infertrace.activity.snapshot import HEADER, MAGIC
from infertrace.errors import CapacityExceeded, SnapshotInvalid
from tests.activity.conftest import dev

KINDS = (Developer, Commit, Change, Session)


@pytest.fixture
def full() -> MemoryActivityStore:
    p = generate(30, 5, commits=200, changes=200, sessions=50, seed=3)
    store = MemoryActivityStore()
    for records in (p.developers, p.commits, p.changes, p.sessions):
        store.save_batch(records)
    return store


def test_a_round_trip_keeps_every_record(full: MemoryActivityStore, tmp_path: Path) -> None:
    path = tmp_path / "activity.snap"
    info = write_snapshot(full, path)
    assert info.bytes == path.stat().st_size
    assert info.counts == {"developer": 30, "commit": 200, "change": 200, "session": 50}
    assert list(tmp_path.iterdir()) == [path]  # the temp file is gone
    other = MemoryActivityStore()
    other.save(dev(1))  # replaced, not merged
    restored = restore_snapshot(other, path)
    assert restored.sha256 == info.sha256
    for kind in KINDS:
        assert other.list(kind) == full.list(kind)
    other._check()


def _damaged(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flipped payload byte":
        data[len(data) // 2] ^= 0xFF
    elif how == "truncated payload":
        del data[-100:]
    elif how == "truncated header":
        del data[HEADER.size - 5 :]
    elif how == "extra bytes":
        data += b"\0"
    elif how == "wrong magic":
        data[:8] = b"NOTSNAPS"
    elif how == "future version":
        struct.pack_into(">H", data, len(MAGIC), 99)
    elif how == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("flipped payload byte", "is corrupt: sha256"),
        ("truncated payload", "is truncated: payload"),
        ("truncated header", "is truncated"),
        ("extra bytes", "longer than its header says"),
        ("wrong magic", "not an activity snapshot"),
        ("future version", "format version 99"),
        ("empty", "is truncated: 0 bytes"),
    ],
)
def test_a_damaged_file_is_refused_and_the_store_untouched(
    full: MemoryActivityStore, tmp_path: Path, how: str, message: str
) -> None:
    path = tmp_path / "activity.snap"
    write_snapshot(full, path)
    _damaged(path, how)
    live = MemoryActivityStore()
    live.save(dev(1))
    with pytest.raises(SnapshotInvalid, match=message) as err:
        restore_snapshot(live, path)
    assert str(path) in str(err.value)
    assert live.list(Developer) == [dev(1)] and live.count(Commit) == 0
    live._check()


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotInvalid, match="cannot be read"):
        restore_snapshot(MemoryActivityStore(), tmp_path / "nope.snap")


def test_a_restore_past_a_limit_is_refused(full: MemoryActivityStore, tmp_path: Path) -> None:
    path = tmp_path / "a.snap"
    write_snapshot(full, path)
    small = MemoryActivityStore(limits={"commit": 10})
    with pytest.raises(CapacityExceeded, match="commit limit 10"):
        restore_snapshot(small, path)
    assert small.count(Commit) == 0
