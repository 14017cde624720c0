"""Bulk span export: ``GET /api/export/spans?format=parquet|csv|jsonl&<span filters>``.

The filters are those of ``/api/spans`` (one dependency, :func:`span_filter`),
except ``limit``: here it is the most rows exported, ``DEFAULT_EXPORT_ROWS``
when absent and capped at ``MAX_EXPORT_ROWS``, so no query makes the server
build an unbounded answer. The response header ``X-Export-Max-Rows`` carries
the limit applied; an export with that many rows may have stopped early.

Rows come newest start first, streamed page by page (at most ``MAX_LIMIT``
spans per store call), so memory stays flat whatever the size. Columns are the
keys of :func:`span_json` in the same order; in CSV and Parquet the
``attributes``, ``resource_attributes``, ``events`` and ``links`` columns hold
JSON text. A bad filter or format is a 422 before any byte is sent; a failure
after streaming has begun aborts the connection, so a client sees an
incomplete download, never a silently short file. The one export that cannot
be paged, more than ``MAX_LIMIT`` matching spans with the same start time and
the same duration, fails that way (or with a 422 when it is the first page).
"""

from __future__ import annotations

import csv
import enum
import io
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from infertrace.api.params import ATTR_PREFIX, BadParameter
from infertrace.api.query import span_filter
from infertrace.api.responses import ERROR_RESPONSES, dumps, error
from infertrace.api.search import store_of
from infertrace.api.serialize import span_json
from infertrace.errors import InferTraceError
from infertrace.model import Span
from infertrace.telemetry.filters import MAX_LIMIT, NO_UPPER, SpanFilter
from infertrace.telemetry.protocols import SpanReader
from infertrace.telemetry.schema import SPAN, FieldType

DEFAULT_EXPORT_ROWS = 100_000
"""Rows exported when the query gives no ``limit``."""

MAX_EXPORT_ROWS = 1_000_000
"""A larger ``limit`` is lowered to this."""

router = APIRouter(prefix="/api", tags=["export"], responses=ERROR_RESPONSES)


class ExportFormat(enum.StrEnum):
    """The file formats of an export."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


MEDIA_TYPES = {
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSONL: "application/x-ndjson",
}

_STR = pa.string()
_INT = pa.int64()
_FLOAT = pa.float64()
ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.ID16: _STR,  # hex
    FieldType.ID8: _STR,
    FieldType.TEXT: _STR,
    FieldType.TIME: _INT,
    FieldType.COUNT: _INT,
    FieldType.FLAGS: _INT,
    FieldType.FLOAT: _FLOAT,
    FieldType.ENUM: _STR,  # the lowercase name, as in the JSON
    FieldType.BOOL: pa.bool_(),
    FieldType.ATTRIBUTES: _STR,  # JSON text
    FieldType.EVENTS: _STR,
    FieldType.LINKS: _STR,
    FieldType.HISTOGRAM: _STR,
}
"""The Arrow type of each logical type in an export."""

DISPLAY_COLUMNS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "start_time_unix_nano": (
        ("start_time", _STR),
        ("end_time_unix_nano", _INT),
        ("end_time", _STR),
    ),
    "duration_nanos": (("duration_ms", _FLOAT),),
}
"""Columns :func:`span_json` adds for readers, after the field each is computed from."""

JSON_COLUMNS = tuple(f.name for f in SPAN.in_columns() if f.type.is_payload)
"""Columns holding JSON text in CSV and Parquet (nested values in JSONL)."""


def _arrow_fields() -> Iterator[pa.Field]:
    for f in SPAN.in_columns():
        yield pa.field(f.name, ARROW_TYPES[f.type], nullable=f.nullable)
        for name, kind in DISPLAY_COLUMNS.get(f.name, ()):
            yield pa.field(name, kind, nullable=False)


SCHEMA = pa.schema(list(_arrow_fields()))
"""The Parquet schema (the span schema's columns in view order, with the display
columns); its field names are every format's columns, in order."""

COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


class ExportIncomplete(InferTraceError, RuntimeError):
    """An export cannot enumerate every matching span (see :func:`span_pages`)."""


_Key = tuple[int, bytes, bytes]


def _key(span: Span) -> _Key:
    return span.start_time_unix_nano, span.trace_id, span.span_id


