"""Small durable-file helpers shared by the write-ahead log and the snapshot files.

A rename or a new file is durable only once its directory is fsynced too
(POSIX says nothing about the directory entry otherwise), so every creation
that must survive a crash goes through :func:`fsync_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` (created, renamed, deleted files) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically: a temp file beside it, fsync, rename,
    directory fsync. A crash leaves either the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


__all__ = ["fsync_dir", "write_durably"]
