"""WriteAheadLog: round trips, fsync policies, group commit, damage, disk trouble, lock."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from infertrace.engine.wal import Fsync, WriteAheadLog, read_log
from infertrace.engine.walformat import HEADER, LogReport, inspect_log, list_segments

HSIZE = 21  # the documented header: magic u8, length u32, lsn u64, 2 x crc u32


def payloads(n: int, size: int = 40) -> list[bytes]:
    return [bytes([i % 251]) * (size + i % 7) for i in range(n)]


def fill(directory: Path, records: list[bytes], segment_bytes: int = 1 << 20) -> None:
    with WriteAheadLog(directory, "off", segment_bytes=segment_bytes) as wal:
        for p in records:
            wal.append(p)


def test_header_is_the_documented_layout(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "off") as wal:
        wal.append(b"hello")
    raw = list_segments(tmp_path)[0].read_bytes()
    assert HEADER.size == HSIZE and len(raw) == HSIZE + 5
    assert raw[0] == 0xA7
    assert int.from_bytes(raw[1:5], "little") == 5
    assert int.from_bytes(raw[5:13], "little") == 1
    assert int.from_bytes(raw[13:17], "little") == zlib.crc32(b"hello")
    assert int.from_bytes(raw[17:21], "little") == zlib.crc32(raw[:17])
    assert raw[HSIZE:] == b"hello"


@pytest.mark.parametrize("policy", ["off", "always", "interval=5ms"])
@pytest.mark.parametrize("segment_bytes", [64, 300, 1 << 20])
def test_round_trip_across_segments_and_reopen(
    tmp_path: Path, policy: str, segment_bytes: int
) -> None:
    records = payloads(60)
    with WriteAheadLog(tmp_path, policy, segment_bytes=segment_bytes) as wal:
        lsns = [wal.append(p) for p in records]
        wal.wait_durable(lsns[-1], timeout=5)
        assert lsns == list(range(1, 61))
        assert list(wal.replay()) == list(zip(lsns, records, strict=True))
        wal._check()
    expect_segments = 1 if segment_bytes > 60 * 60 else 2
    assert len(list_segments(tmp_path)) >= expect_segments
    assert list(read_log(tmp_path, after=20)) == list(zip(lsns[20:], records[20:], strict=True))
    with WriteAheadLog(tmp_path, policy, segment_bytes=segment_bytes) as wal:
        assert wal.next_lsn == 61
        assert wal.append(b"more") == 61
        assert list(wal.replay(after=59))[-2:] == [(60, records[-1]), (61, b"more")]


def test_segments_are_named_by_first_lsn_and_respect_the_size(tmp_path: Path) -> None:
    records = payloads(30, 50)
    fill(tmp_path, records, segment_bytes=200)
    segs = list_segments(tmp_path)
    first = 1
    for seg in segs:
        assert int(seg.stem) == first
        size = seg.stat().st_size
        n = len(list(read_log_segment(seg)))
        assert size <= 200 or n == 1  # a record bigger than a segment gets one of its own
        first += n
    assert first == 31


def read_log_segment(seg: Path) -> list[int]:
    from infertrace.engine.walformat import scan_segment

    return [lsn for lsn, _ in scan_segment(seg, final=True).records]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("always", Fsync("always")),
        ("off", Fsync("off")),
        ("interval", Fsync("interval", 0.1)),
        ("interval=100ms", Fsync("interval", 0.1)),
        ("interval=0.25", Fsync("interval", 0.25)),
        ("interval=2s", Fsync("interval", 2.0)),
    ],
)
def test_fsync_policy_parses(text: str, expected: Fsync) -> None:
    assert Fsync.parse(text) == expected


@pytest.mark.parametrize("text", ["sometimes", "always=1", "interval=fast", "interval=0", "off=2"])
def test_bad_fsync_policy_names_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="fsync") as info:
        Fsync.parse(text)
    assert text in str(info.value) or text.partition("=")[2] in str(info.value)


class CountingFsync:
    """An fsync that counts calls and takes ``delay`` seconds, like a slow disk."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def __call__(self, fd: int) -> None:
        self.calls += 1
        time.sleep(self.delay)
        os.fsync(fd)


