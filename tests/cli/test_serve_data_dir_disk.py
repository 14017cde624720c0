"""A data directory whose disk refuses writes: 503 / UNAVAILABLE, one log line, recovery.

In process: a real collector (OTLP/HTTP and gRPC) over a MemoryStore kept by a
DataDir whose log's ``_writev`` (or ``_fsync``) fails as a full disk would.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from infertrace.api import install_query_api
from infertrace.collector.datadir_metrics import DataDirCollector
from infertrace.collector.otlp.encode import encode_spans
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.engine.datadir import DataDir
from infertrace.errormap import LOG_UNAVAILABLE_RETRY_AFTER
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


class DiskFull:
    """Stands in for ``os.writev`` / ``os.fsync`` on a full disk."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object) -> int:
        self.calls += 1
        raise OSError(errno.ENOSPC, "No space left on device")


def _serving(store: MemoryStore, data_dir: DataDir) -> BackgroundCollector:
    """The collector as serve composes it: the query API, and /readyz asking the data dir."""

    def install(app: Any) -> None:
        install_query_api(app)
        app.state.ready_checks.append(data_dir.problem)
        app.state.pipeline.metrics.registry.register(DataDirCollector(data_dir))

    return BackgroundCollector(store, Settings(port=0, grpc_port=0), install)


def _http_url(collector: BackgroundCollector) -> str:
    assert collector.endpoints is not None
    return collector.endpoints.http_url


def _grpc_target(collector: BackgroundCollector) -> str:
    assert collector.endpoints is not None
    return collector.endpoints.grpc_target


def _sample(http: httpx.Client, name: str) -> float:
    """The value of ``infertrace_datadir_<name>`` on /metrics."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f"infertrace_datadir_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no sample infertrace_datadir_{name}")


def _bodies(n: int) -> Iterator[bytes]:
    w = Workload(seed=3, start_ns=time.time_ns() - 600 * 10**9)
    for _ in range(n):
        yield encode_spans(w.spans(20)).SerializeToString()


@pytest.mark.parametrize("fail", ["_writev", "_fsync"])
def test_refused_log_answers_503_and_unavailable_logs_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fail: str
) -> None:
    store = MemoryStore()
    bodies = _bodies(8)
    with (
        DataDir(tmp_path, [store], fsync="always") as data_dir,
        _serving(store, data_dir) as collector,
        httpx.Client(base_url=_http_url(collector), timeout=30) as http,
        grpc.insecure_channel(_grpc_target(collector)) as channel,
        caplog.at_level(logging.WARNING, logger="infertrace.engine.datadir"),
    ):
        export = channel.unary_unary(GRPC_METHOD)
        assert http.post("/v1/traces", content=next(bodies), headers=PROTOBUF).status_code == 200
        real = getattr(data_dir.log, fail)
        broken = DiskFull()
        setattr(data_dir.log, fail, broken)
        for _ in range(3):
            answer = http.post("/v1/traces", content=next(bodies), headers=PROTOBUF)
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == str(int(LOG_UNAVAILABLE_RETRY_AFTER))
            assert "write-ahead log unavailable" in answer.text
        assert _sample(http, "refusing") == 1
        ready = http.get("/readyz")
        assert ready.status_code == 503 and "refuses writes" in ready.json()["reason"]
        with pytest.raises(grpc.RpcError) as caught:
            export(next(bodies), timeout=30)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert broken.calls >= 4
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "refuses writes" in errors[0].getMessage()
        setattr(data_dir.log, fail, real)  # space returns: no restart needed
        assert http.post("/v1/traces", content=next(bodies), headers=PROTOBUF).status_code == 200
        export(next(bodies), timeout=30)
        assert http.get("/readyz").status_code == 200
        assert _sample(http, "refusing") == 0 and _sample(http, "refused_writes_total") == 4
        assert _sample(http, "log_bytes") > 0
        recovered = [r for r in caplog.records if "takes writes again" in r.getMessage()]
        assert len(recovered) == 1 and "4 writes refused" in recovered[0].getMessage()
        held = store.stats().spans.count
    restarted = MemoryStore()
    with DataDir(tmp_path, [restarted], fsync="off"):
        # every acknowledged span is back; with a failed write nothing was stored, with a
        # failed fsync the refused batches were applied in memory but never acknowledged
        assert restarted.stats().spans.count == held
        assert held >= 3 * 20
    store.close()
    restarted.close()
