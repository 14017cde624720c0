"""The log table: columnar log records in a ring.

Indexes: trace id -> rows (:class:`ChainIndex`). Service and severity filters
are vectorised scans over int32/int8 columns, pruned by a zone map of times;
body text search runs over the survivors only, newest first, and stops at the
limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from infertrace.engine.chain import ChainIndex
from infertrace.engine.ring import RingBuffer
from infertrace.engine.strings import ValueDict
from infertrace.engine.table import OBJECT, Column, RingTable, TableSpec
from infertrace.engine.zonemap import ZoneMap
from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord
from infertrace.telemetry.batches import LogBatch
from infertrace.telemetry.filters import ResolvedLogFilter
from infertrace.telemetry.memory.attrs import AttributeCodec
from infertrace.telemetry.memory.common import MapDict, canonical_maps, owned_ring
from infertrace.telemetry.memory.counts import LiveCounts
from infertrace.telemetry.schema import LOG
from infertrace.telemetry.validate import check_batch, log_problem

_FIELDS = attrgetter(*LOG.names)  # record order
_Z16 = bytes(16)
_Z8 = bytes(8)


SPEC = TableSpec(
    (
        Column("time", "int64"),
        Column("observed", "int64"),
        Column("sev", "int8"),
        Column("sevtext", "int32", dictionary="strings"),
        Column("svc", "int32", dictionary="strings"),
        Column("res", "int32", dictionary="resources"),
        Column("tid", "uint8", (16,)),
        Column("sid", "uint8", (8,)),
        Column("ashape", "int32"),
        Column("aoff", "int64"),
        Column("body", OBJECT, fill=""),
    )
)
"""The log table's columns: a :class:`RingTable` of these plus the indexes below."""


