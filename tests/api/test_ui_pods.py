"""The web UI's Pods view in headless Chromium, on a server running a registry.

Two pods send spans over OTLP/HTTP (the registry learns them from their resource
attributes), one more registers over REST and is set draining; the rendered
table must show each of them with the status, providers, origin and traces link
computed here from what was sent.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx
import pytest

from infertrace.api import install_query_api
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.server import BackgroundCollector, Endpoints
from infertrace.config import Settings
from infertrace.model import Span, StatusCode
from infertrace.registry import ThreadSafeRegistry
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore
from tests.api.browser import needs_chromium, rendered_dom

PB = {"Content-Type": "application/x-protobuf"}

SENDERS = {  # pod -> (model, spans, errors)
    "pod-a": ("llama-8b", 10, 0),
    "pod-b": ("llama-70b", 8, 2),
}
SERVICE = "vllm"
REGISTERED: dict[str, Any] = {
    "service_name": "tgi",
    "pod_name": "r1",
    "providers": ["qwen-7b", "phi-3"],
}


def spans_of(n: int, pod: str, model: str, count: int, errors: int) -> list[Span]:
    """``count`` one-span traces of ``pod`` (its ``n`` in the trace ids), ``errors`` failed."""
    now = time.time_ns()
    return [
        Span(
            bytes([n + 1, i + 1]) * 8,
            (i + 1).to_bytes(8, "big"),
            SERVICE,
            "chat",
            now - (count - i) * 10**6,
            10**6,
            model_name=model,
            status_code=StatusCode.ERROR if i < errors else StatusCode.OK,
            resource_attributes={"service.name": SERVICE, "service.instance.id": pod},
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def server() -> Iterator[Endpoints]:
    store = MemoryStore()
    service = RegistryService(ThreadSafeRegistry(), stale_after=3600.0, min_requests=1)
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, registry=service
    )
    endpoints = collector.start()
    try:
        for n, (pod, (model, count, errors)) in enumerate(SENDERS.items()):
            body = encode_spans(spans_of(n, pod, model, count, errors)).SerializeToString()
            sent = httpx.post(endpoints.http_url + "/v1/traces", content=body, headers=PB)
            assert sent.status_code == 200
        url = endpoints.http_url + "/api/registry/pods"
        assert httpx.post(url, json=REGISTERED).status_code == 201
        key = f"{REGISTERED['service_name']}:{REGISTERED['pod_name']}"
        assert httpx.put(f"{url}/{key}/status", json={"status": "draining"}).is_success
        yield endpoints
    finally:
        collector.stop()
        service.store.close()
        store.close()


class _PodTable(HTMLParser):
    """Header cells, body rows (cell texts) and each row's traces link."""

    def __init__(self) -> None:
        super().__init__()
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._in_head = False
        self.nav: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and values.get("class") == "pod-traces":
            self.links.append(values.get("href") or "")
        elif tag == "a" and values.get("data-route"):
            self.nav.append(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.header if self._in_head else self.rows[-1]).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def expected_rows() -> dict[str, dict[str, str]]:
    rows = {}
    for pod, (model, count, errors) in SENDERS.items():
        rows[f"{SERVICE}:{pod}"] = {
            "Service": SERVICE,
            "Status": "healthy",
            "Providers": model,
            "Origin": "telemetry",
            "Error rate": f"{errors / count * 100:.1f}%",
        }
    rows[f"{REGISTERED['service_name']}:{REGISTERED['pod_name']}"] = {
        "Service": str(REGISTERED["service_name"]),
        "Status": "draining",
        "Providers": ", ".join(sorted(REGISTERED["providers"])),
        "Origin": "registration",
        "Error rate": "—",
    }
    return rows


@needs_chromium
def test_the_pods_view_shows_pods_from_telemetry_and_registration(server: Endpoints) -> None:
    parser = _PodTable()
    parser.feed(rendered_dom(f"{server.http_url}/#/pods"))
    assert "#/pods" in parser.nav
    columns = [c.rstrip(" \u25be\u25b4") for c in parser.header]
    assert columns == [
        "Pod", "Service", "Status", "Providers", "Address", "Last seen", "Error rate", "Origin",
        "Traces",
    ]  # fmt: skip
    shown = {row[0]: dict(zip(columns, row, strict=True)) for row in parser.rows}
    want = expected_rows()
    assert set(shown) == set(want)
    for key, cells in want.items():
        for column, text in cells.items():
            assert shown[key][column] == text, (key, column)
        seen = shown[key]["Last seen"]
        if cells["Origin"] == "registration":  # no heartbeat, no telemetry yet
            assert seen == "never"
        else:  # sent moments ago (seconds, or minutes on a very slow machine)
            assert re.fullmatch(r"\d+[sm] ago", seen), seen


@needs_chromium
def test_each_pod_links_to_its_recent_traces(server: Endpoints) -> None:
    parser = _PodTable()
    parser.feed(rendered_dom(f"{server.http_url}/#/pods"))
    assert len(parser.links) == len(expected_rows())
    targets = set()
    for href in parser.links:
        assert href.startswith("#/search?")
        params = dict(parse_qsl(unquote(href.split("?", 1)[1])))
        targets.add((params["service"], params["attr.service.instance.id"].strip('"')))
    assert targets == {(SERVICE, pod) for pod in SENDERS} | {("tgi", "r1")}
    # the link finds the pod's spans through the REST API the search view calls
    for pod, (_, count, _) in SENDERS.items():
        found = httpx.get(
            server.http_url + "/api/spans",
            params={"service": SERVICE, "attr.service.instance.id": f'"{pod}"'},
        ).json()
        assert found["count"] == count


@needs_chromium
def test_the_status_filter_narrows_the_table(server: Endpoints) -> None:
    parser = _PodTable()
    parser.feed(rendered_dom(f"{server.http_url}/#/pods?status=draining"))
    assert [row[0] for row in parser.rows] == ["tgi:r1"]
