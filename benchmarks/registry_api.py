"""Registry API latency over HTTP, and how fast a change reaches an SSE client.

A collector with a registry of 100 pods (10 services x 10 pods) serves on
127.0.0.1 from a thread of this process; requests go one at a time over one
keep-alive connection and are timed to their last byte. The baseline of the
list is the same work without HTTP: ``service.pods()`` and each pod's response
model, in process. Event delivery: a status change is applied through the
service (as the sweeper or a REST call would) and timed until the frame is read
by 1 or 10 clients streaming ``/api/registry/events``. Server and clients share
one interpreter, so the figures include their contention for the GIL.

Run: ``python -m benchmarks.registry_api [--quick]``; writes
``benchmarks/results/registry_api.json``.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time

from benchmarks.report import report
from benchmarks.timing import p50_p99, timed_ms
from infertrace.api import install_query_api
from infertrace.api.registry import pod_json
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.registry import ServiceStatus, ThreadSafeRegistry
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore

SERVICES, PODS = 10, 10


def _request(conn: http.client.HTTPConnection, method: str, path: str) -> None:
    conn.request(method, path)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)


class _Reader(threading.Thread):
    """Reads one event stream; records when each event id arrived (perf_counter)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.conn.request("GET", "/api/registry/events")
        self.response = self.conn.getresponse()
        self.arrived: dict[int, float] = {}
        self.cond = threading.Condition()

    def run(self) -> None:
        try:
            while line := self.response.readline():
                if line.startswith(b"id: "):
                    with self.cond:
                        self.arrived[int(line[4:])] = time.perf_counter()
                        self.cond.notify_all()
        except (OSError, AttributeError):
            pass  # the connection was closed under the reader at the end of the run

    def wait_for(self, event_id: int) -> float:
        with self.cond:
            self.cond.wait_for(lambda: event_id in self.arrived, timeout=30)
            return self.arrived[event_id]


def _delivery(service: RegistryService, host: str, port: int, clients: int, n: int) -> list[float]:
    readers = [_Reader(host, port) for _ in range(clients)]
    for r in readers:
        r.start()
    samples = []
    for _ in range(n):
        draining = service.get("svc0:pod0").status is ServiceStatus.DRAINING
        t = time.perf_counter()
        service.set_status("svc0:pod0", "healthy" if draining else "draining")
        event_id = service.events.last_id
        samples.append((max(r.wait_for(event_id) for r in readers) - t) * 1000)
    for r in readers:
        r.conn.close()
    return samples


def run(n: int) -> list[dict[str, object]]:
    store = MemoryStore(span_capacity=16)
    service = RegistryService(ThreadSafeRegistry(), stale_after=3600.0)
    for s in range(SERVICES):
        for p in range(PODS):
            service.register(f"svc{s}", f"pod{p}", address=f"10.0.{s}.{p}", port=8000,
                             providers=[f"model-{s}"], metadata={"zone": "a"})  # fmt: skip
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, registry=service
    )
    endpoints = collector.start()
    try:
        conn = http.client.HTTPConnection(endpoints.host, endpoints.http_port, timeout=30)

        def listing() -> None:
            _request(conn, "GET", "/api/registry/pods")

        def in_process() -> None:
            [pod_json(service, info).model_dump_json() for info in service.pods()]

        for warm in (listing, in_process):
            timed_ms(warm, 20)
        list_http = p50_p99(timed_ms(listing, n))
        list_base = p50_p99(timed_ms(in_process, n))
        one = p50_p99(timed_ms(lambda: _request(conn, "GET", "/api/registry/pods/svc3:pod7"), n))
        beat = p50_p99(
            timed_ms(lambda: _request(conn, "POST", "/api/registry/pods/svc3:pod7/heartbeat"), n)
        )
        conn.close()
        sse_one = p50_p99(_delivery(service, endpoints.host, endpoints.http_port, 1, n // 4))
        sse_ten = p50_p99(_delivery(service, endpoints.host, endpoints.http_port, 10, n // 4))
    finally:
        collector.stop()
        service.store.close()
        store.close()
    rows: list[dict[str, object]] = []
    for label, (p50, p99), base in (
        ("GET /pods (100 pods)", list_http, list_base),
        ("GET /pods/{key}", one, None),
        ("POST /pods/{key}/heartbeat", beat, None),
        ("change -> SSE frame, 1 client", sse_one, None),
        ("change -> SSE frame, 10 clients (last)", sse_ten, None),
    ):
        rows.append({"metric": f"{label} p50", "value": p50, "unit": "ms",
                     "baseline": None if base is None else base[0]})  # fmt: skip
        rows.append({"metric": f"{label} p99", "value": p99, "unit": "ms",
                     "baseline": None if base is None else base[1]})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.registry_api")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n = 100 if args.quick else 1_000
    title = (
        f"Registry API over HTTP, {SERVICES * PODS} pods ({n} requests each; baseline: in process)"
    )
    report("registry_api", title, run(n))


if __name__ == "__main__":
    main()
