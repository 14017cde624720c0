"""The write-ahead log's on-disk format: records in segment files, and reading them back.

A segment is named by the log sequence number (LSN) of its first record,
``00000000000000000042.wal``, and holds records back to back. A record is a
21-byte little-endian header and the payload::

    magic u8 (0xA7, format version 1) | length u32 | lsn u64 | payload crc u32 | header crc u32

Both checksums are ``zlib.crc32`` (CRC-32/ISO-HDLC; no crc32c in the standard
library): the payload's, and the header's over its first 17 bytes. The header
has its own so that a damaged ``length`` is recognised as damage before it is
trusted to find the record's end; otherwise a flipped bit in the middle of the
log could pass for a torn tail and hide the acknowledged records after it.

Reading tells two failures apart (:func:`scan_segment`):

- a **torn tail**: the last record of the last segment, cut short by a crash
  (short header, short payload, a payload checksum failing exactly at the end of
  the file, or zero fill after the last good record). Nothing after it can have
  been acknowledged, so it is dropped with a warning (:class:`Torn`).
- **corruption**: anything else (a bad record with data after it, any bad record
  in a segment that is not the last, an LSN out of sequence, a missing segment).
  Replay stops there and raises ValueError whose message names the segment and
  byte offset (:class:`Damage`).

The engine defines no exception classes (every class in the package sits under
``infertrace.errors.InferTraceError``, which the engine may not import): it
raises builtins with messages that name the file, and the store translates them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = 0xA7
HEADER = struct.Struct("<BIQII")
BODY = struct.Struct("<BIQI")
"""The header without its own checksum: what the header checksum covers."""
MAX_PAYLOAD = 2**32 - 1
SUFFIX = ".wal"


def segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}{SUFFIX}"


def segment_lsn(path: Path) -> int:
    """The first LSN a segment file is named by; ValueError for a foreign name."""
    if path.suffix != SUFFIX or not path.stem.isdigit():
        raise ValueError(f"not a log segment name: {path.name!r}")
    return int(path.stem)


def list_segments(directory: Path) -> list[Path]:
    """The segment files of ``directory`` in LSN order (other files ignored)."""
    found = [p for p in directory.iterdir() if p.suffix == SUFFIX and p.stem.isdigit()]
    return sorted(found, key=segment_lsn)


def header(lsn: int, payload: bytes | memoryview) -> bytes:
    """The header of record ``lsn`` carrying ``payload``. O(len(payload)) for the crc."""
    return header_of_parts(lsn, (payload,))


def header_of_parts(lsn: int, parts: Sequence[bytes | memoryview]) -> bytes:
    """The header of record ``lsn`` whose payload is ``parts`` joined (never joined:
    the crc runs over them in turn). O(total length)."""
    crc = 0
    length = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
        length += len(part)
    body = BODY.pack(MAGIC, length, lsn, crc)
    return body + zlib.crc32(body).to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class Torn:
    """A torn tail: ``dropped`` bytes from ``offset`` of ``segment`` are not a record."""

    segment: Path
    offset: int
    dropped: int
    reason: str

    def __str__(self) -> str:
        return (
            f"torn tail of {self.segment} at byte {self.offset} "
            f"({self.dropped} bytes, {self.reason}) dropped"
        )


@dataclass(frozen=True, slots=True)
class Damage:
    """Where and why a log stops being trustworthy (raised as ValueError(str(damage)))."""

    segment: Path
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"write-ahead log corrupt in {self.segment} at byte {self.offset}: {self.reason}"

    def error(self) -> ValueError:
        return ValueError(str(self))


@dataclass(slots=True)
class SegmentScan:
    """A segment read back: its valid records, where they end, and a torn tail if any."""

    path: Path
    first_lsn: int
    records: list[tuple[int, memoryview]] = field(default_factory=list)
    end: int = 0
    torn: Torn | None = None
    damage: Damage | None = None
    """Where the segment stops being trustworthy; ``records`` end there."""

    @property
    def next_lsn(self) -> int:
        return self.records[-1][0] + 1 if self.records else self.first_lsn


def scan_segment(path: Path, final: bool, data: bytes | None = None) -> SegmentScan:
    """Read every record of ``path`` (``data``: its bytes, if already read).

    ``final`` says the segment is the log's last, the only one that may end in a
    torn record. Anything else that is not a valid record ends the records and
    is kept in ``damage`` for the caller to raise. O(size).
    """
    raw = path.read_bytes() if data is None else data
    view = memoryview(raw)
    scan = SegmentScan(path, segment_lsn(path))
    scan.damage = _records(scan, raw, view, final)
    return scan


def _records(scan: SegmentScan, raw: bytes, view: memoryview, final: bool) -> Damage | None:
    """Append the valid records to ``scan``; return the damage that stops them, if any."""
    path, expect, off, n, hsize = scan.path, scan.first_lsn, 0, len(raw), HEADER.size

    def bad(reason: str) -> Damage | None:
        if not final:
            return Damage(path, off, f"{reason} in a segment that is not the last")
        scan.torn = Torn(path, off, n - off, reason)
        return None

    while off < n:
        if n - off < hsize:
            return bad("short header" if any(raw[off:]) else "zero fill")
        magic, length, lsn, pcrc, hcrc = HEADER.unpack_from(raw, off)
        if magic != MAGIC or zlib.crc32(view[off : off + BODY.size]) != hcrc:
            if not any(raw[off:]):
                return bad("zero fill")
            return Damage(path, off, "bad record header (magic or header checksum)")
        if lsn != expect:
            return Damage(path, off, f"record has lsn {lsn}, expected {expect}")
        end = off + hsize + length
        if end > n:
            return bad(f"short payload ({n - off - hsize} of {length} bytes)")
        payload = view[off + hsize : end]
        if zlib.crc32(payload) != pcrc:
            if end == n:
                return bad("payload checksum mismatch in the last record")
            return Damage(path, off, f"payload checksum mismatch in record {lsn}")
        scan.records.append((lsn, payload))
        expect += 1
        off = end
        scan.end = off
    return None


def read_records(
    segments: list[Path],
    after: int,
    on_torn: Callable[[Torn], None] | None = None,
    on_damage: Callable[[Damage], None] | None = None,
) -> Iterator[tuple[int, memoryview]]:
    """Records with an LSN above ``after`` across ``segments`` in order, checking that
    each segment starts where the one before ended and that none is missing after
    ``after``; a torn tail of the last segment ends the records (``on_torn`` hears of
    it). Raises ValueError (a :class:`Damage` message) where the log stops being
    trustworthy (records before that point have been yielded), after telling
    ``on_damage`` where. Holds one segment in memory at a time."""
    stopped: list[Damage] = []
    yield from _read_records(segments, after, on_torn, stopped)
    if stopped:
        if on_damage is not None:
            on_damage(stopped[0])
        raise stopped[0].error()


def _read_records(
    segments: list[Path],
    after: int,
    on_torn: Callable[[Torn], None] | None,
    stopped: list[Damage],
) -> Iterator[tuple[int, memoryview]]:
    """:func:`read_records`' loop; the damage that ends it goes into ``stopped``."""
    prev_next: int | None = None
    for i, path in enumerate(segments):
        last = i == len(segments) - 1
        upcoming = segment_lsn(segments[i + 1]) if not last else None
        if upcoming is not None and upcoming <= after + 1:
            prev_next = upcoming
            continue  # wholly at or below ``after``: not read
        first = segment_lsn(path)
        if prev_next is not None and first != prev_next:
            stopped.append(Damage(path, 0, f"segment starts at lsn {first}, expected {prev_next}"))
            return
        if prev_next is None and first > after + 1:
            stopped.append(Damage(path, 0, f"records {after + 1}..{first - 1} are missing"))
            return
        scan = scan_segment(path, final=last)
        for lsn, payload in scan.records:
            if lsn > after:
                yield lsn, payload
        if scan.damage is not None:
            stopped.append(scan.damage)
            return
        if upcoming is not None and scan.next_lsn != upcoming:
            reason = f"segment ends at lsn {scan.next_lsn - 1}, next starts at {upcoming}"
            stopped.append(Damage(path, scan.end, reason))
            return
        if scan.torn is not None and on_torn is not None:
            on_torn(scan.torn)
        prev_next = scan.next_lsn


