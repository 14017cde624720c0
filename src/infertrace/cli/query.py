"""``infertrace trace|spans|models|stats|export``: the REST API from the terminal.

Each command talks to a running server through :class:`ApiClient`; ``--url``
(env ``INFERTRACE_URL``) says where, ``--token`` (env ``INFERTRACE_API_TOKEN``)
is the server's api token (``export --data-dir`` reads a data directory no
server holds instead). Answers print as rich tables, or as the API's JSON
with ``--json``. Any API failure, including an unreachable server, is one line
on stderr and exit code 1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import click
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from infertrace.api.client import (
    DEFAULT_URL,
    JSON,
    ApiClient,
    ApiError,
    Counted,
    ExportFormat,
    GroupBy,
    Source,
    SpanFilters,
    span_params,
)

F = TypeVar("F", bound=Callable[..., Any])

FORMATS = ("parquet", "csv", "jsonl")
GROUPS = ("model", "service", "operation", "pod")
COUNTED = ("requests", "all")
SOURCES = ("auto", "spans", "metrics")
STATUSES = ("ok", "error", "unset")
BAR_WIDTH = 40
"""Characters of the ``trace`` waterfall bar."""


def api_options(command: F) -> F:
    """``--url`` and ``--token``, shared by every query command."""
    command = click.option(
        "--token",
        envvar="INFERTRACE_API_TOKEN",
        help="The server's api token. [env INFERTRACE_API_TOKEN]",
    )(command)
    return click.option(
        "--url",
        default=DEFAULT_URL,
        show_default=True,
        envvar="INFERTRACE_URL",
        help="Base URL of the InferTrace server. [env INFERTRACE_URL]",
    )(command)


def json_option(command: F) -> F:
    """``--json``: print the API's answer instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")(command)


