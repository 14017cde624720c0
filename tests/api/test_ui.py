"""The web UI on a real server: its files, their types, its boundaries, its API calls."""

from __future__ import annotations

import http.client
import random
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from infertrace.api import ui
from infertrace.collector.server import Endpoints
from infertrace.model import MetricPoint, Span, StatusCode
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.api.browser import module_syntax_error, needs_chromium, needs_node, rendered_dom
from tests.collector.helpers import running
from tests.telemetry.metric_producers import Scrape, random_interval, vllm_pod

STATIC = ui.STATIC_DIR
JS_FILES = sorted(STATIC.glob("*.js"))
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


# Calls between services, (caller, callee, how many traces make that call): the
# workload's traces stay in one service, so these give the service map its edges.
CALLS = (("gateway", "router", 3), ("router", "vllm-a", 3), ("gateway", "vllm-b", 2))


def call_spans(start_ns: int) -> list[Span]:
    """Three gateway traces calling across services; the last call of each fails."""
    spans = []
    ids = iter(range(1, 10**6))
    for t in range(3):
        tid = bytes([0xA0 + t]) * 16
        t0 = start_ns + t * 10**9
        root = Span(tid, next(ids).to_bytes(8, "big"), "gateway", "POST /chat", t0, 90 * 10**6)
        spans.append(root)
        parents = {"gateway": root}
        for caller, callee, count in CALLS:
            if t >= count:
                continue
            child = Span(
                tid,
                next(ids).to_bytes(8, "big"),
                callee,
                f"call {callee}",
                t0 + 10**6,
                50 * 10**6,
                parent_span_id=parents[caller].span_id,
                status_code=StatusCode.ERROR if callee == "vllm-a" else StatusCode.UNSET,
            )
            parents[callee] = child
            spans.append(child)
    return spans


METRICS_MODEL = "metrics-only/vllm-model"
"""A model known only from the vLLM metrics of one pod (no spans)."""
LAST_SCRAPE = Scrape(running=7, waiting=3, cache=0.42)


def metrics_only_pod(start: int) -> list[MetricPoint]:
    """Eight scrapes of a vLLM pod serving :data:`METRICS_MODEL`, each after a few
    requests, the last reading :data:`LAST_SCRAPE`."""
    rng = random.Random(3)
    times = [start + 15 * 10**9 * k for k in range(8)]
    scrapes = [Scrape(1, 1, 0.1)] * 7 + [LAST_SCRAPE]
    intervals = [random_interval(rng, 3) for _ in times]
    points, _ = vllm_pod(METRICS_MODEL, "vllm-metrics-0", times, start, start - 10**9,
                         intervals, scrapes)  # fmt: skip
    return points


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Endpoints, list[Span]]]:
    store = MemoryStore()
    start = time.time_ns() - 120 * 10**9
    w = Workload(seed=7, start_ns=start, rate=2.0)
    spans = [*w.spans(120), *call_spans(start)]
    store.write_batch(spans)
    store.write_logs(w.logs(20))
    store.write_metrics(metrics_only_pod(start))
    with running(store) as endpoints:
        yield endpoints, spans
    store.close()


@pytest.fixture(scope="module")
def server(seeded: tuple[Endpoints, list[Span]]) -> Endpoints:
    return seeded[0]


