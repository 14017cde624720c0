"""DataDir with test-double participants: restore, damage, snapshots, disk trouble, threads."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from infertrace.engine import snapfile
from infertrace.engine.datadir import DataDir
from infertrace.engine.journal import APPLIED_LSN, Durable, Journal
from infertrace.engine.snapfile import TableState
from infertrace.engine.startup import DAMAGED_PREFIX, LOG_DIR
from infertrace.engine.walformat import list_segments, read_records


class KV:
    """A participant holding dict tables that follows journal.py's rules: log inside
    the lock before applying, wait outside it, one applied LSN per table."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.tables: dict[str, dict[str, int]] = {n: {} for n in names}
        self.applied = dict.fromkeys(names, 0)
        self.replayed: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._journal: Journal | None = None

    def put(self, table: str, key: str, value: int) -> None:
        with self._lock:
            lsn = 0
            if self._journal is not None:
                lsn = self._journal.append(table, f"{key}={value}".encode())
                self.applied[table] = lsn
            self.tables[table][key] = value
        if self._journal is not None:
            self._journal.wait(lsn)

    def table_names(self) -> Sequence[str]:
        return self.names

    def attach(self, journal: Journal | None) -> None:
        with self._lock:
            self._journal = journal

    def capture(self) -> Mapping[str, TableState]:
        with self._lock:
            return {
                n: TableState(
                    {APPLIED_LSN: self.applied[n]},
                    {"rows": {"key": list(t), "value": np.array(list(t.values()), np.int64)}},
                )
                for n, t in self.tables.items()
            }

    def restore(self, states: Mapping[str, TableState]) -> None:
        for n in self.names:
            state = states.get(n)
            rows = state.parts["rows"] if state else {"key": [], "value": []}
            self.tables[n] = dict(zip(rows["key"], map(int, rows["value"]), strict=True))
            self.applied[n] = int(state.meta[APPLIED_LSN]) if state else 0  # type: ignore[arg-type]

    def replay(self, table: str, lsn: int, payload: bytes) -> None:
        key, _, value = payload.decode().partition("=")
        if not value.lstrip("-").isdigit():
            raise ValueError(f"bad payload {payload!r}")
        self.tables[table][key] = int(value)
        self.applied[table] = lsn
        self.replayed.append((table, lsn))


def fill(kv: KV, n: int, start: int = 0) -> dict[str, dict[str, int]]:
    """Put ``n`` values alternately into each table; what the tables must hold."""
    for i in range(start, start + n):
        kv.put(kv.names[i % len(kv.names)], f"k{i % 37}", i)
    return {n: dict(t) for n, t in kv.tables.items()}


def reopen(path: Path, *names: str, **kw: object) -> tuple[DataDir, KV]:
    kv = KV(*names)
    return DataDir(path, [kv], fsync="off", **kw), kv  # type: ignore[arg-type]


def test_double_is_durable() -> None:
    assert isinstance(KV("a"), Durable)


def test_snapshot_then_log_round_trip(tmp_path: Path) -> None:
    dd, kv = reopen(tmp_path, "a", "b")
    fill(kv, 100)
    info = dd.snapshot()
    want = fill(kv, 50, start=100)
    dd.close(snapshot=False)
    dd2, kv2 = reopen(tmp_path, "a", "b")
    with dd2:
        assert kv2.tables == want
        assert dd2.report.snapshot == info.path and dd2.report.snapshot_lsn == info.lsn == 100
        assert dd2.report.replayed == {"a": 25, "b": 25}
        assert [lsn for _, lsn in kv2.replayed] == list(range(101, 151))
        dd2._check()


def test_clean_close_snapshots_so_a_restart_replays_nothing(tmp_path: Path) -> None:
    with reopen(tmp_path, "a")[0] as dd:
        want = fill(dd.participants[0], 40)  # type: ignore[arg-type]
    dd2, kv2 = reopen(tmp_path, "a")
    with dd2:
        assert kv2.tables == want and dd2.report.records_replayed == 0
        assert dd2.report.snapshot_lsn == 40


