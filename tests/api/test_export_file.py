"""export_file: the span export without a server is the endpoint's export, byte for byte.

One store is fed over OTLP/HTTP and served; each case exports through the
running endpoint (ApiClient) and through :func:`export_file` on the same store,
and the two files must be identical. The row counts are checked against the
generated spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infertrace.api.client import ApiClient, SpanFilters, span_params
from infertrace.api.export import ExportFormat, export_file
from infertrace.api.params import BadParameter
from infertrace.cli.query import count_rows
from infertrace.model import Span
from infertrace.workload import Workload
from tests.api.test_export import START, Fed, served_fed


@pytest.fixture(scope="module")
def served() -> Iterator[Fed]:
    with served_fed(Workload(seed=17, start_ns=START, rate=50).spans(1200), 10_000) as fed:
        yield fed


def _service(spans: list[Span]) -> str:
    return sorted({s.service_name for s in spans})[0]


CASES: dict[str, tuple[ExportFormat, dict[str, Any]]] = {
    "jsonl all": (ExportFormat.JSONL, {}),
    "csv by service": (ExportFormat.CSV, {"service": None}),
    "parquet limited": (ExportFormat.PARQUET, {"limit": 150}),
    "jsonl slow errors": (ExportFormat.JSONL, {"status": "error", "min_duration": "1ms"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_export_file_writes_what_the_endpoint_sends(
    served: Fed, tmp_path: Path, case: tuple[ExportFormat, dict[str, Any]]
) -> None:
    fmt, raw = case
    filters: dict[str, Any] = {
        k: (_service(served.spans) if v is None else v) for k, v in raw.items()
    }
    via_api, offline = tmp_path / f"api.{fmt.value}", tmp_path / f"offline.{fmt.value}"
    with ApiClient(served.url) as api:
        api.export(fmt.value, via_api, **filters)
    ticks: list[int] = []
    params = span_params(SpanFilters(**filters))  # type: ignore[typeddict-item]
    written, max_rows = export_file(served.store, params, fmt, offline, ticks.append)
    assert offline.read_bytes() == via_api.read_bytes()
    assert written == offline.stat().st_size and ticks[-1] == written
    assert not (tmp_path / f"offline.{fmt.value}.part").exists()
    expected = [
        s for s in served.spans if "service" not in filters or s.service_name == filters["service"]
    ]
    assert count_rows(fmt.value, offline) > 0
    if "status" not in filters:
        assert count_rows(fmt.value, offline) == min(len(expected), filters.get("limit", 10**9))
    assert max_rows == filters.get("limit", 100_000)


@pytest.mark.parametrize(
    "params, name",
    [
        ([("since", "yesterday-ish")], "since"),
        ([("min_duration", "fast")], "min_duration"),
        ([("limit", "lots")], "limit"),
        ([("status", "fine")], "status"),
        ([("colour", "red")], "colour"),
    ],
)
def test_a_bad_parameter_names_itself_and_leaves_no_file(
    served: Fed, tmp_path: Path, params: list[tuple[str, str]], name: str
) -> None:
    target = tmp_path / "out.jsonl"
    with pytest.raises(BadParameter) as exc:
        export_file(served.store, params, ExportFormat.JSONL, target)
    assert exc.value.name == name
    assert not target.exists() and not target.with_name("out.jsonl.part").exists()
