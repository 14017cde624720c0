"""PostgreSQL fixtures: one server per test session, one fresh schema per test.

The server is ``INFERTRACE_TEST_DSN`` when set, otherwise a throwaway cluster
(initdb in a temp dir, free port, ``runuser -u postgres`` as root), removed at
the end of the session, also after failures. Tests that need PostgreSQL skip
with the reason when neither works, and fail instead when
``INFERTRACE_REQUIRE_POSTGRES=1`` (CI sets it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from infertrace.telemetry.postgres.cluster import FAST_SETTINGS, ClusterError, ThrowawayCluster
from tests.pg_schema import fresh_schema


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip (or, when CI requires PostgreSQL, fail) with ``reason``."""
    if os.environ.get("INFERTRACE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The DSN of a PostgreSQL 15 server for this test session."""
    import psycopg

    dsn = os.environ.get("INFERTRACE_TEST_DSN")
    if dsn:
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
        except psycopg.Error as exc:
            postgres_unavailable(f"INFERTRACE_TEST_DSN does not connect: {exc}")
        yield dsn
        return
    with started_cluster(FAST_SETTINGS) as cluster:
        yield cluster.dsn


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema, dropped after the test."""
    with fresh_schema(pg_server) as dsn:
        yield dsn


@contextmanager
def started_cluster(settings: dict[str, str]) -> Iterator[ThrowawayCluster]:
    """A running throwaway cluster with ``settings``, destroyed afterwards; skips (or,
    in CI, fails) when PostgreSQL cannot be had."""
    try:
        cluster = ThrowawayCluster(settings=settings)
    except ClusterError as exc:
        postgres_unavailable(str(exc))
    try:
        try:
            cluster.start()
        except (ClusterError, OSError) as exc:
            postgres_unavailable(f"throwaway cluster did not start: {exc}")
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def own_cluster() -> Iterator[ThrowawayCluster]:
    """A private server the test may stop and start (commits are synchronous)."""
    with started_cluster({"fsync": "off", "full_page_writes": "off"}) as cluster:
        yield cluster
