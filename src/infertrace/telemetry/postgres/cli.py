"""``infertrace db``: schema commands for the PostgreSQL store.

A click group kept beside the store, registered by the main CLI with one line,
so the CLI module does not need to know the store's internals.
"""

from __future__ import annotations

import os

import click
import psycopg

from infertrace.telemetry.postgres.migrate import MigrationError, migrate, schema_state


@click.group("db")
def db() -> None:
    """Create, upgrade and inspect the PostgreSQL schema."""


def _dsn(dsn: str | None) -> str:
    value = dsn or os.environ.get("INFERTRACE_DSN")
    if not value:
        raise click.UsageError("give --dsn or set INFERTRACE_DSN")
    return value


@db.command("migrate")
@click.option("--dsn", help="PostgreSQL connection string (default: $INFERTRACE_DSN).")
@click.option(
    "--timescale/--no-timescale",
    default=None,
    help="Require or refuse TimescaleDB (default: use it when the server offers it).",
)
def migrate_command(dsn: str | None, timescale: bool | None) -> None:
    """Create or upgrade the schema; safe to run again and from several processes."""
    try:
        with psycopg.connect(_dsn(dsn), autocommit=True, connect_timeout=10) as conn:
            result = migrate(conn, use_timescale=timescale)
    except (psycopg.Error, MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    applied = ", ".join(map(str, result.applied)) or "none (already up to date)"
    click.echo(f"schema version {result.version} ({result.layout}); applied: {applied}")


@db.command("status")
@click.option("--dsn", help="PostgreSQL connection string (default: $INFERTRACE_DSN).")
def status_command(dsn: str | None) -> None:
    """Print the schema version and storage layout."""
    try:
        with psycopg.connect(_dsn(dsn), autocommit=True, connect_timeout=10) as conn:
            state = schema_state(conn)
    except psycopg.Error as exc:
        raise click.ClickException(str(exc)) from exc
    if state is None:
        click.echo("not migrated: run `infertrace db migrate`")
    else:
        click.echo(f"schema version {state[1]} ({state[0]})")
