"""An in-memory :class:`~infertrace.engine.journal.Journal` for participant tests.

It keeps every appended record as ``(lsn, table, payload)`` in append order and
can be told to refuse appends or fail waits, as a full disk or a failed fsync
would (OSError), or to be closed (ValueError), per the journal protocol.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator


class MemoryJournal:
    """Records in a list, LSNs from 1; thread-safe (one lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: list[tuple[int, str, bytes]] = []
        self.fail_append = False
        self.fail_wait = False
        self.closed = False
        self.waited: list[int] = []

    def append(self, table: str, payload: bytes | memoryview) -> int:
        with self._lock:
            if self.closed:
                raise ValueError("journal is closed")
            if self.fail_append:
                raise OSError(errno.ENOSPC, "No space left on device")
            lsn = len(self.records) + 1
            self.records.append((lsn, table, bytes(payload)))
            return lsn

    def wait(self, lsn: int) -> None:
        with self._lock:
            if self.fail_wait:
                raise OSError(errno.EIO, f"fsync failed covering lsn {lsn}")
            self.waited.append(lsn)

    @property
    def last_lsn(self) -> int:
        with self._lock:
            return len(self.records)

    def after(self, lsn: int) -> Iterator[tuple[int, str, bytes]]:
        """The records above ``lsn``, in order."""
        with self._lock:
            return iter(self.records[lsn:])
