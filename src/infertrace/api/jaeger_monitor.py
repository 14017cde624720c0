"""The Jaeger UI's System Architecture and Monitor pages, under ``/jaeger``: computed from spans.

Routes (all GET), answered in Jaeger's shapes:

- ``/api/dependencies?endTs=&lookback=&service=``: ``{"data": [{"parent", "child",
  "callCount"}], ...}`` in Jaeger's envelope, the service call graph of the spans
  starting in ``[endTs - lookback, endTs]`` (unix ms; ``endTs`` defaults to now,
  ``lookback`` to 24 h) whose parent span is another service's (the store's
  ``dependencies``); ``service`` keeps the links it is parent or child of. As in
  Jaeger, ``total`` is 0 here.
- ``/api/metrics/latencies|calls|errors?service=&spanKind=&quantile=&groupByOperation=
  &endTs=&lookback=&step=&ratePer=``: Jaeger's metrics-query answer, a
  ``MetricFamily`` ``{name, type: "GAUGE", help, metrics: [{labels, metricPoints}]}``
  with one series per service (and operation with ``groupByOperation``). Points
  are at ``endTs - lookback``, then every ``step``, up to ``endTs``; the point at
  ``t`` covers spans of the asked kinds (``spanKind``, repeatable, default
  ``server``) starting in ``(t - ratePer, t]``. Latencies are the ``quantile``
  of span durations in milliseconds (linear interpolation between the two
  nearest samples, numpy's default); calls are spans per second over
  ``ratePer``; errors the fraction of those spans with an error status. A point
  whose window holds no span is left out of latencies and errors and is 0 in
  calls. Names, help texts and labels (``service_name``, ``operation``) are
  those of Jaeger's Prometheus reader, labels sorted by name. Defaults: 1 h
  lookback, 5 s step, 10 min ratePer; at most ``MAX_POINTS`` points per series.
- ``/api/metrics/minstep``: ``{"data": 1, ...}``, the smallest step in ms.

Spans come from the store's ``span_timings`` (one query per service: start,
duration, error flag and operation of the asked kinds in the window), so a
request costs O(spans of the service and kinds in ``lookback + ratePer``) plus
O(points x log spans), and one quantile per point for latencies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from infertrace.api.jaeger_model import JSONObject, error_body
from infertrace.api.jaeger_params import ParamError
from infertrace.api.responses import dumps
from infertrace.errormap import MAPPED, answer_for
from infertrace.model import SpanKind
from infertrace.telemetry.filters import NO_LOWER, NO_UPPER
from infertrace.telemetry.protocols import TelemetryStore

MS = 1_000_000
DEFAULT_DEPENDENCY_LOOKBACK_MS = 24 * 3_600_000
DEFAULT_LOOKBACK_MS = 3_600_000
DEFAULT_STEP_MS = 5_000
DEFAULT_RATE_PER_MS = 600_000
MIN_STEP_MS = 1
MAX_POINTS = 11_000
"""Points per series at most (Prometheus's own limit)."""

SPAN_KINDS = {
    "unspecified": SpanKind.UNSPECIFIED,
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "true": True,
    "TRUE": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "false": False,
    "FALSE": False,
    "False": False,
}  # fmt: skip  (Go's strconv.ParseBool)


class MonitorJSON(JSONResponse):
    """JSON that tolerates non-finite floats (as null)."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def envelope(data: Any, total: int = 0) -> MonitorJSON:
    """Jaeger's envelope ``{data, total, limit, offset, errors}``."""
    return MonitorJSON({"data": data, "total": total, "limit": 0, "offset": 0, "errors": None})


def envelope_error(status: int, message: str, headers: dict[str, str] | None = None) -> MonitorJSON:
    """Jaeger's error envelope: ``data`` null and one error."""
    return MonitorJSON(error_body(status, message), status, headers=headers)


def _guarded(answer: Callable[[], MonitorJSON]) -> MonitorJSON:
    try:
        return answer()
    except MAPPED as exc:
        mapped = answer_for(exc)
        status = 400 if mapped.status == 422 else mapped.status
        return envelope_error(status, mapped.message, mapped.headers or None)


def _unparsable(name: str, problem: str) -> ParamError:
    return ParamError(name, f"unable to parse param '{name}': {problem}")


def _int(request: Request, name: str, default: int, unit: str) -> int:
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return default
    s = text.strip()
    try:
        value = int(s)
    except ValueError:
        value = None
    if value is None or not s.lstrip("+-").isdigit() or abs(value) >= 2**63 // MS:
        raise _unparsable(name, f"{text!r} is not an integer of {unit}")
    return value


def _bool(request: Request, name: str) -> bool:
    text = request.query_params.get(name)
    if text is None or not text:
        return False
    value = _BOOLS.get(text)
    if value is None:
        raise _unparsable(name, f"{text!r} is not a boolean")
    return value


def _clamp(ns: int) -> int:
    return min(max(ns, NO_LOWER), NO_UPPER)


def dependency_links(
    store: TelemetryStore, end_ms: int, lookback_ms: int, service: str | None
) -> list[JSONObject]:
    """The call graph of ``[end_ms - lookback_ms, end_ms]`` as Jaeger's DependencyLinks."""
    since = _clamp((end_ms - lookback_ms) * MS)
    until = _clamp(end_ms * MS + 1)
    return [
        {"parent": parent, "child": child, "callCount": calls}
        for parent, child, calls in store.dependencies(since, until)
        if not service or service in (parent, child)
    ]


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    """A parsed metrics request (times and durations in ns)."""

    services: tuple[str, ...]
    kinds: frozenset[SpanKind]
    group_by_operation: bool
    end: int
    lookback: int
    step: int
    rate_per: int

    def points(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """The point times: end - lookback, then every step, up to end."""
        n = self.lookback // self.step
        return self.end - self.lookback + self.step * np.arange(n + 1, dtype=np.int64)


def parse_metrics_query(request: Request, now_ms: int) -> MetricsQuery:
    """Jaeger's metrics parameters, checked; every error names the parameter."""
    services: list[str] = []
    for value in request.query_params.getlist("service"):
        services += [s for s in value.split(",") if s.strip()]
    if not services:
        raise _unparsable("service", "please provide at least one service name")
    kinds: set[SpanKind] = set()
    for value in request.query_params.getlist("spanKind") or ["server"]:
        kind = SPAN_KINDS.get(value)
        if kind is None:
            raise _unparsable("spanKind", f"unsupported span kind: {value!r}")
        kinds.add(kind)
    end = _int(request, "endTs", now_ms, "unix epoch milliseconds")
    lookback = _int(request, "lookback", DEFAULT_LOOKBACK_MS, "milliseconds")
    step = _int(request, "step", DEFAULT_STEP_MS, "milliseconds")
    rate_per = _int(request, "ratePer", DEFAULT_RATE_PER_MS, "milliseconds")
    for name, amount in (("lookback", lookback), ("step", step), ("ratePer", rate_per)):
        if amount <= 0:
            raise ParamError(name, f"'{name}' must be a positive number of milliseconds")
    if lookback // step + 1 > MAX_POINTS:
        raise ParamError(
            "step",
            f"exceeded maximum resolution of {MAX_POINTS} points per timeseries: "
            f"lookback {lookback} ms / step {step} ms",
        )
    return MetricsQuery(
        tuple(dict.fromkeys(services)),
        frozenset(kinds),
        _bool(request, "groupByOperation"),
        end * MS,
        lookback * MS,
        step * MS,
        rate_per * MS,
    )


def _timestamp(ns: int) -> str:
    """A protobuf Timestamp in JSON: RFC 3339 UTC, fraction digits only as needed."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        digits = f"{frac:09d}"
        for width in (3, 6, 9):
            if digits[width:] == "0" * (9 - width):
                text += "." + digits[:width]
                break
    return text + "Z"


@dataclass(frozen=True, slots=True)
class Samples:
    """One series' spans, sorted by start: starts (ns), durations (ms), error flags."""

    start: npt.NDArray[np.int64]
    duration_ms: npt.NDArray[np.float64]
    error: npt.NDArray[np.bool_]


def _samples(start: Any, duration: Any, error: Any) -> Samples:
    order = np.argsort(start, kind="stable")
    return Samples(start[order], duration[order] / MS, error[order])


def _series(q: MetricsQuery, store: TelemetryStore) -> list[tuple[tuple[str, ...], Samples]]:
    """The spans of each series (per service, or per service and operation), sorted
    by series. One ``span_timings`` store query per service."""
    points = q.points()
    since = _clamp(int(points[0]) - q.rate_per + 1)
    until = _clamp(int(points[-1]) + 1)
    out: list[tuple[tuple[str, ...], Samples]] = []
    for service in q.services:
        t = store.span_timings(service, sorted(q.kinds), since, until)
        if not len(t.start_unix_nano):
            continue
        start = np.asarray(t.start_unix_nano, dtype=np.int64)
        duration = np.asarray(t.duration_nanos, dtype=np.float64)
        error = np.asarray(t.error, dtype=np.bool_)
        if not q.group_by_operation:
            out.append(((service,), _samples(start, duration, error)))
            continue
        names, which = np.unique(np.asarray(t.operation, dtype=object), return_inverse=True)
        for i, op in enumerate(names.tolist()):
            rows = which == i
            out.append(((service, str(op)), _samples(start[rows], duration[rows], error[rows])))
    out.sort(key=lambda item: item[0])
    return out


def _labels(key: tuple[str, ...]) -> list[JSONObject]:
    """Sorted by name, as Prometheus returns them (``operation`` before ``service_name``)."""
    labels = [{"name": "service_name", "value": key[0]}]
    if len(key) > 1:
        labels.insert(0, {"name": "operation", "value": key[1]})
    return labels


def metric_family(kind: str, q: MetricsQuery, store: TelemetryStore, quantile: float) -> JSONObject:
    """One metrics answer (``kind``: latencies, calls or errors); see the module doc."""
    by = "service & operation" if q.group_by_operation else "service"
    prefix = "service_operation" if q.group_by_operation else "service"
    name, help_text = {
        "latencies": (f"{prefix}_latencies", f"{quantile:.2f}th quantile latency, grouped by {by}"),
        "calls": (f"{prefix}_call_rate", f"calls/sec, grouped by {by}"),
        "errors": (
            f"{prefix}_error_rate",
            f"error rate, computed as a fraction of errors/sec over calls/sec, grouped by {by}",
        ),
    }[kind]
    points = q.points()
    metrics: list[JSONObject] = []
    for key, samples in _series(q, store):
        hi = np.searchsorted(samples.start, points, side="right")
        lo = np.searchsorted(samples.start, points - q.rate_per, side="right")
        values: list[tuple[int, float]] = []
        if kind == "calls":
            rate = (hi - lo) / (q.rate_per / 1e9)
            values = list(zip(points.tolist(), rate.tolist(), strict=True))
        elif kind == "errors":
            err = np.concatenate(([0], np.cumsum(samples.error)))
            for t, a, b in zip(points.tolist(), lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    values.append((t, float(err[b] - err[a]) / (b - a)))
        else:
            for t, a, b in zip(points.tolist(), lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    values.append((t, float(np.quantile(samples.duration_ms[a:b], quantile))))
        metrics.append(
            {
                "labels": _labels(key),
                "metricPoints": [
                    {"gaugeValue": {"doubleValue": v}, "timestamp": _timestamp(t)}
                    for t, v in values
                ],
            }
        )
    return {"name": name, "type": "GAUGE", "help": help_text, "metrics": metrics}


def _quantile(request: Request) -> float:
    text = request.query_params.get("quantile", "")
    try:
        q = float(text)
    except ValueError:
        raise _unparsable("quantile", f"{text!r} is not a number") from None
    if not 0 <= q <= 1:
        raise ParamError("quantile", f"'quantile' must be between 0 and 1, got {text}")
    return q


def _store(request: Request) -> TelemetryStore:
    store: TelemetryStore = request.app.state.store
    return store


def _doc(*names: tuple[str, str]) -> JSONObject:
    return {
        "parameters": [
            {
                "name": n,
                "in": "query",
                "required": False,
                "description": d,
                "schema": {"type": "string"},
            }
            for n, d in names
        ]
    }


_METRIC_PARAMS: Sequence[tuple[str, str]] = (
    ("service", "Service name (required; repeat for more)."),
    ("spanKind", "Span kind: server (default), client, internal, producer, consumer, unspecified."),
    ("groupByOperation", "true: one series per operation."),
    ("endTs", "End, unix ms (default now)."),
    ("lookback", "How far back from endTs, ms (default 3600000)."),
    ("step", "Between points, ms (default 5000)."),
    ("ratePer", "Window of each point, ms (default 600000)."),
)


def monitor_router() -> APIRouter:
    """The dependency and metrics routes, for inclusion in the ``/jaeger`` router."""
    router = APIRouter()

    @router.get(
        "/api/dependencies",
        summary="Service call graph (Jaeger)",
        name="jaeger_dependencies",
        openapi_extra=_doc(
            ("endTs", "End of the window, unix ms (default now)."),
            ("lookback", "Window length, ms (default 86400000)."),
            ("service", "Only links this service is parent or child of."),
        ),
    )
    def dependencies(request: Request) -> MonitorJSON:
        def answer() -> MonitorJSON:
            end = _int(request, "endTs", time.time_ns() // MS, "unix epoch milliseconds")
            lookback = _int(request, "lookback", DEFAULT_DEPENDENCY_LOOKBACK_MS, "milliseconds")
            service = request.query_params.get("service") or None
            return envelope(dependency_links(_store(request), end, lookback, service))

        return _guarded(answer)

    def metrics_route(kind: str) -> None:
        params = _METRIC_PARAMS
        if kind == "latencies":
            params = (*params, ("quantile", "Quantile, 0 to 1 (required)."))

        @router.get(
            f"/api/metrics/{kind}",
            summary=f"Monitor tab: {kind} per service (Jaeger)",
            name=f"jaeger_metrics_{kind}",
            openapi_extra=_doc(*params),
        )
        def metrics(request: Request) -> MonitorJSON:
            def answer() -> MonitorJSON:
                quantile = _quantile(request) if kind == "latencies" else 0.0
                q = parse_metrics_query(request, time.time_ns() // MS)
                return MonitorJSON(metric_family(kind, q, _store(request), quantile))

            return _guarded(answer)

    for kind in ("latencies", "calls", "errors"):
        metrics_route(kind)

    @router.get(
        "/api/metrics/minstep", summary="Smallest metrics step, ms (Jaeger)", name="jaeger_minstep"
    )
    def minstep() -> MonitorJSON:
        return envelope(MIN_STEP_MS)

    return router
