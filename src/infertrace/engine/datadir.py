"""A durable data directory: one write-ahead log and the snapshots of every table.

:class:`DataDir` keeps the tables of its participants (anything implementing
:class:`~infertrace.engine.journal.Durable`: the telemetry store, the pod
registry, the activity database) and is their :class:`~infertrace.engine.journal.Journal`.
Opening it locks the directory (a second opener, in this process or another,
gets BlockingIOError naming the holder's pid), restores the participants from
the newest usable snapshot plus the log after it (:mod:`infertrace.engine.startup`,
which also describes the layout and what happens to damage), opens the log
for writing and attaches itself to each participant. :attr:`DataDir.report`
says what was restored.

Every record goes to one :class:`~infertrace.engine.wal.WriteAheadLog`, tagged
with its table (:mod:`infertrace.engine.tagged`). :meth:`DataDir.append` never
waits for an fsync; :meth:`DataDir.wait` waits as the fsync policy says. When
the disk refuses records (full, read-only, I/O errors) both raise OSError and
the outage is logged once, when it begins, and once more when the log takes
writes again; nothing needs restarting.

Snapshots (:meth:`DataDir.snapshot`) read the log's last LSN, capture every
participant (each under its own locks: ingest to a table waits only for its
capture), fsync the log, save the states (:func:`infertrace.engine.snapfile.save`,
keeping the newest ``keep``) and delete the log segments the oldest kept
snapshot covers. A daemon thread takes one every ``snapshot_interval`` seconds
and whenever ``snapshot_log_bytes`` were logged since the last; :meth:`close`
takes a final one after detaching the participants, so a clean restart replays
nothing. Snapshots run one at a time.

Thread-safe. Errors are builtins whose messages name the directory and value.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from infertrace.engine import snapfile
from infertrace.engine.journal import Durable
from infertrace.engine.snapfile import SnapshotInfo, TableState
from infertrace.engine.startup import (
    LOG_DIR,
    MOVE_HINT,
    RestoreReport,
    move_aside,
    owners,
    restore,
)
from infertrace.engine.tagged import tag
from infertrace.engine.wal import DEFAULT_SEGMENT_BYTES, Fsync, WriteAheadLog, lock_directory
from infertrace.engine.walformat import list_segments

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_INTERVAL = 300.0
DEFAULT_SNAPSHOT_LOG_BYTES = 256 * 2**20
RETRY_SECONDS = 10.0
"""After a failed snapshot (disk full), how long the thread waits before it tries again."""


@dataclass(frozen=True, slots=True)
class SnapshotTaken:
    """The last snapshot: its manifest, the time the captures held the tables, in total."""

    info: SnapshotInfo
    capture_seconds: float
    seconds: float
    segments_deleted: int


class DataDir:
    """An open, locked data directory keeping ``participants``; see the module doc.

    ``fsync``: ``always`` | ``interval=100ms`` | ``off`` (:class:`~infertrace.engine.wal.Fsync`).
    ``move_damaged_aside``: at start-up, move a damaged part of the log into
    ``damaged-<time>/`` and start from what is intact instead of refusing.
    Use as a context manager, or call :meth:`close` once writers have stopped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        participants: Sequence[Durable],
        fsync: Fsync | str = "interval=100ms",
        snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL,
        snapshot_log_bytes: int = DEFAULT_SNAPSHOT_LOG_BYTES,
        keep: int = 2,
        move_damaged_aside: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        on_restored: Callable[[], None] | None = None,
    ) -> None:
        """Open (lock, restore, replay) ``path`` for ``participants``. ``on_restored``
        runs once the tables hold what was restored and before anything is logged, for
        changes that replay would reproduce anyway (e.g. new ring capacities: a ring
        keeps the newest rows whether it shrinks before or after them)."""
        if not snapshot_interval > 0:
            raise ValueError(f"snapshot_interval must be positive: {snapshot_interval!r}")
        if snapshot_log_bytes < 1:
            raise ValueError(f"snapshot_log_bytes must be positive: {snapshot_log_bytes!r}")
        if keep < 1:
            raise ValueError(f"keep must be at least 1: {keep!r}")
        self.path = Path(path)
        self.participants = tuple(participants)
        self.fsync = Fsync.parse(fsync) if isinstance(fsync, str) else fsync
        self.snapshot_interval = snapshot_interval
        self.snapshot_log_bytes = snapshot_log_bytes
        self.keep = keep
        self._tables = owners(self.participants)
        self._tags = {name: tag(name) for name in self._tables}
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_directory(self.path, "data directory")
        try:
            restored = restore(self.path, self.participants, move_damaged_aside)
            self._wal, moved = self._open_log(restored.next_lsn, move_damaged_aside, segment_bytes)
        except BaseException:
            os.close(self._lock_fd)
            raise
        torn = str(self._wal.torn) if self._wal.torn else None
        moved = restored.report.moved_aside or moved
        self.report: RestoreReport = replace(restored.report, moved_aside=moved, torn=torn)
        """What opening restored (snapshot, records replayed per table, seconds)."""
        self.last_snapshot: SnapshotTaken | None = None
        self._logged = 0
        """Payload bytes logged since the last snapshot began (approximate: unlocked)."""
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._refused = 0
        self.refused_total = 0
        """Writes the log refused since opening (full disk, failed fsync)."""
        self.snapshots_taken = 0
        self._last_refusal = ""
        self._snap_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._stopping = False
        self._closed = False
        if on_restored is not None:
            try:
                on_restored()
            except BaseException:
                self._wal.close()
                os.close(self._lock_fd)
                raise
        for participant in self.participants:
            participant.attach(self)
        if moved is not None:  # make what was salvaged durable before anything else
            try:
                self.snapshot()
            except OSError as exc:  # the intact records are in memory and in damaged-*/
                log.error("data directory %s: snapshot after moving the log failed: %s", path, exc)
        self._thread = threading.Thread(target=self._run, name="datadir-snapshot", daemon=True)
        self._thread.start()

    def _open_log(
        self, next_lsn: int, move_damaged_aside: bool, segment_bytes: int
    ) -> tuple[WriteAheadLog, Path | None]:
        logdir = self.path / LOG_DIR
        try:
            return WriteAheadLog(logdir, self.fsync, segment_bytes, start_lsn=next_lsn), None
        except ValueError as exc:  # the log ends before what the snapshot and replay hold
            if not move_damaged_aside:
                raise ValueError(
                    f"{exc}: the log is shorter than what the snapshot and replay cover, so"
                    f" records after it are lost; to start anyway, reopen with {MOVE_HINT}"
                ) from None
            moved = move_aside(self.path, list_segments(logdir))
            log.warning("%s; moved the log to %s and started a new one", exc, moved)
            return WriteAheadLog(logdir, self.fsync, segment_bytes, start_lsn=next_lsn), moved

    # -- the journal -----------------------------------------------------------------

    def append(self, table: str, payload: bytes | memoryview) -> int:
        """Log one change of ``table``; its LSN. Never waits for an fsync. O(len(payload)).

        OSError when the disk refuses it (nothing logged), ValueError once closed or
        for a table this directory does not keep.
        """
        prefix = self._tags.get(table)
        if prefix is None:
            raise ValueError(f"table {table!r} is not kept by data directory {self.path}")
        try:
            lsn = self._wal.write((prefix, payload))
        except OSError as exc:
            self._refusing(exc)
            raise
        self._logged += len(payload)
        if self._logged >= self.snapshot_log_bytes and not self._wake.is_set():
            self._wake.set()
        return lsn

    def wait(self, lsn: int) -> None:
        """Return once record ``lsn`` is durable under the fsync policy; OSError if the
        fsync covering it failed or the log closed first."""
        try:
            self._wal.wait_durable(lsn)
        except OSError as exc:
            self._refusing(exc)
            raise
        if self._outage_since is not None:
            self._recovered()

    def _refusing(self, exc: OSError) -> None:
        """Count a refusal; log the outage once, when it begins."""
        with self._outage_lock:
            self._refused += 1
            self.refused_total += 1
            self._last_refusal = str(exc)
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        log.error(
            "data directory %s: the write-ahead log refuses writes (%s); they are answered"
            " as unavailable until it takes them again",
            self.path,
            exc,
        )

    def _recovered(self) -> None:
        with self._outage_lock:
            if self._outage_since is None:
                return
            lasted = time.monotonic() - self._outage_since
            refused, self._refused, self._outage_since = self._refused, 0, None
        log.warning(
            "data directory %s: the write-ahead log takes writes again after %.1f s"
            " (%d writes refused meanwhile)",
            self.path,
            lasted,
            refused,
        )

    @property
    def refusing(self) -> bool:
        """True from a refused write until a record is durable again."""
        return self._outage_since is not None

    def problem(self) -> str | None:
        """Why writes are refused now (for a readiness probe), or None. O(1)."""
        since = self._outage_since
        if since is None:
            return None
        lasted = time.monotonic() - since
        return f"write-ahead log refuses writes for {lasted:.0f} s: {self._last_refusal}"

    @property
    def log(self) -> WriteAheadLog:
        """The write-ahead log (for inspection and fault-injection tests)."""
        return self._wal

    # -- snapshots -------------------------------------------------------------------

    def snapshot(self) -> SnapshotInfo:
        """Save every participant's state now and drop the log the snapshots cover.

        Blocks a table's writers only while its participant captures it. Raises
        OSError when the snapshot cannot be written (the log is left whole),
        ValueError once closed or when a participant captures a table it does
        not declare. O(total state).
        """
        with self._snap_lock:
            if self._closed:
                raise ValueError(f"data directory {self.path} is closed")
            started = time.perf_counter()
            lsn = self._wal.next_lsn - 1
            self._logged = 0
            states: dict[str, TableState] = {}
            for participant in self.participants:
                captured = participant.capture()
                foreign = set(captured) - set(participant.table_names())
                if foreign:
                    raise ValueError(
                        f"{type(participant).__name__} captured undeclared table(s)"
                        f" {sorted(foreign)}"
                    )
                states.update(captured)
            captured_in = time.perf_counter() - started
            # Captures may hold records logged after ``lsn``: make the log durable past
            # them, or a crash could renumber records a table already counts as applied.
            self._wal.sync()
            info = snapfile.save(self.path, states, lsn, keep=self.keep)
            oldest = snapfile.oldest_lsn(self.path)
            deleted = self._wal.truncate_before(oldest + 1) if oldest is not None else 0
            took = time.perf_counter() - started
            self.last_snapshot = SnapshotTaken(info, captured_in, took, deleted)
            self.snapshots_taken += 1
        log.info(
            "data directory %s: snapshot %s (lsn %d) in %.2f s, captures %.2f s",
            self.path,
            info.path.name,
            lsn,
            took,
            captured_in,
        )
        return info

    def _run(self) -> None:
        """The snapshot thread: every interval, or when enough was logged."""
        due = time.monotonic() + self.snapshot_interval
        while True:
            self._wake.wait(max(0.0, due - time.monotonic()))
            if self._stopping:
                return
            self._wake.clear()
            try:
                self.snapshot()
                due = time.monotonic() + self.snapshot_interval
            except Exception as exc:  # disk trouble: the log keeps everything meanwhile
                if self._stopping:
                    return
                log.error("data directory %s: snapshot failed: %s", self.path, exc)
                # back off (size triggers keep coming while the disk is full), then retry
                if self._halt.wait(min(RETRY_SECONDS, self.snapshot_interval)):
                    return
                due = time.monotonic()

    # -- life cycle ------------------------------------------------------------------

    def close(self, snapshot: bool = True) -> None:
        """Stop the snapshot thread, detach the participants, take a final snapshot
        (unless ``snapshot`` is False or the disk refuses it: the log then still holds
        everything), close the log and release the lock. Call once writers stopped;
        safe twice."""
        with self._close_lock:
            if self._stopping:
                return
            self._stopping = True
        self._halt.set()
        self._wake.set()
        self._thread.join()
        for participant in self.participants:
            participant.attach(None)
        try:
            if snapshot:
                self.snapshot()
        except (OSError, ValueError) as exc:
            log.error(
                "data directory %s: final snapshot failed (the log has it all): %s", self.path, exc
            )
        finally:
            with self._snap_lock:
                self._closed = True
            self._wal.close()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> None:
        """Invariants: each table has one owner and one tag; the log's own invariants."""
        assert set(self._tags) == set(self._tables)
        for name, owner in self._tables.items():
            assert name in owner.table_names()
        if not self._closed:
            self._wal._check()


__all__ = [
    "DEFAULT_SNAPSHOT_INTERVAL",
    "DEFAULT_SNAPSHOT_LOG_BYTES",
    "DataDir",
    "SnapshotTaken",
]
