"""``infertrace snapshot inspect|verify`` on real data directories, sound and damaged.

Each directory is written by a :class:`DataDir` keeping a pod registry: a
snapshot after the first pods, more pods logged after it, small log segments
so that the log has a middle. Expected counts come from what the test wrote and
from the file names on disk, never from the report under test.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.cli.offline import restored
from infertrace.engine.datadir import DataDir
from infertrace.engine.walformat import HEADER
from infertrace.registry import ServiceInfo, ThreadSafeRegistry

WIDE = {"COLUMNS": "250"}
BEFORE, AFTER = 12, 9
"""Pods saved before the snapshot, and after it (logged only)."""


@dataclass
class Built:
    root: Path
    snapshot_lsn: int
    last_lsn: int

    @property
    def segments(self) -> list[Path]:
        return sorted((self.root / "wal").glob("*.wal"))

    @property
    def newest(self) -> Path:
        return sorted(self.root.glob("snap-*"))[-1]


def build(root: Path) -> Built:
    registry = ThreadSafeRegistry()
    with DataDir(root, [registry], fsync="off", segment_bytes=600) as data:
        for i in range(BEFORE):
            registry.save_service(ServiceInfo("vllm", f"p{i}", port=8000 + i))
        snap = data.snapshot()
        for i in range(AFTER):
            registry.save_service(ServiceInfo("tgi", f"q{i}", port=9000 + i))
        registry.add_subscription("tgi:q0", "vllm")
        data.close(snapshot=False)
    return Built(root, snap.lsn, BEFORE + AFTER + 1)


@pytest.fixture
def built(tmp_path: Path) -> Built:
    made = build(tmp_path / "data")
    assert len(made.segments) >= 3, "the log needs a middle segment"
    return made


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["snapshot", *args], env=WIDE)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def truncate(path: Path, drop: int) -> None:
    os.truncate(path, path.stat().st_size - drop)


def test_inspect_json_counts_what_was_written(built: Built) -> None:
    code, out, _ = run("inspect", "--json", str(built.root))
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] and doc["problems"] == [] and doc["lock_holder_pid"] is None
    newest = doc["snapshots"][-1]
    assert newest["lsn"] == built.snapshot_lsn == BEFORE
    assert newest["tables"]["registry"]["rows"] == BEFORE
    files = {f["name"]: f for f in newest["files"]}
    for name, f in files.items():
        assert f["sha256"] == "ok"
        assert f["bytes"] == (built.newest / name).stat().st_size
    log = doc["log"]
    first = int(built.segments[0].stem)
    assert log["segments"] == len(built.segments)
    assert (log["first_lsn"], log["last_lsn"]) == (first, built.last_lsn)
    assert log["records_per_table"] == {"registry": built.last_lsn - first + 1}
    assert log["bytes"] == sum(p.stat().st_size for p in built.segments)
    assert log["torn_tail"] is None


def test_inspect_prints_tables(built: Built) -> None:
    code, out, _ = run("inspect", str(built.root))
    assert code == 0
    for heading in ("Snapshots", "Snapshot tables", "Log (", "Log records per table"):
        assert heading in out
    assert "registry" in out and "not in use" in out
    assert f"{built.last_lsn:,}" in out
    code, out, _ = run("inspect", "--files", str(built.root))
    assert code == 0
    assert "Snapshot files" in out and "subscriptions" in out and "services" in out


def test_inspect_names_the_pid_holding_the_directory(built: Built) -> None:
    registry = ThreadSafeRegistry()
    with DataDir(built.root, [registry], fsync="off"):
        code, out, _ = run("inspect", str(built.root))
        assert code == 0
        assert f"held by a server (pid {os.getpid()})" in out


Damage = Callable[[Built], object]

DAMAGE: dict[str, tuple[Damage, int, list[str]]] = {
    "sound": (lambda b: None, 0, ["sound"]),
    "torn log tail": (lambda b: truncate(b.segments[-1], 3), 0, ["torn tail", "sound"]),
    "bit flip in the log middle": (
        lambda b: flip(b.segments[1], HEADER.size + 2),
        1,
        ["problem:", "corrupt", "payload checksum mismatch"],
    ),
    "bit flip in a log header": (
        lambda b: flip(b.segments[0], 3),
        1,
        ["problem:", "bad record header"],
    ),
    "deleted log segment in the middle": (
        lambda b: b.segments[1].unlink(),
        1,
        ["problem:", "segment starts at lsn"],
    ),
    "deleted first log segment": (
        lambda b: b.segments[0].unlink(),
        1,
        ["problem:", "are missing"],
    ),
    "bit flip in the newest snapshot": (
        lambda b: flip(b.newest / "registry.services.arrow", 100),
        1,
        ["problem:", "registry.services.arrow sha256 mismatch"],
    ),
    "truncated snapshot file": (
        lambda b: truncate(b.newest / "registry.subscriptions.arrow", 10),
        1,
        ["problem:", "registry.subscriptions.arrow size mismatch"],
    ),
    "deleted snapshot file": (
        lambda b: (b.newest / "registry.services.arrow").unlink(),
        1,
        ["problem:", "registry.services.arrow missing"],
    ),
    "deleted manifest": (
        lambda b: (b.newest / "manifest.json").unlink(),
        1,
        ["problem:", "manifest.json is missing", "no snapshot verifies"],
    ),
    "garbled manifest": (
        lambda b: (b.newest / "manifest.json").write_text("{not json"),
        1,
        ["problem:", "manifest.json is not valid JSON"],
    ),
}


@pytest.mark.parametrize("case", DAMAGE.values(), ids=DAMAGE.keys())
def test_verify_names_each_problem_and_exits_1(
    built: Built, case: tuple[Damage, int, list[str]]
) -> None:
    damage, exit_code, phrases = case
    damage(built)
    code, out, err = run("verify", str(built.root))
    assert code == exit_code, out + err
    for phrase in phrases:
        assert phrase in out + err
    if exit_code:
        assert str(built.root) in err  # each problem names where it is
    code, out, _ = run("verify", "--json", str(built.root))
    assert code == exit_code
    assert json.loads(out)["ok"] is (exit_code == 0)


def test_verify_reports_every_problem_not_only_the_first(built: Built) -> None:
    flip(built.newest / "registry.services.arrow", 100)
    flip(built.segments[1], HEADER.size + 2)
    code, _, err = run("verify", str(built.root))
    assert code == 1
    assert "registry.services.arrow sha256 mismatch" in err
    assert f"{built.segments[1]} at byte 0: payload checksum mismatch" in err


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "holds no snapshot and no log"),
    ],
    ids=["missing", "empty"],
)
def test_verify_refuses_a_directory_that_is_not_one(
    tmp_path: Path, setup: Callable[[Path], None], message: str
) -> None:
    target = tmp_path / "nothing"
    setup(target)
    code, out, err = run("verify", str(target))
    assert code == 1
    assert message in out + err


def _pods(root: Path) -> tuple[list[str], list[str]]:
    """The pod keys and the subscribers of group "vllm" the directory restores."""
    with restored(root) as data:
        keys = [i.key for i in data.registry.get_all_services()]
        return keys, data.registry.get_subscribers("vllm")


WRITTEN = (
    sorted([f"vllm:p{i}" for i in range(BEFORE)] + [f"tgi:q{i}" for i in range(AFTER)]),
    ["tgi:q0"],
)


def test_save_compacts_into_a_snapshot_covering_the_whole_log(built: Built) -> None:
    before = len(built.segments)
    code, out, err = run("save", str(built.root))
    assert code == 0, out + err
    assert "wrote snap-" in out and f"lsn {built.last_lsn}" in out
    doc = json.loads(run("inspect", "--json", str(built.root))[1])
    assert doc["ok"], doc["problems"]
    newest = doc["snapshots"][-1]
    assert newest["lsn"] == built.last_lsn
    assert newest["tables"]["registry"]["rows"] == BEFORE + AFTER
    # two snapshots are kept, the first at lsn 12: the log after it stays for a fallback
    assert len(built.segments) == before
    last = built.segments[-1].name
    assert run("save", str(built.root))[0] == 0
    # now both kept snapshots cover lsn 22: only the segment being written is left
    assert [p.name for p in built.segments] == [last]
    assert _pods(built.root) == WRITTEN


def test_save_cuts_a_torn_tail(built: Built) -> None:
    truncate(built.segments[-1], 3)
    code, out, err = run("save", str(built.root))
    assert code == 0, out + err
    doc = json.loads(run("verify", "--json", str(built.root))[1])
    assert doc["ok"] and doc["log"]["torn_tail"] is None
    assert doc["snapshots"][-1]["lsn"] == built.last_lsn - 1  # the torn record is gone


def test_save_refuses_a_directory_a_server_holds_naming_its_pid(built: Built) -> None:
    before = sorted(p.name for p in built.root.iterdir())
    with DataDir(built.root, [ThreadSafeRegistry()], fsync="off"):
        code, _, err = run("save", str(built.root))
        assert code == 1
        assert f"pid {os.getpid()}" in err and "stop that server first" in err
        assert sorted(p.name for p in built.root.iterdir()) == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: flip(b.segments[1], HEADER.size + 2), "payload checksum mismatch"),
        (lambda b: None, "holds no snapshot and no log"),
    ],
    ids=["log middle", "empty"],
)
def test_save_refuses_damage_and_emptiness_clearly(
    built: Built, tmp_path: Path, damage: Damage, message: str
) -> None:
    target = built.root
    if message.startswith("holds no"):
        target = tmp_path / "empty"
        target.mkdir()
    damage(built)
    code, _, err = run("save", str(target))
    assert code == 1
    assert message in err and str(target) in err
