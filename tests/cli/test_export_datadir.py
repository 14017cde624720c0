"""``infertrace export --data-dir``: spans exported from a data directory, no server.

Directories are written in process by a :class:`DataDir` over the stores a
server keeps (built as ``cli/offline.py`` builds them), with and without a
final snapshot; the expected rows are the spans the test wrote.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from infertrace.activity.memory import MemoryActivityStore
from infertrace.cli import main
from infertrace.cli.persist import participants
from infertrace.config import Settings
from infertrace.engine.datadir import DataDir
from infertrace.engine.walformat import HEADER, list_segments
from infertrace.model import Span
from infertrace.registry import ThreadSafeRegistry
from infertrace.telemetry.factory import build_store
from infertrace.workload import Workload

WIDE = {"COLUMNS": "250"}


def write_dir(root: Path, snapshot_between: bool, final_snapshot: bool) -> list[Span]:
    """Two batches of spans into a data directory; the spans written."""
    store = build_store(Settings(), purge=False)
    parts = participants([store, ThreadSafeRegistry(), MemoryActivityStore()])
    w = Workload(seed=5, start_ns=time.time_ns() - 600 * 10**9, rate=500)
    first, second = w.spans(300), w.spans(200)
    try:
        data = DataDir(root, parts, fsync="off")
        store.write_batch(first)
        if snapshot_between:
            data.snapshot()
        store.write_batch(second)
        data.close(snapshot=final_snapshot)
    finally:
        store.close()
    return first + second


def export(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["export", *args], env=WIDE)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ids(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return sorted(f"{r['trace_id']}/{r['span_id']}" for r in rows)


def expected(spans: list[Span], service: str | None = None) -> list[str]:
    return sorted(
        f"{s.trace_id.hex()}/{s.span_id.hex()}"
        for s in spans
        if service is None or s.service_name == service
    )


@pytest.mark.parametrize(
    "snapshot_between, final_snapshot",
    [(False, False), (True, False), (True, True), (False, True)],
    ids=["log only", "snapshot + log", "clean shutdown", "final snapshot only"],
)
def test_export_reads_snapshot_and_log(
    tmp_path: Path, snapshot_between: bool, final_snapshot: bool
) -> None:
    root = tmp_path / "data"
    spans = write_dir(root, snapshot_between, final_snapshot)
    before = sorted(p.name for p in (root / "wal").iterdir())
    out = tmp_path / "spans.jsonl"
    code, stdout, stderr = export("--data-dir", str(root), "-o", str(out))
    assert code == 0, stdout + stderr
    assert ids(out) == expected(spans)
    assert f"Wrote {len(spans):,} spans" in stdout
    assert "log records" in stderr  # what was restored, on standard error
    assert sorted(p.name for p in (root / "wal").iterdir()) == before, "export changed the log"


def test_export_filters_as_the_api_does(tmp_path: Path) -> None:
    root = tmp_path / "data"
    spans = write_dir(root, True, False)
    service = sorted({s.service_name for s in spans})[0]
    out = tmp_path / "one.jsonl"
    code, stdout, stderr = export("--data-dir", str(root), "--service", service, "-o", str(out))
    assert code == 0, stdout + stderr
    assert ids(out) == expected(spans, service)
    code, _, stderr = export("--data-dir", str(root), "--since", "soon", "-o", str(out))
    assert code == 2 and "--since" in stderr


def test_export_refuses_a_directory_a_server_holds_naming_its_pid(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dir(root, True, True)
    store = build_store(Settings(), purge=False)
    held = participants([store, ThreadSafeRegistry(), MemoryActivityStore()])
    data = DataDir(root, held, fsync="off")
    try:
        code, _, stderr = export("--data-dir", str(root), "-o", str(tmp_path / "x.jsonl"))
    finally:
        data.close()
        store.close()
    assert code == 1
    assert f"pid {os.getpid()}" in stderr and "--url" in stderr
    assert not (tmp_path / "x.jsonl").exists()


def _damaged(root: Path) -> None:
    """A log whose first record (of several) fails its checksum."""
    write_dir(root, False, False)
    segment = list_segments(root / "wal")[0]
    raw = bytearray(segment.read_bytes())
    raw[HEADER.size + 1] ^= 0x10
    segment.write_bytes(bytes(raw))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda root: root.mkdir(), "holds no snapshot and no log"),
        (lambda root: None, "does not exist"),
        (_damaged, "payload checksum mismatch"),
    ],
    ids=["empty", "missing", "damaged log"],
)
def test_export_refuses_an_empty_or_damaged_directory(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    root = tmp_path / "data"
    make(root)
    out = tmp_path / "x.jsonl"
    code, _, stderr = export("--data-dir", str(root), "-o", str(out))
    assert code == 1
    assert message in stderr and str(root) in stderr
    assert not out.exists()
