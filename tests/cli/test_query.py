"""``infertrace trace|spans|models|stats|export`` against a real collector.

Expected answers are computed here from the generated spans.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from infertrace.cli import main
from infertrace.collector.otlp.encode import encode_spans
from infertrace.model import Span, StatusCode
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import running

PB = {"Content-Type": "application/x-protobuf"}
START = 1_760_000_000_000_000_000
WIDE = {"COLUMNS": "250"}


@dataclass
class Fed:
    url: str
    spans: list[Span]

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner(env={**WIDE, **(env or {})})
        return runner.invoke(main, [*args, "--url", self.url], catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def feed(url: str, spans: list[Span], headers: dict[str, str] | None = None) -> None:
    body = encode_spans(spans).SerializeToString()
    response = httpx.post(url + "/v1/traces", content=body, headers={**PB, **(headers or {})})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def fed() -> Iterator[Fed]:
    spans = Workload(seed=11, start_ns=START, rate=20).spans(300 * 6)
    store = MemoryStore(span_capacity=10_000)
    with running(store) as endpoints:
        feed(endpoints.http_url, spans)
        yield Fed(endpoints.http_url, spans)
    store.close()


def table(stdout: str) -> list[dict[str, str]]:
    """The rows of a rich table (heavy header, light body) as dicts by column title."""
    lines = stdout.splitlines()
    header = next(x for x in lines if x.startswith("┃"))
    names = [c.strip() for c in header.strip("┃").split("┃")]
    return [
        dict(zip(names, (c.strip() for c in x.strip("│").split("│")), strict=True))
        for x in lines
        if x.startswith("│")
    ]


def ids(spans: list[Span]) -> set[str]:
    return {s.span_id.hex() for s in spans}


def roots(spans: list[Span]) -> list[Span]:
    return [s for s in spans if not s.parent_span_id]


def test_query_commands_are_registered() -> None:
    result = CliRunner(env=WIDE).invoke(main, ["--help"])
    for name in ("trace", "spans", "models", "stats", "export", "serve"):
        assert f"  {name} " in result.output, name


def test_trace_json_holds_the_trace(fed: Fed) -> None:
    want = [s for s in fed.spans if s.trace_id == fed.spans[6].trace_id]
    doc = fed.json("trace", want[0].trace_id.hex())
    assert doc["trace_id"] == want[0].trace_id.hex()
    assert {s["span_id"] for s in doc["spans"]} == ids(want)


def timeline(stdout: str, rows: list[str]) -> list[str]:
    """The 40-character waterfall cell of each of ``rows`` of a ``trace`` table."""
    header = next(x for x in stdout.splitlines() if x.rstrip().endswith("timeline"))
    at = header.index("timeline")
    return [row[at : at + 40].ljust(40) for row in rows]


def test_trace_draws_a_tree_with_a_waterfall(fed: Fed) -> None:
    trace = [s for s in fed.spans if s.trace_id == fed.spans[12].trace_id]
    root, children = trace[0], sorted(trace[1:], key=lambda s: s.start_time_unix_nano)
    result = fed.run("trace", root.trace_id.hex())
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert root.trace_id.hex() in lines[0]
    assert f"{len(trace)} spans" in lines[0]
    rows = [line for line in lines if f"{root.service_name}: " in line]
    assert len(rows) == len(trace)
    assert rows[0].startswith(f"{root.service_name}: {root.operation_name}")
    for row, child in zip(rows[1:], children, strict=True):
        last = child is children[-1]
        assert row.startswith(("└─ " if last else "├─ ") + f"{root.service_name}: ")
        assert f": {child.operation_name} " in row
        assert f"{child.duration_nanos / 1e6:,.1f}" in row
    total = root.duration_nanos
    bars = timeline(result.stdout, rows)
    assert bars[0] == "█" * 40  # the root spans the whole trace
    for bar, child in zip(bars[1:], children, strict=True):
        offset = (child.start_time_unix_nano - root.start_time_unix_nano) * 40 / total
        assert abs(bar.index("█") - offset) <= 1
        assert abs(bar.count("█") - child.duration_nanos * 40 / total) <= 1


def test_trace_nests_grandchildren_under_their_parent() -> None:
    def span(sid: int, parent: int, start: int, duration: int) -> Span:
        return Span(
            trace_id=b"\x0a" * 16,
            span_id=sid.to_bytes(8, "big"),
            parent_span_id=parent.to_bytes(8, "big") if parent else b"",
            service_name="svc",
            operation_name=f"op{sid}",
            start_time_unix_nano=START + start,
            duration_nanos=duration,
        )

    spans = [span(1, 0, 0, 100), span(2, 1, 0, 50), span(3, 2, 10, 20), span(4, 1, 50, 50)]
    with running(MemoryStore()) as endpoints:
        feed(endpoints.http_url, spans)
        result = Fed(endpoints.http_url, spans).run("trace", (b"\x0a" * 16).hex())
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if "svc: op" in line]
    assert [r.split("svc: ")[0] for r in rows] == ["", "├─ ", "│  └─ ", "└─ "]
    assert [r.split("svc: ")[1].split()[0] for r in rows] == ["op1", "op2", "op3", "op4"]
    bars = timeline(result.stdout, rows)
    assert bars[0] == "█" * 40  # the whole trace
    assert bars[1] == "█" * 20 + " " * 20  # the first half
    assert bars[2] == " " * 4 + "█" * 8 + " " * 28  # 10% in, for 20%
    assert bars[3] == " " * 20 + "█" * 20  # the second half


@pytest.mark.parametrize(
    ("trace_id", "status", "message"),
    [("ab" * 16, 404, "not found"), ("xyz", 400, "32 hex characters")],
)
def test_trace_errors_are_one_line(fed: Fed, trace_id: str, status: int, message: str) -> None:
    result = fed.run("trace", trace_id)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: HTTP {status}: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


SPAN_QUERIES: list[tuple[list[str], Any]] = [
    (["--service", "vllm-llama-8b"], lambda s: s.service_name == "vllm-llama-8b"),
    (["--status", "ok"], lambda s: s.status_code == StatusCode.OK),
    (
        ["--model", "Qwen/Qwen2.5-14B-Instruct", "--min-duration", "1s"],
        lambda s: s.model_name == "Qwen/Qwen2.5-14B-Instruct" and s.duration_nanos >= 10**9,
    ),
    (
        ["--operation", "decode", "--max-duration", "300ms"],
        lambda s: s.operation_name == "decode" and s.duration_nanos <= 300_000_000,
    ),
    (
        ["--attr", "gen_ai.system=tgi", "--attr", "gen_ai.request.max_tokens=1024"],
        lambda s: (
            s.attributes.get("gen_ai.system") == "tgi"
            and s.attributes.get("gen_ai.request.max_tokens") == 1024
        ),
    ),
    (
        ["--since", str(START + 10**9 * 5), "--until", str(START + 10**9 * 9)],
        lambda s: START + 10**9 * 5 <= s.start_time_unix_nano < START + 10**9 * 9,
    ),
]


@pytest.mark.parametrize(("args", "keep"), SPAN_QUERIES, ids=[" ".join(a) for a, _ in SPAN_QUERIES])
def test_spans_filters(fed: Fed, args: list[str], keep: Any) -> None:
    want = [s for s in fed.spans if keep(s)]
    assert 0 < len(want) < 10_000
    doc = fed.json("spans", *args, "--limit", "10000")
    assert doc["count"] == len(want)
    assert {s["span_id"] for s in doc["spans"]} == ids(want)


def test_spans_table_shows_the_newest_matching(fed: Fed) -> None:
    want = sorted(
        (s for s in roots(fed.spans) if s.service_name == "tgi-mistral-7b"),
        key=lambda s: s.start_time_unix_nano,
        reverse=True,
    )
    assert len(want) > 20
    result = fed.run(
        "spans", "--service", "tgi-mistral-7b", "--attr", "gen_ai.system=tgi", "--limit", "20"
    )
    assert result.exit_code == 0, result.output
    rows = table(result.stdout)
    assert [r["trace id"] for r in rows] == [s.trace_id.hex() for s in want[:20]]
    for row, span in zip(rows, want, strict=False):
        assert row["tokens in/out"] == f"{span.input_tokens:,}/{span.output_tokens:,}"
        assert row["ms"] == f"{span.duration_nanos / 1e6:,.1f}"
        assert row["model"] == span.model_name
        assert row["status"] == ("ok" if span.status_code == StatusCode.OK else "error")
    assert "20 spans (limit reached" in result.stdout


def test_spans_limit_and_not_truncated(fed: Fed) -> None:
    small = fed.run("spans", "--operation", "queue", "--limit", "3")
    assert small.exit_code == 0
    assert "3 spans (limit reached" in small.stdout
    want = sum(
        1 for s in fed.spans if s.operation_name == "queue" and s.service_name == "vllm-llama-70b"
    )
    everything = fed.run(
        "spans", "--operation", "queue", "--service", "vllm-llama-70b", "--limit", "5000"
    )
    assert f"\n{want} spans\n" in everything.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--attr", "novalue"], "is not KEY=VALUE"),
        (["--attr", "=v"], "is not KEY=VALUE"),
        (["--status", "sideways"], "sideways"),
        (["--limit", "0"], "not in the range"),
    ],
)
def test_spans_bad_options_are_usage_errors(fed: Fed, args: list[str], message: str) -> None:
    result = fed.run("spans", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_spans_bad_filter_value_is_the_servers_message(fed: Fed) -> None:
    result = fed.run("spans", "--min-duration", "quick")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: HTTP 422: min_duration: ")
    assert "'quick'" in result.stderr


@pytest.mark.parametrize(
    ("group_by", "key_of"),
    [
        ("model", lambda s: s.model_name),
        ("service", lambda s: s.service_name),
        ("pod", lambda s: s.resource_attributes["k8s.pod.name"]),
    ],
)
def test_models_json_counts_requests_and_errors(fed: Fed, group_by: str, key_of: Any) -> None:
    model_spans = [s for s in fed.spans if s.model_name is not None]
    requests = Counter(key_of(s) for s in model_spans)
    errors = Counter(key_of(s) for s in model_spans if s.status_code == StatusCode.ERROR)
    doc = fed.json("models", "--group-by", group_by)
    assert doc["group_by"] == group_by
    assert {g["key"]: g["requests"] for g in doc["groups"]} == dict(requests)
    assert {g["key"]: g["errors"] for g in doc["groups"]} == {k: errors[k] for k in requests}


def test_models_counts_requests_unless_asked_for_all_spans() -> None:
    # A request span and five children that repeat its model (as GenAI instrumentations
    # do): one request, six spans with a model.
    trace, root = bytes([7]) * 16, bytes([1]) * 8
    now = time.time_ns()
    spans = [Span(trace, root, "app", "chat", now, 300_000_000, model_name="m")] + [
        Span(trace, bytes([2 + i]) * 8, "app", f"step {i}", now + i, 1_000_000, root,
             model_name="m")
        for i in range(5)
    ]  # fmt: skip
    store = MemoryStore()
    with running(store) as endpoints:
        feed(endpoints.http_url, spans)
        cli = Fed(endpoints.http_url, spans)
        doc = cli.json("models")
        assert doc["spans"] == "requests"
        assert [(g["key"], g["requests"]) for g in doc["groups"]] == [("m", 1)]
        doc = cli.json("models", "--spans", "all")
        assert doc["spans"] == "all"
        assert [(g["key"], g["requests"]) for g in doc["groups"]] == [("m", 6)]
        rows = table(cli.run("models").stdout)
        assert [(r["model"], r["requests"], r["p50 ms"]) for r in rows] == [("m", "1", "300.0")]
        assert cli.run("models", "--spans", "some").exit_code == 2
    store.close()


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (the API's documented definition)."""
    rank = q / 100 * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def test_models_table_rows(fed: Fed) -> None:
    model_spans = [s for s in fed.spans if s.model_name is not None]
    result = fed.run("models")
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in table(result.stdout)}
    assert set(rows) == {s.model_name for s in model_spans}
    for model, row in rows.items():
        mine = [s for s in model_spans if s.model_name == model]
        errors = sum(s.status_code == StatusCode.ERROR for s in mine)
        assert row["requests"] == f"{len(mine):,}"
        assert row["errors"] == f"{errors:,}"
        assert row["error rate"] == f"{errors / len(mine):.2%}"
        assert row["tokens in"] == f"{sum(s.input_tokens or 0 for s in mine):,}"
        assert row["tokens out"] == f"{sum(s.output_tokens or 0 for s in mine):,}"
        gpu = sum(s.gpu_utilization or 0 for s in mine) / len(mine)
        assert float(row["GPU util"]) == pytest.approx(gpu, abs=0.005)
        batch = sum(s.batch_size or 0 for s in mine) / len(mine)
        assert float(row["batch"]) == pytest.approx(batch, abs=0.05)
        durations = sorted(s.duration_nanos for s in mine)
        for q in (50, 95, 99):
            shown = float(row[f"p{q} ms"].replace(",", ""))
            assert shown == pytest.approx(percentile(durations, q) / 1e6, abs=0.051), q
        # The workload's request spans carry queue time and TTFT, no decode or e2e time:
        # TPOT is (duration - TTFT) / (output tokens - 1), for more than one token.
        tpot = [
            max(0, s.duration_nanos - ttft) / (out - 1)
            for s in mine
            if (out := s.output_tokens or 0) > 1
            and (ttft := s.time_to_first_token_nanos) is not None
        ]
        timings: dict[str, list[float]] = {
            "queue": [v for s in mine if (v := s.queue_time_nanos) is not None],
            "TTFT": [v for s in mine if (v := s.time_to_first_token_nanos) is not None],
            "TPOT": tpot,
        }
        for name, values in timings.items():
            known = sorted(values)
            for q in (50, 95):
                text = row[f"{name} p{q} ms"].replace(",", "")
                want = percentile(known, q) / 1e6 if known else None
                assert (float(text) if text else None) == pytest.approx(want, abs=0.051)


