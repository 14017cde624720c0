"""A real HTTP server on 127.0.0.1 for health-check and notification tests.

Routes: ``GET /code/<name>`` answers ``codes[name]`` (200 unless set);
``GET /slow`` sleeps ``slow_seconds`` first (then sets ``slow_done``);
``POST /hook/<name>`` records the JSON body in ``received[name]`` and answers
500 to the first ``fail_first[name]`` posts, 200 after. Every request counts in
``hits[path]``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalHTTP(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.codes: dict[str, int] = {}
        self.fail_first: dict[str, int] = {}
        self.received: dict[str, list[Any]] = {}
        self.hits: Counter[str] = Counter()
        self.slow_seconds = 3.0
        self.slow_done = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def set_code(self, name: str, code: int) -> None:
        with self.lock:
            self.codes[name] = code


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTP

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters instead."""

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.hits[self.path] += 1
        if self.path == "/slow":
            time.sleep(server.slow_seconds)
            server.slow_done.set()
            self._answer(200)
            return
        name = self.path.removeprefix("/code/")
        with server.lock:
            code = server.codes.get(name, 200)
        self._answer(code)

    def do_POST(self) -> None:
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        name = self.path.removeprefix("/hook/")
        with server.lock:
            server.hits[self.path] += 1
            failing = server.fail_first.get(name, 0)
            if failing:
                server.fail_first[name] = failing - 1
            else:
                server.received.setdefault(name, []).append(json.loads(body))
        self._answer(500 if failing else 200)


@contextmanager
def local_http() -> Iterator[LocalHTTP]:
    server = LocalHTTP()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    """Poll ``condition()`` every 10 ms until true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return bool(condition())