def test_records_at_or_below_a_tables_applied_lsn_are_not_replayed(tmp_path: Path) -> None:
    dd, kv = reopen(tmp_path, "a", "b")
    fill(kv, 10)
    dd.snapshot()  # lsn 10; a applied 9, b applied 10
    fill(kv, 4, start=10)  # 11..14
    dd.close(snapshot=False)
    dd2, kv2 = reopen(tmp_path, "a", "b")
    with dd2:
        assert kv2.replayed == [("a", 11), ("b", 12), ("a", 13), ("b", 14)]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_damaged_newest_snapshot_falls_back_to_the_previous_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dd, kv = reopen(tmp_path, "a")
    fill(kv, 30)
    old = dd.snapshot()
    fill(kv, 30, start=30)
    new = dd.snapshot()
    want = fill(kv, 5, start=60)
    dd.close(snapshot=False)
    victim = next(p for p in new.path.iterdir() if p.suffix == ".arrow")
    _flip(victim, victim.stat().st_size // 2)
    with caplog.at_level(logging.WARNING):
        dd2, kv2 = reopen(tmp_path, "a")
    with dd2:
        assert kv2.tables == want
        assert dd2.report.snapshot == old.path
        assert dd2.report.records_replayed == 35
        assert any(victim.name in s for s in dd2.report.skipped)
        assert victim.name in caplog.text


def test_every_snapshot_damaged_is_refused(tmp_path: Path) -> None:
    dd, kv = reopen(tmp_path, "a")
    fill(kv, 5)
    dd.close()
    for snap in snapfile.list_snapshots(tmp_path):
        (snap / snapfile.MANIFEST).write_text("{")
    with pytest.raises(ValueError, match=r"no usable snapshot.*manifest\.json"):
        reopen(tmp_path, "a")
    with pytest.raises(ValueError, match="no usable snapshot"):  # not "in use": unlocked
        reopen(tmp_path, "a")


def test_torn_tail_is_cut_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dd, kv = reopen(tmp_path, "a")
    want = fill(kv, 20)
    dd.close(snapshot=False)
    last = list_segments(tmp_path / LOG_DIR)[-1]
    with last.open("ab") as f:
        f.write(b"\xa7\x05\x00")  # the start of a header a crash cut short
    with caplog.at_level(logging.WARNING):
        dd2, kv2 = reopen(tmp_path, "a")
    with dd2:
        assert kv2.tables == want and dd2.report.torn is not None
        assert "torn tail" in caplog.text
        kv2.put("a", "after", 1)  # the log goes on where the good records end
    dd3, kv3 = reopen(tmp_path, "a")
    with dd3:
        assert kv3.tables["a"] == {**want["a"], "after": 1}


def _segmented(tmp_path: Path, n: int = 60) -> tuple[list[Path], list[dict[str, int]]]:
    """``n`` single-record puts into small segments; the state after each put."""
    kv = KV("a")
    dd = DataDir(tmp_path, [kv], fsync="off", segment_bytes=200)
    states = []
    for i in range(n):
        kv.put("a", f"k{i}", i)
        states.append(dict(kv.tables["a"]))
    dd.close(snapshot=False)
    return list_segments(tmp_path / LOG_DIR), states


def test_damage_in_the_middle_is_refused_naming_segment_offset_and_the_way_out(
    tmp_path: Path,
) -> None:
    segments, _ = _segmented(tmp_path)
    assert len(segments) > 4
    victim = segments[2]
    _flip(victim, 25)  # inside the first record's payload (header is 21 bytes)
    with pytest.raises(ValueError) as caught:
        reopen(tmp_path, "a")
    text = str(caught.value)
    assert victim.name in text and "at byte 0" in text
    assert "move_damaged_aside" in text and "--move-damaged-aside" in text
    assert list_segments(tmp_path / LOG_DIR) == segments  # nothing moved or cut


def test_move_damaged_aside_starts_from_what_is_intact(tmp_path: Path) -> None:
    segments, states = _segmented(tmp_path)
    victim = segments[2]
    intact = int(victim.stem) - 1  # records before the damaged segment
    _flip(victim, 25)
    dd, kv = reopen(tmp_path, "a", move_damaged_aside=True)
    with dd:
        assert kv.tables["a"] == states[intact - 1]
        moved = dd.report.moved_aside
        assert moved is not None and moved.name.startswith(DAMAGED_PREFIX)
        assert sorted(p.name for p in moved.iterdir()) == [p.name for p in segments[2:]]
        assert dd.last_snapshot is not None  # what was salvaged is durable at once
        kv.put("a", "new", -1)
    dd2, kv2 = reopen(tmp_path, "a")  # an ordinary open works again
    with dd2:
        assert kv2.tables["a"] == {**states[intact - 1], "new": -1}


@pytest.mark.parametrize("where", ["log", "snapshot"])
def test_a_table_nobody_keeps_is_refused(tmp_path: Path, where: str) -> None:
    dd, kv = reopen(tmp_path, "a", "b")
    fill(kv, 6)
    dd.close(snapshot=where == "snapshot")
    with pytest.raises(ValueError, match=r"'b'.*nothing here keeps") as caught:
        reopen(tmp_path, "a")
    assert ("snapshot" in str(caught.value)) == (where == "snapshot")
    assert ("log record" in str(caught.value)) == (where == "log")


def test_a_snapshot_truncates_the_log_its_oldest_kept_snapshot_covers(tmp_path: Path) -> None:
    kv = KV("a")
    dd = DataDir(tmp_path, [kv], fsync="off", segment_bytes=200, keep=2)
    with dd:
        fill(kv, 50)
        dd.snapshot()
        fill(kv, 50, start=50)
        oldest = dd.snapshot()
        fill(kv, 50, start=100)
        before = list_segments(tmp_path / LOG_DIR)
        newest = dd.snapshot()
        after = list_segments(tmp_path / LOG_DIR)
        assert [p.name for p in snapfile.list_snapshots(tmp_path)] == [
            oldest.path.name,
            newest.path.name,
        ]
        # the segments deleted are exactly those wholly at or below the oldest kept lsn
        deleted = [p for p in before if p not in after]
        assert deleted and after == before[len(deleted) :]
        assert int(after[0].stem) <= oldest.lsn + 1
        assert len(after) == 1 or int(after[1].stem) > oldest.lsn + 1
        # ...and the log after it still replays: a fallback to it would work
        lsns = [lsn for lsn, _ in read_records(after, oldest.lsn)]
        assert lsns == list(range(oldest.lsn + 1, 151))


def test_second_opener_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with (
        reopen(tmp_path, "a")[0],
        pytest.raises(BlockingIOError, match=rf"data directory .* in use .*pid {os.getpid()}"),
    ):
        reopen(tmp_path, "a")


class FailingWrites:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int, parts: object) -> int:
        self.calls += 1
        raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_refuses_logs_the_outage_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dd, kv = reopen(tmp_path, "a")
    with dd:
        kv.put("a", "x", 1)
        real = dd.log._writev
        failing = FailingWrites()
        dd.log._writev = failing
        with caplog.at_level(logging.WARNING, logger="infertrace.engine.datadir"):
            for i in range(5):
                with pytest.raises(OSError) as caught:
                    kv.put("a", f"y{i}", i)
                assert caught.value.errno == errno.ENOSPC
            assert dd.refusing and failing.calls == 5
            dd.log._writev = real  # space returns
            kv.put("a", "z", 2)
        assert not dd.refusing
        lines = [r for r in caplog.records if r.name == "infertrace.engine.datadir"]
        assert [r.levelno for r in lines] == [logging.ERROR, logging.WARNING]
        assert "refuses writes" in lines[0].getMessage()
        assert "5 writes refused" in lines[1].getMessage()
    dd2, kv2 = reopen(tmp_path, "a")
    with dd2:  # the refused puts were applied in memory but never logged
        assert kv2.tables["a"] == {"x": 1, "z": 2}


