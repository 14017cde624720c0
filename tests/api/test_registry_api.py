"""The registry's REST routes and event stream on a real server, field by field.

Every expected value is computed here from what the test sent (bodies, filters,
the clock around the call), never read back from the code under test.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infertrace.api import install_query_api, registry_events
from infertrace.collector.server import BackgroundCollector, Endpoints
from infertrace.config import Settings
from infertrace.registry import ThreadSafeRegistry
from infertrace.registry.events import EventLog
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore
from tests.collector.helpers import running

STATUSES = ("healthy", "unhealthy", "degraded", "unknown", "draining")


@dataclass
class Server:
    endpoints: Endpoints
    client: httpx.Client
    service: RegistryService
    collector: BackgroundCollector

    def register(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/api/registry/pods", json=body)
        assert response.status_code == 201, response.text
        doc: dict[str, Any] = response.json()
        return doc


@contextmanager
def serving(history: int = 10_000, **settings: Any) -> Iterator[Server]:
    store = MemoryStore()
    service = RegistryService(ThreadSafeRegistry(), EventLog(history), stale_after=3600.0)
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0, **settings), install_query_api, registry=service
    )
    endpoints = collector.start()
    try:
        with httpx.Client(base_url=endpoints.http_url, timeout=10) as client:
            yield Server(endpoints, client, service, collector)
    finally:
        collector.stop()
        service.store.close()
        store.close()


@pytest.fixture
def server() -> Iterator[Server]:
    with serving() as s:
        yield s


POD_A: dict[str, Any] = {
    "service_name": "vllm-llama",
    "pod_name": "pod-a",
    "address": "10.0.0.7",
    "port": 8000,
    "health_check_url": None,
    "notification_url": "http://127.0.0.1:9/hook",
    "providers": ["meta-llama/Llama-3.1-8B", "Qwen/Qwen2-7B"],
    "metadata": {"zone": "eu-1", "gpu": "a100"},
}


def assert_pod_matches(pod: dict[str, Any], body: dict[str, Any], lo: int, hi: int) -> None:
    """``pod`` is the registration ``body`` as registered between ``lo`` and ``hi``."""
    assert pod["key"] == f"{body['service_name']}:{body['pod_name']}"
    for field in ("service_name", "pod_name", "address", "port", "notification_url"):
        assert pod[field] == body.get(field, {"address": "", "port": 0}.get(field)), field
    assert pod["health_check_url"] == body.get("health_check_url")
    assert pod["providers"] == sorted(body.get("providers", []))
    assert pod["metadata"] == body.get("metadata", {})
    assert pod["origin"] == "registration"
    assert lo <= pod["registered_at_unix_nano"] <= hi
    assert pod["last_seen_unix_nano"] is None  # set by heartbeats and telemetry
    assert pod["error_rate"] is None  # no spans yet
    # A pod with a health-check URL is unknown until checked; without one, healthy.
    assert pod["status"] == ("unknown" if body.get("health_check_url") else "healthy")


# --- pods ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        POD_A,
        {"service_name": "tgi", "pod_name": "p1"},
        {**POD_A, "pod_name": "pod-h", "health_check_url": "http://127.0.0.1:9/health"},
    ],
    ids=["full", "minimal", "with-health-check"],
)
def test_register_answers_201_with_the_pod_and_get_returns_it(
    server: Server, body: dict[str, Any]
) -> None:
    lo = time.time_ns()
    pod = server.register(**body)
    hi = time.time_ns()
    assert_pod_matches(pod, body, lo, hi)
    got = server.client.get(f"/api/registry/pods/{pod['key']}")
    assert got.status_code == 200
    assert got.json() == pod


def test_register_again_keeps_registered_at_and_replaces_the_fields(server: Server) -> None:
    first = server.register(**POD_A)
    changed = {**POD_A, "address": "10.0.0.8", "providers": ["m-x"], "metadata": {"k": "v"}}
    second = server.register(**changed)
    assert second["registered_at_unix_nano"] == first["registered_at_unix_nano"]
    assert second["address"] == "10.0.0.8"
    assert set(second["providers"]) >= {"m-x"}
    assert second["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_name": "a:b", "pod_name": "p"}, "service_name"),
        ({"service_name": "a", "pod_name": "p:q"}, "pod_name"),
        ({"service_name": "", "pod_name": "p"}, "service_name"),
        ({"service_name": "a"}, "pod_name"),
        ({"service_name": "a", "pod_name": "p", "port": 70000}, "port"),
        ({"service_name": "a", "pod_name": "p", "port": -1}, "port"),
        ({"service_name": "a", "pod_name": "p", "providers": "m"}, "providers"),
        ({"service_name": "a", "pod_name": "p", "providers": [""]}, "providers"),
        ({"service_name": "a", "pod_name": "p", "metadata": {"k": 1}}, "metadata"),
    ],
)
def test_a_bad_registration_is_422_naming_the_field(
    server: Server, body: dict[str, Any], field: str
) -> None:
    response = server.client.post("/api/registry/pods", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in item["loc"] for item in detail), detail
    assert server.client.get("/api/registry/pods").json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/registry/pods/nobody:here"),
        ("POST", "/api/registry/pods/nobody:here/heartbeat"),
        ("DELETE", "/api/registry/pods/nobody:here"),
    ],
)
def test_an_unknown_pod_is_404_naming_the_key(server: Server, method: str, path: str) -> None:
    response = server.client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"detail": "service 'nobody:here' not found"}


def test_an_unknown_pod_status_change_is_404(server: Server) -> None:
    response = server.client.put("/api/registry/pods/x:y/status", json={"status": "draining"})
    assert response.status_code == 404
    assert "'x:y'" in response.json()["detail"]


@pytest.mark.parametrize("key", ["nocolon", "a:b:c", ":p"])
def test_a_malformed_key_is_422_naming_key(server: Server, key: str) -> None:
    response = server.client.get(f"/api/registry/pods/{key}")
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"][-1] == "key"
    assert repr(key) in item["msg"]


REGISTERED = [
    ("vllm-llama", "a", ["llama-8b"]),
    ("vllm-llama", "b", ["llama-8b", "llama-70b"]),
    ("vllm-qwen", "a", ["qwen-7b"]),
    ("tgi", "z", []),
]


def model_filter(provider: str | None, name: str | None, draining: set[str]) -> list[str]:
    """The keys the list should answer, computed from REGISTERED."""
    keys = []
    for service, pod, providers in REGISTERED:
        if name is not None and service != name:
            continue
        if provider is not None and provider not in providers:
            continue
        keys.append(f"{service}:{pod}")
    return sorted(keys)


@pytest.mark.parametrize(
    ("params", "name", "provider", "status"),
    [
        ({}, None, None, None),
        ({"name": "vllm-llama"}, "vllm-llama", None, None),
        ({"provider": "llama-8b"}, None, "llama-8b", None),
        ({"model": "llama-70b"}, None, "llama-70b", None),
        ({"name": "vllm-qwen", "model": "llama-8b"}, "vllm-qwen", "llama-8b", None),
        ({"status": "draining"}, None, None, "draining"),
        ({"status": "healthy", "name": "vllm-llama"}, "vllm-llama", None, "healthy"),
        ({"name": "nobody"}, "nobody", None, None),
    ],
)
def test_list_filters_by_name_provider_and_status(
    server: Server,
    params: dict[str, str],
    name: str | None,
    provider: str | None,
    status: str | None,
) -> None:
    for service, pod, providers in REGISTERED:
        server.register(service_name=service, pod_name=pod, providers=providers)
    draining = {"vllm-llama:b", "tgi:z"}
    for key in draining:
        assert server.client.put(
            f"/api/registry/pods/{key}/status", json={"status": "draining"}
        ).is_success
    expected = model_filter(provider, name, draining)
    if status == "draining":
        expected = [k for k in expected if k in draining]
    elif status == "healthy":
        expected = [k for k in expected if k not in draining]
    doc = server.client.get("/api/registry/pods", params=params).json()
    assert [p["key"] for p in doc["pods"]] == expected
    assert doc["count"] == len(expected)


@pytest.mark.parametrize("status", ["sick", "HEALTHY!", "1"])
def test_a_bad_status_filter_is_422_naming_status(server: Server, status: str) -> None:
    response = server.client.get("/api/registry/pods", params={"status": status})
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["query", "status"]


def test_provider_and_model_must_agree(server: Server) -> None:
    response = server.client.get("/api/registry/pods", params={"provider": "a", "model": "b"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "model"


def test_heartbeat_moves_last_seen_forward(server: Server) -> None:
    pod = server.register(**POD_A)
    time.sleep(0.01)
    lo = time.time_ns()
    response = server.client.post(f"/api/registry/pods/{pod['key']}/heartbeat")
    hi = time.time_ns()
    assert response.status_code == 200
    beat = response.json()
    assert lo <= beat["last_seen_unix_nano"] <= hi
    assert beat["registered_at_unix_nano"] == pod["registered_at_unix_nano"]


@pytest.mark.parametrize("status", STATUSES)
def test_put_status_sets_it_and_stamps_the_change(server: Server, status: str) -> None:
    pod = server.register(**POD_A)
    lo = time.time_ns()
    response = server.client.put(f"/api/registry/pods/{pod['key']}/status", json={"status": status})
    hi = time.time_ns()
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == status
    if status != pod["status"]:
        assert lo <= doc["last_status_change_unix_nano"] <= hi
    assert server.client.get(f"/api/registry/pods/{pod['key']}").json()["status"] == status


@pytest.mark.parametrize("body", [{"status": "sleepy"}, {}, {"state": "draining"}])
def test_a_bad_status_body_is_422(server: Server, body: dict[str, str]) -> None:
    pod = server.register(**POD_A)
    response = server.client.put(f"/api/registry/pods/{pod['key']}/status", json=body)
    assert response.status_code == 422
    assert any("status" in item["loc"] for item in response.json()["detail"])


def test_delete_answers_204_and_the_pod_is_gone(server: Server) -> None:
    pod = server.register(**POD_A)
    response = server.client.delete(f"/api/registry/pods/{pod['key']}")
    assert response.status_code == 204
    assert response.content == b""
    assert server.client.get(f"/api/registry/pods/{pod['key']}").status_code == 404
    assert server.client.get("/api/registry/pods").json() == {"pods": [], "count": 0}


# --- subscriptions ---------------------------------------------------------------


def test_subscriptions_crud(server: Server) -> None:
    r1 = server.register(service_name="router", pod_name="r1")["key"]
    r2 = server.register(service_name="router", pod_name="r2")["key"]
    base = "/api/registry/subscriptions"
    for key, group in ((r1, "vllm-llama"), (r1, "tgi"), (r2, "tgi")):
        response = server.client.put(f"{base}/{key}/{group}")
        assert response.status_code == 200
        assert response.json() == {"subscriber_key": key, "group": group}
    assert server.client.put(f"{base}/{r1}/tgi").status_code == 200  # idempotent
    assert server.client.get(f"{base}/{r1}").json() == {
        "subscriber_key": r1,
        "groups": ["tgi", "vllm-llama"],
    }
    one = server.client.get(f"{base}/{r1}/tgi")
    assert one.status_code == 200
    assert one.json() == {"subscriber_key": r1, "group": "tgi"}
    missing = server.client.get(f"{base}/{r1}/nope")
    assert missing.status_code == 404
    assert "'nope'" in missing.json()["detail"]
    followers = server.client.get("/api/registry/groups/tgi/subscribers").json()
    assert followers["group"] == "tgi"
    assert followers["subscriber_keys"] == sorted([r1, r2])
    assert [p["key"] for p in followers["subscribers"]] == sorted([r1, r2])
    assert {p["pod_name"] for p in followers["subscribers"]} == {"r1", "r2"}
    assert server.client.delete(f"{base}/{r1}/tgi").status_code == 204
    assert server.client.delete(f"{base}/{r1}/tgi").status_code == 204  # idempotent
    assert server.client.get(f"{base}/{r1}").json()["groups"] == ["vllm-llama"]
    tgi = server.client.get("/api/registry/groups/tgi/subscribers").json()
    assert tgi["subscriber_keys"] == [r2]
    server.client.delete(f"/api/registry/pods/{r2}")  # a deregistered pod follows nothing
    assert server.client.get("/api/registry/groups/tgi/subscribers").json()["subscribers"] == []


def test_an_unregistered_pod_cannot_subscribe(server: Server) -> None:
    response = server.client.put("/api/registry/subscriptions/ghost:p/tgi")
    assert response.status_code == 404
    assert response.json() == {"detail": "service 'ghost:p' not found"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/registry/subscriptions/badkey",
        "/api/registry/subscriptions/badkey/g",
    ],
)
def test_a_malformed_subscriber_key_is_422(server: Server, path: str) -> None:
    for method in ("GET", "PUT", "DELETE") if path.endswith("/g") else ("GET",):
        response = server.client.request(method, path)
        assert response.status_code == 422, (method, response.text)
        assert "'badkey'" in response.json()["detail"][0]["msg"]


def test_an_empty_group_has_no_subscribers(server: Server) -> None:
    doc = server.client.get("/api/registry/groups/nobody/subscribers").json()
    assert doc == {"group": "nobody", "subscriber_keys": [], "subscribers": []}


# --- events as JSON ---------------------------------------------------------------


def test_recent_events_list_every_change_in_order(server: Server) -> None:
    a = server.register(**POD_A)
    b = server.register(service_name="tgi", pod_name="p1")
    server.client.put(f"/api/registry/pods/{a['key']}/status", json={"status": "draining"})
    server.client.delete(f"/api/registry/pods/{b['key']}")
    doc = server.client.get("/api/registry/events/recent").json()
    kinds = [(e["type"], e["key"]) for e in doc["events"]]
    assert kinds == [
        ("registered", a["key"]),
        ("registered", b["key"]),
        ("status_changed", a["key"]),
        ("deregistered", b["key"]),
    ]
    ids = [e["id"] for e in doc["events"]]
    assert ids == list(range(ids[0], ids[0] + 4))
    assert doc["last_id"] == ids[-1]
    assert doc["oldest_id"] == ids[0]
    assert doc["reset"] is False
    change = doc["events"][2]
    assert change["status"] == "draining"
    assert change["previous_status"] == "healthy"
    assert change["service_name"] == POD_A["service_name"]
    assert change["providers"] == sorted(POD_A["providers"])
    after = server.client.get("/api/registry/events/recent", params={"after": ids[1]}).json()
    assert [e["id"] for e in after["events"]] == ids[2:]
    group = server.client.get("/api/registry/events/recent", params={"group": "tgi"}).json()
    assert [e["key"] for e in group["events"]] == [b["key"], b["key"]]
    limited = server.client.get("/api/registry/events/recent", params={"limit": 1}).json()
    assert [e["id"] for e in limited["events"]] == ids[:1]


@pytest.mark.parametrize(
    ("params", "name"),
    [({"after": "-1"}, "after"), ({"after": "x"}, "after"), ({"limit": "0"}, "limit")],
)
def test_recent_events_refuse_bad_parameters(
    server: Server, params: dict[str, str], name: str
) -> None:
    response = server.client.get("/api/registry/events/recent", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


def test_recent_events_reset_when_the_history_dropped_some() -> None:
    with serving(history=3) as server:
        for i in range(5):
            server.register(service_name="s", pod_name=f"p{i}")
        doc = server.client.get("/api/registry/events/recent", params={"after": 1}).json()
        assert doc["reset"] is True
        assert [e["id"] for e in doc["events"]] == [3, 4, 5]
        assert doc["oldest_id"] == 3
        fresh = server.client.get("/api/registry/events/recent", params={"after": 2}).json()
        assert fresh["reset"] is False
        future = server.client.get("/api/registry/events/recent", params={"after": 99}).json()
        assert future["reset"] is True
        assert future["events"] == []


# --- the event stream ------------------------------------------------------------


@dataclass
class Frame:
    id: int | None
    event: str | None
    data: Any


class SseClient:
    """A raw HTTP/1.1 SSE reader over http.client: frames and comments as they come."""

    def __init__(self, endpoints: Endpoints, path: str, headers: dict[str, str] | None = None):
        self.conn = http.client.HTTPConnection(endpoints.host, endpoints.http_port, timeout=10)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.comments: list[str] = []

    def next(self) -> Frame:
        """The next frame with an event (skips retry lines, collects comments)."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            assert line, "the stream ended"
            text = line.decode("utf-8").rstrip("\n")
            if text == "":
                if "event" in fields or "data" in fields:
                    raw_id = fields.get("id")
                    data = json.loads(fields["data"]) if "data" in fields else None
                    return Frame(int(raw_id) if raw_id else None, fields.get("event"), data)
                fields = {}
                continue
            if text.startswith(":"):
                self.comments.append(text)
                continue
            name, _, value = text.partition(": ")
            fields[name] = value

    def close(self) -> None:
        self.conn.close()