def test_always_groups_concurrent_appenders_and_every_lsn_is_durable(tmp_path: Path) -> None:
    threads, per_thread = 8, 40
    got: list[list[tuple[int, bytes]]] = [[] for _ in range(threads)]
    not_durable: list[int] = []
    with WriteAheadLog(tmp_path, "always", segment_bytes=4096) as wal:
        fsync = CountingFsync(delay=0.002)
        wal._fsync = fsync
        start = threading.Barrier(threads)

        def work(t: int) -> None:
            start.wait()
            for i in range(per_thread):
                payload = f"t{t}-{i}".encode() * 5
                lsn = wal.append(payload)
                if wal.durable_lsn < lsn:  # durable on return under "always"
                    not_durable.append(lsn)
                got[t].append((lsn, payload))

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join(timeout=60)
        wal._check()
        assert not not_durable
        appends = threads * per_thread
        assert wal.syncs <= appends // 2, f"{wal.syncs} fsyncs for {appends} appends"
    acknowledged = sorted(r for rs in got for r in rs)
    assert [lsn for lsn, _ in acknowledged] == list(range(1, threads * per_thread + 1))
    for rs in got:  # each thread's records in its own order
        assert [lsn for lsn, _ in rs] == sorted(lsn for lsn, _ in rs)
    assert list(read_log(tmp_path)) == acknowledged


def test_interval_policy_waits_for_the_flush_that_covers_the_record(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "interval=20ms") as wal:
        fsync = CountingFsync()
        wal._fsync = fsync
        lsn = wal.append(b"x")
        before = fsync.calls
        wal.wait_durable(lsn, timeout=5)
        assert fsync.calls > before and wal.durable_lsn >= lsn
        with pytest.raises(ValueError, match="lsn 9"):
            wal.wait_durable(9)


def test_interval_wait_times_out_when_no_flush_comes(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "interval=60s") as wal:
        lsn = wal.append(b"x")
        with pytest.raises(TimeoutError, match="not durable within"):
            wal.wait_durable(lsn, timeout=0.05)
        wal.sync()
        wal.wait_durable(lsn, timeout=0.05)


def test_off_never_fsyncs(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "off", segment_bytes=100) as wal:
        fsync = CountingFsync()
        wal._fsync = fsync
        for p in payloads(20):
            wal.wait_durable(wal.append(p))
        assert fsync.calls == 0 and wal.durable_lsn == 20


# -- damage: each kind of file damage and its documented outcome -----------------------


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))