def test_models_window_excludes_older_spans(fed: Fed) -> None:
    cut = sorted(s.start_time_unix_nano for s in fed.spans)[len(fed.spans) // 2]
    want = Counter(
        s.model_name for s in fed.spans if s.model_name and s.start_time_unix_nano >= cut
    )
    doc = fed.json("models", "--since", str(cut))
    assert {g["key"]: g["requests"] for g in doc["groups"]} == dict(want)


def test_stats(fed: Fed) -> None:
    doc = fed.json("stats")
    assert doc["spans"]["count"] == len(fed.spans)
    result = fed.run("stats")
    assert result.exit_code == 0
    rows = {r["signal"]: r for r in table(result.stdout)}
    assert set(rows) == {"spans", "logs", "metrics"}
    assert rows["spans"]["stored"] == f"{len(fed.spans):,}"
    assert rows["spans"]["capacity"] == "10,000"  # as the fixture built the store
    assert rows["logs"]["stored"] == "0"


def read_export(path: Path, fmt: str) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if fmt == "parquet":
        rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(data)).to_pylist()
        return rows
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    return [json.loads(line) for line in data.decode().splitlines()]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_writes_the_filtered_spans(fed: Fed, tmp_path: Path, fmt: str) -> None:
    want = [s for s in fed.spans if s.service_name == "vllm-qwen-14b" and s.duration_nanos >= 10**6]
    out = tmp_path / f"qwen.{fmt}"
    result = fed.run(
        "export", "-o", str(out), "--service", "vllm-qwen-14b", "--min-duration", "1ms"
    )
    assert result.exit_code == 0, result.output
    rows = read_export(out, fmt)
    assert {r["span_id"] for r in rows} == ids(want)
    assert len(rows) == len(want)
    assert f"Wrote {len(want):,} spans" in result.stdout
    assert "row limit" not in result.output


