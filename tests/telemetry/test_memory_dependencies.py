"""The memory store's vectorised call graph against the reference, on each of its paths.

Its three ways of finding a parent (walking the trace chain back, walking it
forward, the hash join for children still looking after ``MAX_STEPS`` rounds)
must each give the reference's answer, also when the ring has evicted parents
or children, and when span ids repeat across traces.
"""

from __future__ import annotations

import random

import pytest

from infertrace.model import Span
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.memory import dependencies as deps
from infertrace.telemetry.reference import ReferenceStore
from tests.conformance.test_dependencies import call_graph

SERVICES = ["gateway", "vllm", "redis", "tgi"]
BASE = 1_700_000_000_000_000_000


def random_traces(seed: int, traces: int) -> list[list[Span]]:
    """Traces of random shape and services, each written in a random order, in batches.

    Span ids restart at 1 in every trace (only the trace id tells them apart),
    and some parents are never written.
    """
    rng = random.Random(seed)
    spans: list[Span] = []
    for t in range(traces):
        n = rng.choice([1, 2, 5, 12, 80])
        tid = (t + 1).to_bytes(16, "big")
        for i in range(1, n + 1):
            parent = rng.randrange(0, i) if i > 1 else 0
            if rng.random() < 0.05:
                parent = n + 1000  # never written
            spans.append(
                Span(
                    trace_id=tid,
                    span_id=i.to_bytes(8, "big"),
                    parent_span_id=parent.to_bytes(8, "big") if parent else b"",
                    service_name=rng.choice(SERVICES),
                    operation_name="op",
                    start_time_unix_nano=BASE + rng.randrange(0, 10**9),
                    duration_nanos=1000,
                )
            )
    rng.shuffle(spans)
    cuts = sorted(rng.sample(range(1, len(spans)), 30))
    return [spans[a:b] for a, b in zip([0, *cuts], [*cuts, len(spans)], strict=True)]


WINDOWS = [(0, 2**63 - 1), (BASE, BASE + 300_000_000), (BASE + 500_000_000, BASE + 10**9)]


@pytest.mark.parametrize("sample", [deps.SAMPLE, 2])
@pytest.mark.parametrize("max_steps", [1, 3, deps.MAX_STEPS])
@pytest.mark.parametrize("capacity", [50, 700, 100_000])
@pytest.mark.parametrize(("seed", "children_first"), [(1, False), (2, False), (3, True)])
def test_like_the_reference(
    monkeypatch: pytest.MonkeyPatch,
    sample: int,
    max_steps: int,
    capacity: int,
    seed: int,
    children_first: bool,
) -> None:
    monkeypatch.setattr(deps, "MAX_STEPS", max_steps)
    monkeypatch.setattr(deps, "SAMPLE", sample)  # 2: the sample picks the direction
    batches = random_traces(seed, 60) + call_graph()
    if children_first:  # every batch as an exporter sends it: a span when it ends
        batches = [sorted(b, key=lambda s: -s.start_time_unix_nano) for b in batches]
    with MemoryStore(span_capacity=capacity) as store:
        ref = ReferenceStore(span_capacity=capacity)
        for batch in batches:
            store.write_batch(batch)
            ref.write_batch(batch)
        for lo, hi in [*WINDOWS, (0, BASE + 3_600 * 10**9 + 30_000_000)]:
            assert store.dependencies(lo, hi) == ref.dependencies(lo, hi)
        store._check()