def _cut(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


RECORD = 50  # payload bytes of each record in the damage tests
SPAN = HSIZE + RECORD


TORN_TAILS = [
    ("cut in last payload", lambda p: _cut(p, p.stat().st_size - 7), "short payload"),
    ("cut in last header", lambda p: _cut(p, p.stat().st_size - RECORD - 5), "short header"),
    ("flip in last payload", lambda p: _flip(p, p.stat().st_size - 3), "checksum"),
    ("zero fill", lambda p: p.write_bytes(p.read_bytes() + bytes(4096)), "zero fill"),
    ("zero header", lambda p: p.write_bytes(p.read_bytes() + bytes(10)), "zero fill"),
]


@pytest.mark.parametrize(("name", "damage", "reason"), TORN_TAILS, ids=[t[0] for t in TORN_TAILS])
def test_torn_tail_is_dropped_with_a_warning_and_cut_on_open(
    tmp_path: Path, name: str, damage: object, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    records = [bytes([i]) * RECORD for i in range(10)]
    fill(tmp_path, records)
    seg = list_segments(tmp_path)[-1]
    damage(seg)  # type: ignore[operator]
    lost = 0 if name.startswith("zero") else 1
    kept = records[: len(records) - lost]
    with caplog.at_level(logging.WARNING):
        assert [p for _, p in read_log(tmp_path)] == kept  # read-only: skipped, not cut
    assert reason in caplog.text
    with WriteAheadLog(tmp_path, "off") as wal:
        assert wal.torn is not None and reason in wal.torn.reason
        assert wal.torn.offset == SPAN * len(kept)
        assert seg.stat().st_size == SPAN * len(kept)  # cut away
        assert wal.append(b"next") == len(kept) + 1
        assert [p for _, p in wal.replay()] == [*kept, b"next"]


MIDDLE = [
    ("flip middle payload", lambda p: _flip(p, SPAN * 3 + HSIZE + 4), 3),
    ("flip middle length", lambda p: _flip(p, SPAN * 5 + 2), 5),
    ("flip middle lsn", lambda p: _flip(p, SPAN * 4 + 6), 4),
    ("flip first magic", lambda p: _flip(p, 0), 0),
]


@pytest.mark.parametrize(("name", "damage", "index"), MIDDLE, ids=[m[0] for m in MIDDLE])
def test_corrupt_record_before_the_end_stops_with_segment_and_offset(
    tmp_path: Path, name: str, damage: object, index: int
) -> None:
    records = [bytes([i]) * RECORD for i in range(10)]
    fill(tmp_path, records)
    seg = list_segments(tmp_path)[-1]
    damage(seg)  # type: ignore[operator]
    got: list[bytes] = []
    with pytest.raises(ValueError, match="corrupt in") as info:
        for _, p in read_log(tmp_path):
            got.append(p)
    assert got == records[:index]  # everything before the damage, nothing after
    assert str(info.value).startswith(f"write-ahead log corrupt in {seg} at byte {SPAN * index}:")
    with pytest.raises(
        ValueError, match="corrupt in"
    ):  # the last segment is read on open: refuse to write
        WriteAheadLog(tmp_path, "off")


def test_refused_open_releases_the_lock(tmp_path: Path) -> None:
    fill(tmp_path, [b"a" * RECORD] * 4)
    _flip(list_segments(tmp_path)[-1], SPAN + 1)
    with pytest.raises(ValueError, match="corrupt in"):
        WriteAheadLog(tmp_path, "off")
    list_segments(tmp_path)[-1].unlink()
    with WriteAheadLog(tmp_path, "off") as wal:  # the lock is free again
        assert wal.next_lsn == 1


def _segmented(tmp_path: Path) -> tuple[list[bytes], list[Path]]:
    records = [bytes([i]) * RECORD for i in range(12)]
    fill(tmp_path, records, segment_bytes=SPAN * 3)  # 3 records a segment, 4 segments
    segs = list_segments(tmp_path)
    assert [int(s.stem) for s in segs] == [1, 4, 7, 10]
    return records, segs


@pytest.mark.parametrize(
    ("name", "damage", "yielded"),
    [
        ("flip in an earlier segment's last record", lambda s: _flip(s[1], SPAN * 2 + 30), 5),
        ("cut an earlier segment", lambda s: _cut(s[1], SPAN * 2 + 10), 5),
        ("cut an earlier segment at a record end", lambda s: _cut(s[1], SPAN * 2), 5),
        ("delete a middle segment", lambda s: s[2].unlink(), 6),
        ("delete the first segment", lambda s: s[0].unlink(), 0),
    ],
)
def test_damage_in_an_earlier_segment_stops_replay(
    tmp_path: Path, name: str, damage: object, yielded: int
) -> None:
    records, segs = _segmented(tmp_path)
    damage(segs)  # type: ignore[operator]
    with WriteAheadLog(tmp_path, "off", segment_bytes=SPAN * 3) as wal:  # last segment fine
        got: list[bytes] = []
        with pytest.raises(ValueError, match="corrupt in") as info:
            for _, p in wal.replay():
                got.append(p)
        assert got == records[:yielded]
        assert f"corrupt in {tmp_path}" in str(info.value)


def test_replay_after_a_deleted_covered_segment_works(tmp_path: Path) -> None:
    records, segs = _segmented(tmp_path)
    segs[0].unlink()  # records 1..3, covered by a snapshot at lsn 3
    assert [p for _, p in read_log(tmp_path, after=3)] == records[3:]
    assert [p for _, p in read_log(tmp_path, after=5)] == records[5:]


@pytest.mark.parametrize(("before", "left"), [(1, 4), (4, 3), (6, 3), (7, 2), (13, 1)])
def test_truncate_before_deletes_only_wholly_covered_segments(
    tmp_path: Path, before: int, left: int
) -> None:
    records, _ = _segmented(tmp_path)
    with WriteAheadLog(tmp_path, "off", segment_bytes=SPAN * 3) as wal:
        assert wal.truncate_before(before) == 4 - left
        assert len(list_segments(tmp_path)) == left
        first = int(list_segments(tmp_path)[0].stem)
        assert first <= before or left == 1
        assert [p for _, p in wal.replay(after=before - 1)] == records[before - 1 :]
        wal._check()


# -- disk trouble ---------------------------------------------------------------------


class FailingWrites:
    """A writev that writes ``partial`` bytes of the record, then fails with ``code``."""

    def __init__(self, code: int, partial: int) -> None:
        self.code = code
        self.partial = partial
        self.failed = 0

    def __call__(self, fd: int, parts: object) -> int:
        data = b"".join(bytes(p) for p in parts)  # type: ignore[attr-defined]
        os.write(fd, data[: self.partial])
        self.failed += 1
        raise OSError(self.code, os.strerror(self.code))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO])
@pytest.mark.parametrize("partial", [0, 5, HSIZE + 3])
def test_failed_write_raises_log_unavailable_and_the_log_recovers(
    tmp_path: Path, code: int, partial: int
) -> None:
    with WriteAheadLog(tmp_path, "always") as wal:
        assert wal.append(b"one") == 1
        real = wal._writev
        wal._writev = FailingWrites(code, partial)
        for _ in range(3):
            with pytest.raises(OSError) as info:
                wal.append(b"lost")
            assert info.value.errno == code and os.strerror(code) in str(info.value)
        wal._writev = real  # space returns
        assert wal.append(b"two") == 2
        wal._check()
    assert list(read_log(tmp_path)) == [(1, b"one"), (2, b"two")]


