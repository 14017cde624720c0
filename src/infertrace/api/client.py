"""A small typed client for the InferTrace REST API, over httpx.

::

    with ApiClient("http://127.0.0.1:4318", token="s3cret") as api:
        page = api.spans(service="vllm-llama-8b", since="1h", attrs={"gen_ai.system": "vllm"})
        api.export("parquet", "spans.parquet", model="meta-llama/Llama-3.1-8B-Instruct")

Answers are the API's JSON documents as dicts (see /openapi.json for their
shapes). Every failure raises :class:`ApiError`: an HTTP error status with the
server's ``detail`` as message, or ``status=None`` when no answer came
(connection refused, timeout). A client holds one connection pool: not safe
to share between threads while a request is running (httpx's rule).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypedDict, Unpack

import httpx

from infertrace.errors import InferTraceError

DEFAULT_URL = "http://127.0.0.1:4318"
"""Where ``infertrace serve`` listens by default."""

JSON: TypeAlias = dict[str, Any]
Time: TypeAlias = str | int | datetime
"""RFC 3339 or relative text (``15m``, ``1h``), unix nanoseconds, or a datetime."""
ExportFormat: TypeAlias = Literal["parquet", "csv", "jsonl"]
GroupBy: TypeAlias = Literal["model", "service", "operation", "pod"]
Counted: TypeAlias = Literal["requests", "all"]
Source: TypeAlias = Literal["auto", "spans", "metrics"]
Params: TypeAlias = list[tuple[str, str | int | float | bool | None]]
ActivityKind: TypeAlias = Literal["developers", "commits", "changes", "sessions"]
"""The record kinds of ``/api/activity/{kind}``."""
OnConflict: TypeAlias = Literal["error", "skip", "replace"]
"""What an activity batch does with a key already stored: refuse, keep it, overwrite it."""
RankedBy: TypeAlias = Literal["developer", "team", "region"]
Day: TypeAlias = str
"""A UTC day, ``YYYY-MM-DD``."""


class ApiError(InferTraceError):
    """The API refused a request (``status``) or could not be reached (status None)."""

    def __init__(self, status: int | None, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message if status is None else f"HTTP {status}: {message}")


class SpanFilters(TypedDict, total=False):
    """The span filters of ``/api/spans`` and ``/api/export/spans``.

    Durations are text like ``250ms`` or ``2s``; ``status`` is ok, error or
    unset; ``attrs`` values that read as numbers or booleans match attributes of
    that type (quote them, ``'"200"'``, to match the string).
    """

    service: str
    model: str
    operation: str
    since: Time
    until: Time
    min_duration: str
    max_duration: str
    status: str
    attrs: Mapping[str, str | int | float | bool]
    limit: int


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A finished export: where it went, its size, and the server's row limit."""

    path: Path
    bytes_written: int
    max_rows: int | None


def _time(value: Time) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def span_params(filters: SpanFilters) -> Params:
    """Query parameters for span filters; absent and None filters are left out."""
    params: Params = []
    for name, value in filters.items():
        if value is None:
            continue
        if name == "attrs":
            assert isinstance(value, Mapping)
            params.extend((f"attr.{k}", _text(v)) for k, v in value.items())
        elif isinstance(value, datetime):
            params.append((name, value.isoformat()))
        else:
            params.append((name, str(value)))
    return params


