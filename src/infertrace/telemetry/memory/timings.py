"""The columns Jaeger's Monitor tab needs from a :class:`SpanTable`, vectorised.

One service's spans of some kinds in a time window: a scan of the zone-map
chunks the window can hit, one mask per chunk over the service, kind and start
columns, then the matching rows' start, duration, error flag and operation.
O(rows in the chunks scanned); the caller holds the read lock.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from infertrace.model import StatusCode
from infertrace.telemetry.memory.spans import SpanTable
from infertrace.telemetry.protocols import SpanTimings

EMPTY = SpanTimings((), (), (), ())


def span_timings(
    t: SpanTable, service: str, kinds: Sequence[int], since: int, until: int
) -> SpanTimings:
    """See :meth:`infertrace.telemetry.protocols.SpanReader.span_timings`."""
    code = t.strings.get(service)
    if code is None or not len(t.ring) or not kinds or since >= until:
        return EMPTY
    wanted = np.array(sorted({int(k) for k in kinds}), dtype=np.int8)
    zone = t.zone
    cap = t.ring.capacity
    found: list[npt.NDArray[np.intp]] = []
    for c in zone.chunks(since, until).tolist():
        lo, hi = c * zone.chunk, min(cap, (c + 1) * zone.chunk)
        start = t.start[lo:hi]
        mask = (start >= since) & (start < until) & (t.svc[lo:hi] == code)
        mask &= np.isin(t.kind[lo:hi], wanted)
        mask &= t.table.live_mask(lo, hi)
        found.append(np.flatnonzero(mask) + lo)
    if not found:
        return EMPTY
    rows = np.concatenate(found)
    vals = t.strings.values
    ops: list[str] = [vals[o] for o in t.op[rows].tolist()]
    return SpanTimings(
        t.start[rows].tolist(),
        t.dur[rows].tolist(),
        (t.status[rows] == int(StatusCode.ERROR)).tolist(),
        ops,
    )