def span_filter_options(command: F) -> F:
    """The span filters of ``/api/spans`` as options."""
    options = [
        click.option("--service", help="service.name"),
        click.option("--model", help="Model name (gen_ai.request.model)."),
        click.option("--operation", help="Span name."),
        click.option("--since", help="Window start: RFC 3339, 15m/1h/2d ago, or unix ns."),
        click.option("--until", help="Window end (exclusive), same forms as --since."),
        click.option("--min-duration", help="Shortest span kept, e.g. 250ms, 2s."),
        click.option("--max-duration", help="Longest span kept, e.g. 250ms, 2s."),
        click.option("--status", type=click.Choice(STATUSES), help="Span status."),
        click.option(
            "--attr",
            "attrs",
            multiple=True,
            metavar="KEY=VALUE",
            help="Attribute equals value (numbers and true/false are typed; "
            "quote to match text: k='\"200\"'). Repeatable.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filters(options: dict[str, Any]) -> SpanFilters:
    """SpanFilters from the options of :func:`span_filter_options` (and ``limit``)."""
    attrs: dict[str, str] = {}
    for item in options.pop("attrs", ()):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--attr")
        attrs[key] = value
    found = {k: v for k, v in options.items() if v is not None}
    if attrs:
        found["attrs"] = attrs
    return cast(SpanFilters, found)


@contextmanager
def _api(url: str, token: str | None, timeout: float = 30.0) -> Iterator[ApiClient]:
    """A client whose errors end the command with one line and exit code 1."""
    try:
        with ApiClient(url, token, timeout) as client:
            yield client
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(doc: JSON) -> None:
    """An API answer on standard output as indented JSON (``--json``)."""
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def number_table(label: str, names: Iterable[str]) -> Table:
    """An empty table: a ``label`` column, then right-justified number columns."""
    table = Table()
    table.add_column(label)
    for name in names:
        table.add_column(name, justify="right")
    return table


def _ms(nanos: float | None) -> str:
    return "" if nanos is None else f"{nanos / 1e6:,.1f}"


def _num(value: float | None, spec: str = ",.1f") -> str:
    return "" if value is None else format(value, spec)


def _when(iso: str) -> str:
    """``2026-11-22T10:00:00.123456789Z`` as ``2026-11-22 10:00:00.123``."""
    return iso[:23].replace("T", " ")


def _status(code: str) -> Text:
    return Text(code, style="red" if code == "error" else "")


@click.command()
@click.argument("trace_id")
@api_options
@json_option
def trace(trace_id: str, url: str, token: str | None, as_json: bool) -> None:
    """Show one trace as a tree of spans with a waterfall of their timing."""
    with _api(url, token) as api:
        doc = api.trace(trace_id)
    if as_json:
        echo_json(doc)
        return
    console = Console()
    console.print(
        f"[bold]trace {doc['trace_id']}[/bold]  {doc['span_count']} spans  "
        f"{_ms(doc['duration_nanos'])} ms  services: {escape(', '.join(doc['services']))}"
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("span", no_wrap=True)
    table.add_column("ms", justify="right")
    table.add_column("status")
    table.add_column("timeline", no_wrap=True)
    start, total = doc["start_time_unix_nano"], max(1, doc["duration_nanos"])
    for prefix, span in tree(doc["spans"]):
        label = Text(prefix)
        label.append(f"{span['service_name']}: ", style="dim")
        label.append(span["operation_name"])
        if span.get("model_name"):
            label.append(f" [{span['model_name']}]", style="cyan")
        bar = waterfall(span["start_time_unix_nano"] - start, span["duration_nanos"], total)
        style = "red" if span["status_code"] == "error" else "green"
        table.add_row(
            label, _ms(span["duration_nanos"]), _status(span["status_code"]), Text(bar, style)
        )
    console.print(table)
    if doc.get("truncated"):
        console.print(f"[yellow]showing the first {len(doc['spans'])} spans[/yellow]")


def tree(spans: list[JSON]) -> list[tuple[str, JSON]]:
    """Spans in depth-first order with their tree-drawing prefixes.

    Children follow their parent by start time; a span whose parent is not in
    the trace is drawn as a root. O(n log n).
    """
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[JSON]] = {}
    for s in sorted(spans, key=lambda s: (s["start_time_unix_nano"], s["span_id"])):
        parent = s["parent_span_id"] if s["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(s)
    out: list[tuple[str, JSON]] = []
    seen: set[str] = set()
    stack: list[tuple[JSON, str, str]] = [(s, "", "") for s in reversed(children.get(None, []))]
    while stack:
        span, prefix, indent = stack.pop()
        if span["span_id"] in seen:
            continue
        seen.add(span["span_id"])
        out.append((prefix, span))
        kids = children.get(span["span_id"], [])
        for i, kid in reversed(list(enumerate(kids))):
            last = i == len(kids) - 1
            stack.append(
                (kid, indent + ("└─ " if last else "├─ "), indent + ("   " if last else "│  "))
            )
    return out


def waterfall(offset: int, duration: int, total: int, width: int = BAR_WIDTH) -> str:
    """A bar of ``width`` characters: blank until ``offset``, then ``duration`` in blocks."""
    begin = min(width - 1, max(0, offset * width // total))
    length = max(1, min(width - begin, round(duration * width / total)))
    return " " * begin + "█" * length + " " * (width - begin - length)


@click.command()
@span_filter_options
@click.option("--limit", type=click.IntRange(min=1), help="Most spans shown (100; at most 10000).")
@api_options
@json_option
def spans(url: str, token: str | None, as_json: bool, **options: Any) -> None:
    """Search spans, newest first."""
    with _api(url, token) as api:
        doc = api.spans(**_filters(options))
    if as_json:
        echo_json(doc)
        return
    table = Table()
    table.add_column("start (UTC)", no_wrap=True)
    table.add_column("trace id", no_wrap=True, min_width=32)
    table.add_column("service")
    table.add_column("operation")
    table.add_column("model")
    table.add_column("ms", justify="right")
    table.add_column("status")
    table.add_column("tokens in/out", justify="right")
    for s in doc["spans"]:
        tokens = ""
        if s["input_tokens"] is not None or s["output_tokens"] is not None:
            tokens = f"{_num(s['input_tokens'], ',')}/{_num(s['output_tokens'], ',')}"
        table.add_row(
            _when(s["start_time"]),
            s["trace_id"],
            s["service_name"],
            s["operation_name"],
            s["model_name"] or "",
            _ms(s["duration_nanos"]),
            _status(s["status_code"]),
            tokens,
        )
    console = Console()
    console.print(table)
    more = " (limit reached: there may be more; use --limit)" if doc["truncated"] else ""
    console.print(f"{doc['count']} spans{more}", highlight=False)


_GAUGES = {
    "running_requests": "running",
    "waiting_requests": "waiting",
    "kv_cache_usage": "KV cache",
}
"""Gauge fields of a row from metrics, and their column names (shown when any row has one)."""


@click.command()
@click.option("--since", help="Window start: RFC 3339, 15m/1h/2d ago, or unix ns.")
@click.option("--until", help="Window end (exclusive), same forms as --since.")
@click.option(
    "--group-by", type=click.Choice(GROUPS), default="model", show_default=True, help="Row key."
)
@click.option(
    "--spans",
    type=click.Choice(COUNTED),
    default="requests",
    show_default=True,
    help="Count requests (spans with a model whose parent is not a span of the same "
    "service and model), or all spans with a model.",
)
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default="auto",
    show_default=True,
    help="Rows from spans, from metrics (vLLM, SGLang, GenAI), or auto: spans for a group "
    "with requests from spans, else its metrics.",
)
@api_options
@json_option
def models(
    since: str | None,
    until: str | None,
    group_by: str,
    spans: str,
    source: str,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Latency, queue time, TTFT, time per output token, errors, tokens and GPU use per
    model (or service, operation, pod), over requests: spans with a model whose parent
    is not a span of the same service and model (``--spans all``: every span with a
    model). TPOT is decode time / (output tokens - 1); the README's analytics section
    states every rule. A model with no requests from spans in the window is answered
    from its metrics (vLLM, SGLang, GenAI): the ``source`` column says which, and
    running/waiting requests and KV-cache use show where its gauges say."""
    with _api(url, token) as api:
        doc = api.models(
            since, until, cast(GroupBy, group_by), cast(Counted, spans), cast(Source, source)
        )
    if as_json:
        echo_json(doc)
        return
    groups = doc["groups"]
    gauges = [k for k in _GAUGES if any(g.get(k) is not None for g in groups)]
    sourced = any(g.get("source", "spans") != "spans" for g in groups)
    table = Table()
    table.add_column(group_by)
    if sourced:  # spans only: the table as it always was
        table.add_column("source")
    for name in ("requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(name, justify="right")
    for name in ("queue", "TTFT", "TPOT"):
        for q in ("p50", "p95"):
            table.add_column(f"{name} {q} ms", justify="right")
    for name in ("tokens in", "tokens out", "tokens/s", "batch", "GPU util"):
        table.add_column(name, justify="right")
    for k in gauges:
        table.add_column(_GAUGES[k], justify="right")
    for g in groups:
        table.add_row(
            g["key"],
            *([g["source"]] if sourced else []),
            _num(g["requests"], ","),
            _num(g["errors"], ","),
            _num(g["error_rate"], ".2%"),
            _ms(g["latency_p50_ns"]),
            _ms(g["latency_p95_ns"]),
            _ms(g["latency_p99_ns"]),
            *(_ms(g[f"{m}_{q}_ns"]) for m in ("queue", "ttft", "tpot") for q in ("p50", "p95")),
            _num(g["input_tokens"], ","),
            _num(g["output_tokens"], ","),
            _num(g["output_tokens_per_second"]),
            _num(g["mean_batch_size"]),
            _num(g["mean_gpu_utilization"], ".2f"),
            *(_num(g[k], ".0%" if k == "kv_cache_usage" else ",.0f") for k in gauges),
        )
    console = Console()
    console.print(table)
    if not doc["groups"]:
        console.print(
            f"no {'requests' if spans == 'requests' else 'model spans'} or model metrics "
            "in this window"
        )


@click.command()
@api_options
@json_option
def stats(url: str, token: str | None, as_json: bool) -> None:
    """Stored records and their memory (or disk) per signal."""
    with _api(url, token) as api:
        doc = api.stats()
    if as_json:
        echo_json(doc)
        return
    table = number_table("signal", ("stored", "capacity", "evicted", "data", "index", "total"))
    for signal in ("spans", "logs", "metrics"):
        s = doc[signal]
        table.add_row(
            signal,
            f"{s['count']:,}",
            f"{s['capacity']:,}" if s["capacity"] else "-",
            f"{s['evicted']:,}",
            decimal(s["data_bytes"]),
            decimal(s["index_bytes"]),
            decimal(s["total_bytes"]),
        )
    Console().print(table)
    Console().print(f"total {decimal(doc['total_bytes'])}", highlight=False)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="File format (default: from the output file's extension).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="File."
)
@span_filter_options
@click.option(
    "--limit", type=click.IntRange(min=1), help="Most rows exported (100000; at most 1000000)."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read a data directory (serve --data-dir) instead of a server: no server may hold it.",
)
@api_options
def export(
    fmt: str | None,
    output: Path,
    url: str,
    token: str | None,
    data_dir: Path | None,
    **options: Any,
) -> None:
    """Download matching spans as Parquet, CSV or JSON Lines, newest first.

    With --data-dir the spans come from a data directory no server holds,
    restored read-only from its snapshot and log, through the same export code.
    """
    if fmt is None:
        fmt = output.suffix.lstrip(".").lower()
        if fmt not in FORMATS:
            raise click.UsageError(
                f"cannot tell the format from {output.name!r}: pass --format parquet|csv|jsonl"
            )
    filters = _filters(options)
    err = Console(stderr=True)
    columns = (
        TextColumn(f"exporting {escape(output.name)}"),
        DownloadColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("export", total=None)

        def tick(written: int) -> None:
            progress.update(task, completed=written)

        max_rows: int | None
        if data_dir is not None:
            written, max_rows = _export_offline(data_dir, fmt, output, tick, filters, err)
        else:
            with _api(url, token, timeout=120.0) as api:
                result = api.export(cast(ExportFormat, fmt), output, tick, **filters)
            written, max_rows = result.bytes_written, result.max_rows
    rows = count_rows(fmt, output)
    Console().print(
        f"Wrote {rows:,} spans ({decimal(written)}) to {escape(str(output))}",
        highlight=False,
    )
    if max_rows is not None and rows >= max_rows:
        err.print(
            f"[yellow]stopped at the row limit ({max_rows:,}); "
            "use --limit (at most 1,000,000) or narrower filters[/yellow]"
        )


def _export_offline(
    data_dir: Path,
    fmt: str,
    output: Path,
    tick: Callable[[int], None],
    filters: SpanFilters,
    err: Console,
) -> tuple[int, int]:
    """Export from a data directory (:mod:`infertrace.cli.offline`): (bytes, max rows)."""
    from infertrace.api.export import ExportFormat as Format
    from infertrace.api.export import ExportIncomplete, export_file
    from infertrace.api.params import BadParameter
    from infertrace.cli.offline import restored
    from infertrace.cli.persist import restored_text

    with restored(data_dir) as data:
        err.print(f"read {escape(str(data_dir))}: {restored_text(data.report)}", highlight=False)
        try:
            return export_file(data.store, span_params(filters), Format(fmt), output, tick)
        except BadParameter as exc:
            hint = f"--{exc.name.replace('_', '-')}"
            raise click.BadParameter(exc.message, param_hint=hint) from None
        except ExportIncomplete as exc:
            raise click.ClickException(str(exc)) from None


def count_rows(fmt: str, path: Path) -> int:
    """Spans in an exported file: the Parquet footer, CSV records, or JSON lines."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            return max(0, sum(1 for _ in csv.reader(f)) - 1)
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


COMMANDS = (trace, spans, models, stats, export)
"""The query commands, added to the ``infertrace`` group by :mod:`infertrace.cli`."""
