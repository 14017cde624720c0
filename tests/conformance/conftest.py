"""The conformance suite's fixtures: every test runs once per store.

``store`` is the store under test; ``oracle`` a ReferenceStore that receives
the same writes (through ``both``) and defines the expected answers. All
stores share a fake ``clock`` so purges are deterministic.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.telemetry.reference import ReferenceStore

START_NS = 1_700_000_000_000_000_000
STORES = ["reference", "memory", "postgres"]


class Clock:
    """A settable clock in unix nanoseconds."""

    def __init__(self, now: int = START_NS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _memory_store(clock: Clock) -> Any:
    try:
        module = importlib.import_module("infertrace.telemetry.memory")
    except ImportError as exc:
        pytest.skip(f"infertrace.telemetry.memory not importable yet: {exc}")
    cap = 200_000
    return module.MemoryStore(span_capacity=cap, log_capacity=cap, metric_capacity=cap, clock=clock)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Any]:
    """The store under test, empty."""
    if request.param == "reference":
        s: Any = ReferenceStore(clock=clock)
    elif request.param == "memory":
        s = _memory_store(clock)
    else:
        from infertrace.telemetry.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_dsn"), clock=clock, pool_size=3)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def oracle(clock: Clock) -> ReferenceStore:
    """The reference store that receives the same writes as ``store``."""
    return ReferenceStore(clock=clock)


class Both:
    """Writes go to the store under test and to the oracle alike."""

    def __init__(self, store: Any, oracle: ReferenceStore) -> None:
        self.store = store
        self.oracle = oracle

    def spans(self, spans: Sequence[Span]) -> None:
        self.store.write_batch(spans)
        self.oracle.write_batch(spans)

    def logs(self, records: Sequence[LogRecord]) -> None:
        self.store.write_logs(records)
        self.oracle.write_logs(records)

    def metrics(self, points: Sequence[MetricPoint]) -> None:
        self.store.write_metrics(points)
        self.oracle.write_metrics(points)

    def same(self, ask: Callable[[Any], Any]) -> Any:
        """Assert the store answers ``ask`` as the oracle does (floats within 1e-9)."""
        got, want = ask(self.store), ask(self.oracle)
        assert_close(got, want)
        return got


@pytest.fixture
def both(store: Any, oracle: ReferenceStore) -> Both:
    return Both(store, oracle)


def _flat(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(_flat(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, list | tuple):
        return tuple(_flat(v) for v in value)
    return value


def assert_close(got: Any, want: Any) -> None:
    """Equality, except floats compare with a relative tolerance of 1e-9."""
    g, w = _flat(got), _flat(want)
    if isinstance(w, float) and isinstance(g, float):
        assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (got, want)
    elif isinstance(w, tuple) and isinstance(g, tuple):
        assert len(g) == len(w), (got, want)
        for a, b in zip(g, w, strict=True):
            assert_close(a, b)
    else:
        assert g == w, (got, want)
