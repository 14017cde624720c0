"""The conformance suite's fixtures: one suite, every real backend, one oracle.

``store`` is a real backend under test (memory, PostgreSQL), empty; ``oracle`` a
ReferenceStore that receives the same writes (through ``both``) and defines the
expected answers. The oracle is never a ``store``: comparing it with itself
proves nothing. It is checked on its own against answers worked out by hand
(``test_oracle.py``), and ``each_store`` runs the tests that state their expected
answer themselves over the oracle too. All stores share a fake ``clock`` so
purges are deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pytest

from infertrace.model import LogRecord, MetricPoint, Span
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.reference import ReferenceStore
from tests.pg_schema import fresh_schema

START_NS = 1_700_000_000_000_000_000
BACKENDS = ["memory", "postgres"]
"""The stores checked against the oracle."""
EVERY_STORE = ["reference", *BACKENDS]
"""For tests whose expected answers are written in the test, the oracle included."""
CAPACITY = 200_000


class Clock:
    """A settable clock in unix nanoseconds."""

    def __init__(self, now: int = START_NS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _open(kind: str, request: pytest.FixtureRequest, clock: Clock, stack: ExitStack) -> Any:
    """A new, empty store of ``kind``, closed (and its schema dropped) by ``stack``."""
    if kind == "reference":
        s: Any = ReferenceStore(clock=clock)
    elif kind == "memory":
        s = MemoryStore(CAPACITY, CAPACITY, CAPACITY, clock=clock)
    else:
        from infertrace.telemetry.postgres import PostgresStore

        dsn = stack.enter_context(fresh_schema(request.getfixturevalue("pg_server")))
        s = PostgresStore(dsn, clock=clock, pool_size=3)
    stack.callback(s.close)
    return s


@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Callable[[], Any]]:
    """Opens empty stores of one real backend, each on its own (own schema in PostgreSQL)."""
    with ExitStack() as stack:
        yield lambda: _open(request.param, request, clock, stack)


@pytest.fixture
def store(new_store: Callable[[], Any]) -> Any:
    """The real backend under test, empty."""
    return new_store()


@pytest.fixture(params=EVERY_STORE)
def each_store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Any]:
    """Any store, the oracle included: only for tests that state the expected answer."""
    with ExitStack() as stack:
        yield _open(request.param, request, clock, stack)


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
