"""``infertrace db migrate`` / ``db status`` against a real server."""

from __future__ import annotations

from click.testing import CliRunner

from infertrace.telemetry.postgres.cli import db


def test_migrate_then_status(pg_dsn: str) -> None:
    runner = CliRunner()
    status = runner.invoke(db, ["status", "--dsn", pg_dsn])
    assert status.exit_code == 0 and "not migrated" in status.output
    first = runner.invoke(db, ["migrate", "--dsn", pg_dsn, "--no-timescale"])
    assert first.exit_code == 0, first.output
    assert "applied: 1" in first.output and "partitioned" in first.output
    again = runner.invoke(db, ["migrate", "--dsn", pg_dsn])
    assert again.exit_code == 0 and "already up to date" in again.output
    assert "schema version 1" in runner.invoke(db, ["status", "--dsn", pg_dsn]).output


def test_migrate_needs_a_dsn() -> None:
    result = CliRunner().invoke(db, ["migrate"], env={"INFERTRACE_DSN": ""})
    assert result.exit_code != 0 and "--dsn" in result.output


def test_unreachable_server_is_a_clean_error() -> None:
    result = CliRunner().invoke(db, ["migrate", "--dsn", "host=127.0.0.1 port=1 user=x"])
    assert result.exit_code == 1 and "Error" in result.output
