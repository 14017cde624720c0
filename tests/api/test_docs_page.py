"""The API reference at /docs on a real server: offline, from our origin, true to /openapi.json."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from infertrace.api import ui
from infertrace.collector.server import Endpoints
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.api.browser import NODE, needs_chromium, needs_node, rendered_dom
from tests.collector.helpers import running

STATIC = ui.STATIC_DIR
DOCS_HTML = STATIC / "docs.html"
DOCS_JS = STATIC / "docs.js"

# The OpenAPI fields docs.js reads, by where they sit in the document.
TOP_FIELDS = ("openapi", "info", "paths")
INFO_FIELDS = ("title", "version", "summary")
OPERATION_FIELDS = ("tags", "summary", "description", "operationId", "parameters", "responses")
PARAMETER_FIELDS = ("name", "in", "required", "schema", "description")
SCHEMA_FIELDS = ("anyOf", "type", "pattern", "minimum")
RESPONSE_FIELDS = ("description", "content")


@pytest.fixture(scope="module")
def server() -> Iterator[Endpoints]:
    store = MemoryStore()
    w = Workload(seed=11, start_ns=time.time_ns() - 60 * 10**9, rate=2.0)
    store.write_batch(w.spans(60))
    with running(store) as endpoints:
        yield endpoints
    store.close()


@pytest.fixture(scope="module")
def spec(server: Endpoints) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(server.http_url + "/openapi.json").json()
    return document


class _Refs(HTMLParser):
    """The src and href values of a page, and its module scripts."""

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
        if tag == "script" and values.get("type") == "module":
            self.module_scripts.append(values.get("src") or "")


def refs_of(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def test_docs_is_a_page_that_loads_docs_js_from_our_origin(server: Endpoints) -> None:
    page_url = server.http_url + "/docs"
    response = httpx.get(page_url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.content == DOCS_HTML.read_bytes()
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "connect-src 'self'"):
        assert directive in csp
    page = refs_of(response.text)
    assert page.module_scripts == ["ui/docs.js"]
    for ref in page.refs:
        assert not urlsplit(ref).scheme and not ref.startswith("//"), ref
        target = urljoin(page_url, ref)
        assert urlsplit(target).netloc == urlsplit(server.http_url).netloc, ref
        assert httpx.get(target).status_code == 200, ref
    script = httpx.get(urljoin(page_url, "ui/docs.js"))
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == DOCS_JS.read_bytes()


def test_docs_files_name_no_other_host() -> None:
    for path in (DOCS_HTML, DOCS_JS):
        text = path.read_text("utf-8")
        assert not re.search(r"https?://|//[\w.-]+\.\w", text), path.name
    imports = re.findall(r"""\bfrom\s+['"]([^'"]+)['"]""", DOCS_JS.read_text("utf-8"))
    assert imports
    assert all(re.fullmatch(r"\./[\w-]+\.js", name) for name in imports), imports
    assert {name.removeprefix("./") for name in imports} <= set(ui.assets())


def test_docs_revalidates_and_answers_head(server: Endpoints) -> None:
    first = httpx.get(server.http_url + "/docs")
    again = httpx.get(server.http_url + "/docs", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    head = httpx.head(server.http_url + "/docs")
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/html")


def test_the_ui_link_to_the_docs_reaches_the_page(server: Endpoints) -> None:
    index = refs_of((STATIC / "index.html").read_text("utf-8"))
    links = [r for r in index.refs if r.rstrip("/").endswith("docs")]
    assert links, "the UI lost its API docs link"
    for link in links:
        response = httpx.get(urljoin(server.http_url + "/", link))
        assert response.status_code == 200, link
        assert response.content == DOCS_HTML.read_bytes(), link


def test_swagger_and_redoc_are_gone_and_docs_is_not_in_the_schema(
    server: Endpoints, spec: dict[str, Any]
) -> None:
    assert httpx.get(server.http_url + "/redoc").status_code == 404
    assert httpx.get(server.http_url + "/docs/oauth2-redirect").status_code == 404
    assert "cdn" not in httpx.get(server.http_url + "/docs").text.lower()
    assert "/docs" not in spec["paths"]


def test_docs_and_openapi_stay_open_while_the_api_wants_a_token() -> None:
    store = MemoryStore()
    with running(store, api_token="t") as endpoints:
        for path in ("/docs", "/ui/docs.js", "/openapi.json"):
            assert httpx.get(endpoints.http_url + path).status_code == 200, path
        assert httpx.get(endpoints.http_url + "/api/services").status_code == 401
        assert httpx.get(endpoints.http_url + "/redoc").status_code == 404
    store.close()


def reads(field: str) -> bool:
    """Whether docs.js reads ``field``: ``x.field``, ``x['field']`` or ``pick('field')``."""
    text = DOCS_JS.read_text("utf-8")
    name = re.escape(field)
    return bool(re.search(rf"""\.{name}\b|\[['"]{name}['"]\]|pick\(['"]{name}['"]\)""", text))


def test_every_field_docs_js_reads_is_in_the_served_document(spec: dict[str, Any]) -> None:
    groups: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    operation = spec["paths"]["/api/spans"]["get"]
    since = next(p for p in operation["parameters"] if p["name"] == "since")
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    groups.append((TOP_FIELDS, spec))
    groups.append((INFO_FIELDS, spec["info"]))
    groups.append((OPERATION_FIELDS, operation))
    groups.append((PARAMETER_FIELDS, since))
    groups.append((("anyOf", "pattern"), since["schema"]))
    groups.append((("type", "minimum"), limit["schema"]["anyOf"][0]))
    groups.append((RESPONSE_FIELDS, operation["responses"]["200"]))
    groups.append((("description",), operation["responses"]["422"]))
    for fields, where in groups:
        for field in fields:
            assert reads(field), f"docs.js no longer reads {field!r}: update this test"
            assert field in where, f"/openapi.json has no {field!r} where docs.js reads it"
    assert set(SCHEMA_FIELDS) <= {f for fs, _ in groups for f in fs}
    # Enums and defaults sit behind a $ref into components; docs.js follows it.
    metric = spec["paths"]["/api/analytics/timeseries"]["get"]["parameters"][0]
    ref = metric["schema"]["$ref"]
    assert reads("$ref")
    assert ref.startswith("#/components/schemas/")
    assert "enum" in spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert reads("enum")
    assert reads("default")


def outline_in_node(spec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """docs.js's outline() of ``spec``, run by node over a copy of the UI's scripts."""
    for path in STATIC.glob("*.js"):
        shutil.copy(path, tmp_path / path.name)
    # The copies are ES modules; node needs telling when their suffix is .js.
    (tmp_path / "package.json").write_text('{"type": "module"}')
    script = (
        f"import {{outline}} from {json.dumps((tmp_path / 'docs.js').as_uri())};\n"
        "import {readFileSync} from 'node:fs';\n"
        "process.stdout.write(JSON.stringify(outline(JSON.parse(readFileSync(0, 'utf8')))));\n"
    )
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@needs_node
def test_outline_of_the_served_document(spec: dict[str, Any], tmp_path: Path) -> None:
    doc = outline_in_node(spec, tmp_path)
    assert doc["title"] == spec["info"]["title"]
    assert doc["version"] == spec["info"]["version"]
    operations = {(op["method"], op["path"]): op for g in doc["groups"] for op in g["operations"]}
    expected = {(m, p) for p, item in spec["paths"].items() for m in item}
    assert set(operations) == expected
    assert doc["count"] == len(expected)
    assert [g["tag"] for g in doc["groups"]][:2] == ["search", "analytics"]
    spans = operations["get", "/api/spans"]
    assert spans["summary"] == spec["paths"]["/api/spans"]["get"]["summary"]
    assert spans["description"]
    params = {p["name"]: p for p in spans["parameters"]}
    assert {"service", "model", "since", "until", "min_duration", "limit"} <= set(params)
    assert params["since"]["in"] == "query"
    assert params["since"]["required"] is False
    assert params["since"]["type"] == "string"
    assert params["since"]["pattern"].startswith("^")
    assert params["since"]["description"]
    assert params["limit"]["type"].startswith("integer")
    assert params["limit"]["input"] == "integer"
    statuses = {r["status"]: r for r in spans["responses"]}
    assert {"200", "401", "422"} <= set(statuses)
    assert all(r["description"] for r in statuses.values())
    trace = operations["get", "/api/traces/{trace_id}"]
    assert trace["parameters"][0]["in"] == "path"
    assert trace["parameters"][0]["required"] is True
    series = {p["name"]: p for p in operations["get", "/api/analytics/timeseries"]["parameters"]}
    assert series["metric"]["input"] == "choice"
    assert "requests" in series["metric"]["choices"]
    assert series["step"]["default"] == "1m"
    anchors = [op["anchor"] for op in operations.values()]
    assert len(set(anchors)) == len(anchors)


@needs_chromium
def test_docs_render_in_headless_chromium(server: Endpoints) -> None:
    dom = rendered_dom(f"{server.http_url}/docs")
    assert "alert-error" not in dom
    assert 'id="op-list_spans_api_spans_get"' in dom
    assert ">null<" not in dom
    assert "Try it" in dom