def _unsent(page: list[Span], sent: Counter[_Key]) -> list[Span]:
    """The spans of ``page`` not already sent, using up ``sent`` (a multiset)."""
    if not sent:
        return page
    fresh = []
    for span in page:
        key = _key(span)
        if sent[key] > 0:
            sent[key] -= 1
        else:
            fresh.append(span)
    return fresh


def span_pages(store: SpanReader, flt: SpanFilter, max_rows: int) -> Iterator[list[Span]]:
    """The spans matching ``flt``, newest start first, at most ``max_rows``, in pages.

    Each store call asks for at most ``MAX_LIMIT`` spans. The next page asks
    for starts before the oldest start seen plus one nanosecond and skips the
    spans already sent at that start, so no span is lost or repeated however
    many share a start time. When ``MAX_LIMIT`` spans all share one start time,
    ``until`` cannot move past it: that instant is then read in slices of
    duration, split until each slice fits one call. Spans with equal start
    times come in no particular order.

    Raises ExportIncomplete when more than ``MAX_LIMIT`` matching spans share
    both start time and duration. O(rows) store work and memory per page.
    """
    r = flt.resolve()
    left = max_rows
    until = flt.until
    sent: Counter[_Key] = Counter()
    while left > 0:
        want = min(MAX_LIMIT, left + sent.total())
        page = store.list_spans(replace(flt, until=until, limit=want))
        oldest = page[-1].start_time_unix_nano if page else 0
        if len(page) == MAX_LIMIT and page[0].start_time_unix_nano == oldest:
            for part in _one_instant(store, flt, oldest, r.min_duration, r.max_duration, sent):
                part = part[:left]
                left -= len(part)
                if part:
                    yield part
                if left == 0:
                    return
            until, sent = oldest, Counter()
            continue
        fresh = _unsent(page, sent)[:left]
        left -= len(fresh)
        if fresh:
            yield fresh
        if len(page) < want:
            return
        sent = Counter(_key(s) for s in page if s.start_time_unix_nano == oldest)
        until = oldest + 1


def _one_instant(
    store: SpanReader,
    flt: SpanFilter,
    instant: int,
    min_duration: int,
    max_duration: int,
    sent: Counter[_Key],
) -> Iterator[list[Span]]:
    """The unsent spans matching ``flt`` that start at ``instant``, by duration slices."""
    slices = [(min_duration, max_duration)]
    while slices:
        lo, hi = slices.pop()
        part = replace(
            flt,
            since=instant,
            until=instant + 1,
            min_duration_ns=lo,
            max_duration_ns=None if hi == NO_UPPER else hi,
            limit=MAX_LIMIT,
        )
        page = store.list_spans(part)
        if len(page) < MAX_LIMIT:
            yield _unsent(page, sent)
        elif lo == hi:
            raise ExportIncomplete(
                f"more than {MAX_LIMIT} spans start at {instant} with duration {lo} ns: "
                "narrow the filters to export them"
            )
        else:  # split at the page's median duration: slices shrink, halves hold about half
            durations = sorted(s.duration_nanos for s in page)
            mid = min(durations[len(durations) // 2], hi - 1)
            slices += [(mid + 1, hi), (lo, mid)]


def _json_text(value: Any) -> str:
    return "[]" if value == [] else "{}" if value == {} else dumps(value).decode("utf-8")


def flat_rows(page: list[Span]) -> list[dict[str, Any]]:
    """CSV/Parquet rows: :func:`span_json` with nested values as JSON text.

    Resource attribute maps are shared between spans of one resource (the
    stores intern them), so each is encoded once per page. O(page).
    """
    resources: dict[int, str] = {}
    rows = []
    for span in page:
        row = span_json(span)
        for name in ("attributes", "events", "links"):
            row[name] = _json_text(row[name])
        key = id(span.resource_attributes)
        text = resources.get(key)
        if text is None:
            text = resources[key] = _json_text(row["resource_attributes"])
        row["resource_attributes"] = text
        rows.append(row)
    return rows


def _cells(row: dict[str, Any]) -> list[Any]:
    return [row[c] for c in COLUMNS]


def jsonl_chunks(pages: Iterable[list[Span]]) -> Iterator[bytes]:
    """One JSON object per line, one chunk per page."""
    for page in pages:
        yield b"".join(dumps(span_json(s)) + b"\n" for s in page)


def csv_chunks(pages: Iterable[list[Span]]) -> Iterator[bytes]:
    """A header row, then one chunk per page; null cells are empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue().encode("utf-8")
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(_cells(row) for row in flat_rows(page))
        yield buffer.getvalue().encode("utf-8")


class _Chunks:
    """A write-only file that hands what was written to the caller."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def parquet_table(page: list[Span]) -> pa.Table:
    """One page of spans as a table of :data:`SCHEMA`."""
    rows = flat_rows(page)
    return pa.Table.from_pydict({c: [row[c] for row in rows] for c in COLUMNS}, schema=SCHEMA)


def parquet_chunks(pages: Iterable[list[Span]]) -> Iterator[bytes]:
    """A Parquet file, one row group per page, streamed as it is written."""
    sink = _Chunks()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), SCHEMA)
    try:
        for page in pages:
            if page:
                writer.write_table(parquet_table(page))
                yield sink.take()
    finally:
        writer.close()
    yield sink.take()


