"""``serve --data-dir``: the data directory over what the server keeps in memory.

What a data directory keeps is whatever the server holds in memory and is
:class:`~infertrace.engine.journal.Durable`: with ``--store memory`` the
telemetry store (spans, logs, metric points), the in-memory pod registry and
the activity database. With ``--store postgres`` telemetry and the registry
live in PostgreSQL, which is durable by itself, and the data directory keeps
only what stays in memory (the activity database); when nothing does, it is
not opened at all (the banner says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from infertrace.config import Settings
from infertrace.engine.datadir import DataDir
from infertrace.engine.journal import Durable
from infertrace.engine.startup import RestoreReport


def participants(parts: Sequence[object]) -> list[Durable]:
    """The parts a data directory can keep, in the order given (None skipped)."""
    return [p for p in parts if p is not None and isinstance(p, Durable)]


def open_data_dir(
    settings: Settings, parts: Sequence[object], on_restored: Callable[[], None] | None = None
) -> DataDir | None:
    """The data directory ``settings`` ask for, restored into the durable ``parts``
    and attached to them; None when persistence is off or nothing is in memory.
    ``on_restored`` runs between the restore and the first logged change.

    Raises BlockingIOError (another process has it), OSError (cannot create or
    read it) or ValueError (damage, a foreign table), each naming the problem.
    """
    path = settings.persist_dir
    kept = participants(parts)
    if path is None or not kept:
        return None
    return DataDir(
        Path(path).expanduser(),
        kept,
        fsync=settings.fsync,
        snapshot_interval=settings.snapshot_interval,
        snapshot_log_bytes=settings.snapshot_log_bytes,
        move_damaged_aside=settings.move_damaged_aside,
        on_restored=on_restored,
    )


def configured_capacities(store: object, settings: Settings) -> Callable[[], None]:
    """What gives a restored memory store the capacities ``settings`` ask for: a
    snapshot keeps the ones it was taken with, and a restart with another
    ``--span-capacity`` (or log, metric) must honour the new one."""

    def apply() -> None:
        resize = getattr(store, "resize", None)
        if callable(resize):
            resize(settings.span_capacity, settings.log_capacity, settings.metric_capacity)

    return apply


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def _size(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} B"


def banner_lines(settings: Settings, datadir: DataDir | None, counts: str) -> list[str]:
    """The banner's lines about durability: where, which policy, what was restored.

    ``counts`` says what the restored stores hold ("1,200 spans, ..."), from the
    caller, which knows the stores.
    """
    if datadir is None:
        if settings.no_persist and settings.data_dir:
            return ["  Data dir   none (--no-persist): memory is lost at exit"]
        if settings.data_dir:
            why = "with --store postgres" if settings.store == "postgres" else "here"
            return [f"  Data dir   none: nothing held in memory {why} can be kept in one"]
        return []
    lines = [
        f"  Data dir   {datadir.path}  (fsync {datadir.fsync}; snapshot every"
        f" {_duration(settings.snapshot_interval)} or {_size(settings.snapshot_log_bytes)}"
        " of log, and at exit)"
    ]
    lines.append(f"  Restored   {counts} from {restored_text(datadir.report)}")
    report = datadir.report
    if report.skipped:
        lines.append(f"  Warning    refused {len(report.skipped)} newer snapshot(s): see the log")
    if report.torn:
        lines.append(f"  Warning    {report.torn}")
    if report.moved_aside is not None:
        lines.append(f"  Warning    damaged log segments moved to {report.moved_aside}")
    return lines


def restored_text(report: RestoreReport) -> str:
    snap = f"snapshot {report.snapshot.name}" if report.snapshot else "no snapshot"
    return f"{snap} + {report.records_replayed:,} log records in {report.seconds:.2f} s"


__all__ = [
    "banner_lines",
    "configured_capacities",
    "open_data_dir",
    "participants",
    "restored_text",
]
