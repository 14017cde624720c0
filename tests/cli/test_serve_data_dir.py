"""``serve --data-dir``: settings, and real processes restarted on one data directory."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.config import ConfigError, Settings
from infertrace.engine import snapfile
from infertrace.testing import ServedProcess
from infertrace.workload import Workload

ENV = {
    "INFERTRACE_DATA_DIR": ("data_dir", "/var/lib/x", "/var/lib/x"),
    "INFERTRACE_NO_PERSIST": ("no_persist", "yes", True),
    "INFERTRACE_FSYNC": ("fsync", "always", "always"),
    "INFERTRACE_SNAPSHOT_INTERVAL": ("snapshot_interval", "2m", 120.0),
    "INFERTRACE_SNAPSHOT_LOG_BYTES": ("snapshot_log_bytes", "64MiB", 64 * 2**20),
    "INFERTRACE_MOVE_DAMAGED_ASIDE": ("move_damaged_aside", "1", True),
}


def test_defaults() -> None:
    s = Settings()
    assert (s.data_dir, s.no_persist, s.fsync) == (None, False, "interval=100ms")
    assert (s.snapshot_interval, s.snapshot_log_bytes) == (300.0, 256 * 2**20)
    assert s.persist_dir is None and not s.move_damaged_aside


@pytest.mark.parametrize(("variable", "case"), ENV.items())
def test_each_setting_has_its_variable(variable: str, case: tuple[str, str, Any]) -> None:
    field, raw, value = case
    assert getattr(Settings.from_env({variable: raw}), field) == value


@pytest.mark.parametrize(
    ("data_dir", "no_persist", "expect"),
    [(None, False, None), ("/d", False, "/d"), ("/d", True, None), (None, True, None)],
)
def test_no_persist_wins_over_a_data_dir(
    data_dir: str | None, no_persist: bool, expect: str | None
) -> None:
    assert Settings(data_dir=data_dir, no_persist=no_persist).persist_dir == expect


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("INFERTRACE_FSYNC", "sometimes"),
        ("INFERTRACE_FSYNC", "interval=soon"),
        ("INFERTRACE_SNAPSHOT_INTERVAL", "0"),
        ("INFERTRACE_SNAPSHOT_LOG_BYTES", "lots"),
        ("INFERTRACE_NO_PERSIST", "perhaps"),
    ],
)
def test_bad_values_name_the_variable_and_value(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=variable) as caught:
        Settings.from_env({variable: raw})
    assert raw in str(caught.value)


def test_flags_are_documented_and_a_bad_policy_is_a_usage_error() -> None:
    runner = CliRunner()
    help_text = runner.invoke(main, ["serve", "--help"]).output
    for flag in ("--data-dir", "--no-persist", "--fsync", "--snapshot-interval"):
        assert flag in help_text
    assert "INFERTRACE_SNAPSHOT_LOG_BYTES" in help_text
    result = runner.invoke(main, ["serve", "--fsync", "sometimes"])
    assert result.exit_code == 2 and "'sometimes'" in result.output


def _send(url: str) -> None:
    """Spans, logs and points shaped like the demo's, timed inside the accepted window."""
    w = Workload(seed=11, start_ns=time.time_ns() - 3600 * 10**9)
    bodies = {
        "/v1/traces": encode_spans(w.spans(300)).SerializeToString(),
        "/v1/logs": encode_logs(w.logs(200)).SerializeToString(),
        "/v1/metrics": encode_metrics(w.metrics(100)).SerializeToString(),
    }
    with httpx.Client(timeout=30) as client:
        for path, body in bodies.items():
            answer = client.post(
                url + path,
                content=body,
                headers={"Content-Type": "application/x-protobuf"},
            )
            assert answer.status_code == 200, answer.text


def _held(url: str) -> dict[str, Any]:
    """Everything the query API answers about the stored data, to compare across restarts."""
    with httpx.Client(timeout=30) as client:
        out = {}
        for what in ("spans", "logs", "metrics"):
            answer = client.get(f"{url}/api/{what}", params={"limit": 1000})
            assert answer.status_code == 200, answer.text
            out[what] = answer.json()
        stats = client.get(f"{url}/api/stats").json()
        out["stats"] = {k: stats[k]["count"] for k in ("spans", "logs", "metrics")}
        return out


