"""PostgreSQL outages: probes that never hang, and a shutdown that loses nothing acknowledged.

Two cases against ``infertrace serve --store postgres`` in a child process and
a throwaway PostgreSQL cluster on 127.0.0.1, each bounded in count and time
(about 20 s together):

1. The database stops. 50 concurrent ``/readyz`` plus ``/metrics``,
   ``/healthz``, ``/api/spans`` and ``/jaeger/api/services``, in several rounds:
   every answer within 1 s; readiness 503 naming the database, the query APIs
   503 with Retry-After, metrics and liveness 200. Then the database returns
   and readiness follows.
2. Clients send spans; the database stops; the collector gets SIGTERM. It must
   exit non-zero within its shutdown timeout plus a margin, naming what it left
   unacknowledged, and every span it answered 200 must be in the database
   once the database is back.
3. Clients send spans and the collector is killed (SIGKILL, database up):
   every span it answered 200 must be in the database.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import psycopg

from infertrace.collector.otlp.encode import encode_spans
from infertrace.telemetry.postgres import ThrowawayCluster
from infertrace.testing import ServedProcess
from infertrace.workload import Workload
from reliability import Row

TITLE = "PostgreSQL outage"
PROBES = 50
BOUND = 1.0
SHUTDOWN_TIMEOUT = 3.0
PB = {"Content-Type": "application/x-protobuf"}


def _serve(dsn: str) -> ServedProcess:
    return ServedProcess(
        "--store", "postgres", "--dsn", dsn,
        env={"INFERTRACE_SHUTDOWN_TIMEOUT": f"{SHUTDOWN_TIMEOUT:g}s"},
    )  # fmt: skip


async def _round(url: str) -> list[tuple[str, int, float, str, str]]:
    paths = [*["/readyz"] * PROBES, "/metrics", "/healthz", "/api/spans", "/jaeger/api/services"]
    limits = httpx.Limits(max_connections=len(paths))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(path: str) -> tuple[str, int, float, str, str]:
            started = time.perf_counter()
            r = await client.get(path)
            took = time.perf_counter() - started
            return path, r.status_code, took, r.headers.get("retry-after", ""), r.text

        return list(await asyncio.gather(*(one(p) for p in paths)))


def _wait(check: object, bound: float) -> float | None:
    """Seconds until ``check()`` is true, or None after ``bound`` seconds."""
    assert callable(check)
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def probes_during_outage(cluster: ThrowawayCluster, rounds: int) -> list[Row]:
    served = _serve(cluster.dsn)
    url = served.url
    try:
        http = httpx.Client(base_url=url, timeout=30)
        body = encode_spans(Workload(seed=1, start_ns=time.time_ns()).spans(100))
        http.post("/v1/traces", content=body.SerializeToString(), headers=PB)
        cluster.stop("immediate")
        noticed = _wait(lambda: http.get("/readyz").status_code == 503, 10)
        answers = [a for _ in range(rounds) for a in asyncio.run(_round(url))]
        cluster.start()
        back = _wait(lambda: http.get("/readyz").status_code == 200, 20)
        http.close()
    finally:
        served.kill()

    def worst(path: str) -> float:
        return max(t for p, _, t, _, _ in answers if p == path)

    ready = [a for a in answers if a[0] == "/readyz"]
    ready_ok = all(s == 503 and "database" in text for _, s, _, _, text in ready)
    api = [a for a in answers if a[0].startswith(("/api/", "/jaeger/"))]
    api_ok = all(s == 503 and retry for _, s, _, retry, _ in api)
    up = [a for a in answers if a[0] in ("/metrics", "/healthz")]
    up_ok = all(s == 200 for _, s, _, _, _ in up)
    slowest = max(t for _, _, t, _, _ in answers)
    return [
        Row(
            "/readyz notices the database stopped",
            "1 outage",
            noticed is not None and noticed < 5,
            f"503 after {noticed:.1f} s" if noticed is not None else "never",
        ),
        Row(
            f"{PROBES} concurrent /readyz during the outage",
            f"{len(ready)} probes, {rounds} rounds",
            ready_ok and worst("/readyz") <= BOUND,
            f"all 503 naming the database, slowest {worst('/readyz') * 1000:.0f} ms",
        ),
        Row(
            "/metrics and /healthz alongside them",
            f"{len(up)} requests",
            up_ok and max(worst("/metrics"), worst("/healthz")) <= BOUND,
            f"200, slowest {max(worst('/metrics'), worst('/healthz')) * 1000:.0f} ms",
        ),
        Row(
            "/api/spans, /api/services, Jaeger services during the outage",
            f"{len(api)} requests",
            api_ok and slowest <= BOUND,
            f"503 + Retry-After, slowest {max(t for _, _, t, _, _ in api) * 1000:.0f} ms",
        ),
        Row(
            "readiness after the database returns",
            "1 restart",
            back is not None,
            f"200 after {back:.1f} s" if back is not None else "never",
        ),
    ]


class _Senders:
    """``clients`` threads POSTing 200-span requests until stopped; what was acked."""

    def __init__(self, url: str, clients: int, seed: int) -> None:
        self.url = url
        self.acked: set[tuple[bytes, bytes]] = set()
        self.answers: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, args=(seed + i,)) for i in range(clients)
        ]
        for t in self._threads:
            t.start()

    def _send(self, seed: int) -> None:
        w = Workload(seed=seed, start_ns=time.time_ns())
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                spans = w.spans(200)
                try:
                    body = encode_spans(spans).SerializeToString()
                    r = http.post(f"{self.url}/v1/traces", content=body, headers=PB)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.answers[status] = self.answers.get(status, 0) + 1
                    if status == 200:
                        self.acked.update((s.trace_id, s.span_id) for s in spans)
                if status != 200:
                    time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def _stored(dsn: str) -> set[tuple[bytes, bytes]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT trace_id, span_id FROM spans").fetchall()
    return {(bytes(r[0]), bytes(r[1])) for r in rows}


def sigkill_mid_ingest(cluster: ThrowawayCluster, clients: int) -> list[Row]:
    before = _stored(cluster.dsn)
    served = _serve(cluster.dsn)
    senders = _Senders(served.url, clients, seed=300)
    try:
        time.sleep(2.0)
        served.kill()
    finally:
        senders.stop()
        served.kill()
    lost = len(senders.acked - (_stored(cluster.dsn) - before))
    return [
        Row(
            "spans answered 200, then SIGKILL (database up)",
            f"{len(senders.acked):,} spans acked",
            lost == 0 and len(senders.acked) > 0,
            f"{lost} lost",
        )
    ]


def sigterm_with_database_down(cluster: ThrowawayCluster, clients: int) -> list[Row]:
    served = _serve(cluster.dsn)
    proc = served.proc
    senders = _Senders(served.url, clients, seed=100)
    took = float("inf")
    try:
        time.sleep(2.0)
        cluster.stop("immediate")
        # Let the senders' next requests reach the writer and wait on a commit that
        # cannot come: those are what SIGTERM must leave unacknowledged (a SIGTERM
        # that finds nothing in flight rightly exits 0).
        time.sleep(0.5)
        signalled = time.monotonic()
        served.stop(timeout=SHUTDOWN_TIMEOUT + 30)
        took = time.monotonic() - signalled
    finally:
        senders.stop()
        served.kill()
        err = served.stderr()
    cluster.start()
    lost = len(senders.acked - _stored(cluster.dsn))
    said = re.search(r"left unacknowledged: (.*)", err)
    refused = sum(n for s, n in senders.answers.items() if s != 200)
    return [
        Row(
            "spans answered 200, then SIGTERM with the database down",
            f"{len(senders.acked):,} spans acked, {refused} requests refused",
            lost == 0 and len(senders.acked) > 0,
            f"{lost} lost after the database restarted",
        ),
        Row(
            f"serve exits non-zero within --shutdown-timeout {SHUTDOWN_TIMEOUT:g}s",
            "1 SIGTERM",
            proc.returncode not in (0, None) and took < SHUTDOWN_TIMEOUT + 10 and bool(said),
            f"exit {proc.returncode} after {took:.1f} s: "
            + (said.group(1)[:110] if said else err.strip()[-110:]),
        ),
    ]


def run(quick: bool) -> list[Row]:
    with ThrowawayCluster(settings={"fsync": "off", "full_page_writes": "off"}) as cluster:
        rows = probes_during_outage(cluster, rounds=1 if quick else 3)
        rows += sigterm_with_database_down(cluster, clients=4 if quick else 8)
        rows += sigkill_mid_ingest(cluster, clients=4 if quick else 8)
    return rows
