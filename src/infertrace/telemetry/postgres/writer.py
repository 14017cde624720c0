"""The bounded write queue, its writer threads, and group commit.

``write`` queues encoded rows and waits until the transaction holding them has
committed: a write that returns is stored, so an OTLP success means stored.
Writers calling at the same time are grouped into one COPY transaction (group
commit), so throughput holds while each caller waits for its own commit.

A write is refused with StoreOverloaded (the receivers answer 503 /
UNAVAILABLE with Retry-After) when the queue is full, when the database is
known to be down, or when its commit does not come within ``timeout``. A
refused write is not stored later behind its caller's back: a write still
queued is withdrawn, and one a writer holds is cancelled, which the writer
checks under the lock right before COMMIT (it then rolls back and writes the
rest of its group again). Only a write whose COMMIT was already sent when the
time ran out is waited for a second ``timeout``; if the database still has not
answered, its outcome is unknown and it is refused (a retried span is then
stored once; see ``copy``). A writer retries its group with backoff until the
database takes it, and probes a down database on its own so writing resumes by
itself. Each group is one transaction tagged with a batch id, so a retry after
a lost COMMIT reply does not store anything twice.

``close(timeout)`` refuses new writes, lets the queue drain for up to
``timeout`` seconds, then fails every write still uncommitted (its caller
gets StoreClosed, so its request is answered 503) and reports them in a
:class:`CloseReport`.

Item states, changed only under the writer's lock::

    QUEUED --writer takes it--> HELD --before COMMIT--> COMMITTING --> settled
       |                          |                         |
       +-- timeout: withdrawn     +-- timeout: cancelled    +-- close(): failed
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from infertrace.errors import InferTraceError, StoreClosed, StoreOverloaded, WriteRefused
from infertrace.telemetry.postgres.rows import Row

log = logging.getLogger("infertrace.postgres")

BeforeCommit = Callable[[], None]
Sink = Callable[
    [psycopg.Connection[Any], list[Row], list[Row], list[Row], uuid.UUID, BeforeCommit], None
]
Committed = Callable[[psycopg.Connection[Any], uuid.UUID], bool]
Probe = Callable[[psycopg.Connection[Any]], None]
Conn = psycopg.Connection[Any]

SPANS, LOGS, METRICS = 0, 1, 2
KIND_NAMES = ("spans", "log records", "metric points")
QUEUED, HELD, COMMITTING, SETTLED = 0, 1, 2, 3


class _Cancelled(InferTraceError):
    """Raised before COMMIT when a waiter gave up on part of the group: roll back."""


@dataclass(slots=True, eq=False)
class _Item:
    kind: int
    rows: list[Row]
    done: threading.Event = field(default_factory=threading.Event)
    state: int = QUEUED
    error: BaseException | None = None


@dataclass(slots=True)
class WriterStats:
    """Counters of the writer, for stats() and the collector's /metrics."""

    groups: int = 0
    rows: int = 0
    retries: int = 0
    failed_rows: int = 0
    down_events: int = 0
    timed_out_writes: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CloseReport:
    """What ``close`` could not commit: writes and their rows per kind (all refused)."""

    writes: int = 0
    rows: tuple[int, int, int] = (0, 0, 0)
    reason: str = ""

    @property
    def clean(self) -> bool:
        """True when every accepted write was committed."""
        return self.writes == 0

    def __str__(self) -> str:
        if self.clean:
            return "every accepted write was committed"
        counts = ", ".join(f"{n:,} {k}" for n, k in zip(self.rows, KIND_NAMES, strict=True))
        return (
            f"{self.writes:,} write{'s' if self.writes != 1 else ''} ({counts}) not committed"
            f" ({self.reason}); answered 503 / UNAVAILABLE, never acknowledged"
        )


