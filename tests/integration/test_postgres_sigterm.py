"""``infertrace serve --store postgres`` stopped while clients send: nothing acknowledged lost.

SIGTERM with the database down: every span answered 200 must be in the
database after it restarts, and the process must exit non-zero within its
shutdown timeout and say what it left unacknowledged. SIGKILL mid-ingest (the
database up): every span answered 200 is in the database.
"""

from __future__ import annotations

import threading
import time

import httpx
import psycopg

from infertrace.collector.otlp.encode import encode_spans
from infertrace.telemetry.postgres import ThrowawayCluster
from infertrace.testing import ServedProcess
from infertrace.workload import Workload

SHUTDOWN_SECONDS = 3.0
CLIENTS = 6
PB = {"Content-Type": "application/x-protobuf"}


def _serve(dsn: str) -> ServedProcess:
    return ServedProcess(
        "--store", "postgres", "--dsn", dsn, "--shutdown-timeout", f"{SHUTDOWN_SECONDS:g}s"
    )


def _stored(dsn: str) -> set[tuple[bytes, bytes]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT trace_id, span_id FROM spans").fetchall()
    return {(bytes(r[0]), bytes(r[1])) for r in rows}


def test_sigterm_with_the_database_down_loses_nothing_acknowledged(
    own_cluster: ThrowawayCluster,
) -> None:
    served = _serve(own_cluster.dsn)
    url = served.url
    acked: set[tuple[bytes, bytes]] = set()
    answers: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(seed: int) -> None:
        w = Workload(seed=seed, start_ns=time.time_ns())
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                spans = w.spans(200)
                try:
                    r = http.post(
                        f"{url}/v1/traces",
                        content=encode_spans(spans).SerializeToString(),
                        headers=PB,
                    )
                except httpx.HTTPError:
                    status = 0  # refused or cut: not acknowledged
                else:
                    status = r.status_code
                with lock:
                    answers[status] = answers.get(status, 0) + 1
                    if status == 200:
                        acked.update((s.trace_id, s.span_id) for s in spans)
                if status != 200:
                    time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
        with lock:
            assert answers.get(200, 0) > 0, answers
        own_cluster.stop("immediate")
        # Let the senders' next requests reach the writer and wait on a commit that
        # cannot come: those are what SIGTERM must leave unacknowledged (a SIGTERM
        # that finds nothing in flight rightly exits 0).
        time.sleep(0.5)
        signalled = time.monotonic()
        code = served.stop(timeout=SHUTDOWN_SECONDS + 20)  # SIGTERM, then wait
        took = time.monotonic() - signalled
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        served.kill()
    err = served.stderr()
    assert code != 0, err
    assert took < SHUTDOWN_SECONDS + 10, took
    assert "left unacknowledged" in err and "spans" in err and "never acknowledged" in err, err
    own_cluster.start()
    stored = _stored(own_cluster.dsn)
    missing = acked - stored
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost; {answers}"
    assert len(acked) >= 200


def test_sigkill_mid_ingest_loses_nothing_acknowledged(pg_dsn: str) -> None:
    served = _serve(pg_dsn)
    url = served.url
    acked: set[tuple[bytes, bytes]] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(seed: int) -> None:
        w = Workload(seed=seed, start_ns=time.time_ns())
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                spans = w.spans(500)
                body = encode_spans(spans).SerializeToString()
                try:
                    r = http.post(f"{url}/v1/traces", content=body, headers=PB)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200:
                    with lock:
                        acked.update((s.trace_id, s.span_id) for s in spans)

    threads = [threading.Thread(target=client, args=(50 + i,)) for i in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        time.sleep(2.0)
        served.kill()  # no shutdown at all: only what was committed survives
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        served.kill()
    missing = acked - _stored(pg_dsn)
    assert len(acked) >= 500
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged spans lost"