@dataclass(frozen=True, slots=True)
class LogReport:
    """What :func:`inspect_log` found: the records that replay, and what stops them."""

    segments: int
    bytes: int
    first_lsn: int | None
    last_lsn: int | None
    records: int
    torn: Torn | None
    damage: Damage | None

    @property
    def ok(self) -> bool:
        """True when every record replays (a torn tail is normal after a crash)."""
        return self.damage is None


def inspect_log(directory: Path) -> LogReport:
    """Read every segment of a log directory without changing anything (for the
    ``verify`` and ``inspect`` tools): counts, LSN range, a torn tail, the first
    damage. O(log size), one segment in memory at a time."""
    segments = list_segments(directory)
    size = sum(p.stat().st_size for p in segments)
    first = last = None
    count = 0
    torn: Torn | None = None
    damage: Damage | None = None
    expect: int | None = None
    for i, path in enumerate(segments):
        start = segment_lsn(path)
        if expect is not None and start != expect:
            damage = Damage(path, 0, f"segment starts at lsn {start}, expected {expect}")
            break
        scan = scan_segment(path, final=i == len(segments) - 1)
        if scan.records:
            first = scan.records[0][0] if first is None else first
            last = scan.records[-1][0]
            count += len(scan.records)
        torn, damage, expect = scan.torn, scan.damage, scan.next_lsn
        if damage is not None:
            break
    return LogReport(len(segments), size, first, last, count, torn, damage)


__all__ = [
    "HEADER",
    "MAGIC",
    "MAX_PAYLOAD",
    "Damage",
    "LogReport",
    "SegmentScan",
    "Torn",
    "header",
    "header_of_parts",
    "inspect_log",
    "list_segments",
    "read_records",
    "scan_segment",
    "segment_lsn",
    "segment_name",
]
