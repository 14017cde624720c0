"""Run every reliability scenario (or those named), print a table, write JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from reliability import Row

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"


def scenario_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    parser.add_argument("names", nargs="*", help="scenario modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    args = parser.parse_args(argv)
    table = Table(title="InferTrace reliability probes")
    for col in ("scenario", "what was tried", "how much", "held", "detail"):
        table.add_column(col)
    out: list[dict[str, object]] = []
    failed = 0
    for name in args.names or scenario_names():
        module = importlib.import_module(f"reliability.{name}")
        started = time.monotonic()
        rows: list[Row] = module.run(args.quick)
        took = time.monotonic() - started
        for row in rows:
            failed += not row.held
            table.add_row(
                module.TITLE, row.tried, row.amount, "yes" if row.held else "NO", row.detail
            )
            out.append({"scenario": module.TITLE, "seconds": round(took, 1), **row.as_dict()})
    Console(width=160).print(table)
    if not args.names and not args.quick:
        RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
