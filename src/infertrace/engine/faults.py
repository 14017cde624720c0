"""Errors of the durable engine pieces (write-ahead log, snapshot files).

The engine imports nothing above it, so these do not derive from
``infertrace.errors.InferTraceError``; the store that wires the log in
translates them at its boundary (``raise errors.LogUnavailable(...) from exc``),
where the error map answers them (503 for :class:`LogUnavailable`).

::

    DurabilityError
    ├── LogUnavailable      the log cannot take a write now (disk full, read-only, I/O error)
    ├── LogLocked           another process holds the log directory
    ├── LogCorrupt          a record before the log's end is damaged or missing
    └── SnapshotCorrupt     a snapshot's manifest or file fails its checks
"""

from __future__ import annotations

from pathlib import Path


class DurabilityError(Exception):
    """Root of the write-ahead log and snapshot errors."""


class LogUnavailable(DurabilityError):
    """A write or fsync failed (``errno`` kept); nothing unacknowledged was kept and
    the log takes writes again once the cause (a full disk) is gone."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class LogLocked(DurabilityError):
    """The directory's lock file is held by another process (or another open log)."""


class LogCorrupt(DurabilityError):
    """A damaged record that is not the torn tail of the last segment, or a gap in the
    sequence numbers; replay stops here rather than skip acknowledged records."""

    def __init__(self, segment: Path, offset: int, reason: str) -> None:
        super().__init__(f"write-ahead log corrupt in {segment} at byte {offset}: {reason}")
        self.segment = segment
        self.offset = offset
        self.reason = reason


class SnapshotCorrupt(DurabilityError):
    """A snapshot that cannot be trusted: missing, truncated or failing its checksum."""


__all__ = ["DurabilityError", "LogCorrupt", "LogLocked", "LogUnavailable", "SnapshotCorrupt"]
