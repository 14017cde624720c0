"""``infertrace snapshot inspect|verify|save DIR``: a data directory from the terminal.

``inspect`` prints what :func:`~infertrace.engine.dirreport.inspect_dir` finds
(snapshots with their tables, files and checksums; the log with its segments,
LSN range, records per table and torn tail) as rich tables, or as JSON with
``--json``. ``verify`` checks every snapshot file's size and sha256 and scans
the whole log: exit 0 when the directory is sound, 1 with one line per
problem. Neither changes anything nor needs the lock, so both work beside a
running server. ``save`` compacts a directory no server holds
(:func:`infertrace.cli.offline.compacted`): it restores every table from the
newest snapshot and the log, writes a fresh snapshot and deletes the log
segments the kept snapshots cover, as a clean shutdown does; a directory a
server holds is refused, naming its pid.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from infertrace.engine.dirreport import DirReport, LogCheck, SnapshotCheck, inspect_dir

DIR_ARGUMENT = click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), metavar="DIR"
)


def _report(directory: Path) -> DirReport:
    try:
        return inspect_dir(directory)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _when(unix_nano: int | None) -> str:
    if unix_nano is None:
        return "-"
    return datetime.fromtimestamp(unix_nano / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _snapshot_doc(snap: SnapshotCheck) -> dict[str, Any]:
    return {
        "path": str(snap.path),
        "seq": snap.seq,
        "lsn": snap.lsn,
        "created_unix_nano": snap.created_unix_nano,
        "created": _when(snap.created_unix_nano),
        "ok": snap.ok,
        "problem": snap.problem,
        "tables": {
            name: {"rows": rows, "bytes": size} for name, (rows, size) in snap.tables().items()
        },
        "files": [
            {
                "name": f.name,
                "table": f.table,
                "part": f.part,
                "bytes": f.bytes,
                "rows": f.rows,
                "sha256": f.state,
            }
            for f in snap.files
        ],
    }


def _log_doc(log: LogCheck) -> dict[str, Any]:
    return {
        "directory": str(log.directory),
        "segments": log.segments,
        "bytes": log.bytes,
        "first_lsn": log.first_lsn,
        "last_lsn": log.last_lsn,
        "records": sum(log.records.values()),
        "records_per_table": dict(sorted(log.records.items())),
        "torn_tail": str(log.torn) if log.torn else None,
        "problem": log.problem,
    }


def report_doc(report: DirReport) -> dict[str, Any]:
    """The report as JSON-able data (``--json``)."""
    return {
        "directory": str(report.root),
        "lock_holder_pid": report.lock_holder,
        "snapshots": [_snapshot_doc(s) for s in report.snapshots],
        "log": _log_doc(report.log),
        "ok": report.ok,
        "problems": list(report.problems),
    }


def _state(ok: bool, text: str) -> str:
    return "[green]ok[/green]" if ok else f"[red]{escape(text)}[/red]"


def snapshot_tables(report: DirReport, per_file: bool = False) -> list[Table]:
    """The rich tables ``inspect`` prints: snapshots, their tables (or every file with
    ``per_file``), the log and its records per table."""
    snaps = Table(title="Snapshots", title_justify="left")
    for col in ("seq", "lsn", "created (UTC)", "files", "bytes", "state"):
        snaps.add_column(
            col, justify="right" if col in ("seq", "lsn", "files", "bytes") else "left"
        )
    tables = Table(title="Snapshot tables", title_justify="left")
    for col in ("seq", "table", "rows", "files", "bytes", "sha256"):
        tables.add_column(col, justify="left" if col in ("table", "sha256") else "right")
    files = Table(title="Snapshot files", title_justify="left")
    for col in ("seq", "table", "part", "rows", "bytes", "sha256"):
        files.add_column(col, justify="right" if col in ("seq", "rows", "bytes") else "left")
    for snap in report.snapshots:
        counts = snap.tables()
        snaps.add_row(
            str(snap.seq),
            "-" if snap.lsn is None else f"{snap.lsn:,}",
            _when(snap.created_unix_nano),
            str(len(snap.files)),
            decimal(sum(size for _, size in counts.values())),
            _state(snap.ok, snap.problem or ""),
        )
        for name, (rows, size) in counts.items():
            mine = [f for f in snap.files if f.table == name]
            bad = [f"{f.part} {f.state}" for f in mine if f.state != "ok"]
            tables.add_row(
                str(snap.seq),
                escape(name),
                "?" if rows is None else f"{rows:,}",
                str(len(mine)),
                decimal(size),
                _state(not bad, "; ".join(bad)),
            )
        for f in snap.files:
            files.add_row(
                str(snap.seq),
                escape(f.table),
                escape(f.part),
                "-" if f.rows is None else f"{f.rows:,}",
                "missing" if f.bytes is None else decimal(f.bytes),
                _state(f.state == "ok", f.state),
            )
    log = report.log
    logt = Table(title=f"Log ({escape(str(log.directory))})", title_justify="left")
    for col in ("segments", "first lsn", "last lsn", "records", "bytes", "torn tail", "state"):
        logt.add_column(col)
    logt.add_row(
        str(log.segments),
        "-" if log.first_lsn is None else f"{log.first_lsn:,}",
        "-" if log.last_lsn is None else f"{log.last_lsn:,}",
        f"{sum(log.records.values()):,}",
        decimal(log.bytes),
        "-" if log.torn is None else f"{log.torn.dropped} bytes at {log.torn.offset}",
        _state(log.problem is None, log.problem or ""),
    )
    per_table = Table(title="Log records per table", title_justify="left")
    per_table.add_column("table")
    per_table.add_column("records", justify="right")
    for name, count in sorted(log.records.items()):
        per_table.add_row(escape(name), f"{count:,}")
    return [snaps, files if per_file else tables, logt, per_table]


@click.group()
def snapshot() -> None:
    """Inspect, verify or compact a data directory (serve --data-dir)."""


@snapshot.command()
@DIR_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--files", "per_file", is_flag=True, help="List every snapshot file.")
def inspect(directory: Path, as_json: bool, per_file: bool) -> None:
    """Snapshots (tables, rows, bytes, checksums) and the log (segments, LSNs, records)."""
    report = _report(directory)
    if as_json:
        click.echo(json.dumps(report_doc(report), indent=2))
        return
    out = Console()
    holder = report.lock_holder
    out.print(
        f"data directory {escape(str(report.root))}: "
        + (f"held by a server (pid {holder})" if holder else "not in use"),
        highlight=False,
    )
    for table in snapshot_tables(report, per_file):
        out.print(table)
    for problem in report.problems:
        out.print(f"[red]problem:[/red] {escape(problem)}", highlight=False)


@snapshot.command()
@DIR_ARGUMENT
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(directory: Path, as_json: bool) -> None:
    """Check every snapshot file (size, sha256) and the whole log; exit 1 on any problem."""
    report = _report(directory)
    if as_json:
        click.echo(json.dumps(report_doc(report), indent=2))
    else:
        log = report.log
        lsns = "no records" if log.first_lsn is None else f"lsn {log.first_lsn}..{log.last_lsn}"
        sound = sum(s.ok for s in report.snapshots)
        click.echo(
            f"{directory}: {sound} of {len(report.snapshots)} snapshot(s) verify; "
            f"log {log.segments} segment(s), {lsns}"
        )
        if log.torn is not None:
            click.echo(f"note: {log.torn} when the directory is next opened (normal after a crash)")
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
        if report.ok:
            click.echo("sound")
    if not report.ok:
        raise SystemExit(1)


@snapshot.command()
@DIR_ARGUMENT
def save(directory: Path) -> None:
    """Compact a directory no server holds: restore it, write a snapshot, drop the log."""
    from infertrace.cli.offline import compacted
    from infertrace.cli.persist import restored_text

    started = time.perf_counter()
    report, info, deleted = compacted(directory)
    took = time.perf_counter() - started
    click.echo(f"restored {restored_text(report)}")
    click.echo(
        f"wrote {info.path.name} (lsn {info.lsn:,}, {decimal(info.bytes)}) and deleted"
        f" {deleted} log segment(s) it covers in {took:.2f} s"
    )


__all__ = ["report_doc", "snapshot", "snapshot_tables"]
