"""OTLP answers wait for durability (collector/durability.py) without blocking the loop."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from infertrace.collector.durability import collected
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.engine.groupwait import GroupWaiter
from infertrace.errormap import answer_for
from infertrace.errors import LogUnavailable
from infertrace.registry.processor import RegistryProcessor
from infertrace.registry.service import RegistryService
from infertrace.registry.threadsafe import ThreadSafeRegistry
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.protocols import writes_block
from infertrace.workload import Workload

from .helpers import running

SPANS = Workload(seed=7).spans(20)
BODY = encode_spans(SPANS).SerializeToString()
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class GatedJournal:
    """A journal whose ``wait`` blocks until ``gate`` is set, then fails if ``fail``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tables: list[str] = []
        self.waited: list[int] = []
        self.gate = threading.Event()
        self.fail = False

    def append(self, table: str, payload: bytes | memoryview) -> int:
        with self._lock:
            self.tables.append(table)
            return len(self.tables)

    def wait(self, lsn: int) -> None:
        if not self.gate.wait(20):
            raise OSError(errno.ETIMEDOUT, "test gate never opened")
        with self._lock:
            self.waited.append(lsn)
        if self.fail:
            raise OSError(errno.EIO, f"fsync failed for {lsn}")


@pytest.fixture
def journaled() -> Iterator[tuple[MemoryStore, GatedJournal]]:
    journal = GatedJournal()
    with MemoryStore(span_capacity=10_000) as store:
        store.attach(journal)
        yield store, journal
        journal.gate.set()
        store.attach(None)


def _post(url: str, out: dict[str, Any]) -> None:
    out["response"] = httpx.post(
        url + "/v1/traces",
        content=BODY,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )


def _grpc(target: str, out: dict[str, Any]) -> None:
    with grpc.insecure_channel(target) as channel:
        try:
            out["response"] = channel.unary_unary(TRACE_EXPORT)(BODY, timeout=30)
        except grpc.RpcError as exc:
            out["error"] = exc


def test_a_memory_store_with_a_journal_does_not_block_writes(
    journaled: tuple[MemoryStore, GatedJournal],
) -> None:
    store, _ = journaled
    assert not writes_block(store)


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_the_answer_comes_only_after_the_wait_and_the_loop_serves_meanwhile(
    journaled: tuple[MemoryStore, GatedJournal], transport: str
) -> None:
    store, journal = journaled
    with running(store) as endpoints:
        out: dict[str, Any] = {}
        if transport == "http":
            sender = threading.Thread(target=_post, args=(endpoints.http_url, out))
        else:
            sender = threading.Thread(target=_grpc, args=(endpoints.grpc_target, out))
        sender.start()
        sender.join(1.0)
        assert sender.is_alive() and not out, "answered before the log was durable"
        # the spans are stored (visible) and the event loop answers other requests
        health = httpx.get(endpoints.http_url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert store.stats().spans.count == len(SPANS)
        assert journal.waited == []
        journal.gate.set()
        sender.join(30)
    assert not sender.is_alive() and "error" not in out
    if transport == "http":
        assert out["response"].status_code == 200
    assert journal.tables == ["spans"] and journal.waited == [1]


def test_a_failed_wait_answers_503_over_http_and_unavailable_over_grpc(
    journaled: tuple[MemoryStore, GatedJournal],
) -> None:
    store, journal = journaled
    journal.fail = True
    journal.gate.set()
    expected = answer_for(LogUnavailable("x"))
    with running(store) as endpoints:
        http_out: dict[str, Any] = {}
        _post(endpoints.http_url, http_out)
        grpc_out: dict[str, Any] = {}
        _grpc(endpoints.grpc_target, grpc_out)
    response = http_out["response"]
    assert response.status_code == expected.status == 503
    assert response.headers["retry-after"] == expected.headers["Retry-After"]
    error = grpc_out["error"]
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert journal.waited == [1, 2]  # each request's record was asked about, and failed


def test_a_processors_registry_record_is_covered_by_the_requests_one_wait(
    journaled: tuple[MemoryStore, GatedJournal],
) -> None:
    store, journal = journaled
    registry = ThreadSafeRegistry()
    registry.attach(journal)
    service = RegistryService(registry)
    pipeline = Pipeline(store, processors=[RegistryProcessor(service)])
    outcome, waits = collected(pipeline.export, Signal.TRACES, BODY)
    assert outcome.accepted == len(SPANS) and journal.waited == []
    # the workload's pods (one per distinct resource) were logged after the spans
    pods = {(s.resource_attributes.get("service.name"), s.service_name) for s in SPANS}
    assert journal.tables[0] == "spans" and "registry" in journal.tables[1:]
    assert len(journal.tables) >= 2 and pods
    expected = list(range(1, len(journal.tables) + 1))
    assert sorted(lsn for _, lsn in waits.highest()) == [expected[-1]]
    done = threading.Event()
    results: list[OSError | None] = []
    with GroupWaiter() as waiter:
        waiter.submit(waits, lambda err: (results.append(err), done.set()))
        assert not done.wait(0.3)
        journal.gate.set()
        assert done.wait(10)
    assert results == [None]
    # the group's one wait for the highest LSN, then every other record of the request
    assert journal.waited == [expected[-1], *expected[:-1]]
    registry.close()