def test_the_stream_sends_each_change_as_it_happens(server: Server) -> None:
    stream = SseClient(server.endpoints, "/api/registry/events")
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("content-type", "").startswith("text/event-stream")
        assert stream.response.getheader("cache-control") == "no-cache"
        pod = server.register(**POD_A)
        frame = stream.next()
        assert frame.event == "registered"
        assert frame.data["key"] == pod["key"]
        assert frame.data["id"] == frame.id
        assert frame.data["status"] == pod["status"]
        assert frame.data["providers"] == pod["providers"]
        server.client.put(f"/api/registry/pods/{pod['key']}/status", json={"status": "draining"})
        change = stream.next()
        assert (change.event, change.id) == ("status_changed", frame.id + 1)  # type: ignore[operator]
        assert change.data["previous_status"] == pod["status"]
        assert change.data["status"] == "draining"
    finally:
        stream.close()


def test_the_stream_filters_by_group(server: Server) -> None:
    stream = SseClient(server.endpoints, "/api/registry/events?group=tgi")
    try:
        server.register(service_name="vllm", pod_name="a")
        tgi = server.register(service_name="tgi", pod_name="b")
        frame = stream.next()
        assert frame.data["key"] == tgi["key"]
    finally:
        stream.close()


@pytest.mark.parametrize("how", ["header", "query", "both"])
def test_last_event_id_resumes_after_it(server: Server, how: str) -> None:
    keys = [server.register(service_name="s", pod_name=f"p{i}")["key"] for i in range(4)]
    ids = [e["id"] for e in server.client.get("/api/registry/events/recent").json()["events"]]
    assert len(ids) == 4
    path, headers = "/api/registry/events", {}
    if how in ("header", "both"):
        headers["Last-Event-ID"] = str(ids[1])
    if how == "query":
        path += f"?last_event_id={ids[1]}"
    if how == "both":  # the header wins: it is what a reconnecting browser sends
        path += "?last_event_id=0"
    stream = SseClient(server.endpoints, path, headers)
    try:
        got = [stream.next() for _ in range(2)]
        assert [f.id for f in got] == ids[2:]
        assert [f.data["key"] for f in got] == keys[2:]
        later = server.register(service_name="s", pod_name="late")
        assert stream.next().data["key"] == later["key"]
    finally:
        stream.close()


