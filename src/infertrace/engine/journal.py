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
2. **Acknowledge after durable.** The caller waits for the record *outside* the
   lock, before it reports success, through :func:`wait_for` (never
   :meth:`Journal.wait` directly), so that a caller higher up can defer the wait:
   inside ``with DEFERRED_WAITS:`` the waits are made once, when the outermost
   block exits; inside ``with CollectWaits() as waits:`` they are only collected,
   and whoever opened the block must settle ``waits`` before it reports success
   (the OTLP receivers do, without blocking their event loop).
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

import threading
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


class Waits:
    """Logged records still to be waited for: per journal, the LSNs.

    A journal's durable LSN covers every earlier record unless an fsync failed in
    between (the write-ahead log then holds the LSNs it covered as unsure), so the
    first wait of :meth:`settle` (one flush covers everything written by then), or a
    group's wait for :meth:`highest`, leaves the others answering at once; every
    record is still asked about. Not thread-safe: one thread fills it.
    """

    __slots__ = ("_lsns",)

    def __init__(self) -> None:
        self._lsns: dict[int, tuple[Journal, list[int]]] = {}

    def __bool__(self) -> bool:
        return bool(self._lsns)

    def add(self, journal: Journal, lsn: int) -> None:
        """Remember record ``lsn`` of ``journal``. O(1)."""
        entry = self._lsns.get(id(journal))
        if entry is None:
            self._lsns[id(journal)] = (journal, [lsn])
        else:
            entry[1].append(lsn)

    def merge(self, other: Waits) -> None:
        """Take every record ``other`` holds. O(len(other))."""
        for journal, lsns in other._lsns.values():
            for lsn in lsns:
                self.add(journal, lsn)

    def highest(self) -> list[tuple[Journal, int]]:
        """Each journal with the highest LSN held for it."""
        return [(journal, max(lsns)) for journal, lsns in self._lsns.values()]

    def unsure(
        self, asked: Mapping[tuple[int, int], OSError | None] | None = None
    ) -> tuple[int, OSError] | None:
        """Wait until every record is durable, asking about all of them in log order;
        the first that is not (its change must not be acknowledged) with the journal's
        OSError, else None. ``asked``: answers already had, by ``(id(journal), lsn)``,
        not asked again (a journal may count every failed wait)."""
        failed: tuple[int, OSError] | None = None
        for key, (journal, lsns) in self._lsns.items():
            for lsn in sorted(set(lsns)):
                try:
                    if asked is None or (key, lsn) not in asked:
                        journal.wait(lsn)
                    elif (known := asked[key, lsn]) is not None:
                        raise known
                except OSError as exc:
                    failed = failed or (lsn, exc)
        return failed

    def settle(self, asked: Mapping[tuple[int, int], OSError | None] | None = None) -> None:
        """Return once every record is durable; else an OSError naming the first record
        that is not (see :meth:`unsure`)."""
        failed = self.unsure(asked)
        if failed is not None:
            lsn, exc = failed
            raise OSError(exc.errno, f"log record {lsn}: {exc.strerror or exc}", exc.filename)

    def _check(self) -> None:
        for key, (journal, lsns) in self._lsns.items():
            assert key == id(journal) and lsns, (key, lsns)
            assert all(type(lsn) is int and lsn > 0 for lsn in lsns), lsns


_deferrals = threading.local()
"""Per thread: ``stack``, the open deferral blocks' Waits, innermost last."""


def _stack() -> list[Waits]:
    stack: list[Waits] | None = _deferrals.__dict__.get("stack")
    if stack is None:
        stack = _deferrals.stack = []
    return stack


def wait_for(journal: Journal, lsn: int) -> None:
    """``journal.wait(lsn)``, or, inside a deferral block on this thread, remember the
    record in the innermost block instead. What every participant calls after
    logging (outside its lock); OSError as :meth:`Journal.wait`. O(1) when deferred."""
    stack = _deferrals.__dict__.get("stack")
    if stack:
        stack[-1].add(journal, lsn)
    else:
        journal.wait(lsn)


class DeferredWaits:
    """``with DEFERRED_WAITS:``: on this thread, wait for the records logged inside
    when the block exits instead of at each store call (OSError as :meth:`Journal.wait`).

    For a caller that changes stores under a lock of its own (the registry service):
    entered before that lock and left after it, the waits happen once the lock is
    free, so one change waiting for the next fsync does not hold up every thread
    that needs the lock. Re-entrant; nested in another deferral block the records go
    to the enclosing block, which waits (or, a :class:`CollectWaits`, hands them to
    its opener). When the block ends in an exception the waits are still made (a
    caller may catch it and report success for what was done), their errors dropped.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        _stack().append(Waits())

    def __exit__(self, exc_type: object, *exc: object) -> None:
        stack = _stack()
        waits = stack.pop()
        if not waits:
            return
        if stack:
            stack[-1].merge(waits)
            return
        failed = waits.unsure()
        if failed is not None and exc_type is None:  # else the exception on its way out
            raise self.failure(*failed)

    def failure(self, lsn: int, error: OSError) -> Exception:
        """What the block raises when record ``lsn`` is not durable (a subclass may map
        it onto its own error); the journal's OSError, naming the record."""
        return OSError(error.errno, f"log record {lsn}: {error.strerror or error}")


DEFERRED_WAITS = DeferredWaits()
"""The one instance (its state is per thread): ``with DEFERRED_WAITS, lock: ...``."""


class CollectWaits:
    """``with CollectWaits() as waits:``: collect the records logged inside on this
    thread, including those of nested :data:`DEFERRED_WAITS` blocks, and wait for
    none of them: the opener must :meth:`Waits.settle` ``waits`` (or have them
    settled, e.g. by a :class:`~infertrace.engine.groupwait.GroupWaiter`) before it
    acknowledges anything done inside. Not re-entrant per instance."""

    __slots__ = ("waits",)

    def __init__(self) -> None:
        self.waits = Waits()

    def __enter__(self) -> Waits:
        _stack().append(self.waits)
        return self.waits

    def __exit__(self, *exc: object) -> None:
        popped = _stack().pop()
        assert popped is self.waits, "deferral blocks must nest"
