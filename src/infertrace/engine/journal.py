"""The contract between a durable data directory and the tables it keeps.

A data directory (``--data-dir``) holds one write-ahead log shared by every table
and the snapshots of their states. Each thing that keeps tables in memory (the
telemetry store, the pod registry, the activity database) takes part through
:class:`Durable`; the directory talks to it only through this protocol, and it
logs its changes only through :class:`Journal`.

The rules that make a snapshot plus the log replay exactly what was acknowledged:

1. **Log before visible, in apply order.** A change is appended to the journal
   *inside* the table's write lock, just before it is applied, so that for each
   table the order of LSNs is the order in which changes became visible. Anything
   that changes the table counts: inserts, updates, deletes, clears, TTL purges
   (the cutoff is logged, so a replay purges the same rows), never eviction by
   capacity, which replay reproduces by itself. A logged record carries every
   input the apply needs (receive times, ids), never reading the clock again.
2. **Acknowledge after durable.** The caller waits for the record
   (:meth:`Journal.wait`) *outside* the lock, before it reports success.
3. **Applied LSN per table.** Each table remembers the LSN of the last change it
   applied, and :meth:`Durable.capture` puts it in each state's meta as
   ``applied_lsn``. A snapshot is taken by reading the log's last LSN first and
   capturing the tables after; a record at or below a table's ``applied_lsn`` is
   already in its state and is not replayed.
4. **Errors.** The journal raises builtins (OSError when the disk refuses a record:
   nothing of it was logged; ValueError once closed). The participant maps them
   onto ``infertrace.errors.LogUnavailable`` and applies nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from infertrace.engine.snapfile import TableState

APPLIED_LSN = "applied_lsn"
"""The meta key of a captured table state holding the last LSN it includes."""


@runtime_checkable
class Journal(Protocol):
    """Where a participant logs its changes (the data directory's write-ahead log)."""

    def append(self, table: str, payload: bytes | memoryview) -> int:
        """Log one change of ``table``; its LSN. Never waits for an fsync. Raises
        OSError (nothing logged) when the disk refuses it."""

    def wait(self, lsn: int) -> None:
        """Return once record ``lsn`` is durable under the fsync policy; OSError if the
        fsync covering it failed (the change must then not be acknowledged)."""


@runtime_checkable
class Durable(Protocol):
    """Something holding named tables that a data directory keeps."""

    def table_names(self) -> Sequence[str]:
        """The names of its tables in the log and in snapshots (unique per directory)."""

    def attach(self, journal: Journal | None) -> None:
        """Log every later change through ``journal`` (None: stop logging)."""

    def capture(self) -> Mapping[str, TableState]:
        """Each table's full, consistent state, with ``applied_lsn`` in its meta."""

    def restore(self, states: Mapping[str, TableState]) -> None:
        """Replace its tables by captured states (at start-up, before any write). A
        table missing from ``states`` starts empty. ValueError if a state is unusable."""

    def replay(self, table: str, lsn: int, payload: bytes) -> None:
        """Apply a logged change again (at start-up, in LSN order, not logging it) and
        remember ``lsn`` as the table's applied LSN. ValueError if unusable."""