def test_failed_fsync_fails_its_waiters_and_the_log_goes_on(tmp_path: Path) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with WriteAheadLog(tmp_path, "always") as wal:
        assert wal.append(b"one") == 1
        wal._fsync = broken
        with pytest.raises(OSError, match="fsync"):
            wal.append(b"unsure")
        wal._fsync = os.fsync
        assert wal.append(b"two") == 3  # in a new segment
        with pytest.raises(OSError):
            wal.wait_durable(2)  # never acknowledged
        assert len(wal.segments()) == 2
    assert [p for _, p in read_log(tmp_path)] == [b"one", b"unsure", b"two"]


def test_closed_log_refuses_appends_and_close_twice_is_safe(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, "interval=10ms")
    wal.append(b"a")
    wal.close()
    wal.close()
    with pytest.raises(ValueError, match="closed"):
        wal.append(b"b")


# -- lock -----------------------------------------------------------------------------


def test_second_open_in_this_process_is_refused(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "off"), pytest.raises(BlockingIOError, match=str(tmp_path)):
        WriteAheadLog(tmp_path, "off")
    with WriteAheadLog(tmp_path, "off"):
        pass  # released on close


def test_second_process_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from infertrace.engine.wal import WriteAheadLog\n"
        "try:\n"
        f"    WriteAheadLog({str(tmp_path)!r}, 'off')\n"
        "except BlockingIOError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    with WriteAheadLog(tmp_path, "off"):
        held = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    assert held.returncode == 3, held.stderr
    assert "in use" in held.stdout and f"pid {os.getpid()}" in held.stdout
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert free.returncode == 0, free.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segment_bytes": 10}, "segment_bytes"),
        ({"start_lsn": 0}, "start_lsn"),
        ({"fsync": "never"}, "never"),
    ],
)
def test_bad_arguments_name_the_value(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WriteAheadLog(tmp_path, **kwargs)  # type: ignore[arg-type]


def test_start_lsn_numbers_an_empty_log(tmp_path: Path) -> None:
    with WriteAheadLog(tmp_path, "off", start_lsn=100) as wal:
        assert wal.append(b"x") == 100
    with WriteAheadLog(tmp_path, "off", start_lsn=100) as wal:
        assert wal.append(b"y") == 101
    with pytest.raises(ValueError, match="expected 500"):
        WriteAheadLog(tmp_path, "off", start_lsn=500)


# -- inspection (for the verify / inspect tools) --------------------------------------


def test_inspect_a_healthy_log(tmp_path: Path) -> None:
    records, segs = _segmented(tmp_path)
    report = inspect_log(tmp_path)
    assert report.ok and report.torn is None and report.damage is None
    assert (report.segments, report.records) == (len(segs), len(records))
    assert (report.first_lsn, report.last_lsn) == (1, len(records))
    assert report.bytes == sum(p.stat().st_size for p in segs) == SPAN * len(records)
    (tmp_path / "empty").mkdir()
    assert inspect_log(tmp_path / "empty") == LogReport(0, 0, None, None, 0, None, None)


@pytest.mark.parametrize(
    ("damage", "records", "where", "reason"),
    [
        (lambda s: _cut(s[3], SPAN * 2 + 9), 11, (3, SPAN * 2), "short header"),
        (lambda s: _flip(s[1], SPAN + 30), 4, (1, SPAN), "checksum"),
        (lambda s: s[2].unlink(), 6, (2, 0), "starts at lsn 10, expected 7"),
    ],
    ids=["torn tail", "flip in an earlier segment", "missing segment"],
)
def test_inspect_reports_a_torn_tail_or_the_first_damage(
    tmp_path: Path, damage: object, records: int, where: tuple[int, int], reason: str
) -> None:
    _, segs = _segmented(tmp_path)
    damage(segs)  # type: ignore[operator]
    report = inspect_log(tmp_path)
    assert report.records == records and report.last_lsn == records
    found = report.torn if report.ok else report.damage
    assert found is not None and reason in found.reason
    seg_index, offset = where
    expected_seg = segs[seg_index] if seg_index != 2 else segs[3]
    assert (found.segment, found.offset) == (expected_seg, offset)
    assert report.ok == (report.torn is not None)


def test_interval_hammer_every_waited_record_is_durable_and_replays(tmp_path: Path) -> None:
    threads, per_thread = 8, 25
    got: list[tuple[int, bytes]] = []
    late: list[int] = []
    lock = threading.Lock()
    with WriteAheadLog(tmp_path, "interval=5ms", segment_bytes=2048) as wal:

        def work(t: int) -> None:
            for i in range(per_thread):
                payload = f"{t}:{i}".encode()
                lsn = wal.append(payload)
                wal.wait_durable(lsn, timeout=30)
                if wal.durable_lsn < lsn:
                    late.append(lsn)
                with lock:
                    got.append((lsn, payload))

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join(timeout=60)
        wal._check()
    assert not late and len(got) == threads * per_thread
    assert list(read_log(tmp_path)) == sorted(got)
