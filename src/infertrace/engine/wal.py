"""A write-ahead log of opaque byte records, with grouped fsync.

:class:`WriteAheadLog` appends records (format: :mod:`infertrace.engine.walformat`)
to segment files in one directory, rolling to a new segment past
``segment_bytes``. Every record gets the next log sequence number (LSN), from 1.
When a record is durable depends on the :class:`Fsync` policy:

- ``always``: :meth:`WriteAheadLog.append` returns only once the record is
  fsynced. Appenders share fsyncs (group commit): a daemon flusher fsyncs
  everything written so far as soon as anyone waits, outside the lock, while
  others keep appending; each waiter sleeps on a gate of its own that the
  flush covering its record opens (no thundering herd), and the records written
  meanwhile go in the next flush. N threads pay about one fsync per round, not
  one each (measured: ``python -m benchmarks durability``).
- ``interval=0.1`` (or ``100ms``): a daemon flusher fsyncs every interval;
  ``append`` returns at once and :meth:`WriteAheadLog.wait_durable` returns
  after the flush that covers the record (at most about one interval later).
- :meth:`WriteAheadLog.write` appends without waiting under every policy (the
  data directory's journal: the caller waits with ``wait_durable`` after it
  has released its own locks).
- ``off``: never fsyncs. A record is in the kernel once ``append`` returns, so
  a crash of the process loses nothing, but a power loss or kernel crash loses
  what the kernel had not yet written back (Linux: up to ~30 s by default,
  ``vm.dirty_expire_centisecs``). ``wait_durable`` returns at once.

Errors are builtins (the engine defines no exception classes; the store maps
them onto ``infertrace.errors``, an OSError from a write to 503):

- opening takes an exclusive ``flock`` on ``LOCK`` in the directory: a second
  opener, in this process or another, gets BlockingIOError naming the directory
  and the holder's pid. Opening reads the last segment and cuts a torn tail off
  it with a warning (:attr:`WriteAheadLog.torn`).
- a corrupt record before the end raises ValueError naming segment and offset
  (:class:`~infertrace.engine.walformat.Damage`), on open (last segment) or
  during :meth:`WriteAheadLog.replay` (earlier ones), where the log stops.
- a failed write (full disk, read-only file system, I/O error) raises OSError
  with the failing ``errno`` and the segment's name; the partial record is cut
off (now or before the next append) and the LSN is not used, so the log takes
writes again once space returns. A failed fsync fails every waiter it covered
(their records may or may not survive) and the next append starts a new segment,
since after a failed fsync the kernel may have dropped the old file's dirty pages.

Thread-safe: one lock; fsync runs outside it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infertrace.engine.fileio import fsync_dir
from infertrace.engine.walformat import (
    HEADER,
    MAX_PAYLOAD,
    Damage,
    Torn,
    header_of_parts,
    list_segments,
    read_records,
    scan_segment,
    segment_lsn,
    segment_name,
)

log = logging.getLogger(__name__)

LOCK_NAME = "LOCK"
DEFAULT_SEGMENT_BYTES = 64 * 2**20


@dataclass(frozen=True, slots=True)
class Fsync:
    """An fsync policy: ``mode`` always | interval | off, ``interval`` in seconds."""

    mode: Literal["always", "interval", "off"] = "interval"
    interval: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in ("always", "interval", "off"):
            raise ValueError(f"fsync mode must be always, interval or off, not {self.mode!r}")
        if not self.interval > 0:
            raise ValueError(f"fsync interval must be positive, not {self.interval!r}")

    @classmethod
    def parse(cls, text: str) -> Fsync:
        """``always``, ``off``, ``interval`` or ``interval=100ms`` / ``=0.1`` / ``=0.1s``."""
        mode, _, value = text.strip().partition("=")
        if mode in ("always", "off") and not value:
            return cls(mode)  # type: ignore[arg-type]
        if mode != "interval":
            raise ValueError(f"fsync policy must be always, off or interval=DURATION: {text!r}")
        if not value:
            return cls("interval")
        try:
            if value.endswith("ms"):
                seconds = float(value[:-2]) / 1000
            else:
                seconds = float(value.removesuffix("s"))
        except ValueError:
            raise ValueError(f"fsync interval is not a duration: {text!r}") from None
        return cls("interval", seconds)

    def __str__(self) -> str:
        return f"interval={self.interval * 1000:g}ms" if self.mode == "interval" else self.mode


def lock_directory(directory: Path, what: str = "log directory") -> int:
    """Take the exclusive ``flock`` on ``directory/LOCK`` and write this pid into it;
    the lock's fd (closing it releases the lock). A directory locked by anyone, in
    this process or another, raises BlockingIOError naming ``what``, the directory
    and the holder's pid. The lock dies with the process, so a crash never leaves
    a stale one."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        msg = f"{what} {directory} is in use (lock held by pid {holder})"
        raise BlockingIOError(errno.EWOULDBLOCK, msg) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class WriteAheadLog:
    """An open, locked log directory; see the module doc. Use as a context manager."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        fsync: Fsync | str = "interval=100ms",
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        start_lsn: int = 1,
    ) -> None:
        """Open (creating) ``directory``. ``start_lsn`` numbers the first record of an
        empty log (one past a snapshot's position when the log was removed)."""
        self.fsync = Fsync.parse(fsync) if isinstance(fsync, str) else fsync
        if segment_bytes < 2 * HEADER.size:
            raise ValueError(f"segment_bytes must be at least {2 * HEADER.size}: {segment_bytes}")
        if start_lsn < 1:
            raise ValueError(f"start_lsn must be at least 1: {start_lsn}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._writev: Callable[[int, Sequence[bytes | memoryview]], int] = os.writev
        self._fsync: Callable[[int], None] = os.fsync
        """The system calls, as attributes so that tests can inject failures."""
        self._cond_lock = threading.Lock()
        self._cond = threading.Condition(self._cond_lock)
        self._lock_fd = lock_directory(self.directory)
        try:
            self.torn = self._recover(start_lsn)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._durable = self._next - 1
        self._unsure = (0, 0)
        """LSNs in ``(lo, hi]`` were covered by a failed fsync: never acknowledged."""
        self._dirty = False
        self._closing = False
        self._fsync_errno = errno.EIO
        self._syncing = False
        self._need_roll = False
        self._closed = False
        self.syncs = 0
        """fsyncs of segment data so far (appends / syncs is the grouping factor)."""
        self._stop = threading.Event()
        self._work = threading.Condition(self._cond_lock)
        """Wakes the ``always`` flusher when a waiter arrives."""
        self._gates: list[tuple[int, int, threading.Lock]] = []
        """Heap of (lsn, id, gate) of the waiters, each asleep on its own locked gate."""
        self._flusher: threading.Thread | None = None
        if self.fsync.mode != "off":
            self._flusher = threading.Thread(target=self._flush_loop, name="wal-flush", daemon=True)
            self._flusher.start()

    def _recover(self, start_lsn: int) -> Torn | None:
        """Find the end of the log, cut a torn tail, open the last segment for appends."""
        segments = list_segments(self.directory)
        torn: Torn | None = None
        if segments:
            scan = scan_segment(segments[-1], final=True)
            if scan.damage is not None:
                raise scan.damage.error()
            self._next = scan.next_lsn
            if scan.torn is not None:
                torn = scan.torn
                log.warning("write-ahead log: %s", torn)
            path = segments[-1]
            self._fd = os.open(path, os.O_WRONLY)
            os.ftruncate(self._fd, scan.end)
            os.fsync(self._fd)
            os.lseek(self._fd, scan.end, os.SEEK_SET)
            self._size = scan.end
            if start_lsn > self._next:
                os.close(self._fd)
                reason = f"log ends before lsn {self._next}, expected {start_lsn}"
                raise Damage(path, scan.end, reason).error()
        else:
            self._next = start_lsn
            path = self.directory / segment_name(start_lsn)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            fsync_dir(self.directory)
            self._size = 0
            segments = [path]
        self._segments = segments
        self._written = self._next - 1
        return torn

    # -- writes --------------------------------------------------------------------------

    def append(self, payload: bytes | memoryview) -> int:
        """Append one record; return its LSN. Under ``always`` it is durable on return.

        Raises OSError when the record could not be written (nothing of it is
        kept) or, under ``always``, not fsynced; ValueError once closed.
        O(len(payload)).
        """
        lsn = self.write((payload,))
        if self.fsync.mode == "always":
            self.wait_durable(lsn)
        return lsn

    def write(self, parts: Sequence[bytes | memoryview]) -> int:
        """Append one record whose payload is ``parts`` joined (they are written with
        one ``writev``, never copied together); return its LSN at once, under every
        policy: :meth:`wait_durable` says when it is durable.

        Raises OSError when the record could not be written (nothing of it is
        kept); ValueError once closed. O(total length).
        """
        size = sum(len(p) for p in parts)
        if size > MAX_PAYLOAD:
            raise ValueError(f"record of {size} bytes is over {MAX_PAYLOAD}")
        with self._cond:
            if self._closed:
                raise ValueError(f"log {self.directory} is closed")
            self._repair()
            need = HEADER.size + size
            if self._need_roll or (self._size and self._size + need > self.segment_bytes):
                self._roll()
            lsn = self._next
            head = header_of_parts(lsn, parts)
            try:
                done = self._writev(self._fd, [head, *parts])
                if done < need:  # a short write: finish it from a joined copy
                    rest = memoryview(b"".join([head, *parts]))[done:]
                    while rest:
                        rest = rest[self._writev(self._fd, [rest]) :]
            except OSError as exc:
                self._dirty = True
                self._try_repair()
                where = self._segments[-1]
                msg = f"cannot write to log segment {where}: {exc.strerror or exc}"
                raise OSError(exc.errno, msg) from exc
            self._size += need
            self._next = lsn + 1
            self._written = lsn
        return lsn

    def _repair(self) -> None:
        """Cut a partial record left by a failed write; raise OSError if still failing."""
        if not self._dirty:
            return
        try:
            os.ftruncate(self._fd, self._size)
            os.lseek(self._fd, self._size, os.SEEK_SET)
        except OSError as exc:
            msg = f"cannot repair log segment {self._segments[-1]}: {exc.strerror}"
            raise OSError(exc.errno, msg) from exc
        self._dirty = False

    def _try_repair(self) -> None:
        with contextlib.suppress(OSError):  # retried before the next append
            self._repair()

    def _roll(self) -> None:
        """Close the current segment (fsynced unless ``off``) and start the next one."""
        path = self.directory / segment_name(self._next)
        try:
            if self.fsync.mode != "off":
                try:
                    self._fsync(self._fd)
                    self.syncs += 1
                    self._durable = max(self._durable, self._written)
                    self._open_gates(self._durable)
                except OSError as exc:
                    self._fsync_failed(self._written, exc)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            if self.fsync.mode != "off":
                fsync_dir(self.directory)
        except OSError as exc:
            msg = f"cannot start log segment {path}: {exc.strerror}"
            raise OSError(exc.errno, msg) from exc
        os.close(self._fd)
        self._fd, self._size, self._need_roll = fd, 0, False
        if self._segments[-1] != path:
            self._segments.append(path)

    # -- durability ----------------------------------------------------------------------

    def wait_durable(self, lsn: int, timeout: float | None = None) -> None:
        """Return once record ``lsn`` is durable under the policy (at once for ``off``).

        Raises OSError if the fsync covering it failed or the log closed first,
        TimeoutError after ``timeout`` seconds, ValueError for an LSN never appended.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if lsn > self._written:
                raise ValueError(f"lsn {lsn} was never appended (last is {self._written})")
            while True:
                lo, hi = self._unsure
                if lo < lsn <= hi:
                    msg = f"fsync of log {self.directory} failed; lsn {lsn} unsure"
                    raise OSError(self._fsync_errno, msg)
                if lsn <= self._durable or self.fsync.mode == "off":
                    return
                if self._closed:
                    msg = f"log {self.directory} closed before lsn {lsn} was durable"
                    raise OSError(errno.ECANCELED, msg)
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"lsn {lsn} not durable within {timeout} s")
                # Sleep on a gate of one's own that the flush covering ``lsn`` opens, so
                # a flush wakes only the waiters it made durable (no thundering herd).
                gate = threading.Lock()
                gate.acquire()
                heapq.heappush(self._gates, (lsn, id(gate), gate))
                if self.fsync.mode == "always":
                    self._work.notify()
                self._cond.release()
                try:
                    gate.acquire(timeout=-1 if left is None else left)
                finally:
                    self._cond.acquire()

    def _fsync_failed(self, target: int, error: OSError) -> None:
        """Records up to ``target`` not yet durable are unsure: fail their waiters and
        write on in a new segment (the kernel may have dropped the old one's pages)."""
        # Every waiter it covered gets the OSError; whoever owns the log reports the
        # outage once (the data directory does), not once per failed fsync here.
        log.debug("write-ahead log: fsync in %s failed: %s", self.directory, error)
        self._fsync_errno = error.errno or errno.EIO
        lo, hi = self._unsure
        self._unsure = (min(lo, self._durable) if hi else self._durable, max(hi, target))
        self._need_roll = True
        self._open_gates(target)
        self._cond.notify_all()

    def _open_gates(self, upto: int) -> None:
        """Wake the waiters of every LSN up to ``upto`` (lock held)."""
        gates = self._gates
        while gates and gates[0][0] <= upto:
            gate = heapq.heappop(gates)[2]
            if gate.locked():
                gate.release()

    def sync(self) -> None:
        """fsync everything written so far now (clean shutdown, before a snapshot)."""
        with self._cond:
            target = self._written
            while self._durable < target and not self._closed:
                if self._unsure[0] < target <= self._unsure[1]:
                    raise OSError(self._fsync_errno, f"fsync of log {self.directory} failed")
                if self._syncing:
                    self._cond.wait()
                else:
                    self._sync_locked()

    def _sync_locked(self) -> None:
        """Lead one fsync of everything written so far; the lock is released meanwhile."""
        self._syncing = True
        target = self._written
        try:
            fd = os.dup(self._fd)  # a roll may close the original meanwhile
        except OSError:
            self._syncing = False
            raise
        self._cond.release()
        error: OSError | None = None
        try:
            self._fsync(fd)
        except OSError as exc:
            error = exc
        finally:
            os.close(fd)
            self._cond.acquire()
        self._syncing = False
        self.syncs += 1
        if error is None:
            self._durable = max(self._durable, target)
            self._open_gates(target)
            self._cond.notify_all()
        else:
            self._fsync_failed(target, error)

    def _flush_loop(self) -> None:
        """The flusher: under ``interval`` it fsyncs every interval; under ``always`` as
        soon as anyone waits, covering every record written by then (group commit)."""
        if self.fsync.mode == "interval":
            while not self._stop.wait(self.fsync.interval):
                with self._cond:
                    if self._written > self._durable and not self._syncing and not self._closed:
                        self._sync_locked()
            return
        with self._cond:
            while not self._closing:
                if self._gates and self._written > self._durable and not self._syncing:
                    self._sync_locked()
                else:
                    self._work.wait()

    # -- reads and upkeep ----------------------------------------------------------------

    @property
    def next_lsn(self) -> int:
        """The LSN the next append will get."""
        with self._cond:
            return self._next

    @property
    def durable_lsn(self) -> int:
        """Every record up to this LSN is durable under the policy."""
        with self._cond:
            return self._written if self.fsync.mode == "off" else self._durable

    def replay(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """Every record with an LSN above ``after``, in order, as of this call.

        Raises ValueError where a damaged record or a missing segment stops the
        log (records before it were yielded); a torn tail was cut on open.
        Appends may go on meanwhile (they are not seen); a concurrent
        :meth:`truncate_before` may delete a segment being read (FileNotFoundError).
        O(log size), one segment in memory at a time.
        """
        with self._cond:
            segments = list(self._segments)
            last = self._written
        for lsn, payload in read_records(segments, after):
            if lsn > last:
                return
            yield lsn, bytes(payload)

    def truncate_before(self, lsn: int) -> int:
        """Delete segments whose records all have LSNs below ``lsn`` (a snapshot covers
        them); the segment being written is kept. Return how many. O(segments)."""
        with self._cond:
            keep_from = 0
            for i in range(len(self._segments) - 1):
                if segment_lsn(self._segments[i + 1]) <= lsn:
                    keep_from = i + 1
            gone, self._segments = self._segments[:keep_from], self._segments[keep_from:]
        for path in gone:
            path.unlink()
        if gone:
            fsync_dir(self.directory)
        return len(gone)

    def size_bytes(self) -> int:
        """Bytes in the log's segments (what a snapshot would let go)."""
        with self._cond:
            return sum(p.stat().st_size for p in self._segments[:-1]) + self._size

    def segments(self) -> list[Path]:
        with self._cond:
            return list(self._segments)

    def close(self) -> None:
        """Flush (unless ``off``), stop the flusher, release the lock. Safe twice."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._work.notify_all()
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        if self.fsync.mode != "off":
            try:
                self.sync()
            except OSError as exc:
                log.error("write-ahead log: final fsync failed: %s", exc)
        with self._cond:
            self._closed = True
            os.close(self._fd)
            os.close(self._lock_fd)
            self._open_gates(self._next)  # any still waiting see the log closed
            self._cond.notify_all()

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> None:
        """Invariants: durable <= written < next; segments ascending; size matches file."""
        with self._cond:
            assert self._durable <= self._written == self._next - 1
            firsts = [int(p.stem) for p in self._segments]
            assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
            assert firsts[-1] <= self._next
            if not self._closed and not self._dirty:
                assert os.fstat(self._fd).st_size == self._size


def read_log(directory: str | os.PathLike[str], after: int = 0) -> Iterator[tuple[int, bytes]]:
    """Records above ``after`` of a log directory, without opening it for writing (no
    lock, nothing cut): for inspection tools. A torn tail ends the iteration with a
    warning; a corrupt record raises ValueError where it stands."""

    def warn(torn: Torn) -> None:
        log.warning("write-ahead log: %s", torn)

    for lsn, payload in read_records(list_segments(Path(directory)), after, warn):
        yield lsn, bytes(payload)


__all__ = ["Fsync", "WriteAheadLog", "lock_directory", "read_log"]
