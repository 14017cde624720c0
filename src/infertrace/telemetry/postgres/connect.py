"""The first connection of a command or a store: fail fast, say where, never the password."""

from __future__ import annotations

from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


def connect(dsn: str, timeout: float = 10.0) -> Conn:
    """One autocommit connection, or psycopg's own error (it names host, database, cause).

    No retries: a database that does not exist, a wrong password or an unreachable
    host is an answer now, not after a pool has tried for ``timeout`` seconds.
    """
    return psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, round(timeout)))


def where(conn: Conn) -> str:
    """``database <name> on <host>:<port> as <user>``, from the live connection."""
    info = conn.info
    return f"database {info.dbname} on {info.host}:{info.port} as {info.user}"
