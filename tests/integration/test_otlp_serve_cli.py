"""``infertrace serve`` and ``infertrace demo`` as a user runs them: real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.collector.otlp.encode import encode_spans
from infertrace.workload import Workload


def metric(text: str, name: str, signal_name: str) -> float:
    match = re.search(rf'{name}\{{signal="{signal_name}"\}} (\S+)', text)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """``infertrace serve`` configured through INFERTRACE_* variables and flags."""
    env = dict(
        os.environ,
        INFERTRACE_PORT="0",
        INFERTRACE_SPAN_CAPACITY="777",
        INFERTRACE_MAX_BODY_BYTES="2MiB",
        COLUMNS="200",
    )
    cmd = [
        sys.executable,
        "-m",
        "infertrace.cli",
        "serve",
        "--grpc-port",
        "0",
        "--log-capacity",
        "555",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    banner = []
    for line in proc.stdout:
        banner.append(line)
        if line.startswith("Press Ctrl+C"):
            break
    text = "".join(banner)
    try:
        url = re.search(r"OTLP/HTTP\s+(http://127\.0\.0\.1:\d+)", text)
        assert url, text + (proc.stderr.read() if proc.stderr else "")
        yield proc, url.group(1), text
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_serve_prints_where_to_send_and_stops_cleanly_on_sigterm(
    served: tuple[subprocess.Popen[str], str, str],
) -> None:
    proc, url, banner = served
    assert re.search(r"OTLP/gRPC\s+127\.0\.0\.1:\d+", banner)
    assert f"export OTEL_EXPORTER_OTLP_ENDPOINT={url}" in banner
    assert "777 spans, 555 logs, 100,000 points" in banner
    body = encode_spans(Workload(seed=1, start_ns=time.time_ns()).spans(12)).SerializeToString()
    response = httpx.post(
        f"{url}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200
    text = httpx.get(f"{url}/metrics").text
    assert metric(text, "infertrace_store_records", "spans") == 12
    assert metric(text, "infertrace_store_capacity", "spans") == 777
    too_big = httpx.post(
        f"{url}/v1/logs",
        content=bytes(3 * 2**20),
        headers={"Content-Type": "application/x-protobuf"},
    )
    assert too_big.status_code == 413  # INFERTRACE_MAX_BODY_BYTES applied
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "collector stopped" in out
    assert "Traceback" not in err


def test_demo_fills_a_running_collector(served: tuple[subprocess.Popen[str], str, str]) -> None:
    proc, url, _ = served
    result = CliRunner().invoke(
        main, ["demo", "--rate", "40", "--duration", "1.5", "--endpoint", url]
    )
    assert result.exit_code == 0, result.output
    assert "Sent to" in result.output and "spans" in result.output
    text = httpx.get(f"{url}/metrics").text
    spans = metric(text, "infertrace_store_records", "spans")
    assert 6 * 30 <= spans <= 777  # ~40 traces/s for 1.5 s, six spans each
    assert metric(text, "infertrace_store_records", "logs") >= 30
    assert metric(text, "infertrace_store_records", "metric_points") >= 36
    assert metric(text, "infertrace_rejected_items_total", "spans") == 0
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_demo_without_a_collector_says_so() -> None:
    result = CliRunner().invoke(
        main, ["demo", "--duration", "1", "--endpoint", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "cannot reach a collector at http://127.0.0.1:9" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve", "--store", "postgres"], {}, "--store postgres needs --dsn"),
        (
            ["serve"],
            {"INFERTRACE_SPAN_CAPACITY": "lots"},
            "INFERTRACE_SPAN_CAPACITY must be an integer",
        ),
        (["serve", "--max-age", "soon"], {}, "is not a duration"),
        (["serve", "--max-body-bytes", "big"], {}, "is not a size"),
        (["demo", "--rate", "0"], {}, "--rate and --duration must be positive"),
    ],
)
def test_bad_configuration_is_a_clear_error(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0
    assert message in result.output


def test_serve_help_names_every_environment_variable() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for name in (
        "HOST",
        "PORT",
        "GRPC_PORT",
        "STORE",
        "DSN",
        "SPAN_CAPACITY",
        "LOG_CAPACITY",
        "METRIC_CAPACITY",
        "MAX_AGE",
        "MAX_BODY_BYTES",
    ):
        assert f"INFERTRACE_{name}" in result.output
