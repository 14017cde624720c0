"""The pod registry end to end: ``infertrace serve`` as a user runs it, fed over OTLP/HTTP,
with the registry in memory and on PostgreSQL (``--store postgres``).

Two pods (one service, different ``service.instance.id``) send spans and are
registered by their telemetry; one goes quiet past ``--stale-after 1s`` and an
SSE client on ``/api/registry/events`` sees it turn unhealthy while the other
stays healthy; resuming with ``Last-Event-ID`` returns only later events.
Every wait is bounded (socket timeouts, deadlines).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infertrace.collector.otlp.encode import encode_spans
from infertrace.model import Span
from infertrace.testing import ServedProcess

PB = {"Content-Type": "application/x-protobuf"}
SERVICE = "vllm-llama"
MODEL = "meta-llama/Llama-3.1-8B"
STALE_AFTER = 1.0
DEADLINE = 15.0
"""Seconds any one expected event may take (a busy shared machine), far above the 1 s rule."""


@dataclass
class Server:
    served: ServedProcess
    url: str
    host: str
    port: int


@pytest.fixture(params=["memory", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """``infertrace serve`` on a free port, the registry in memory or on PostgreSQL."""
    args = ["--stale-after", f"{STALE_AFTER}s"]
    if request.param == "postgres":
        args += ["--store", "postgres", "--dsn", request.getfixturevalue("pg_dsn")]
    with ServedProcess(*args, env={"INFERTRACE_DEGRADED_ERROR_RATE": "0.9"}, grace=20) as served:
        assert "/api/registry/events" in served.banner  # the banner says where the registry is
        yield Server(served, served.url, "127.0.0.1", served.http_port)


def send(url: str, pod: str, n: int) -> None:
    """One OTLP/HTTP request with a span of ``pod`` (its ``n``-th)."""
    span = Span(
        os.urandom(16),
        os.urandom(8),
        SERVICE,
        "chat",
        time.time_ns() - 5_000_000,
        4_000_000,
        model_name=MODEL,
        resource_attributes={"service.name": SERVICE, "service.instance.id": pod, "n": n},
    )
    body = encode_spans([span]).SerializeToString()
    response = httpx.post(url + "/v1/traces", content=body, headers=PB, timeout=10)
    assert response.status_code == 200, response.text


class Sse:
    """A server-sent event reader over http.client with a bounded socket timeout."""

    def __init__(self, server: Server, path: str, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=DEADLINE)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("content-type", "").startswith("text/event-stream")

    def next(self) -> dict[str, Any]:
        """The next frame with data: its ``id`` (None without), ``event`` and ``data``."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode("utf-8")
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if "data" in fields:
                    raw = fields.get("id")
                    return {
                        "id": int(raw) if raw else None,
                        "event": fields.get("event"),
                        "data": json.loads(fields["data"]),
                    }
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    def until(self, wanted: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Frames up to the first that ``wanted(frame)`` accepts: (it, the ones before)."""
        before: list[dict[str, Any]] = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            frame = self.next()
            if wanted(frame):
                return frame, before
            before.append(frame)
        raise AssertionError(f"no wanted event in {DEADLINE} s; saw {before}")

    def close(self) -> None:
        self.conn.close()


def keep_sending(url: str, pod: str, stop: threading.Event) -> None:
    n = 0
    while not stop.wait(STALE_AFTER / 4):
        n += 1
        send(url, pod, n)


def test_a_quiet_pod_turns_unhealthy_on_the_stream_and_resume_is_exact(server: Server) -> None:
    for pod in ("pod-a", "pod-b"):
        send(server.url, pod, 0)
    pods = httpx.get(server.url + "/api/registry/pods", params={"name": SERVICE}).json()["pods"]
    assert [(p["key"], p["status"], p["origin"]) for p in pods] == [
        (f"{SERVICE}:pod-a", "healthy", "telemetry"),
        (f"{SERVICE}:pod-b", "healthy", "telemetry"),
    ]
    assert all(p["providers"] == [MODEL] for p in pods)

    stream = Sse(server, f"/api/registry/events?group={SERVICE}&last_event_id=0")
    stop = threading.Event()
    alive = threading.Thread(target=keep_sending, args=(server.url, "pod-a", stop), daemon=True)
    alive.start()
    try:
        registered, _ = stream.until(lambda f: f["event"] == "registered")
        assert registered["data"]["key"].startswith(f"{SERVICE}:")

        def b_unhealthy(frame: dict[str, Any]) -> bool:
            data = frame["data"]
            return bool(frame["event"] == "status_changed" and data["key"] == f"{SERVICE}:pod-b")

        change, before = stream.until(b_unhealthy)
        assert change["data"]["status"] == "unhealthy"
        assert change["data"]["previous_status"] == "healthy"
        assert change["data"]["id"] == change["id"]
        assert change["data"]["service_name"] == SERVICE
        # pod-a kept sending: it never turned unhealthy
        assert not [f for f in before if f["data"]["key"].endswith("pod-a")
                    and f["data"]["status"] == "unhealthy"]  # fmt: skip
        doc = httpx.get(f"{server.url}/api/registry/pods/{SERVICE}:pod-a").json()
        assert doc["status"] == "healthy"
    finally:
        stop.set()
        alive.join(timeout=DEADLINE)
        stream.close()

    # Resume after the change: only later events come, starting with pod-b's recovery.
    resumed = Sse(
        server, f"/api/registry/events?group={SERVICE}", {"Last-Event-ID": str(change["id"])}
    )
    try:
        send(server.url, "pod-b", 1)
        recovered, skipped = resumed.until(
            lambda f: f["data"]["key"] == f"{SERVICE}:pod-b" and f["data"]["status"] == "healthy"
        )
        assert all(f["id"] > change["id"] for f in [*skipped, recovered])
        assert recovered["event"] == "status_changed"
        assert recovered["data"]["previous_status"] == "unhealthy"
        recent = httpx.get(
            server.url + "/api/registry/events/recent",
            params={"after": change["id"], "group": SERVICE},
        ).json()
        ids = [e["id"] for e in recent["events"]]
        assert ids and min(ids) > change["id"]
        assert recovered["id"] in ids
    finally:
        resumed.close()

    text = httpx.get(server.url + "/metrics").text
    assert re.search(r'^infertrace_registry_pods\{status="healthy"\} 2\.0$', text, re.MULTILINE)
    published = re.search(r"^infertrace_registry_events_published_total (\S+)$", text, re.M)
    assert published and float(published.group(1)) >= recent["last_id"]


def test_serve_stops_promptly_with_an_open_event_stream(server: Server) -> None:
    stream = Sse(server, "/api/registry/events")
    send(server.url, "pod-a", 0)
    assert stream.next()["event"] == "registered"
    started = time.monotonic()
    proc = server.served.proc
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    out = proc.stdout.read()  # to its end: the process has exited or closed it
    assert proc.wait(timeout=20) == 0, server.served.stderr()
    assert "collector stopped" in out
    # the stream ended with the server, rather than holding its 12 s grace period
    assert time.monotonic() - started < 10
    while stream.response.readline():  # to the end: a stream left open times out instead
        pass
    stream.close()
