"""``infertrace pods`` against a real server running a registry, and its helpers.

Expected rows are computed here from the pods the test registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from infertrace.api import install_query_api
from infertrace.cli import main
from infertrace.cli.pods import address, ago, rate, watch
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.registry import ThreadSafeRegistry
from infertrace.registry.service import RegistryService
from infertrace.telemetry.memory import MemoryStore

WIDE = {"COLUMNS": "250"}
SECOND = 1_000_000_000

PODS: list[dict[str, Any]] = [
    {"service_name": "vllm-llama", "pod_name": "a", "address": "10.0.0.1", "port": 8000,
     "providers": ["llama-8b"]},
    {"service_name": "vllm-llama", "pod_name": "b", "address": "10.0.0.2",
     "providers": ["llama-8b", "llama-70b"]},
    {"service_name": "tgi", "pod_name": "z", "providers": []},
]  # fmt: skip
DRAINING = "vllm-llama:b"


@dataclass
class Served:
    url: str

    def run(self, *args: str) -> Result:
        runner = CliRunner(env=WIDE)
        return runner.invoke(main, ["pods", *args, "--url", self.url], catch_exceptions=False)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    store = MemoryStore()
    service = RegistryService(ThreadSafeRegistry(), stale_after=3600.0)
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, registry=service
    )
    endpoints = collector.start()
    try:
        for body in PODS:
            assert httpx.post(endpoints.http_url + "/api/registry/pods", json=body).is_success
        status = {"status": "draining"}
        url = f"{endpoints.http_url}/api/registry/pods/{DRAINING}/status"
        assert httpx.put(url, json=status).is_success
        assert httpx.post(f"{endpoints.http_url}/api/registry/pods/tgi:z/heartbeat").is_success
        yield Served(endpoints.http_url)
    finally:
        collector.stop()
        service.store.close()
        store.close()


def rows(output: str) -> dict[str, list[str]]:
    """The table's body rows by key (first cell), cells split on the box lines."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and ":" in cells[0]:
            found[cells[0]] = cells
    return found


def test_the_table_lists_every_pod_with_its_fields(served: Served) -> None:
    result = served.run()
    assert result.exit_code == 0, result.output
    assert "3 pods" in result.output
    table = rows(result.output)
    assert set(table) == {f"{p['service_name']}:{p['pod_name']}" for p in PODS}
    for pod in PODS:
        key = f"{pod['service_name']}:{pod['pod_name']}"
        _, status, providers, where, seen, error_rate, origin = table[key]
        assert status == ("draining" if key == DRAINING else "healthy")
        assert providers == (", ".join(sorted(pod["providers"])) or "—")
        host, port = pod.get("address", ""), pod.get("port", 0)
        assert where == (f"{host}:{port}" if port else host or "—")
        assert seen == ("0s ago" if key == "tgi:z" else "never")  # only tgi:z sent a heartbeat
        assert error_rate == "—"
        assert origin == "registration"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--name", "vllm-llama"], {"vllm-llama:a", "vllm-llama:b"}),
        (["--model", "llama-70b"], {"vllm-llama:b"}),
        (["--status", "draining"], {DRAINING}),
        (["--status", "healthy", "--name", "tgi"], {"tgi:z"}),
        (["--name", "nobody"], set()),
    ],
)
def test_filters(served: Served, args: list[str], expected: set[str]) -> None:
    result = served.run(*args)
    assert result.exit_code == 0, result.output
    assert set(rows(result.output)) == expected
    assert f"{len(expected)} pods" in result.output


def test_json_prints_the_api_answer(served: Served) -> None:
    result = served.run("--json", "--model", "llama-8b")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    api = httpx.get(served.url + "/api/registry/pods", params={"provider": "llama-8b"}).json()
    assert doc == api
    assert [p["key"] for p in doc["pods"]] == ["vllm-llama:a", "vllm-llama:b"]


def test_watch_redraws_count_times(served: Served) -> None:
    result = served.run("--watch", "--interval", "0.1", "--count", "3")
    assert result.exit_code == 0, result.output
    assert result.output.count("3 pods") == 3


def test_a_bad_status_is_refused_by_the_cli() -> None:
    result = CliRunner().invoke(main, ["pods", "--status", "sick"])
    assert result.exit_code == 2
    assert "sick" in result.output


def test_an_unreachable_server_is_one_line_and_exit_1() -> None:
    result = CliRunner().invoke(main, ["pods", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach the InferTrace API at http://127.0.0.1:9" in result.output


def test_a_server_without_a_registry_says_so() -> None:
    store = MemoryStore()
    collector = BackgroundCollector(store, Settings(port=0, grpc_port=0), install_query_api)
    endpoints = collector.start()
    try:
        result = CliRunner().invoke(main, ["pods", "--url", endpoints.http_url])
        assert result.exit_code == 1
        assert "HTTP 404: the registry is not running on this server" in result.output
    finally:
        collector.stop()
        store.close()


NOW = 1_800_000_000 * SECOND


@pytest.mark.parametrize(
    ("seen", "text"),
    [
        (None, "never"),
        (NOW, "0s ago"),
        (NOW + 5 * SECOND, "0s ago"),  # a clock ahead of ours is "now", not negative
        (NOW - 59 * SECOND, "59s ago"),
        (NOW - 60 * SECOND, "1m ago"),
        (NOW - 3599 * SECOND, "59m ago"),
        (NOW - 7200 * SECOND, "2h ago"),
        (NOW - 3 * 86_400 * SECOND, "3d ago"),
    ],
)
def test_ago(seen: int | None, text: str) -> None:
    assert ago(seen, NOW) == text


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (0.0, "0.0%"), (0.125, "12.5%"), (1.0, "100.0%")]
)
def test_rate(value: float | None, text: str) -> None:
    assert rate(value) == text


@pytest.mark.parametrize(
    ("pod", "text"),
    [
        ({"address": "", "port": 0}, "—"),
        ({"address": "h", "port": 0}, "h"),
        ({"address": "h", "port": 80}, "h:80"),
        ({"address": "", "port": 80}, ":80"),
    ],
)
def test_address(pod: dict[str, Any], text: str) -> None:
    assert address(pod) == text


def test_watch_stops_quietly_on_ctrl_c() -> None:
    shown: list[int] = []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise KeyboardInterrupt

    count = watch(lambda: {"n": len(shown)}, lambda doc: shown.append(doc["n"]), 0.5, None, sleep)
    assert count == 2
    assert shown == [0, 1]
    assert slept == [0.5, 0.5]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_watch_shows_count_tables_and_sleeps_between(count: int) -> None:
    slept: list[float] = []
    shown = watch(lambda: {}, lambda doc: None, 0.25, count, slept.append)
    assert shown == count
    assert slept == [0.25] * (count - 1)
