"""``infertrace db migrate`` / ``db status`` against a real server: lines and exit codes."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from infertrace.cli.db import NOT_READY, db
from infertrace.telemetry.postgres.schema import LATEST


def test_migrate_then_status(pg_dsn: str) -> None:
    runner = CliRunner()
    status = runner.invoke(db, ["status", "--dsn", pg_dsn])
    assert status.exit_code == NOT_READY and "not migrated" in status.output
    assert "a migration now would choose: TimescaleDB: not installed" in status.output
    first = runner.invoke(db, ["migrate", "--dsn", pg_dsn, "--no-timescale"])
    assert first.exit_code == 0, first.output
    assert "applied: 1" in first.output and "partitioned" in first.output
    # one line saying what was found and what was chosen, then where
    assert first.output.splitlines()[0] == (
        "TimescaleDB: not installed on this server; not wanted: using native day partitions"
    )
    assert "database postgres on " in first.output
    again = runner.invoke(db, ["migrate", "--dsn", pg_dsn])
    assert again.exit_code == 0 and "already up to date" in again.output
    assert again.output.splitlines()[0] == first.output.splitlines()[0]  # the recorded reason
    status = runner.invoke(db, ["status", "--dsn", pg_dsn])
    assert status.exit_code == 0, status.output
    assert f"schema version {LATEST} (native day partitions), database postgres on" in status.output
    assert "chosen at the first migration: TimescaleDB: not installed" in status.output


@pytest.mark.parametrize(
    ("setup", "code", "says"),
    [
        ("", NOT_READY, "not migrated"),
        ("migrated", 0, f"schema version {LATEST}"),
        ("DELETE FROM infertrace_migrations", NOT_READY, "not migrated"),
        (
            "INSERT INTO infertrace_migrations VALUES (99, 'from the future')",
            NOT_READY,
            "newer than this InferTrace",
        ),
    ],
)
def test_status_exit_code_says_whether_the_schema_is_ready(
    pg_dsn: str, setup: str, code: int, says: str
) -> None:
    runner = CliRunner()
    if setup:
        assert runner.invoke(db, ["migrate", "--dsn", pg_dsn]).exit_code == 0
    if setup.startswith(("DELETE", "INSERT")):
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(setup.encode())  # a fixed statement of this test
    status = runner.invoke(db, ["status", "--dsn", pg_dsn])
    assert status.exit_code == code, status.output
    assert says in status.output


@pytest.mark.parametrize(
    ("recorded", "flag", "code", "says"),
    [
        (
            "partitioned",
            "--timescale",
            1,
            "was set up with native day partitions at its first migration:"
            " convert it with `infertrace db convert-to-hypertables`",
        ),
        ("partitioned", "--no-timescale", 0, "already up to date"),
        ("partitioned", None, 0, "already up to date"),
        # the check runs before anything TimescaleDB-specific, so a recorded layout is
        # enough to test the refusal here
        ("timescaledb", "--no-timescale", 1, "was set up with TimescaleDB hypertables"),
    ],
)
def test_a_layout_flag_that_contradicts_the_database_is_an_error(
    pg_dsn: str, recorded: str, flag: str | None, code: int, says: str
) -> None:
    runner = CliRunner()
    if recorded == "partitioned":
        assert runner.invoke(db, ["migrate", "--dsn", pg_dsn]).exit_code == 0
    else:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE infertrace_settings (key text PRIMARY KEY, value text)")
            conn.execute("INSERT INTO infertrace_settings VALUES ('layout', %s)", (recorded,))
    result = runner.invoke(db, ["migrate", "--dsn", pg_dsn, *([flag] if flag else [])])
    assert result.exit_code == code, result.output
    assert says in result.output


def test_timescale_required_on_a_fresh_database_without_it(pg_dsn: str) -> None:
    result = CliRunner().invoke(db, ["migrate", "--dsn", pg_dsn, "--timescale"])
    assert result.exit_code == 1
    assert "TimescaleDB was required (--timescale) but cannot be used" in result.output
    assert "not installed on this server" in result.output
    status = CliRunner().invoke(db, ["status", "--dsn", pg_dsn])
    assert status.exit_code == NOT_READY  # nothing was left behind


def test_migrate_needs_a_dsn() -> None:
    result = CliRunner().invoke(db, ["migrate"], env={"INFERTRACE_DSN": ""})
    assert result.exit_code != 0 and "--dsn" in result.output


@pytest.mark.parametrize("command", ["migrate", "status"])
def test_unreachable_server_is_a_clean_error(command: str) -> None:
    result = CliRunner().invoke(db, [command, "--dsn", "host=127.0.0.1 port=1 user=x"])
    assert result.exit_code == 1 and "Error" in result.output
    assert "Traceback" not in result.output
