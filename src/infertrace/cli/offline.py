"""A data directory opened without a server: for ``snapshot save`` and ``export --data-dir``.

Both rebuild what ``serve --store memory --data-dir DIR`` keeps in memory (the
telemetry store, the pod registry, the activity database) from the settings of
the environment (``INFERTRACE_*``; capacities come from the snapshot when there
is one) and restore them from the directory:

- :func:`restored` for reading: it takes the directory's lock so that no server
  starts or compacts meanwhile, restores the tables from the newest usable
  snapshot and the log (:func:`infertrace.engine.startup.restore`) and changes
  nothing on disk: no torn tail is cut, nothing is logged;
- :func:`compacted` for ``snapshot save``: it opens the directory as a server
  would (:class:`~infertrace.engine.datadir.DataDir`, a torn tail is cut), writes a
  fresh snapshot and deletes the log segments it covers.

A directory a server holds is refused with the server's pid, an empty or
missing one and a damaged one with the reason (:class:`OfflineError`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import click

from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.service import parse_limits
from infertrace.cli.persist import participants
from infertrace.config import Settings
from infertrace.engine import snapfile
from infertrace.engine.datadir import DataDir
from infertrace.engine.journal import Durable
from infertrace.engine.snapfile import SnapshotInfo
from infertrace.engine.startup import LOG_DIR, RestoreReport, restore
from infertrace.engine.wal import lock_directory
from infertrace.engine.walformat import list_segments
from infertrace.errors import InferTraceError
from infertrace.registry import ThreadSafeRegistry
from infertrace.telemetry.factory import build_store
from infertrace.telemetry.protocols import TelemetryStore


class OfflineError(InferTraceError, click.ClickException):
    """The data directory cannot be opened here; the message says why and what to do.

    A ClickException too, so a command that raises it exits 1 with the message."""


@dataclass(frozen=True, slots=True)
class Restored:
    """The stores restored from a data directory, and what the restore did."""

    store: TelemetryStore
    registry: ThreadSafeRegistry
    activity: MemoryActivityStore
    report: RestoreReport


def _parts(settings: Settings) -> tuple[TelemetryStore, ThreadSafeRegistry, MemoryActivityStore]:
    store = build_store(dataclasses.replace(settings, store="memory", max_age=None), purge=False)
    limits = parse_limits(dict(settings.activity_limit or ()))
    return store, ThreadSafeRegistry(), MemoryActivityStore(limits=limits)


def _check_dir(root: Path) -> None:
    if not root.is_dir():
        raise OfflineError(f"data directory {root} does not exist or is not a directory")
    logdir = root / LOG_DIR
    if not snapfile.list_snapshots(root) and not (logdir.is_dir() and list_segments(logdir)):
        raise OfflineError(
            f"data directory {root} holds no snapshot and no log: nothing was ever kept there"
        )


def _in_use(exc: BlockingIOError, what: str) -> OfflineError:
    return OfflineError(f"{exc.strerror or exc}: stop that server first, or {what}")


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ValueError as exc:
        raise OfflineError(f"settings from the environment: {exc}") from None


@contextmanager
def restored(directory: str | os.PathLike[str]) -> Iterator[Restored]:
    """The stores of ``directory`` restored read-only; the lock is held until exit.
    O(snapshot + log)."""
    root = Path(directory).expanduser()
    _check_dir(root)
    try:
        lock_fd = lock_directory(root, "data directory")
    except BlockingIOError as exc:
        raise _in_use(exc, "export from it with --url") from None
    store, registry, activity = _parts(_settings())
    try:
        kept: list[Durable] = participants([store, registry, activity])
        try:
            report = restore(root, kept).report
        except ValueError as exc:
            raise OfflineError(f"cannot read data directory {root}: {exc}") from None
        yield Restored(store, registry, activity, report)
    finally:
        store.close()
        registry.close()
        with suppress(OSError):
            os.close(lock_fd)


@contextmanager
def _opened(root: Path) -> Iterator[DataDir]:
    _check_dir(root)
    store, registry, activity = _parts(_settings())
    try:
        try:
            data = DataDir(root, participants([store, registry, activity]), fsync="always")
        except BlockingIOError as exc:
            raise _in_use(exc, "use the server's own snapshots") from None
        except ValueError as exc:
            raise OfflineError(f"cannot open data directory {root}: {exc}") from None
        try:
            yield data
        finally:
            data.close(snapshot=False)
    finally:
        store.close()
        registry.close()


def compacted(directory: str | os.PathLike[str]) -> tuple[RestoreReport, SnapshotInfo, int]:
    """Restore ``directory``, write a snapshot of everything, drop the covered log;
    ``(what was restored, the new snapshot, log segments deleted)``."""
    root = Path(directory).expanduser()
    with _opened(root) as data:
        report = data.report
        info = data.snapshot()
        taken = data.last_snapshot
        deleted = taken.segments_deleted if taken is not None else 0
    return report, info, deleted


__all__ = ["OfflineError", "Restored", "compacted", "restored"]