def get(endpoints: Endpoints, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.get(endpoints.http_url + path, headers=headers)


def raw_get(endpoints: Endpoints, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as given (httpx would normalise dot segments)."""
    conn = http.client.HTTPConnection(endpoints.host, endpoints.http_port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class _Refs(HTMLParser):
    """The src and href values of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.module_scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            value = values.get(name)
            if value:
                self.refs.append(value)
        if tag == "script" and values.get("type") == "module" and values.get("src"):
            self.module_scripts.append(values["src"] or "")


def page_refs() -> _Refs:
    parser = _Refs()
    parser.feed((STATIC / "index.html").read_text("utf-8"))
    return parser


def test_root_serves_the_page_with_the_app_script(server: Endpoints) -> None:
    response = get(server, "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="ui/app.js"></script>' in response.text
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert page_refs().module_scripts == ["ui/app.js"]


def test_etag_revalidation_answers_304(server: Endpoints) -> None:
    first = get(server, "/ui/app.js")
    etag = first.headers["etag"]
    again = get(server, "/ui/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert get(server, "/ui/app.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_head_of_the_page(server: Endpoints) -> None:
    response = httpx.head(server.http_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_every_file_the_page_references_is_served_with_its_type(server: Endpoints) -> None:
    local = [r for r in page_refs().refs if not r.startswith("#") and r != "docs"]
    assert {"ui/app.js", "ui/style.css", "ui/favicon.svg"} <= set(local)
    for ref in local:
        assert ref.startswith("ui/"), f"{ref} is not a UI file"
        response = get(server, "/" + ref)
        assert response.status_code == 200, ref
        assert response.headers["content-type"].startswith(TYPES[Path(ref).suffix]), ref
        assert response.content == (STATIC / ref.removeprefix("ui/")).read_bytes()


def test_every_module_import_resolves_to_a_served_file(server: Endpoints) -> None:
    imported = set()
    for path in JS_FILES:
        for target in re.findall(r"""\bfrom\s+['"]\./([\w.-]+)['"]""", path.read_text("utf-8")):
            imported.add(target)
    assert len(imported) >= 8
    for name in imported:
        response = get(server, f"/ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith("text/javascript"), name


def test_every_static_file_is_served_and_nothing_is_nested() -> None:
    entries = list(STATIC.iterdir())
    assert all(e.is_file() for e in entries), "keep the UI flat: no subfolders"
    assert {e.name for e in entries} == set(ui.assets())


@pytest.mark.parametrize("name", ["nope.js", "ui.py", "index.htm", "APP.JS", ".", "%00"])
def test_unknown_files_are_404(server: Endpoints, name: str) -> None:
    response = get(server, f"/ui/{name}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/ui/..%2f..%2fpyproject.toml",
        "/ui/..%2F..%2F..%2Fpyproject.toml",
        "/ui/../app.py",
        "/ui/../ui.py",
        "/ui/%2e%2e/ui.py",
        "/ui/%2e%2e%2fui.py",
        "/ui/..%5cui.py",
        "/ui//etc/passwd",
        "/ui/static/app.js",
    ],
)
def test_path_traversal_is_404_not_the_file(server: Endpoints, path: str) -> None:
    status, body = raw_get(server, path)
    assert status == 404
    assert b"[project]" not in body
    assert b"import" not in body
    assert b"root:" not in body


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def api_paths_in_js() -> dict[str, str]:
    """Every '/api/...' string literal in the UI's scripts, by normalised path."""
    found = {}
    for path in JS_FILES:
        text = path.read_text("utf-8")
        for literal in re.findall(r"""['"`](/(?:jaeger/)?api/[^'"`?\s]*)""", text):
            found[_normalise(literal)] = f"{path.name}: {literal}"
    return found


def test_every_api_path_the_ui_calls_exists_in_openapi(server: Endpoints) -> None:
    spec = get(server, "/openapi.json").json()
    served = {_normalise(p) for p, ops in spec["paths"].items() if "get" in ops}
    called = api_paths_in_js()
    expected = {
        "/api/services",
        "/api/services/{}/operations",
        "/api/models",
        "/api/spans",
        "/api/trace-summaries",
        "/jaeger/api/dependencies",
        "/api/traces/{}",
        "/api/logs",
        "/api/metrics",
        "/api/metrics/names",
        "/api/analytics/models",
        "/api/analytics/timeseries",
        "/api/analytics/leaderboard",
        "/api/stats",
    }
    assert expected <= set(called), "the UI stopped calling an endpoint this test expects"
    missing = {where for path, where in called.items() if path not in served}
    assert not missing, f"the UI calls paths the API does not serve: {sorted(missing)}"


def test_the_ui_is_not_in_the_openapi_document(server: Endpoints) -> None:
    paths = get(server, "/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/ui") for p in paths)


def test_the_ui_loads_without_the_api_token_while_the_api_refuses() -> None:
    store = MemoryStore()
    with running(store, api_token="t") as endpoints:
        assert get(endpoints, "/").status_code == 200
        assert get(endpoints, "/ui/app.js").status_code == 200
        assert get(endpoints, "/api/services").status_code == 401
        authorised = get(endpoints, "/api/services", headers={"Authorization": "Bearer t"})
        assert authorised.status_code == 200
    store.close()


def test_scripts_build_no_html_from_strings() -> None:
    for path in JS_FILES:
        text = path.read_text("utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{path.name} uses {sink}"


def test_nothing_is_loaded_from_other_origins() -> None:
    for path in STATIC.iterdir():
        text = path.read_text("utf-8")
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", text), path.name
        assert not re.search(r"""(import|from)\s*\(?\s*['"]https?:""", text), path.name


@needs_node
@pytest.mark.parametrize("path", JS_FILES, ids=[p.name for p in JS_FILES])
def test_scripts_parse_as_modules(path: Path) -> None:
    assert module_syntax_error(path) is None


@needs_chromium
@pytest.mark.parametrize(
    ("route", "marker"),
    [
        ("#/search", "results-head"),
        ("#/search?show=spans", "results-head"),
        ("#/map", "service-map"),
        ("#/stats", "tiles"),
        ("#/models", "chart-grid"),
    ],
)
def test_views_render_in_headless_chromium(server: Endpoints, route: str, marker: str) -> None:
    dom = rendered_dom(f"{server.http_url}/{route}")
    assert "alert-error" not in dom
    assert marker in dom


class _Tables(HTMLParser):
    """The text of every table cell, row by row (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


_UNITS = {"ns": 1, "\u00b5s": 1e3, "ms": 1e6, "s": 1e9}


def shown_nanos(text: str) -> float | None:
    """A duration as dom.js fmtDuration shows it (``12.3ms``, ``850µs``; ``—`` for none)."""
    if text == "\u2014":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|\u00b5s|ms|s)", text)
    assert match, text
    return float(match[1]) * _UNITS[match[2]]


TIMING_COLUMNS = {
    f"{label} {q}": f"{key}_{q}_ns"
    for key, label in (("queue", "Queue"), ("ttft", "TTFT"), ("tpot", "TPOT"))
    for q in ("p50", "p95")
}


@needs_chromium
def test_models_dashboard_shows_queue_ttft_and_tpot(server: Endpoints) -> None:
    dom = rendered_dom(f"{server.http_url}/#/models")
    parser = _Tables()
    parser.feed(dom)
    header, *rows = parser.rows
    columns = [c.rstrip(" \u25be\u25b4") for c in header]  # the sort mark on "Requests"
    assert set(TIMING_COLUMNS) <= set(columns), columns
    assert [c for c in header if c != c.rstrip("\u25be\u25b4")] == ["Requests \u25be"]
    api = {g["key"]: g for g in get(server, "/api/analytics/models?since=1h").json()["groups"]}
    assert {r[0] for r in rows} == set(api)
    for row in rows:
        cells, want = dict(zip(columns, row, strict=True)), api[row[0]]
        for label, field in TIMING_COLUMNS.items():
            # The workload's requests carry queue time and TTFT (so TPOT too), and the
            # metrics-only model's pod exports their histograms: no dashes.
            assert want[field] is not None, field
            assert shown_nanos(cells[label]) == pytest.approx(want[field], rel=0.01), label
        assert cells["Source"] == ("metrics" if row[0] == METRICS_MODEL else "spans")
    # the model known only from metrics, with its gauges (the pod's last scrape)
    cells = dict(zip(columns, next(r for r in rows if r[0] == METRICS_MODEL), strict=True))
    assert api[METRICS_MODEL]["requests"] > 0
    assert cells["Requests"] == f"{api[METRICS_MODEL]['requests']:,}"
    assert (cells["Running"], cells["Waiting"]) == (
        str(LAST_SCRAPE.running),
        str(LAST_SCRAPE.waiting),
    )
    assert cells["KV cache"] == f"{LAST_SCRAPE.cache * 100:.0f}%"


def traces_of(spans: list[Span]) -> dict[str, list[Span]]:
    """The seeded spans by trace id (hex)."""
    out: dict[str, list[Span]] = {}
    for span in spans:
        out.setdefault(span.trace_id.hex(), []).append(span)
    return out


def rendered_tables(url: str) -> tuple[list[str], list[list[str]]]:
    """The header and body rows of the one table the page at ``url`` shows."""
    parser = _Tables()
    parser.feed(rendered_dom(url))
    header, *rows = parser.rows
    return [c.rstrip(" \u25be\u25b4") for c in header], rows


@needs_chromium
def test_search_lists_one_row_per_trace_by_default(seeded: tuple[Endpoints, list[Span]]) -> None:
    endpoints, spans = seeded
    traces = traces_of(spans)
    by_prefix = {tid[:8]: group for tid, group in traces.items()}
    assert len(by_prefix) == len(traces), "the shown 8-digit prefixes must tell traces apart"
    columns, rows = rendered_tables(f"{endpoints.http_url}/#/search")
    assert columns[:8] == [
        "Start time",
        "Trace",
        "Root service",
        "Root operation",
        "Services",
        "Spans",
        "Errors",
        "Duration",
    ]
    assert len(rows) == len(traces) < 100  # every seeded trace, under the default limit
    for row in rows:
        cells = dict(zip(columns, row, strict=True))
        group = by_prefix[cells["Trace"]]
        ids = {s.span_id for s in group}
        (root,) = [s for s in group if s.parent_span_id not in ids]
        assert cells["Root service"] == root.service_name
        assert cells["Root operation"] == root.operation_name
        assert cells["Services"] == ", ".join(sorted({s.service_name for s in group}))
        assert cells["Spans"] == str(len(group))
        assert cells["Errors"] == str(sum(1 for s in group if s.is_error))
    assert {r[columns.index("Trace")] for r in rows} == set(by_prefix)


@needs_chromium
def test_the_toggle_lists_spans(seeded: tuple[Endpoints, list[Span]]) -> None:
    endpoints, spans = seeded
    dom = rendered_dom(f"{endpoints.http_url}/#/search")
    assert 'data-show="spans"' in dom and 'data-show="traces"' in dom
    columns, rows = rendered_tables(f"{endpoints.http_url}/#/search?show=spans")
    assert "Model" in columns and "Trace" not in columns
    assert len(rows) == min(100, len(spans))  # the default limit counts spans here
    assert {r[columns.index("Service")] for r in rows} <= {s.service_name for s in spans}


class _Map(HTMLParser):
    """The service map's nodes and its edges' labels."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self.edges: list[tuple[str, str]] = []
        self.labels: dict[tuple[str, str], str] = {}
        self._label: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        pair = (values.get("data-parent") or "", values.get("data-child") or "")
        if "map-node" in classes:
            self.nodes.append(values.get("data-service") or "")
        elif "map-edge" in classes:
            self.edges.append(pair)
        elif "map-edge-label" in classes:
            self._label = pair
            self.labels[pair] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "text":
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.labels[self._label] += data


@needs_chromium
def test_service_map_draws_each_service_and_each_call(
    seeded: tuple[Endpoints, list[Span]],
) -> None:
    endpoints, spans = seeded
    calls: dict[tuple[str, str], int] = {}
    for group in traces_of(spans).values():
        by_id = {s.span_id: s for s in group}
        for span in group:
            parent = by_id.get(span.parent_span_id)
            if parent is not None and parent.service_name != span.service_name:
                pair = (parent.service_name, span.service_name)
                calls[pair] = calls.get(pair, 0) + 1
    assert calls == {(a, b): n for a, b, n in CALLS}
    parser = _Map()
    parser.feed(rendered_dom(f"{endpoints.http_url}/#/map"))
    assert sorted(parser.nodes) == sorted({name for pair in calls for name in pair})
    assert sorted(parser.edges) == sorted(calls)
    assert parser.labels == {pair: str(n) for pair, n in calls.items()}
