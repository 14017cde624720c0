"""The activity feeds from the command line: git history and the generator, end to end.

A repository of ``COMMITS`` commits (20 authors, a quarter with a Claude Code
co-author trailer, one to three files each, a binary now and then) is written
with ``git fast-import``. Measured:

- ``git log --numstat`` read to the end without parsing (the baseline: what git
  itself costs);
- :func:`infertrace.activity.gitlog.read_commits` (git plus the parse);
- ``infertrace activity import-git`` into a real server (parse, JSON, HTTP
  batches of 5,000, the store's batch insert), first import and re-import
  (every record skipped);
- ``infertrace activity generate`` (records posted per second).

Targets: a 100,000-commit history imported in under two minutes (>= 1,000
commits/s; git's own numstat is most of it), a 100,000-record demo population
posted in under 20 s. Each figure is the best of 3 rounds (a fresh server per import round). Run:
``python -m benchmarks.activity_import [--quick]``; writes
``benchmarks/results/activity_import.json``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from benchmarks.report import report
from infertrace.activity.gitlog import read_commits
from infertrace.activity.service import ActivityService
from infertrace.api import install_query_api
from infertrace.cli import main as cli
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore

COMMITS = 50_000
T0 = 1_700_000_000
ROUNDS = 3


def fast_import_stream(commits: int) -> Iterator[bytes]:
    """A ``git fast-import`` stream of ``commits`` commits on ``refs/heads/main``."""
    blob = bytes(range(256))
    for n in range(commits):
        author = n % 20
        who = f"Dev {author} <dev{author}@example.com> {T0 + n * 600} +0000"
        message = f"change {n}\n"
        if n % 4 == 0:
            message += "\nCo-Authored-By: Claude <noreply@anthropic.com>\n"
        data = message.encode()
        out = [f"commit refs/heads/main\nmark :{n + 1}\nauthor {who}\ncommitter {who}\n".encode(),
               b"data %d\n" % len(data), data]  # fmt: skip
        if n:
            out.append(b"from :%d\n" % n)
        for f in range(1 + n % 3):
            text = "".join(f"line {n} {i}\n" for i in range(1 + (n * 7 + f) % 40)).encode()
            out += [b"M 644 inline src/f%d_%d.txt\ndata %d\n" % (n % 500, f, len(text)), text]
        if n % 97 == 0:
            out += [b"M 644 inline assets/b%d.bin\ndata %d\n" % (n, len(blob)), blob]
        out.append(b"\n")
        yield b"".join(out)


def make_repo(path: Path, commits: int) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    with subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"],
                          stdin=subprocess.PIPE, env=env) as proc:  # fmt: skip
        assert proc.stdin is not None
        for chunk in fast_import_stream(commits):
            proc.stdin.write(chunk)
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True, env=env)


@contextmanager
def server() -> Iterator[str]:
    store = MemoryStore(span_capacity=16)
    collector = BackgroundCollector(store, Settings(port=0, grpc_port=0), install_query_api,
                                    activity=ActivityService.open(None))  # fmt: skip
    try:
        yield collector.start().http_url
    finally:
        collector.stop()
        store.close()


def best(run: Callable[[], float]) -> float:
    return min(run() for _ in range(ROUNDS))


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def invoke(url: str, *args: str) -> None:
    result = CliRunner().invoke(cli, ["activity", *args, "--url", url], catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(result.output)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.activity_import")
    parser.add_argument("--quick", action="store_true", help="5,000 commits")
    args = parser.parse_args(argv)
    commits = 5_000 if args.quick else COMMITS
    with tempfile.TemporaryDirectory(prefix="infertrace-bench-git-") as tmp:
        repo = Path(tmp) / "repo"
        make_repo(repo, commits)
        git_log = ["git", "-C", str(repo), "log", "--numstat", "--format=%H%x00%ae%x00%B", "HEAD"]
        raw = best(lambda: timed(lambda: subprocess.run(git_log, capture_output=True, check=True)))
        parse = best(lambda: timed(lambda: sum(1 for _ in read_commits(repo))))

        def first_import() -> float:
            with server() as url:
                return timed(lambda: invoke(url, "import-git", str(repo)))

        def re_import() -> float:
            with server() as url:
                invoke(url, "import-git", str(repo))
                return timed(lambda: invoke(url, "import-git", str(repo)))

        imported, again = best(first_import), best(re_import)
        developers, days = (200, 30) if args.quick else (1_000, 30)
        records = developers * days * 4 + developers * days // 2 + developers

        def generated() -> float:
            with server() as url:
                return timed(lambda: invoke(url, "generate", "--developers", str(developers),
                                            "--days", str(days)))  # fmt: skip

        gen = best(generated)
    rows = [
        {"metric": f"git log --numstat, {commits:,} commits (baseline)",
         "value": commits / raw, "unit": "commits/s"},
        {"metric": "read_commits (git + parse)", "value": commits / parse, "unit": "commits/s",
         "baseline": commits / raw},
        {"metric": "import-git, first import", "value": commits / imported, "unit": "commits/s",
         "target": ">= 1,000", "baseline": commits / raw},
        {"metric": "import-git, re-import (all skipped)", "value": commits / again,
         "unit": "commits/s", "baseline": commits / raw},
        {"metric": f"generate, {records:,} records", "value": records / gen, "unit": "records/s",
         "target": ">= 5,000"},
    ]  # fmt: skip
    report("activity_import", "Activity feeds from the CLI (best of 3)", rows)


if __name__ == "__main__":
    main()
