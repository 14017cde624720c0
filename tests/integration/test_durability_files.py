"""``infertrace serve --data-dir`` against a damaged data directory, file by file.

One directory is made by three real servers: batch A then SIGTERM (snapshot 1),
batch B then SIGTERM (snapshot 2; the log keeps what follows snapshot 1, for a
fallback), batch C then SIGKILL (C only in the log). Each case damages a copy and
restarts on it, checking the behaviour the durability section documents:

- a torn log tail is cut with a warning; everything before it is there;
- damage in the middle of the log stops start-up with a message naming the
  segment and offset (acknowledged records may follow it);
- a damaged or incomplete newest snapshot (a flipped bit, a deleted file, a
  deleted manifest) is refused with a warning and the previous one is used,
  with the log after it: nothing is lost;
- no usable snapshot, or a log deleted under a snapshot, refuses start-up.

And a clean shutdown (SIGTERM) writes a snapshot covering the whole log, so the
next start replays nothing. Expected contents are what the test sent.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.durable_senders import ENCODERS, Http, Key, batch, identity, stored

from infertrace.engine.walformat import HEADER, list_segments, scan_segment
from infertrace.testing import ServedProcess
from infertrace.workload import Workload


def send(url: str, service: str, seed: int) -> dict[Key, Counter[str]]:
    """One acknowledged batch of each signal under ``service``; what was sent."""
    http = Http(url)
    sent: dict[Key, Counter[str]] = {}
    w = Workload(seed=seed, start_ns=time.time_ns() - 600 * 10**9, rate=500)
    try:
        for signal, records in batch(w, service).items():
            answer = http.send(signal, ENCODERS[signal](records))
            assert answer is not None, f"{signal} of {service} not answered"
            sent[(signal, service)] = Counter(identity(signal, r) for r in records)
    finally:
        http.close()
    return sent


def restored_line(banner: str) -> str:
    return next(line for line in banner.splitlines() if "Restored" in line)


@dataclass
class Base:
    root: Path
    sent: dict[Key, Counter[str]]
    snapshots: list[Path]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("durable") / "data"
    sent: dict[Key, Counter[str]] = {}
    for service, seed, crash in (("a", 1, False), ("b", 2, False), ("c", 3, True)):
        server = ServedProcess("--data-dir", str(root), "--fsync", "always")
        try:
            sent.update(send(server.url, service, seed))
        finally:
            if crash:
                server.kill()
            else:
                assert server.stop() == 0, server.stderr()
    snapshots = sorted(root.glob("snap-*"))
    assert len(snapshots) == 2
    return Base(root, sent, snapshots)


@pytest.fixture
def copy(base: Base, tmp_path: Path) -> Iterator[Base]:
    root = tmp_path / "data"
    shutil.copytree(base.root, root)
    yield Base(root, base.sent, [root / p.name for p in base.snapshots])


def _records_after(root: Path, lsn: int) -> list[tuple[Path, int, int]]:
    """(segment, byte offset, payload length) of every log record above ``lsn``."""
    out = []
    for path in list_segments(root / "wal"):
        offset = 0
        for rec_lsn, payload in scan_segment(path, final=True).records:
            if rec_lsn > lsn:
                out.append((path, offset, len(payload)))
            offset += HEADER.size + len(payload)
    return out


def _snapshot_lsn(snap: Path) -> int:
    return int(json.loads((snap / "manifest.json").read_text())["lsn"])


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x20
    path.write_bytes(bytes(data))


def tear_tail(b: Base) -> None:
    last = list_segments(b.root / "wal")[-1]
    os.truncate(last, last.stat().st_size - 5)


def flip_last_record(b: Base) -> None:
    segment, offset, length = _records_after(b.root, 0)[-1]
    flip(segment, offset + HEADER.size + length - 1)


def flip_log_middle(b: Base) -> None:
    after = _records_after(b.root, _snapshot_lsn(b.snapshots[-1]))
    assert len(after) >= 2, "damage in the middle needs records after it"
    segment, offset, _ = after[0]
    flip(segment, offset + HEADER.size + 1)


def newest_file(b: Base) -> Path:
    return b.snapshots[-1] / "spans.rows.arrow"


def _delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink()


def lose_both_snapshots(b: Base) -> None:
    for snap in b.snapshots:
        (snap / "manifest.json").unlink()


STARTS: dict[str, tuple[Callable[[Base], object], list[str], bool]] = {
    # damage, phrases in the banner and standard error, whether every batch is there
    "intact": (lambda b: None, ["snap-0000000002"], True),
    "torn log tail": (tear_tail, ["torn tail", "dropped"], False),
    "bit flip in the last log record": (
        flip_last_record,
        ["torn tail", "payload checksum mismatch in the last record"],
        False,
    ),
    "truncated newest snapshot file": (
        lambda b: os.truncate(newest_file(b), newest_file(b).stat().st_size // 2),
        ["refusing snapshot", "spans.rows.arrow has", "snap-0000000001"],
        True,
    ),
    "bit flip in the newest snapshot": (
        lambda b: flip(newest_file(b), 64),
        ["refusing snapshot", "sha256", "snap-0000000001", "refused 1 newer snapshot"],
        True,
    ),
    "newest snapshot file deleted": (
        lambda b: newest_file(b).unlink(),
        ["refusing snapshot", "spans.rows.arrow is missing", "snap-0000000001"],
        True,
    ),
    "newest manifest deleted": (
        lambda b: (b.snapshots[-1] / "manifest.json").unlink(),
        ["refusing snapshot", "manifest.json is missing", "snap-0000000001"],
        True,
    ),
}


@pytest.mark.parametrize("case", STARTS.values(), ids=STARTS.keys())
def test_start_up_recovers_as_documented(
    copy: Base, case: tuple[Callable[[Base], object], list[str], bool]
) -> None:
    damage, phrases, whole = case
    damage(copy)
    with ServedProcess("--data-dir", str(copy.root)) as server:
        said = server.banner + server.stderr()
        held = stored(server.url)
    for phrase in phrases:
        assert phrase in said, f"{phrase!r} not in:\n{said}"
    acked_before_tail = {k: v for k, v in copy.sent.items() if k[1] in ("a", "b")}
    for key, records in copy.sent.items():
        if whole or key in acked_before_tail:
            assert held.get(key) == records, f"{key} not held exactly once"
        else:  # batch C: the torn record may be one of its requests, whole or gone
            assert held.get(key) in (None, records), f"{key} held in part"
    assert set(held) <= set(copy.sent)


REFUSALS: dict[str, tuple[Callable[[Base], object], list[str]]] = {
    "bit flip in the log middle": (
        flip_log_middle,
        ["corrupt", "00000000000000000001.wal", "at byte", "--move-damaged-aside"],
    ),
    "log deleted": (
        lambda b: _delete(list_segments(b.root / "wal")),
        ["holds no log segments", "--move-damaged-aside"],
    ),
    "every snapshot unusable": (lose_both_snapshots, ["no usable snapshot", "manifest.json"]),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_start_up_refuses_what_would_lose_acknowledged_data(
    copy: Base, case: tuple[Callable[[Base], object], list[str]]
) -> None:
    damage, phrases = case
    damage(copy)
    before = sorted(str(p.relative_to(copy.root)) for p in copy.root.rglob("*"))
    with pytest.raises(RuntimeError, match="did not start") as exc:
        ServedProcess("--data-dir", str(copy.root))
    said = " ".join(str(exc.value).split())
    for phrase in phrases:
        assert phrase in said, f"{phrase!r} not in:\n{said}"
    after = sorted(str(p.relative_to(copy.root)) for p in copy.root.rglob("*"))
    assert after == before, "a refused start changed the data directory"


def test_sigterm_writes_a_snapshot_and_the_restart_replays_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    server = ServedProcess("--data-dir", str(root))
    try:
        sent = send(server.url, "t", 9)
    finally:
        assert server.stop() == 0, server.stderr()
    snap = sorted(root.glob("snap-*"))[-1]
    last_lsn = max(
        (lsn for p in list_segments(root / "wal") for lsn, _ in scan_segment(p, True).records),
        default=0,
    )
    assert last_lsn > 0 and _snapshot_lsn(snap) == last_lsn, "the snapshot misses log records"
    with ServedProcess("--data-dir", str(root)) as again:
        line = restored_line(again.banner)
        held = stored(again.url)
    assert f"snapshot {snap.name} + 0 log records" in line, line
    assert {k: held.get(k) for k in sent} == sent
