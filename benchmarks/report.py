"""Printing and saving benchmark results: a table on stdout, JSON on disk."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def report(name: str, title: str, rows: list[dict[str, Any]]) -> Path:
    """Print ``rows`` (dicts with metric/value/unit/target/baseline) and write JSON."""
    table = Table(title=title)
    for col in ("metric", "value", "unit", "target", "baseline", "vs baseline"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in rows:
        base = r.get("baseline")
        ratio = ""
        if isinstance(base, int | float) and base and isinstance(r["value"], int | float):
            ratio = f"{r['value'] / base:.2f}x"
        table.add_row(
            r["metric"],
            _fmt(r["value"]),
            r.get("unit", ""),
            r.get("target", ""),
            _fmt(base) if base is not None else "",
            ratio,
        )
    Console(width=140).print(table)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2) + "\n")
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
