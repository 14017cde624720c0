"""``infertrace serve --store postgres`` start-up as operators meet it (issue 15).

A bad DSN fails at once with the message ``db migrate`` gives; the banner says
which database (never the password) and why its layout; ``/api/stats`` and
``/metrics`` report PostgreSQL's capacity as unbounded, not 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner
from psycopg.conninfo import make_conninfo

from infertrace.cli.db import db
from infertrace.telemetry.postgres import PostgresStore

SECRET = "s3cret-never-printed"


def serve(dsn: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, COLUMNS="300", INFERTRACE_DSN="")
    cmd = [sys.executable, "-m", "infertrace.cli", "serve", "--store", "postgres", "--dsn", dsn]
    cmd += ["--port", "0", "--grpc-port", "0", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_serve_with_a_database_that_does_not_exist_fails_fast(pg_server: str) -> None:
    dsn = make_conninfo(pg_server, dbname="no_such_db")
    started = time.monotonic()
    proc = serve(dsn)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, out + err
    assert elapsed < 8, f"took {elapsed:.1f}s"  # the pool used to retry for 10 s
    assert err.count('database "no_such_db" does not exist') == 1, err
    assert "pool initialization incomplete" not in err and "Traceback" not in err
    # the same message `db migrate` gives
    migrate = CliRunner().invoke(db, ["migrate", "--dsn", dsn])
    assert migrate.exit_code == 1 and 'database "no_such_db" does not exist' in migrate.output


@pytest.fixture
def served(pg_dsn: str) -> Iterator[tuple[str, str]]:
    """(base URL, banner) of ``serve`` on a fresh schema, with a password in the DSN."""
    proc = serve(make_conninfo(pg_dsn, password=SECRET))  # trust auth ignores it
    assert proc.stdout is not None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl+C"):
                break
        banner = "".join(lines)
        url = re.search(r"OTLP/HTTP\s+(http://127\.0\.0\.1:\d+)", banner)
        assert url, banner + (proc.stderr.read() if proc.stderr else "")
        yield url.group(1), banner
    finally:
        proc.kill()
        proc.communicate(timeout=10)  # also closes the pipes


def test_banner_stats_and_metrics(served: tuple[str, str], pg_dsn: str) -> None:
    url, banner = served
    host = re.search(r"host=(\S+)", pg_dsn)
    assert host
    assert f"store: postgres, database postgres on {host.group(1)}:" in banner
    assert "as postgres" in banner and SECRET not in banner
    assert re.search(
        r"Layout\s+TimescaleDB: not installed on this server: using native day partitions", banner
    ), banner
    stats = httpx.get(f"{url}/api/stats", timeout=10).json()
    assert [stats[s]["capacity"] for s in ("spans", "logs", "metrics")] == [None, None, None]
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'infertrace_store_records{signal="spans"} 0.0' in metrics
    assert "infertrace_store_capacity{" not in metrics  # unbounded: no sample, not 0


def test_store_reports_where_and_why(pg_dsn: str) -> None:
    with PostgresStore(make_conninfo(pg_dsn, password=SECRET)) as store:
        assert store.server.startswith("database postgres on ") and SECRET not in store.server
        assert store.layout_note.startswith("TimescaleDB: not installed on this server")
        assert store.stats().spans.capacity is None
    with PostgresStore(pg_dsn, run_migrations=False) as again:  # the recorded reason
        assert again.layout_note == store.layout_note


def test_serve_on_an_unmigrated_database_without_migrating_is_a_clean_error(pg_dsn: str) -> None:
    proc = serve(pg_dsn, "--no-migrate")
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 1, out + err
    assert "run `infertrace db migrate`" in err and "Traceback" not in err
