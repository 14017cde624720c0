"""``infertrace serve`` as a child process, for integration tests, probes and benchmarks.

:class:`ServedProcess` starts the collector on free 127.0.0.1 ports, reads the
bound ports from its start-up banner, and stops it. Its standard error goes
to a temporary file rather than a pipe, so a chatty child can never block on
a full pipe that nobody reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping

READY_LINE = "Press Ctrl+C"
"""The banner's last line: everything above it has been printed."""


class ServedProcess:
    """``infertrace serve ARGS`` on free ports (``--port 0 --grpc-port 0`` first).

    ``env`` adds to this process's environment; ``preexec`` runs in the child
    before exec (e.g. to lower its open-file limit). Raises RuntimeError with
    the banner and standard error when the collector does not start.
    ``with ServedProcess(...) as s`` stops it on exit.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        free_ports: bool = True,
        preexec: Callable[[], None] | None = None,
        grace: float = 30.0,
    ) -> None:
        cmd = [sys.executable, "-m", "infertrace.cli", "serve"]
        if free_ports:
            cmd += ["--port", "0", "--grpc-port", "0"]
        self.grace = grace
        # Closed by stop()/kill(), which keep its text for stderr().
        self._err = tempfile.TemporaryFile("w+", prefix="infertrace-serve-", suffix=".log")  # noqa: SIM115
        self._final_stderr: str | None = None
        self.proc = subprocess.Popen(
            [*cmd, *args],
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            preexec_fn=preexec,
        )
        assert self.proc.stdout is not None
        self.banner = ""
        for line in self.proc.stdout:
            self.banner += line
            if line.startswith(READY_LINE):
                break
        http = re.search(r"OTLP/HTTP\s+http://127\.0\.0\.1:(\d+)", self.banner)
        grpc = re.search(r"OTLP/gRPC\s+127\.0\.0\.1:(\d+)", self.banner)
        if not (http and grpc):
            self.kill()
            raise RuntimeError(f"infertrace serve did not start:\n{self.banner}{self.stderr()}")
        self.http_port, self.grpc_port = int(http.group(1)), int(grpc.group(1))
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        """Everything the collector wrote to standard error so far."""
        if self._final_stderr is not None:
            return self._final_stderr
        self._err.flush()
        self._err.seek(0)
        return self._err.read()

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, wait up to ``timeout`` (default ``grace``) seconds, then kill; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.grace if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self._close()

    def kill(self) -> int:
        """SIGKILL at once; the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self._close()

    def _close(self) -> int:
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if self._final_stderr is None:
            self._final_stderr = self.stderr()
            self._err.close()
        return self.proc.returncode

    def __enter__(self) -> ServedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["ServedProcess"]
