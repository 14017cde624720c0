"""The naive baseline store of seed 001: a dict of trace id to a list of span objects."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from infertrace.model import Span


class NaiveStore:
    """Bounded by span count, FIFO eviction, one Python object per span."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.traces: dict[bytes, list[Span]] = {}
        self.order: deque[Span] = deque()

    def write_batch(self, spans: Sequence[Span]) -> None:
        traces, order = self.traces, self.order
        for s in spans:
            traces.setdefault(s.trace_id, []).append(s)
            order.append(s)
        while len(order) > self.capacity:
            old = order.popleft()
            bucket = traces[old.trace_id]
            bucket.remove(old)
            if not bucket:
                del traces[old.trace_id]

    def get_trace(self, trace_id: bytes) -> list[Span]:
        return sorted(self.traces[trace_id], key=lambda s: s.start_time_unix_nano)
