"""The bounded write queue and its writer threads.

``submit`` takes encoded rows, or refuses them with StoreOverloaded when the
queue is full or the database is known to be down (the receivers answer 503 /
UNAVAILABLE with Retry-After). Accepted work is never dropped while the
process lives: a writer retries its group with backoff until the database
takes it, and probes a down database on its own so writing resumes by itself.
Each group is one transaction tagged with a batch id, so a retry after a lost
COMMIT reply does not store anything twice.

``flush`` waits until everything submitted before the call is committed: the
store's reads call it, which gives read-your-writes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from infertrace.errors import StoreClosed, StoreOverloaded
from infertrace.telemetry.postgres.rows import Row

log = logging.getLogger("infertrace.postgres")

Sink = Callable[[psycopg.Connection[Any], list[Row], list[Row], list[Row], uuid.UUID], None]
Committed = Callable[[psycopg.Connection[Any], uuid.UUID], bool]
Probe = Callable[[psycopg.Connection[Any]], None]

SPANS, LOGS, METRICS = 0, 1, 2
_TRANSIENT = (psycopg.OperationalError, PoolTimeout)


@dataclass(slots=True)
class _Item:
    id: int
    kind: int
    rows: list[Row]


@dataclass(slots=True)
class WriterStats:
    """Counters of the writer, for stats() and the collector's /metrics."""

    groups: int = 0
    rows: int = 0
    retries: int = 0
    failed_rows: int = 0
    down_events: int = 0
    errors: list[str] = field(default_factory=list)


class Writer:
    """A bounded queue of encoded rows drained by ``threads`` writer threads."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        sink: Sink,
        committed: Committed,
        probe: Probe,
        max_queued_rows: int = 200_000,
        group_rows: int = 20_000,
        threads: int = 1,
        retry_after: float = 1.0,
    ) -> None:
        self._pool = pool
        self._sink = sink
        self._committed = committed
        self._probe = probe
        self._max_rows = max_queued_rows
        self._group_rows = group_rows
        self._retry_after = retry_after
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._pending: set[int] = set()
        self._next_id = 0
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False
        self._down: str | None = None
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

    def submit(self, kind: int, rows: list[Row]) -> None:
        """Queue rows for writing, or raise StoreOverloaded / StoreClosed. O(1)."""
        if not rows:
            return
        with self._cond:
            if self._closing:
                raise StoreClosed("store is closed")
            if self._down is not None:
                raise StoreOverloaded(f"database unavailable: {self._down}", 2 * self._retry_after)
            if self._queued_rows + len(rows) > self._max_rows and self._queue:
                raise StoreOverloaded(
                    f"write queue full ({self._queued_rows} rows queued)", self._retry_after
                )
            item = _Item(self._next_id, kind, rows)
            self._next_id += 1
            self._queue.append(item)
            self._queued_rows += len(rows)
            self._pending.add(item.id)
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything submitted before this call is committed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._next_id
            while self._pending and min(self._pending) < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreOverloaded(
                        f"{len(self._pending)} writes still pending"
                        + (f"; database unavailable: {self._down}" if self._down else ""),
                        self._retry_after,
                    )
                self._cond.wait(left)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (up to ``timeout``), then stop the threads. Idempotent."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._abandon = True
            lost = self._queued_rows
        if lost:
            log.error("closed with %d rows not written (database unavailable)", lost)

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
                item = self._queue.popleft()
                group.append(item)
                n += len(item.rows)
            self._queued_rows -= n
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                with self._cond:
                    if self._closing and not self._queue:
                        return
                self._try_probe()
                continue
            self._write(group)

    def _try_probe(self) -> None:
        try:
            with self._pool.connection(timeout=self._retry_after) as conn:
                self._probe(conn)
        except (*_TRANSIENT, psycopg.Error) as exc:
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

    def _write(self, group: Sequence[_Item]) -> None:
        batch_id = uuid.uuid4()
        spans = [r for i in group if i.kind == SPANS for r in i.rows]
        logs = [r for i in group if i.kind == LOGS for r in i.rows]
        metrics = [r for i in group if i.kind == METRICS for r in i.rows]
        attempt = 0
        delay = 0.05
        while True:
            try:
                with self._pool.connection(timeout=max(self._retry_after, 5.0)) as conn:
                    if attempt == 0 or not self._committed(conn, batch_id):
                        self._sink(conn, spans, logs, metrics, batch_id)
                break
            except _TRANSIENT as exc:
                self._set_down(exc)
            except psycopg.Error as exc:
                if len(group) > 1 and attempt >= 2:
                    for item in group:  # isolate the item the database refuses
                        self._write([item])
                    return
                if attempt >= 2:
                    self._give_up(group, exc)
                    return
            if self._abandon:
                self._give_up(group, RuntimeError("store closed while the database was down"))
                return
            attempt += 1
            self.stats.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        self._set_up()
        self._done(group, sum(len(i.rows) for i in group))

    def _give_up(self, group: Sequence[_Item], exc: BaseException) -> None:
        n = sum(len(i.rows) for i in group)
        log.error("database refused %d rows, dropped: %s", n, exc)
        self.stats.failed_rows += n
        self.stats.errors = [*self.stats.errors[-9:], str(exc)]
        self._done(group, 0)

    def _done(self, group: Sequence[_Item], rows: int) -> None:
        with self._cond:
            self.stats.groups += 1
            self.stats.rows += rows
            for item in group:
                self._pending.discard(item.id)
            self._cond.notify_all()
