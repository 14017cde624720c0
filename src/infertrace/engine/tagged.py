"""Records of a data directory's log, each tagged with the table it changes.

One write-ahead log serves every table of a data directory, so a record's
payload starts with its table's name::

    name length u8 | name (UTF-8, 1..255 bytes) | the table's own payload

A handful of bytes per record, and the log stays readable without knowing
which participant wrote what: replay and the inspection tools find the owner
by name, and a name nobody owns is refused rather than skipped.
"""

from __future__ import annotations

MAX_NAME = 255


def tag(table: str) -> bytes:
    """The prefix of every record of ``table``; ValueError for an empty or long name."""
    name = table.encode()
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"table name must be 1..{MAX_NAME} UTF-8 bytes: {table!r}")
    return bytes([len(name)]) + name


def split(record: bytes | memoryview) -> tuple[str, memoryview]:
    """(table, payload) of a logged record, the payload a view into ``record``.

    ValueError when the record is too short for its tag or the name is not UTF-8
    (a record that passed its checksum yet was not written by a data directory).
    """
    view = memoryview(record)
    if not view:
        raise ValueError("log record is empty: no table tag")
    size = view[0]
    if size == 0 or len(view) < 1 + size:
        raise ValueError(f"log record of {len(view)} bytes has a table tag of {size} bytes")
    try:
        name = bytes(view[1 : 1 + size]).decode()
    except UnicodeDecodeError:
        raise ValueError("log record's table tag is not UTF-8") from None
    return name, view[1 + size :]


__all__ = ["MAX_NAME", "split", "tag"]
