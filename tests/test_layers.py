"""The layers of DESIGN §1 hold: no module imports a layer above its own.

engine -> model / errors / config / auth / telemetry -> collector / registry -> api
-> cli, with the registry beside the collector (collector, api and cli may import
it; it imports none of them), the API beside the collector rather than on it (it
reads the store from ``app.state`` and never imports the collector), and the OTLP codec
(``collector.otlp``) apart from the network side of the collector. Every module
under ``src/infertrace`` is parsed with :mod:`ast`; every import counts, at
module level or inside a function, including ``importlib.import_module("...")``
with a literal name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = SRC / "infertrace"


@dataclass(frozen=True)
class Import:
    """One import in one module: what it names and where."""

    module: str
    target: str
    line: int

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}) imports {self.target}"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, src: Path = SRC) -> list[Import]:
    """Every import in ``path``; ``from a import b`` names ``a.b`` (b may be a module)."""
    module = module_name(path, src)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            targets = [node.args[0].value]
        found.extend(Import(module, t, node.lineno) for t in targets)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = sorted(ROOT.rglob("*.py"))
TOP_LEVEL = {module_name(p) for p in MODULES if p.parent == ROOT}
"""``infertrace`` itself and the modules beside it: model, errors, config, auth, ..."""


@dataclass(frozen=True)
class Rule:
    """Modules of ``layer`` never import ``forbidden`` (except what lies in ``allowed``)."""

    name: str
    layer: frozenset[str] | str
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()

    def applies_to(self, module: str) -> bool:
        if isinstance(self.layer, frozenset):
            return module in self.layer
        return within(module, self.layer)

    def breaks(self, target: str) -> bool:
        return any(within(target, f) for f in self.forbidden) and not any(
            within(target, a) for a in self.allowed
        )


UPPER = (
    "infertrace.collector",
    "infertrace.registry",
    "infertrace.activity",
    "infertrace.api",
    "infertrace.cli",
)
RULES = [
    Rule("engine imports nothing of infertrace", "infertrace.engine", ("infertrace",),
         allowed=("infertrace.engine",)),
    Rule("model, errors, config, auth sit below the collector", frozenset(TOP_LEVEL), UPPER),
    Rule("telemetry never imports collector, api or cli", "infertrace.telemetry", UPPER),
    Rule("collector never imports api or cli", "infertrace.collector",
         ("infertrace.api", "infertrace.cli")),
    Rule("the OTLP codec never imports the network side", "infertrace.collector.otlp",
         ("infertrace.collector",), allowed=("infertrace.collector.otlp",)),
    Rule("registry never imports collector, api or cli", "infertrace.registry",
         ("infertrace.collector", "infertrace.api", "infertrace.cli")),
    Rule("activity never imports collector, api or cli", "infertrace.activity",
         ("infertrace.collector", "infertrace.api", "infertrace.cli")),
    Rule("api never imports collector or cli", "infertrace.api",
         ("infertrace.collector", "infertrace.cli")),
]  # fmt: skip


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_no_layer_imports_one_above_it(rule: Rule) -> None:
    checked = [p for p in MODULES if rule.applies_to(module_name(p))]
    assert checked, f"no module under {ROOT} is in the layer of {rule.name!r}"
    offending = [
        str(imp) for path in checked for imp in imports_of(path) if rule.breaks(imp.target)
    ]
    assert not offending, f"{rule.name}:\n  " + "\n  ".join(offending)


def test_imports_are_found_at_any_depth_and_relative(tmp_path: Path) -> None:
    """The scanner sees what the rules rely on: nested, relative and dynamic imports."""
    package = tmp_path / "src" / "infertrace" / "collector"
    package.mkdir(parents=True)
    source = package / "sample.py"
    source.write_text(
        "import importlib\n"
        "from . import http\n"
        "from ..api import router\n"
        "def later():\n"
        "    import infertrace.cli\n"
        "    importlib.import_module('infertrace.api.jaeger')\n"
    )
    targets = {imp.target for imp in imports_of(source, tmp_path / "src")}
    assert {
        "infertrace.collector.http",
        "infertrace.api.router",
        "infertrace.cli",
        "infertrace.api.jaeger",
    } <= targets
