"""``infertrace db``: schema commands for the PostgreSQL store.

A click group over the PostgreSQL store's migration, conversion and extension
helpers (:mod:`infertrace.telemetry.postgres`); the store itself never imports
the CLI.

Exit codes: 0 success; 1 an error (cannot connect, migration failed, a layout
flag that contradicts the database); 2 a usage error; ``db status`` exits 3 when
the schema is not ready for this InferTrace (not migrated, behind or ahead).
"""

from __future__ import annotations

import os

import click
import psycopg

from infertrace.telemetry.postgres import extension
from infertrace.telemetry.postgres.connect import connect, where
from infertrace.telemetry.postgres.convert import check, convert_to_hypertables
from infertrace.telemetry.postgres.migrate import (
    CONVERT_HINT,
    MigrationError,
    layout_note,
    migrate,
    schema_state,
)
from infertrace.telemetry.postgres.schema import LATEST

NOT_READY = 3
"""``db status`` exit code: the schema is missing, behind or ahead of this InferTrace."""

LAYOUT_NAMES = {"partitioned": "native day partitions", "timescaledb": "TimescaleDB hypertables"}


@click.group("db")
def db() -> None:
    """Create, upgrade and inspect the PostgreSQL schema."""


def _dsn(dsn: str | None) -> str:
    value = dsn or os.environ.get("INFERTRACE_DSN")
    if not value:
        raise click.UsageError("give --dsn or set INFERTRACE_DSN")
    return value


_DSN_HELP = "PostgreSQL connection string (default: $INFERTRACE_DSN)."


@db.command("migrate")
@click.option("--dsn", help=_DSN_HELP)
@click.option(
    "--timescale/--no-timescale",
    default=None,
    help="Require or refuse TimescaleDB (default: use it when the server can).",
)
def migrate_command(dsn: str | None, timescale: bool | None) -> None:
    """Create or upgrade the schema; safe to run again and from several processes.

    Prints one line saying what was found of TimescaleDB and which layout was
    chosen (at the first run) or is recorded (later runs).
    """
    try:
        with connect(_dsn(dsn)) as conn:
            server = where(conn)
            result = migrate(conn, use_timescale=timescale)
    except (psycopg.Error, MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    applied = ", ".join(map(str, result.applied)) or "none (already up to date)"
    click.echo(result.note)
    click.echo(f"schema version {result.version} ({result.layout}), {server}; applied: {applied}")


@db.command("status")
@click.option("--dsn", help=_DSN_HELP)
def status_command(dsn: str | None) -> None:
    """Print the schema version, storage layout and why; exit 3 unless ready."""
    try:
        with connect(_dsn(dsn)) as conn:
            server = where(conn)
            state = schema_state(conn)
            note = layout_note(conn)
            now = extension.decide(extension.read_facts(conn), None)
    except psycopg.Error as exc:
        raise click.ClickException(str(exc)) from exc
    if state is None:
        click.echo(f"not migrated ({server}): run `infertrace db migrate`")
        click.echo(f"a migration now would choose: {now.line}")
        raise click.exceptions.Exit(NOT_READY)
    layout, version = state
    click.echo(f"schema version {version} ({LAYOUT_NAMES.get(layout, layout)}), {server}")
    click.echo(f"chosen at the first migration: {note or 'layout recorded without a reason'}")
    if layout == "partitioned" and now.use:
        click.echo(f"TimescaleDB is usable now ({now.reason}): {CONVERT_HINT}")
    if version < LATEST:
        click.echo(f"this InferTrace needs schema version {LATEST}: run `infertrace db migrate`")
        raise click.exceptions.Exit(NOT_READY)
    if version > LATEST:
        click.echo(f"schema version {version} is newer than this InferTrace ({LATEST})")
        raise click.exceptions.Exit(NOT_READY)


@db.command("convert-to-hypertables")
@click.option("--dsn", help=_DSN_HELP)
@click.option("--yes", is_flag=True, help="Convert (without it: only check and say what it does).")
def convert_command(dsn: str | None, yes: bool) -> None:
    """Move a database set up with native day partitions to TimescaleDB hypertables.

    One transaction: each table is locked, copied into a hypertable and its
    partitions dropped; a failure changes nothing. Stop every collector on the
    database first.
    """
    try:
        with connect(_dsn(dsn)) as conn:
            server = where(conn)
            if not yes:
                decision = check(conn)
                click.echo(f"ready to convert {server}: {decision.line}")
                click.echo(
                    "stop every collector on this database, then run again with --yes"
                    " (the tables are locked while their rows are copied)"
                )
                return
            result = convert_to_hypertables(conn)
    except (psycopg.Error, MigrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.note)
    moved = ", ".join(f"{n:,} {table}" for table, n in result.rows.items())
    click.echo(f"converted {server}: {moved}")