def test_an_old_last_event_id_gets_a_reset_first() -> None:
    with serving(history=3) as server:
        for i in range(5):
            server.register(service_name="s", pod_name=f"p{i}")
        stream = SseClient(server.endpoints, "/api/registry/events", {"Last-Event-ID": "1"})
        try:
            reset = stream.next()
            assert reset.event == "reset"
            assert reset.id is None
            assert reset.data == {"requested_id": 1, "oldest_id": 3, "last_id": 5}
            assert [stream.next().id for _ in range(3)] == [3, 4, 5]
        finally:
            stream.close()


def test_a_last_event_id_from_an_earlier_run_gets_a_reset_and_the_history(server: Server) -> None:
    pod = server.register(service_name="s", pod_name="p")
    stream = SseClient(server.endpoints, "/api/registry/events", {"Last-Event-ID": "500"})
    try:
        reset = stream.next()
        assert reset.event == "reset"
        assert reset.data["requested_id"] == 500
        assert stream.next().data["key"] == pod["key"]
    finally:
        stream.close()


@pytest.mark.parametrize("value", ["abc", "-3", "1.5"])
def test_a_bad_last_event_id_is_422_naming_it(server: Server, value: str) -> None:
    response = server.client.get("/api/registry/events", headers={"Last-Event-ID": value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "Last-Event-ID"


def test_an_idle_stream_sends_keep_alive_comments(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_events, "KEEPALIVE_SECONDS", 0.2)
    monkeypatch.setattr(registry_events, "POLL_SECONDS", 0.05)
    stream = SseClient(server.endpoints, "/api/registry/events")
    try:
        deadline = time.monotonic() + 5
        while len(stream.comments) < 2 and time.monotonic() < deadline:
            stream.response.fp.peek(1)  # wait for bytes
            line = stream.response.readline().decode()
            if line.startswith(":"):
                stream.comments.append(line.strip())
        assert stream.comments[:2] == [": keep-alive", ": keep-alive"]
    finally:
        stream.close()


def open_streams(server: Server) -> int:
    count: int = getattr(server.collector._collector.app.state, "registry_streams", 0)
    return count


def test_the_stream_ends_when_the_client_disconnects(server: Server) -> None:
    stream = SseClient(server.endpoints, "/api/registry/events")
    server.register(service_name="s", pod_name="p")
    stream.next()
    assert open_streams(server) == 1
    stream.close()
    deadline = time.monotonic() + 5
    while open_streams(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_streams(server) == 0


def test_the_stream_ends_when_the_server_stops() -> None:
    with serving() as server:
        stream = SseClient(server.endpoints, "/api/registry/events")
        server.register(service_name="s", pod_name="p")
        stream.next()
        ended = threading.Event()

        def read_to_end() -> None:
            while stream.response.readline():
                pass
            ended.set()

        reader = threading.Thread(target=read_to_end, daemon=True)
        reader.start()
        started = time.monotonic()
        server.collector.stop()
        stopped_in = time.monotonic() - started
        assert ended.wait(5)
        assert stopped_in < 4  # not the 5 s grace period a stuck stream would cost
        stream.close()


# --- the rest of the server -------------------------------------------------------


def test_a_server_without_a_registry_answers_404() -> None:
    store = MemoryStore()
    with running(store) as endpoints:
        for method, path in [
            ("GET", "/api/registry/pods"),
            ("GET", "/api/registry/events"),
            ("GET", "/api/registry/events/recent"),
            ("POST", "/api/registry/pods/a:b/heartbeat"),
        ]:
            response = httpx.request(method, endpoints.http_url + path)
            assert response.status_code == 404, path
            assert response.json() == {"detail": "the registry is not running on this server"}
    store.close()


def test_registry_routes_need_the_api_token() -> None:
    with serving(api_token="t") as server:
        assert server.client.get("/api/registry/pods").status_code == 401
        ok = server.client.get("/api/registry/pods", headers={"Authorization": "Bearer t"})
        assert ok.status_code == 200


def test_the_openapi_document_describes_the_registry(server: Server) -> None:
    spec = server.client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/registry/pods": {"get", "post"},
        "/api/registry/pods/{key}": {"get", "delete"},
        "/api/registry/pods/{key}/heartbeat": {"post"},
        "/api/registry/pods/{key}/status": {"put"},
        "/api/registry/subscriptions/{subscriber_key}": {"get"},
        "/api/registry/subscriptions/{subscriber_key}/{group}": {"get", "put", "delete"},
        "/api/registry/groups/{group}/subscribers": {"get"},
        "/api/registry/events": {"get"},
        "/api/registry/events/recent": {"get"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    pod = spec["components"]["schemas"]["Pod"]["properties"]
    assert set(POD_A) | {"key", "status", "origin", "error_rate", "last_seen_unix_nano"} <= set(pod)
    stream = paths["/api/registry/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
    created = paths["/api/registry/pods"]["post"]["responses"]
    assert "201" in created


def prometheus_value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} missing from /metrics"
    return float(match.group(1))


def test_metrics_count_pods_per_status(server: Server) -> None:
    for i in range(3):
        server.register(service_name="s", pod_name=f"p{i}")
    server.client.put("/api/registry/pods/s:p0/status", json={"status": "draining"})
    text = server.client.get("/metrics").text
    assert prometheus_value(text, "infertrace_registry_pods", '{status="healthy"}') == 2
    assert prometheus_value(text, "infertrace_registry_pods", '{status="draining"}') == 1
    assert prometheus_value(text, "infertrace_registry_pods", '{status="degraded"}') == 0
    counters = server.service.counters()
    for name, value in counters.items():
        assert prometheus_value(text, f"infertrace_registry_{name}_total") == value


def test_concurrent_changes_reach_the_stream_complete_and_in_order(server: Server) -> None:
    """Threads register, drain and deregister pods over REST while one SSE client reads:
    its ids are consecutive and replaying its events gives exactly the pods the API lists."""
    stream = SseClient(server.endpoints, "/api/registry/events?last_event_id=0")
    threads, ops = 6, 15

    def work(t: int) -> None:
        with httpx.Client(base_url=server.endpoints.http_url, timeout=10) as client:
            for i in range(ops):
                key = f"svc{t % 2}:t{t}-p{i}"
                body = {"service_name": f"svc{t % 2}", "pod_name": f"t{t}-p{i}"}
                assert client.post("/api/registry/pods", json=body).status_code == 201
                if i % 3 == 1:
                    status = {"status": "draining"}
                    assert client.put(f"/api/registry/pods/{key}/status", json=status).is_success
                if i % 3 == 2:
                    assert client.delete(f"/api/registry/pods/{key}").status_code == 204

    try:
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        last = server.client.get("/api/registry/events/recent").json()["last_id"]
        # each pod is registered; every third also drained, every third deregistered
        assert last == threads * sum(1 + (i % 3 != 0) for i in range(ops))
        pods: dict[str, str] = {}
        ids: list[int | None] = []
        while len(ids) < last:
            frame = stream.next()
            ids.append(frame.id)
            key = frame.data["key"]
            if frame.event == "deregistered":
                del pods[key]
            else:
                pods[key] = frame.data["status"]
        assert ids == list(range(1, last + 1))
        listed = server.client.get("/api/registry/pods").json()["pods"]
        assert pods == {p["key"]: p["status"] for p in listed}
        assert len(pods) == threads * (ops - ops // 3)
    finally:
        stream.close()
