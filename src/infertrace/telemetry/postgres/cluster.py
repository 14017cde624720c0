"""A throwaway PostgreSQL cluster: initdb in a temp dir, a free port, torn down after.

Used by the test fixture and the benchmarks, and shipped in the package as a test
double for users who want to run the PostgreSQL store against a real server
without a DBA. It listens on 127.0.0.1 and on a unix socket inside its own
directory. When running as root the server runs as the ``postgres`` OS user
(``runuser -u postgres``), because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from infertrace.errors import InferTraceError

DEFAULT_BINDIRS = tuple(f"/usr/lib/postgresql/{v}/bin" for v in (15, 16, 17, 14))

FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""Settings for tests: durability is not what a throwaway cluster is for."""


class ClusterError(InferTraceError, RuntimeError):
    """The throwaway cluster could not be created or started."""


def find_bindir() -> Path | None:
    """The first directory holding ``initdb`` and ``pg_ctl``, or None."""
    env = os.environ.get("INFERTRACE_PG_BINDIR")
    for d in ((env,) if env else ()) + DEFAULT_BINDIRS:
        p = Path(d)
        if (p / "initdb").exists() and (p / "pg_ctl").exists():
            return p
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """One PostgreSQL server in a temporary directory.

    ``start()`` creates it (first time) and starts it; ``stop()`` stops it
    keeping the data (fault tests restart it); ``destroy()`` stops it and
    removes the directory. Safe to call ``destroy()`` twice; usable with ``with``.
    """

    def __init__(
        self,
        bindir: Path | None = None,
        settings: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        found = bindir or find_bindir()
        if found is None:
            raise ClusterError("no PostgreSQL binaries (initdb, pg_ctl) found")
        self.bindir = found
        self.settings = dict(settings or {})
        self.port = port or free_port()
        self._root: Path | None = None
        self._as_postgres = os.geteuid() == 0

    @property
    def datadir(self) -> Path:
        return self._dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._dir()

    @property
    def dsn(self) -> str:
        """A libpq connection string over the cluster's unix socket."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"

    @property
    def tcp_dsn(self) -> str:
        """A URL over 127.0.0.1, for clients that need TCP."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _dir(self) -> Path:
        if self._root is None:
            raise ClusterError("cluster not created")
        return self._root

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args[:2])} failed: {proc.stderr.strip()[-2000:]}")
        return proc

    def _create(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="infertrace-pg-"))
        self._root = root
        if self._as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{root}'",
            "max_connections": "50",
            "shared_buffers": "256MB",
            "max_wal_size": "2GB",
            "logging_collector": "off",
            **{k: v for k, v in self.settings.items()},
        }
        lines = "".join(f"{k} = {v}\n" for k, v in conf.items())
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(lines)

    def start(self) -> str:
        """Create the cluster if needed, start the server, return its DSN."""
        if self._root is None:
            self._create()
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self._dir() / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self.dsn

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` simulates a crash); the data stays."""
        if self._root is None or not (self.datadir / "postmaster.pid").exists():
            return
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop the server and delete its directory."""
        if self._root is None:
            return
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> ThrowawayCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
