"""The log table: columnar log records in a ring.

Indexes: trace id -> rows (:class:`ChainIndex`). Service and severity filters
are vectorised scans over int32/int8 columns, pruned by a zone map of times;
body text search runs over the survivors only, newest first, and stops at the
limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from infertrace.engine.chain import ChainIndex
from infertrace.engine.ring import RingBuffer
from infertrace.engine.strings import ValueDict
from infertrace.engine.zonemap import ZoneMap
from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord
from infertrace.telemetry.filters import ResolvedLogFilter
from infertrace.telemetry.memory.attrs import AttributeCodec
from infertrace.telemetry.memory.common import BadMap, MapDict, live_mask, received_before, seq_of
from infertrace.telemetry.memory.counts import LiveCounts
from infertrace.telemetry.validate import check_batch, log_problem

_FIELDS = attrgetter(
    "time_unix_nano", "observed_time_unix_nano", "service_name", "body", "severity_number",
    "severity_text", "trace_id", "span_id", "attributes", "resource_attributes",
)  # fmt: skip
_Z16 = bytes(16)
_Z8 = bytes(8)


class LogTable:
    """Log records in a ring of ``capacity`` slots."""

    def __init__(self, capacity: int) -> None:
        cap = capacity
        self.ring = RingBuffer(cap, self._on_evict)
        self.time = np.zeros(cap, np.int64)
        self.observed = np.zeros(cap, np.int64)
        self.sev = np.zeros(cap, np.int8)
        self.sevtext = np.zeros(cap, np.int32)
        self.svc = np.zeros(cap, np.int32)
        self.res = np.zeros(cap, np.int32)
        self.tid = np.zeros((cap, 16), np.uint8)
        self.sid = np.zeros((cap, 8), np.uint8)
        self.ashape = np.zeros(cap, np.int32)
        self.aoff = np.zeros(cap, np.int64)
        self.body: list[str] = [""] * cap
        self.strings = ValueDict()
        self.resources = MapDict()
        self.codec = AttributeCodec(self.strings)
        self.traces = ChainIndex(cap)
        self.svc_live = LiveCounts()
        self.zone = ZoneMap(cap)
        self.received: deque[tuple[int, int]] = deque()
        self._arena_floor = 0

    @property
    def columns(self) -> tuple[np.ndarray[Any, Any], ...]:
        return (self.time, self.observed, self.sev, self.sevtext, self.svc, self.res, self.tid,
                self.sid, self.ashape, self.aoff)  # fmt: skip

    def append(self, records: Sequence[LogRecord], now: int) -> None:
        """Validate and store ``records`` atomically; the caller holds the write lock."""
        check_batch(records, log_problem)
        n = len(records)
        if not n:
            return
        (times, observed, svcs, bodies, sev, sevtext, tids, sids, attrs, res) = zip(
            *map(_FIELDS, records), strict=True
        )
        try:
            res_codes = np.array(self.resources.codes(res), np.int32)
        except BadMap:
            raise InvalidRecord(0, "resource attributes failed validation") from None
        encoded = self.codec.encode(attrs)
        if encoded is None:
            self.resources.dict.drop_unused(res_codes.tolist())
            raise InvalidRecord(0, "attributes failed validation")
        self.resources.dict.retain(res_codes)
        shapes, offsets = encoded
        keep = min(n, self.ring.capacity)
        cut = n - keep
        if cut:
            self.codec.release(shapes[:cut], offsets[:cut])
            self.resources.dict.release(res_codes[:cut])
            self.ring.evicted += cut
        self._arena_floor = int(offsets[cut])
        first = self.ring.reserve(keep)
        svc = np.array(self.strings.codes(svcs[cut:]), np.int32)
        stext = np.array(self.strings.codes(sevtext[cut:]), np.int32)
        self.strings.retain(svc)
        self.strings.retain(stext)
        tid_keys = list(tids[cut:])
        cols = (
            (self.time, np.array(times[cut:], np.int64)),
            (self.observed, np.array(observed[cut:], np.int64)),
            (self.sev, np.array(sev[cut:], np.int8)),
            (self.sevtext, stext),
            (self.svc, svc),
            (self.res, res_codes[cut:]),
            (
                self.tid,
                np.frombuffer(b"".join(t or _Z16 for t in tid_keys), np.uint8).reshape(-1, 16),
            ),
            (
                self.sid,
                np.frombuffer(b"".join(s or _Z8 for s in sids[cut:]), np.uint8).reshape(-1, 8),
            ),
            (self.ashape, shapes[cut:]),
            (self.aoff, offsets[cut:]),
        )
        for s, e, off in self.ring.spans(first, first + keep):
            for col, src in cols:
                col[s:e] = src[off : off + e - s]
            self.body[s:e] = bodies[cut + off : cut + off + e - s]
            self.zone.update(s, cols[0][1][off : off + e - s], self.time)
        self.traces.add(tid_keys, first)
        self.svc_live.add(svc.astype(np.int64))
        self.received.append((first + keep, now))

    def _on_evict(self, lo: int, hi: int) -> None:
        for s, e, off in self.ring.spans(lo, hi):
            raw = self.tid[s:e].tobytes()
            keys = [raw[i : i + 16] for i in range(0, len(raw), 16)]
            self.traces.evict([b"" if k == _Z16 else k for k in keys], lo + off)
            self.strings.release(self.svc[s:e])
            self.strings.release(self.sevtext[s:e])
            self.svc_live.remove(self.svc[s:e].astype(np.int64))
            self.codec.release(self.ashape[s:e], self.aoff[s:e])
            self.resources.dict.release(self.res[s:e])
            self.body[s:e] = [""] * (e - s)
        if hi < self.ring.head:
            self.codec.release_arena_to(int(self.aoff[hi % self.ring.capacity]))
        else:
            self.codec.release_arena_to(self._arena_floor)

    def purge(self, cutoff: int) -> int:
        end = received_before(self.received, self.ring.tail, cutoff)
        self._arena_floor = self.codec.arena.head
        return self.ring.evict_to(end)

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
                mask = live_mask(ring, int(slots[0]), int(slots[-1]) + 1)
            else:
                mask = np.ones(len(slots), dtype=np.bool_)
            t = self.time[slots]
            mask &= (t >= r.since) & (t < r.until)
            if svc is not None:
                mask &= self.svc[slots] == svc
            if r.min_severity:
                mask &= self.sev[slots] >= r.min_severity
            hits = slots[mask]
            seqs = seq_of(ring, hits)
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
        import sys

        return (
            sum(int(c.nbytes) for c in self.columns)
            + sys.getsizeof(self.body)
            + sum(sys.getsizeof(b) for b in self.body if b)
            + self.strings.nbytes()
            + self.resources.dict.nbytes()
            + self.codec.nbytes()
        )

    def index_bytes(self) -> int:
        return self.traces.nbytes() + self.svc_live.nbytes() + self.zone.nbytes()

    def _check(self) -> None:
        self.ring._check()
        self.strings._check()
        self.resources.dict._check()
        self.codec.shapes._check()
        self.traces._check(self.ring.tail, self.ring.head)
        assert sum(self.svc_live.counts.values()) == len(self.ring)