class Writer:
    """A bounded queue of encoded rows drained by ``threads`` writer threads."""

    def __init__(
        self,
        connect: Callable[[], Conn],
        sink: Sink,
        committed: Committed,
        probe: Probe,
        max_queued_rows: int = 200_000,
        group_rows: int = 20_000,
        threads: int = 1,
        retry_after: float = 1.0,
    ) -> None:
        self._connect = connect
        self._local = threading.local()
        self._sink = sink
        self._committed = committed
        self._probe = probe
        self._max_rows = max_queued_rows
        self._group_rows = group_rows
        self._retry_after = retry_after
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._held: list[list[_Item]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False
        self._down: str | None = None
        self._lost = [0, 0, 0, 0]  # writes, then rows per kind, failed once closing began
        self._reason = ""
        self.stats = WriterStats()
        self._threads = [
            threading.Thread(target=self._run, name=f"infertrace-pg-writer-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    @property
    def down(self) -> str | None:
        """Why the database is considered down, or None when it is up."""
        return self._down

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    def write(self, kind: int, rows: list[Row], timeout: float) -> None:
        """Queue ``rows`` and wait until they are committed. O(1) here; COPY in a writer.

        Raises StoreOverloaded (queue full, database down, no commit within
        ``timeout``: nothing stored), StoreClosed (shutting down before the
        commit), or WriteRefused (the database refused the rows for good).
        """
        if not rows:
            return
        item = self._submit(kind, rows)
        if not item.done.wait(timeout):
            self._give_up_waiting(item, timeout)
        if item.error is not None:
            raise item.error

    def _submit(self, kind: int, rows: list[Row]) -> _Item:
        with self._cond:
            if self._closing:
                raise StoreClosed("store is shutting down")
            if self._down is not None:
                raise StoreOverloaded(f"database unavailable: {self._down}", 2 * self._retry_after)
            if self._queued_rows + len(rows) > self._max_rows and self._queue:
                raise StoreOverloaded(
                    f"write queue full ({self._queued_rows} rows queued)", self._retry_after
                )
            item = _Item(kind, rows)
            self._queue.append(item)
            self._queued_rows += len(rows)
            self._cond.notify_all()
            return item

    def _give_up_waiting(self, item: _Item, timeout: float) -> None:
        """The wait ran out: withdraw or cancel the write, or wait for its COMMIT."""
        with self._cond:
            self.stats.timed_out_writes += item.state != SETTLED
            if self._closing or item.state == COMMITTING:
                pass  # close() settles it within its bound; a COMMIT gets one more timeout
            elif item.state in (QUEUED, HELD):
                if item.state == QUEUED:
                    self._queue.remove(item)
                    self._queued_rows -= len(item.rows)
                self._settle(item, self._refusal(f"not committed within {timeout:g} s"))
        if not item.done.wait(timeout):
            with self._cond:
                self._settle(
                    item,
                    self._refusal(f"commit unconfirmed after {2 * timeout:g} s, outcome unknown"),
                )

    def _refusal(self, what: str) -> StoreOverloaded:
        down = f"; database unavailable: {self._down}" if self._down else ""
        return StoreOverloaded(f"write {what}{down}", 2 * self._retry_after)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every write queued before this call is settled (committed or failed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            items = [*self._queue, *(i for g in self._held for i in g)]
        for item in items:
            if not item.done.wait(max(0.0, deadline - time.monotonic())):
                raise self._refusal(f"flush: {len(items)} writes still pending")

    def close(self, timeout: float = 30.0) -> CloseReport:
        """Refuse new writes, drain for up to ``timeout`` s, fail the rest. Idempotent."""
        with self._cond:
            first = not self._closing
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            if first:
                self._abandon = True
                self._reason = (
                    f"database unavailable: {self._down}"
                    if self._down
                    else f"shutdown timeout of {timeout:g} s reached"
                )
                refusal = StoreClosed(f"store shut down before the commit: {self._reason}")
                for item in [*self._queue, *(i for g in self._held for i in g)]:
                    self._settle(item, refusal)
                self._queue.clear()
                self._queued_rows = 0
            writes, spans, logs, points = self._lost
            report = CloseReport(writes, (spans, logs, points), self._reason)
        if not report.clean:
            log.error("shutdown: %s", report)
        return report

    def _settle(self, item: _Item, error: BaseException | None) -> None:
        """Finish ``item`` (under the lock): committed when ``error`` is None."""
        if item.state == SETTLED:
            return
        item.state = SETTLED
        item.error = error
        item.done.set()
        if error is not None and self._closing:
            self._lost[0] += 1
            self._lost[1 + item.kind] += len(item.rows)

    def _take(self) -> list[_Item]:
        with self._cond:
            while not self._queue:
                if self._closing:
                    return []
                if self._down is not None:
                    self._cond.wait(self._retry_after)
                    if not self._queue and self._down is not None:
                        return []  # idle while down: the caller probes
                    continue
                self._cond.wait()
            group = [self._queue.popleft()]
            n = len(group[0].rows)
            while self._queue and n + len(self._queue[0].rows) <= self._group_rows:
                group.append(self._queue.popleft())
                n += len(group[-1].rows)
            self._queued_rows -= n
            for item in group:
                item.state = HELD
            self._held.append(group)
            return group

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            conn: Conn | None = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()

    def _loop(self) -> None:
        while True:
            group = self._take()
            if not group:
                with self._cond:
                    if self._abandon or (self._closing and not self._queue):
                        return
                self._try_probe()
                continue
            try:
                self._write(group)
            finally:
                with self._cond:
                    self._held.remove(group)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Conn]:
        """This writer thread's own connection, (re)opened as needed.

        One session per writer keeps ``seq`` (a sequence cached per session) in
        arrival order; a connection that failed is dropped, the next call reconnects.
        """
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._connect()
        try:
            yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError):
            conn.close()
            raise

    def _try_probe(self) -> None:
        try:
            with self._connection() as conn:
                self._probe(conn)
        except psycopg.Error as exc:
            self._set_down(exc)
            return
        self._set_up()

    def _set_down(self, exc: BaseException) -> None:
        with self._cond:
            if self._down is None:
                self.stats.down_events += 1
                log.warning("database unavailable, writes paused: %s", exc)
            self._down = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)

    def _set_up(self) -> None:
        with self._cond:
            if self._down is not None:
                log.warning("database available again, writes resumed")
            self._down = None

    def _live(self, group: Sequence[_Item]) -> list[_Item]:
        """The items still to write (not settled by a waiter or close), set back to HELD."""
        with self._cond:
            live = [i for i in group if i.state != SETTLED]
            for item in live:
                item.state = HELD
            return live

    def _claim(self, group: Sequence[_Item]) -> None:
        """Right before COMMIT: roll back if a waiter gave up, else no one may now."""
        with self._cond:
            if self._abandon or any(i.state == SETTLED for i in group):
                raise _Cancelled
            for item in group:
                item.state = COMMITTING

    def _write(self, group: Sequence[_Item]) -> None:
        batch_id = uuid.uuid4()
        attempt = 0
        delay = 0.05
        while True:
            try:
                with self._connection() as conn:
                    if attempt and self._committed(conn, batch_id):
                        break  # the COMMIT went through; only its reply was lost
                    live = self._live(group)
                    if not live or self._abandon:
                        return
                    spans = [r for i in live if i.kind == SPANS for r in i.rows]
                    logs = [r for i in live if i.kind == LOGS for r in i.rows]
                    metrics = [r for i in live if i.kind == METRICS for r in i.rows]
                    claim = functools.partial(self._claim, live)
                    self._sink(conn, spans, logs, metrics, batch_id, claim)
                break
            except _Cancelled:
                continue  # rolled back: write what is still wanted
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._set_down(exc)
            except psycopg.Error as exc:
                live = self._live(group)
                if len(live) > 1 and attempt >= 2:
                    for item in live:  # isolate the item the database refuses
                        self._write([item])
                    return
                if attempt >= 2:
                    self._give_up(live, exc)
                    return
            if self._abandon:
                return
            attempt += 1
            self.stats.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        self._set_up()
        with self._cond:
            committed = [i for i in group if i.state == COMMITTING]
            self.stats.groups += 1
            self.stats.rows += sum(len(i.rows) for i in committed)
            for item in committed:
                self._settle(item, None)

    def _give_up(self, group: Sequence[_Item], exc: BaseException) -> None:
        n = sum(len(i.rows) for i in group)
        log.error("database refused %d rows (answered as failed, not stored): %s", n, exc)
        refused = WriteRefused(f"database refused the write: {str(exc).strip()}")
        with self._cond:
            self.stats.failed_rows += n
            self.stats.errors = [*self.stats.errors[-9:], str(exc)]
            for item in group:
                self._settle(item, refused)