class LogTable:
    """Log records in a ring of ``capacity`` slots: a :class:`RingTable` of :data:`SPEC`,
    the attribute codec (shapes and an arena of values, released in row order), a
    trace-id chain, live counts per service and a zone map of times."""

    def __init__(self, capacity: int, table: RingTable | None = None) -> None:
        """An empty table, or one around ``table`` (a restored RingTable of :data:`SPEC`,
        whose indexes the caller then restores)."""
        self.table = owned_ring(self, SPEC, capacity, table, self._on_evict)
        cols = self.table.cols
        self.time, self.observed, self.sev = cols["time"], cols["observed"], cols["sev"]
        self.sevtext, self.svc, self.res = cols["sevtext"], cols["svc"], cols["res"]
        self.tid, self.sid = cols["tid"], cols["sid"]
        self.ashape, self.aoff, self.body = cols["ashape"], cols["aoff"], cols["body"]
        self.strings = self.table.dicts["strings"]
        self.resources = MapDict(self.table.dicts["resources"])
        self.codec = AttributeCodec(ValueDict())  # its own: the table checks its counts
        self.traces = ChainIndex(capacity)
        self.svc_live = LiveCounts()
        self.zone = ZoneMap(capacity)

    @property
    def ring(self) -> RingBuffer:
        return self.table.ring

    def append(self, records: Sequence[LogRecord], now: int) -> None:
        """Validate and store ``records`` atomically; the caller holds the write lock."""
        check_batch(records, log_problem)  # maps included: nothing below can refuse them
        n = len(records)
        if not n:
            return
        (times, svcs, bodies, observed, sev, sevtext, tids, sids, attrs, res) = LogBatch.of(
            records
        ).columns
        encoded = self.codec.encode(attrs)
        if encoded is None:
            raise InvalidRecord(0, "attributes failed validation")
        shapes, offsets = encoded
        cut = n - min(n, self.ring.capacity)
        if cut:  # rows the ring cannot hold: their attribute values go at once
            self.codec.release(shapes[:cut], offsets[:cut])
        self.codec.floor = int(offsets[cut])
        tid_keys = list(tids)
        try:
            first = self.table.append(
                {
                    "time": times,
                    "observed": observed,
                    "sev": sev,
                    "sevtext": sevtext,
                    "svc": svcs,
                    "res": canonical_maps(res),
                    "tid": np.frombuffer(b"".join(t or _Z16 for t in tid_keys), np.uint8).reshape(
                        -1, 16
                    ),
                    "sid": np.frombuffer(b"".join(s or _Z8 for s in sids), np.uint8).reshape(-1, 8),
                    "ashape": shapes,
                    "aoff": offsets,
                    "body": bodies,
                },
                now,
            )
        except Exception:
            self.codec.release(shapes[cut:], offsets[cut:])  # the table stored nothing
            raise
        keep = n - cut
        for s, e, _ in self.ring.spans(first, first + keep):
            self.zone.update(s, self.time[s:e], self.time)
        self.traces.add(tid_keys[cut:], first)
        svc = self.svc[self.table.slots(np.arange(first, first + keep, dtype=np.int64))]
        self.svc_live.add(svc.astype(np.int64))

    def _on_evict(self, lo: int, hi: int) -> None:
        """Index upkeep for rows about to go (their columns still readable)."""
        for s, e, off in self.ring.spans(lo, hi):
            raw = self.tid[s:e].tobytes()
            keys = [raw[i : i + 16] for i in range(0, len(raw), 16)]
            self.traces.evict([b"" if k == _Z16 else k for k in keys], lo + off)
            self.svc_live.remove(self.svc[s:e].astype(np.int64))
            self.codec.release(self.ashape[s:e], self.aoff[s:e])
        self.codec.release_arena_after(self.aoff, self.ring, hi)

    def purge(self, cutoff: int) -> int:
        self.codec.floor = self.codec.arena.head
        return self.table.purge(cutoff)

    def search(self, r: ResolvedLogFilter) -> list[LogRecord]:
        """The newest ``r.limit`` matching records; the caller holds the read lock."""
        ring = self.ring
        if not len(ring):
            return []
        svc = None
        if r.service_name is not None:
            svc = self.strings.get(r.service_name)
            if svc is None:
                return []
        chunk_ranges: list[tuple[npt.NDArray[np.int64], int | None]]
        if r.trace_id is not None:
            seqs = np.array(self.traces.rows(r.trace_id, ring.tail), dtype=np.int64)
            chunk_ranges = [(seqs % ring.capacity, None)]
        else:
            chunks = self.zone.chunks(r.since, r.until)
            chunks = chunks[np.argsort(-self.zone.hi[chunks], kind="stable")]
            c = self.zone.chunk
            chunk_ranges = [
                (
                    np.arange(k * c, min(ring.capacity, (k + 1) * c), dtype=np.int64),
                    int(self.zone.hi[k]),
                )
                for k in chunks.tolist()
            ]
        best: list[tuple[int, int, int]] = []
        for slots, upper in chunk_ranges:
            if upper is not None and len(best) >= r.limit and upper < best[r.limit - 1][0]:
                break
            if upper is not None:
                mask = self.table.live_mask(int(slots[0]), int(slots[-1]) + 1)
            else:
                mask = np.ones(len(slots), dtype=np.bool_)
            t = self.time[slots]
            mask &= (t >= r.since) & (t < r.until)
            if svc is not None:
                mask &= self.svc[slots] == svc
            if r.min_severity:
                mask &= self.sev[slots] >= r.min_severity
            hits = slots[mask]
            seqs = self.table.seq_of(hits)
            order = np.lexsort((-seqs, -t[mask]))
            body = self.body
            needle = r.body_contains
            taken = 0
            for i in order.tolist():
                slot = int(hits[i])
                if needle is not None and needle not in body[slot]:
                    continue
                best.append((int(self.time[slot]), int(seqs[i]), slot))
                taken += 1
                if taken >= r.limit:
                    break
            best.sort(reverse=True)
            del best[r.limit :]
        return [self._row(slot) for _, _, slot in best]

    def _row(self, s: int) -> LogRecord:
        vals = self.strings.values
        tid = self.tid[s].tobytes()
        sid = self.sid[s].tobytes()
        return LogRecord(
            time_unix_nano=int(self.time[s]),
            service_name=vals[int(self.svc[s])],  # type: ignore[arg-type]
            body=self.body[s],
            observed_time_unix_nano=int(self.observed[s]),
            severity_number=int(self.sev[s]),
            severity_text=vals[int(self.sevtext[s])],  # type: ignore[arg-type]
            trace_id=b"" if tid == _Z16 else tid,
            span_id=b"" if sid == _Z8 else sid,
            attributes=self.codec.decode(
                int(self.ashape[s]),
                int(self.aoff[s]),
                memoryview(self.codec.arena.buf),  # type: ignore[arg-type]
                len(self.codec.arena.buf),
            ),  # fmt: skip  # noqa: RUF028
            resource_attributes=self.resources.map(int(self.res[s])),
        )

    def data_bytes(self) -> int:
        return self.table.data_bytes() + self.codec.nbytes() + self.codec.values.nbytes()

    def index_bytes(self) -> int:
        return self.traces.nbytes() + self.svc_live.nbytes() + self.zone.nbytes()

    def _check(self) -> None:
        self.table._check()
        self.codec.values._check()
        self.codec.shapes._check()
        self.traces._check(self.ring.tail, self.ring.head)
        assert sum(self.svc_live.counts.values()) == len(self.ring)
