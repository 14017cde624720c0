"""Looking after the activity database over REST: consistency, memory, snapshots.

Snapshots live in the server's activity snapshot directory (``serve
--activity-snapshot-dir``; a temporary one by default), named
``activity-<UTC time>-<n>.snap``; a restore names one of them, never a path, so
a request cannot read or write elsewhere. A corrupt, truncated or foreign file
is refused (422) and the live store is left as it was.
"""

from __future__ import annotations

import itertools
import re
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import HTTPException, Query
from starlette.requests import Request

from infertrace.activity.consistency import ConsistencyReport, repair, verify_consistency
from infertrace.activity.snapshot import HEADER, MAGIC, restore_snapshot, write_snapshot
from infertrace.activity.tables import LAYOUTS
from infertrace.api.activity import NAMES, activity_of, new_router
from infertrace.api.activity_models import Consistency, Memory, Repair, Snapshot, Snapshots
from infertrace.api.params import BadParameter
from infertrace.api.responses import ApiJSON
from infertrace.errors import SnapshotInvalid

router = new_router()

FINDINGS = 1000
"""Findings listed per kind of problem (``totals`` counts them all)."""
SNAPSHOT_NAME = re.compile(r"^activity-\d{8}T\d{6}Z-\d+\.snap$")
_SERIAL = itertools.count(1)
_PLURAL = {layout.name: NAMES[kind] for kind, layout in LAYOUTS.items()}


def report_json(report: ConsistencyReport, limit: int = FINDINGS) -> dict[str, Any]:
    """A consistency report as JSON (each list capped at ``limit``)."""
    duplicates = [*report.misplaced, *(f"email {e!r} is held by several developers"
                                       for e in report.duplicate_emails)]  # fmt: skip
    return {
        "ok": report.ok,
        "counts": {_PLURAL[k]: n for k, n in report.counts.items()},
        "orphans": [
            {"kind": o.kind, "key": o.key, "developer_id": o.developer_id}
            for o in report.orphans[:limit]
        ],
        "missing_commits": [
            {"change_id": c, "commit_sha": s} for c, s in report.missing_commits[:limit]
        ],
        "duplicates": duplicates[:limit],
        "drift": list(report.index_drift[:limit]),
        "totals": {
            "orphans": len(report.orphans),
            "missing_commits": len(report.missing_commits),
            "duplicates": len(duplicates),
            "drift": len(report.index_drift),
        },
        "summary": report.lines(),
    }


@router.get("/consistency", summary="Check every record and index", response_model=Consistency)
def consistency(request: Request) -> ApiJSON:
    """Orphans, changes naming missing commits, repeated keys or emails, index drift.
    O(n log n) under the read lock."""
    return ApiJSON(report_json(verify_consistency(activity_of(request).store)))


@router.post("/consistency/repair", summary="Fix what is safely fixable", response_model=Repair)
def repair_store(
    request: Request,
    drop_orphans: Annotated[bool, Query(description="Also delete orphan records")] = False,
) -> ApiJSON:
    """Re-keys misplaced records and rebuilds indexes; deletes orphans only when asked."""
    done = repair(activity_of(request).store, drop_orphans=drop_orphans)
    return ApiJSON({"actions": list(done.actions), "after": report_json(done.after)})


@router.get("/memory", summary="Measured memory per record type", response_model=Memory)
def memory(request: Request) -> ApiJSON:
    """Counts, bytes of rows (measured on a sample) and of indexes, configured limits."""
    stats = activity_of(request).store.memory_stats()
    kinds = {
        _PLURAL[name]: {
            "count": s.count, "data_bytes": s.row_bytes, "index_bytes": s.index_bytes,
            "total_bytes": s.total_bytes, "bytes_per_record": s.bytes_per_record,
            "limit": s.limit,
        }
        for name, s in stats.items()
    }  # fmt: skip
    return ApiJSON({"kinds": kinds})


def _created(path: Path) -> int:
    return path.stat().st_mtime_ns


def _listed(path: Path) -> dict[str, Any]:
    """A snapshot's name, size, time and the checksum its header holds (None if unreadable)."""
    digest: str | None = None
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
        if len(head) == HEADER.size:
            magic, _version, _length, raw = HEADER.unpack(head)
            digest = raw.hex() if magic == MAGIC else None
    except (OSError, struct.error):
        pass
    stat = path.stat()
    return {"name": path.name, "bytes": stat.st_size, "records": None, "counts": None,
            "sha256": digest, "created": stat.st_mtime_ns}  # fmt: skip


@router.post("/snapshot", summary="Write a snapshot of the whole store", response_model=Snapshot,
             status_code=201)  # fmt: skip
def snapshot(request: Request) -> ApiJSON:
    """A consistent point-in-time snapshot into the snapshot directory. O(n)."""
    service = activity_of(request)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = service.snapshot_dir / f"activity-{stamp}-{next(_SERIAL)}.snap"
    info = write_snapshot(service.store, path)
    counts = {_PLURAL[k]: n for k, n in info.counts.items()}
    return ApiJSON({"name": path.name, "bytes": info.bytes, "records": sum(counts.values()),
                    "counts": counts, "sha256": info.sha256, "created": _created(path)},
                   status_code=201)  # fmt: skip


@router.get("/snapshots", summary="The snapshot files, newest first", response_model=Snapshots)
def snapshots(request: Request) -> ApiJSON:
    directory = activity_of(request).snapshot_dir
    found = [p for p in directory.iterdir() if SNAPSHOT_NAME.match(p.name) and p.is_file()]
    listed = sorted((_listed(p) for p in found), key=lambda s: (-s["created"], s["name"]))
    return ApiJSON({"directory": str(directory), "snapshots": listed})


RESTORE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No snapshot has this name"},
    422: {"description": "The name is not a snapshot's, or the file is corrupt, truncated "
          "or foreign (the store is left as it was)"},
    507: {"description": "The snapshot holds more records than a limit allows"},
}  # fmt: skip


@router.post("/snapshots/{name}/restore", summary="Replace the store with a snapshot",
             response_model=Snapshot, responses=RESTORE_RESPONSES)  # fmt: skip
def restore(request: Request, name: str) -> ApiJSON:
    """Checks the whole file (magic, version, length, checksum, every record) before
    it swaps the tables in; on any problem the live store is untouched."""
    if not SNAPSHOT_NAME.match(name):
        raise BadParameter("name", f"name {name!r} is not a snapshot name (activity-...snap)")
    service = activity_of(request)
    path = service.snapshot_dir / name
    if not path.is_file():
        raise HTTPException(404, f"snapshot {name!r} not found in {service.snapshot_dir}")
    try:
        info = restore_snapshot(service.store, path)
    except SnapshotInvalid as exc:  # a bad file, not a bad server: the client chose it
        raise HTTPException(422, str(exc)) from None
    counts = {_PLURAL[k]: n for k, n in info.counts.items()}
    body = {"name": name, "bytes": info.bytes, "records": sum(counts.values()),
            "counts": counts, "sha256": info.sha256, "created": _created(path)}  # fmt: skip
    return ApiJSON(body)
