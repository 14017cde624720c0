"""Run every benchmark module (or those named) and print their tables."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path

SKIP = {"report", "naive", "timing"}
"""Helper modules of the benchmarks, not benchmarks."""


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    here = Path(__file__).parent
    names = args.names or sorted(
        m.name
        for m in pkgutil.iter_modules([str(here)])
        if m.name not in SKIP and not m.name.startswith("_")
    )
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        argv = ["--quick"] if args.quick else []
        module.main(argv)


if __name__ == "__main__":
    main()