def _message(response: httpx.Response) -> str:
    """The ``detail`` of an error answer, flattened to one line."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = item.get("loc") or []
                where = str(loc[-1]) if loc else ""
                parts.append(f"{where}: {item.get('msg', '')}" if where else str(item.get("msg")))
        if parts:
            return "; ".join(parts)
    return response.reason_phrase or "error"


class ApiClient:
    """The REST API of one InferTrace server; ``with`` closes its connections.

    ``token`` is sent as ``Authorization: Bearer <token>`` (the server's
    ``api_token``). ``timeout`` is seconds per connect, read or write.
    """

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool; safe to call twice."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _unreachable(self, exc: httpx.TransportError) -> ApiError:
        reason = str(exc) or type(exc).__name__
        return ApiError(None, f"cannot reach the InferTrace API at {self.url}: {reason}")

    def _get(self, path: str, params: Params | None = None) -> JSON:
        try:
            response = self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code != 200:
            raise ApiError(response.status_code, _message(response))
        doc: JSON = response.json()
        return doc

    def trace(self, trace_id: str) -> JSON:
        """One trace: ``spans`` by start time, with ``span_count`` and ``duration_nanos``."""
        return self._get(f"/api/traces/{trace_id}")

    def spans(self, **filters: Unpack[SpanFilters]) -> JSON:
        """Matching spans, newest first: ``spans``, ``count``, ``limit``, ``truncated``."""
        return self._get("/api/spans", span_params(filters))

    def models(
        self,
        since: Time | None = None,
        until: Time | None = None,
        group_by: GroupBy = "model",
        spans: Counted = "requests",
        source: Source = "auto",
    ) -> JSON:
        """Per-group analytics over requests (``spans="all"``: every span with a model) or
        metrics (``source``): ``groups``, one row per key, each with its ``source``."""
        params: Params = [("group_by", group_by), ("spans", spans), ("source", source)]
        params += [(k, _time(v)) for k, v in (("since", since), ("until", until)) if v is not None]
        return self._get("/api/analytics/models", params)

    def stats(self) -> JSON:
        """Stored records and bytes per signal."""
        return self._get("/api/stats")

    def pods(
        self, name: str | None = None, model: str | None = None, status: str | None = None
    ) -> JSON:
        """The registry's pods matching every given filter, by key: ``pods``, ``count``."""
        params: Params = [("name", name), ("provider", model), ("status", status)]
        return self._get("/api/registry/pods", [(k, v) for k, v in params if v is not None])

    def export(
        self,
        fmt: ExportFormat,
        path: str | os.PathLike[str],
        progress: Callable[[int], None] | None = None,
        **filters: Unpack[SpanFilters],
    ) -> ExportResult:
        """Stream matching spans into the file ``path``; ``progress`` gets bytes so far.

        The download goes to ``path`` + ``.part`` and is renamed when complete,
        so ``path`` never holds a partial export; ``limit`` is the most rows.
        """
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        params: Params = [("format", fmt), *span_params(filters)]
        written = 0
        answered = False
        try:
            with self._http.stream("GET", "/api/export/spans", params=params) as response:
                answered = True
                if response.status_code != 200:
                    response.read()
                    raise ApiError(response.status_code, _message(response))
                limit = response.headers.get("x-export-max-rows")
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(written)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            if not answered:
                raise self._unreachable(exc) from exc
            raise ApiError(
                None, f"export from {self.url} broke off after {written} bytes: {exc}"
            ) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return ExportResult(target, written, int(limit) if limit else None)

    def _send(
        self, method: str, path: str, params: Params | None = None, body: object = None
    ) -> JSON:
        """A request with an optional JSON body; any 2xx answer is success (204: ``{}``)."""
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if not response.is_success:
            raise ApiError(response.status_code, _message(response) + _failing(response))
        if response.status_code == 204 or not response.content:
            return {}
        doc: JSON = response.json()
        return doc

    def activity_list(
        self,
        kind: ActivityKind,
        filters: Mapping[str, str | int | bool] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        since: Time | None = None,
        until: Time | None = None,
    ) -> JSON:
        """Activity records of ``kind`` whose fields equal ``filters``, in the time
        window ``since``..``until``: ``items``, ``total``, ``limit``, ``offset``."""
        params: Params = [(k, _text(v)) for k, v in (filters or {}).items()]
        params += [(k, v) for k, v in (("limit", limit), ("offset", offset)) if v is not None]
        params += [(k, _time(v)) for k, v in (("since", since), ("until", until)) if v is not None]
        return self._get(f"/api/activity/{kind}", params)

    def activity_get(self, kind: ActivityKind, key: str) -> JSON:
        """One activity record by its key (id, or sha for commits)."""
        return self._get(f"/api/activity/{kind}/{key}")

    def activity_by_email(self, email: str) -> JSON:
        """The developer with this email."""
        return self._get(f"/api/activity/developers/by-email/{email}")

    def activity_batch(
        self, kind: ActivityKind, records: list[JSON], on_conflict: OnConflict = "error"
    ) -> JSON:
        """Store ``records`` all or none: ``inserted``, ``skipped``, ``replaced``.
        A refused batch raises ApiError whose message names the failing records."""
        params: Params = [("on_conflict", on_conflict)]
        return self._send("POST", f"/api/activity/{kind}/batch", params, {"records": records})

    def activity_daily(
        self, first: Day | None = None, last: Day | None = None, developer: str | None = None
    ) -> JSON:
        """The metrics of each UTC day ``first``..``last`` (inclusive): ``days``; of one
        developer (also ``developer``) when ``developer`` is an id."""
        path = "/api/activity/metrics/daily"
        if developer is not None:
            path = f"/api/activity/developers/{developer}/daily"
        return self._get(path, _days(first, last))

    def activity_range(self, first: Day | None = None, last: Day | None = None) -> JSON:
        """The metrics of the days ``first``..``last`` together."""
        return self._get("/api/activity/metrics/range", _days(first, last))

    def activity_stats(
        self, by: Literal["regions", "teams"], first: Day | None = None, last: Day | None = None
    ) -> JSON:
        """Headcount and metrics per region or team: ``groups``."""
        return self._get(f"/api/activity/stats/{by}", _days(first, last))

    def activity_leaderboard(
        self,
        metric: str,
        by: RankedBy = "developer",
        first: Day | None = None,
        last: Day | None = None,
        limit: int = 10,
        team: str | None = None,
        region: str | None = None,
    ) -> JSON:
        """Developers, teams or regions ranked by ``metric``, highest first: ``entries``;
        only the developers of ``team`` / ``region`` when given."""
        params: Params = [("metric", metric), ("by", by), ("limit", limit)]
        params += [(k, v) for k, v in (("team", team), ("region", region)) if v is not None]
        return self._get("/api/activity/leaderboard", params + _days(first, last))

    def activity_consistency(self) -> JSON:
        """The store's consistency report: ``ok``, ``orphans``, ``duplicates``, ``drift``."""
        return self._get("/api/activity/consistency")

    def activity_repair(self, drop_orphans: bool = False) -> JSON:
        """Repair what is safely fixable (orphans too with ``drop_orphans``); what was done."""
        params: Params = [("drop_orphans", _text(drop_orphans))]
        return self._send("POST", "/api/activity/consistency/repair", params)

    def activity_memory(self) -> JSON:
        """Records and measured bytes per kind: ``kinds``."""
        return self._get("/api/activity/memory")

    def activity_snapshot(self) -> JSON:
        """Write a snapshot on the server: ``name``, ``bytes``, ``records``, ``sha256``."""
        return self._send("POST", "/api/activity/snapshot")

    def activity_snapshots(self) -> JSON:
        """The server's activity snapshot files."""
        return self._get("/api/activity/snapshots")

    def activity_restore(self, name: str) -> JSON:
        """Replace the server's activity store with the snapshot ``name``."""
        return self._send("POST", f"/api/activity/snapshots/{name}/restore")


def _days(first: Day | None, last: Day | None) -> Params:
    return [(k, v) for k, v in (("from", first), ("to", last)) if v is not None]


def _failing(response: httpx.Response, shown: int = 5) -> str:
    """The first ``errors`` of a refused activity batch (index, field, reason), as text."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(errors, list) or not errors:
        return ""
    parts = [
        f"record {e.get('index')}" + (f" {e['field']}" if e.get("field") else "")
        + f": {e.get('reason', '')}"
        for e in errors[:shown] if isinstance(e, dict)
    ]  # fmt: skip
    more = f"; and {len(errors) - shown} more" if len(errors) > shown else ""
    return " (" + "; ".join(parts) + more + ")"
