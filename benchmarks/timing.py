"""Latency sampling shared by the benchmarks: wall time per call, and p50/p99 of it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed_ms(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds taken by each of ``n`` calls of ``fn``, in call order."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p50_p99(samples: list[float]) -> tuple[float, float]:
    """The median and the 99th-percentile sample (the lower nearest rank)."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]
