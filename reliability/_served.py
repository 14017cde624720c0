"""``infertrace serve`` in a child process on free 127.0.0.1 ports, for the probes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import IO


class Served:
    """Starts ``infertrace serve ARGS`` and reads the bound ports from its banner.

    ``with Served(...) as s`` stops it (SIGTERM, then kill after ``grace`` s).
    """

    def __init__(self, *args: str, env: dict[str, str] | None = None, grace: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "infertrace.cli", "serve", "--port", "0", "--grpc-port", "0"]
        self.grace = grace
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, COLUMNS="200", **(env or {})),
        )
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        self.banner = ""
        http_port = grpc_port = 0
        for line in stdout:
            self.banner += line
            if m := re.search(r"OTLP/HTTP\s+http://127\.0\.0\.1:(\d+)", line):
                http_port = int(m.group(1))
            if m := re.search(r"OTLP/gRPC\s+127\.0\.0\.1:(\d+)", line):
                grpc_port = int(m.group(1))
                break
        if not (http_port and grpc_port):
            self.stop()
            raise RuntimeError(f"infertrace serve did not start: {self.banner}")
        self.http_port, self.grpc_port = http_port, grpc_port
        self.url = f"http://127.0.0.1:{http_port}"
        self.grpc_target = f"127.0.0.1:{grpc_port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM, wait up to ``grace`` seconds (then kill); the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