def test_export_format_option_beats_the_extension(fed: Fed, tmp_path: Path) -> None:
    out = tmp_path / "spans.data"
    result = fed.run("export", "--format", "csv", "-o", str(out), "--attr", "gen_ai.system=tgi")
    assert result.exit_code == 0, result.output
    rows = read_export(out, "csv")
    assert {r["span_id"] for r in rows} == ids(
        [s for s in fed.spans if s.attributes.get("gen_ai.system") == "tgi"]
    )


def test_export_limit_warns(fed: Fed, tmp_path: Path) -> None:
    out = tmp_path / "few.jsonl"
    result = fed.run("export", "-o", str(out), "--limit", "25", "--status", "ok")
    assert result.exit_code == 0, result.output
    rows = read_export(out, "jsonl")
    assert len(rows) == 25
    assert all(r["status_code"] == "ok" for r in rows)
    assert "stopped at the row limit (25)" in result.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "spans.txt"], 2, "cannot tell the format"),
        (["-o", "x.csv", "--since", "whenever"], 1, "HTTP 422: since"),
        (["--format", "xml", "-o", "x.csv"], 2, "xml"),
    ],
)
def test_export_errors(
    fed: Fed,
    tmp_path: Path,
    args: list[str],
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = fed.run("export", *args)
    assert result.exit_code == code
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


COMMANDS = [["trace", "ab" * 16], ["spans"], ["models"], ["stats"], ["export", "-o", "x.jsonl"]]


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_unreachable_server_is_one_line_and_exit_1(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "http://127.0.0.1:9"  # discard port: nothing listens
    result = CliRunner().invoke(main, [*args, "--url", url])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot reach the InferTrace API at {url}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def guarded() -> Iterator[Fed]:
    spans = Workload(seed=5, start_ns=START).spans(60)
    with running(MemoryStore(), api_token="s3cret") as endpoints:
        feed(endpoints.http_url, spans)
        yield Fed(endpoints.http_url, spans)


@pytest.mark.parametrize("args", COMMANDS[1:4], ids=[c[0] for c in COMMANDS[1:4]])
def test_token_is_required_and_passed(guarded: Fed, args: list[str]) -> None:
    refused = guarded.run(*args)
    assert refused.exit_code == 1
    assert "HTTP 401: missing or wrong bearer token" in refused.stderr
    wrong = guarded.run(*args, "--token", "guess")
    assert wrong.exit_code == 1
    assert "HTTP 401" in wrong.stderr
    assert guarded.run(*args, "--token", "s3cret").exit_code == 0
    assert guarded.run(*args, env={"INFERTRACE_API_TOKEN": "s3cret"}).exit_code == 0


def test_token_for_trace_and_export(guarded: Fed, tmp_path: Path) -> None:
    trace_id = guarded.spans[0].trace_id.hex()
    result = guarded.run("trace", trace_id, "--token", "s3cret", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["span_count"] == 6
    out = tmp_path / "all.parquet"
    result = guarded.run("export", "-o", str(out), "--token", "s3cret")
    assert result.exit_code == 0, result.output
    assert {r["span_id"] for r in read_export(out, "parquet")} == ids(guarded.spans)


def test_url_from_the_environment(fed: Fed) -> None:
    runner = CliRunner(env={**WIDE, "INFERTRACE_URL": fed.url})
    result = runner.invoke(main, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spans"]["count"] == len(fed.spans)
