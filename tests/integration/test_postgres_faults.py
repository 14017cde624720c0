"""Fault tests against a real server: crash it mid-ingest, restart it, lose nothing."""

from __future__ import annotations

import time

import psycopg

from infertrace.errors import StoreOverloaded
from infertrace.model import Span
from infertrace.telemetry.postgres import PostgresStore, ThrowawayCluster
from infertrace.workload import Workload


def _stored(dsn: str) -> list[tuple[bytes, bytes]]:
    with psycopg.connect(dsn) as conn:
        return [
            (bytes(r[0]), bytes(r[1]))
            for r in conn.execute("SELECT trace_id, span_id FROM spans").fetchall()
        ]


def test_server_down_mid_ingest_then_back(own_cluster: ThrowawayCluster) -> None:
    w = Workload(seed=3)
    acked: list[Span] = []
    store = PostgresStore(own_cluster.dsn, max_queued_rows=6_000, connect_timeout=10)
    try:
        for _ in range(5):
            batch = w.spans(300)
            store.write_batch(batch)
            acked += batch
        own_cluster.stop("immediate")  # a crash, while batches may still be queued
        refusals: list[StoreOverloaded] = []
        deadline = time.monotonic() + 30
        while len(refusals) < 3 and time.monotonic() < deadline:
            batch = w.spans(300)
            try:
                store.write_batch(batch)
                acked += batch
            except StoreOverloaded as exc:
                refusals.append(exc)
            time.sleep(0.05)
        assert len(refusals) >= 3, "writes were never refused while the server was down"
        assert all(e.retry_after > 0 for e in refusals)

        own_cluster.start()
        deadline = time.monotonic() + 60
        batch = w.spans(300)
        while True:  # writing resumes by itself once the server is back
            try:
                store.write_batch(batch)
                acked += batch
                break
            except StoreOverloaded:
                assert time.monotonic() < deadline, "writes did not resume"
                time.sleep(0.2)
        store.flush(60)
        stored = _stored(own_cluster.dsn)
        assert len(stored) == len(acked)
        assert sorted(stored) == sorted((s.trace_id, s.span_id) for s in acked)
    finally:
        store.close()


def test_clean_shutdown_flushes_the_queue(own_cluster: ThrowawayCluster) -> None:
    w = Workload(seed=4)
    store = PostgresStore(own_cluster.dsn)
    written = 0
    for _ in range(20):
        store.write_batch(w.spans(500))
        written += 500
    store.close()
    assert len(_stored(own_cluster.dsn)) == written