_ENCODERS = {
    ExportFormat.PARQUET: parquet_chunks,
    ExportFormat.CSV: csv_chunks,
    ExportFormat.JSONL: jsonl_chunks,
}


@router.get(
    "/export/spans",
    summary="Export spans as Parquet, CSV or JSON Lines (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The spans as a file download, in the requested format",
            "content": {m.split(";")[0]: {} for m in MEDIA_TYPES.values()},
        }
    },
)
def export_spans(
    request: Request,
    flt: Annotated[SpanFilter, Depends(span_filter)],
    fmt: Annotated[ExportFormat, Query(alias="format", description="File format")] = (
        ExportFormat.JSONL
    ),
) -> Response:
    """Every span matching the filters of /api/spans, newest first, as a download.

    ``limit`` is the most rows exported: 100000 by default, at most 1000000
    (header ``X-Export-Max-Rows``). The format defaults to JSON Lines.
    """
    raw = request.query_params.get("limit")  # checked by span_filter; its flt.limit is capped
    max_rows = min(int(raw), MAX_EXPORT_ROWS) if raw else DEFAULT_EXPORT_ROWS
    pages = span_pages(store_of(request), flt, max_rows)
    try:  # errors in the first page still get a status of their own
        first = next(pages, [])
    except ExportIncomplete as exc:
        return error(422, str(exc))
    return StreamingResponse(
        _ENCODERS[fmt](chain([first], pages)),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="spans.{fmt.value}"',
            "X-Export-Max-Rows": str(max_rows),
        },
    )


_FILTER_NAMES = frozenset(
    ("service", "model", "operation", "since", "until", "min_duration", "max_duration", "status")
)
"""The query parameters of :func:`span_filter` besides ``limit`` and ``attr.KEY``."""


def export_file(
    store: SpanReader,
    params: Sequence[tuple[str, object]],
    fmt: ExportFormat,
    path: str | os.PathLike[str],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """What ``GET /api/export/spans?<params>`` would answer, written to ``path`` without
    a server (``infertrace export --data-dir``): the query is parsed by the endpoint's
    own dependency, and the same pages and encoders make the file. It goes to
    ``path`` + ``.part``, renamed once complete. Returns ``(bytes written, max
    rows)``; a bad parameter raises BadParameter naming it, a page that cannot be
    enumerated ExportIncomplete. O(rows), one page in memory at a time.
    """
    query = urlencode(list(params)).encode()
    request = Request({"type": "http", "query_string": query, "headers": []})
    fields = dict(request.query_params)
    raw_limit = fields.pop("limit", None)
    try:
        limit = None if raw_limit is None else int(raw_limit)
    except ValueError:
        raise BadParameter("limit", f"{raw_limit!r} is not an integer") from None
    kwargs = {k: v for k, v in fields.items() if not k.startswith(ATTR_PREFIX)}
    unknown = sorted(set(kwargs) - _FILTER_NAMES)
    if unknown:
        raise BadParameter(unknown[0], "is not a span filter")
    flt = span_filter(request, limit=limit, **kwargs)
    max_rows = min(limit, MAX_EXPORT_ROWS) if limit else DEFAULT_EXPORT_ROWS
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    written = 0
    try:
        with partial.open("wb") as out:
            for chunk in _ENCODERS[fmt](span_pages(store, flt, max_rows)):
                out.write(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(written)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written, max_rows