def test_failed_fsync_fails_the_wait(tmp_path: Path) -> None:
    kv = KV("a")
    with DataDir(tmp_path, [kv], fsync="always") as dd:

        def broken(fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        dd.log._fsync = broken
        with pytest.raises(OSError):
            kv.put("a", "x", 1)
        assert dd.refusing
        dd.log._fsync = os.fsync
        kv.put("a", "y", 2)
        assert not dd.refusing


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.mark.parametrize(
    ("kw", "puts"),
    [({"snapshot_log_bytes": 500}, 200), ({"snapshot_interval": 0.1}, 1)],
    ids=["log-size", "interval"],
)
def test_background_snapshots_on_size_and_interval(
    tmp_path: Path, kw: dict[str, float], puts: int
) -> None:
    dd, kv = reopen(tmp_path, "a", **kw)
    with dd:
        fill(kv, puts)
        assert _eventually(lambda: dd.last_snapshot is not None)
        assert snapfile.list_snapshots(tmp_path)


def test_eight_threads_append_while_snapshots_run_then_reopen_matches(tmp_path: Path) -> None:
    names = [f"t{i}" for i in range(4)]
    kv = KV(*names)
    dd = DataDir(tmp_path, [kv], fsync="interval=5ms", segment_bytes=4096, snapshot_log_bytes=2000)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(300):
                kv.put(names[t % 4], f"w{t}-{i % 50}", i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def snapshotter() -> None:
        while not stop.is_set():
            dd.snapshot()
            dd._check()

    snaps = threading.Thread(target=snapshotter)
    snaps.start()
    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    snaps.join(60)
    assert not errors
    want = {n: dict(t) for n, t in kv.tables.items()}
    assert sum(len(t) for t in want.values()) == 8 * 50
    dd.close(snapshot=False)  # a restart must replay what the last snapshot missed
    kv2 = KV(*names)
    with DataDir(tmp_path, [kv2], fsync="off") as dd2:
        assert kv2.tables == want
        assert len(snapfile.list_snapshots(tmp_path)) == 2
        dd2._check()
    kv3 = KV(*names)
    with DataDir(tmp_path, [kv3], fsync="off") as dd3:  # after the clean close
        assert kv3.tables == want and dd3.report.records_replayed == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"snapshot_interval": 0}, "snapshot_interval"),
        ({"snapshot_log_bytes": 0}, "snapshot_log_bytes"),
        ({"keep": 0}, "keep"),
        ({"fsync": "sometimes"}, "sometimes"),
    ],
)
def test_bad_arguments_name_the_value(tmp_path: Path, kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataDir(tmp_path, [KV("a")], **kw)  # type: ignore[arg-type]


def test_two_participants_claiming_one_table_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'a' is kept by two"):
        DataDir(tmp_path, [KV("a"), KV("a", "b")])


def test_journal_refuses_an_undeclared_table(tmp_path: Path) -> None:
    with reopen(tmp_path, "a")[0] as dd, pytest.raises(ValueError, match="'zz'"):
        dd.append("zz", b"x")


def test_a_failed_background_snapshot_is_logged_retried_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = snapfile.save
    failures = [OSError(errno.ENOSPC, "No space left on device")] * 2

    def save(*args: object, **kw: object) -> snapfile.SnapshotInfo:
        if failures:
            raise failures.pop()
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(snapfile, "save", save)
    with caplog.at_level(logging.ERROR, logger="infertrace.engine.datadir"):
        dd, kv = reopen(tmp_path, "a", snapshot_interval=0.05)
        with dd:
            want = fill(kv, 10)
            assert _eventually(lambda: dd.last_snapshot is not None)
            assert not failures
    failed = [r for r in caplog.records if "snapshot failed" in r.getMessage()]
    assert len(failed) == 2 and "No space left" in failed[0].getMessage()
    dd2, kv2 = reopen(tmp_path, "a")
    with dd2:
        assert kv2.tables == want