def _serve(data_dir: Path, *extra: str) -> ServedProcess:
    return ServedProcess("--data-dir", str(data_dir), *extra, grace=60)


@pytest.mark.parametrize("fsync", ["always", "interval=50ms"])
def test_restart_keeps_spans_logs_and_points(tmp_path: Path, fsync: str) -> None:
    with _serve(tmp_path, "--fsync", fsync) as first:
        assert f"Data dir   {tmp_path}" in first.banner and f"fsync {fsync}" in first.banner
        _send(first.url)
        before = _held(first.url)
        assert before["stats"] == {"spans": 300, "logs": 200, "metrics": 100}
        samples = httpx.get(first.url + "/metrics").text
        assert "infertrace_datadir_refusing 0.0" in samples
        assert "infertrace_datadir_log_bytes " in samples
        assert first.stop() == 0
    assert len(snapfile.list_snapshots(tmp_path)) == 1  # the clean shutdown's snapshot
    with _serve(tmp_path) as second:
        assert "300 spans, 200 logs, 100 points" in second.banner
        assert "+ 0 log records" in second.banner  # everything was in the final snapshot
        assert _held(second.url) == before


def test_killed_server_replays_what_it_acknowledged(tmp_path: Path) -> None:
    first = _serve(tmp_path, "--fsync", "always")
    _send(first.url)
    before = _held(first.url)
    first.kill()  # SIGKILL: no final snapshot, the log has it all
    assert not snapfile.list_snapshots(tmp_path)
    with _serve(tmp_path) as second:
        replayed = re.search(r"from no snapshot \+ ([\d,]+) log records", second.banner)
        assert replayed and int(replayed.group(1).replace(",", "")) >= 3  # + registry changes
        assert _held(second.url) == before


def test_second_server_on_one_data_dir_refuses_naming_the_holder(tmp_path: Path) -> None:
    with _serve(tmp_path) as first:
        with pytest.raises(RuntimeError) as caught:
            _serve(tmp_path)
        text = str(caught.value)
        assert "cannot open the data directory" in text
        assert f"{tmp_path} is in use (lock held by pid {first.proc.pid})" in text
        assert first.alive()


def test_no_persist_keeps_nothing(tmp_path: Path) -> None:
    target = tmp_path / "never"
    with _serve(target, "--no-persist") as served:
        assert "none (--no-persist)" in served.banner
        _send(served.url)
    assert not target.exists()


def test_damage_in_the_log_stops_start_up_until_asked_to_move_it_aside(tmp_path: Path) -> None:
    first = _serve(tmp_path, "--fsync", "always")
    _send(first.url)
    first.kill()
    segment = next((tmp_path / "wal").glob("*.wal"))
    data = bytearray(segment.read_bytes())
    data[30] ^= 0xFF  # the first record's payload, with two records after it
    segment.write_bytes(bytes(data))
    with pytest.raises(RuntimeError) as caught:
        _serve(tmp_path)
    assert f"{segment.name} at byte 0" in str(caught.value)
    assert "--move-damaged-aside" in str(caught.value)
    with _serve(tmp_path, "--move-damaged-aside") as served:
        assert "damaged log segments moved to" in served.banner
        assert "0 spans" in served.banner  # the spans were the damaged first record
    assert [p.name for p in tmp_path.glob("damaged-*/*.wal")] == [segment.name]
    assert os.listdir(tmp_path / "wal")


def test_with_postgres_the_data_dir_keeps_only_what_stays_in_memory(
    tmp_path: Path, pg_dsn: str
) -> None:
    from infertrace.activity.memory import MemoryActivityStore

    with _serve(tmp_path, "--store", "postgres", "--dsn", pg_dsn) as served:
        restored = next(line for line in served.banner.splitlines() if "Restored" in line)
        assert "spans" not in restored and "pods" not in restored
        assert "developers" in restored
        _send(served.url)  # telemetry and pods go to PostgreSQL, not to the log
        assert served.stop() == 0
    (snap,) = snapfile.list_snapshots(tmp_path)
    assert set(snapfile.load(snap).tables) == set(MemoryActivityStore().table_names())
