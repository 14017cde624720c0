"""Activity records over REST: list, create, read, replace, delete, batches, ranges.

The same six routes for each kind (``developers``, keyed by ``id``; ``commits``
by ``sha``; ``changes`` and ``sessions`` by ``id``), made per kind so the
OpenAPI document names each kind's own record model; plus a developer by email
and commits in a time range. See :mod:`.activity` for what the routes share,
:mod:`.activity_batch` for the ``on_conflict`` rules.
"""

# No ``from __future__ import annotations``: the per-kind handlers below are made
# in a loop, and FastAPI must read their annotations (the kind's model) as objects.

from typing import Annotated, Any

from fastapi import Body, HTTPException, Path, Query, Response
from pydantic import BaseModel
from starlette.requests import Request

from infertrace.activity.records import Commit, Record
from infertrace.activity.service import KINDS
from infertrace.activity.tables import LAYOUTS
from infertrace.api.activity import activity_of, new_router, record_json
from infertrace.api.activity_batch import OnConflict, Refusal, build_all, write
from infertrace.api.activity_models import (
    PAGE_MODELS,
    RECORD_MODELS,
    Batch,
    BatchResult,
    CommitRange,
    DeveloperRecord,
)
from infertrace.api.activity_models import BatchRefused as BatchRefusedModel
from infertrace.api.activity_params import page, record_filters
from infertrace.api.params import MAX_TIME_NS, TIME_PATTERN, parse_time
from infertrace.api.responses import ApiJSON
from infertrace.errors import InvalidParameter

router = new_router()

MAX_BATCH = 100_000
"""Records one batch may hold (about 20 MB of JSON, a few seconds of work)."""

WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "The key (or a developer's email) is already stored"},
    422: {"description": "A field has an invalid value; `detail` names it"},
    507: {"description": "The kind's configured record limit would be passed; nothing stored"},
}
BATCH_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": BatchRefusedModel, "description": "Keys already stored or repeated "
          "(on_conflict=error); `errors` lists every one; nothing stored"},
    422: {"model": BatchRefusedModel, "description": "Invalid records; `errors` lists every "
          "one by index, field and reason; nothing stored"},
    507: WRITE_RESPONSES[507],
}  # fmt: skip


def _invalid_body(exc: InvalidParameter) -> HTTPException:
    return HTTPException(
        422, [{"loc": ["body", exc.name], "msg": exc.message, "type": "value_error"}]
    )


def _record(kind: type[Record], body: BaseModel) -> Record:
    """The record of a checked body; its own checks (an email's shape) answer 422."""
    try:
        record: Record = kind(**body.model_dump())
    except InvalidParameter as exc:
        raise _invalid_body(exc) from None
    return record


@router.get(
    "/developers/by-email/{email}",
    summary="The developer with an email (any case)",
    response_model=DeveloperRecord,
)
def developer_by_email(request: Request, email: Annotated[str, Path()]) -> ApiJSON:
    """O(1) through the unique email index; 404 if no developer has it."""
    return ApiJSON(record_json(activity_of(request).store.find_developer(email)))


@router.get("/commits/range", summary="Commits in a time range, oldest first",
            response_model=CommitRange)  # fmt: skip
def commits_in_range(
    request: Request,
    start: Annotated[
        str | None, Query(description="From (included): RFC 3339, ns or 7d", pattern=TIME_PATTERN)
    ] = None,
    end: Annotated[
        str | None, Query(description="To (excluded); default: no bound", pattern=TIME_PATTERN)
    ] = None,
    developer_id: Annotated[str | None, Query(min_length=1)] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> ApiJSON:
    """O(log n + offset + limit) through the time index."""
    store = activity_of(request).store
    low = parse_time(start, "start") or 0
    high = parse_time(end, "end")
    high = MAX_TIME_NS if high is None else high
    size, skip = page(limit, offset)
    commits = store.get_commits_in_range(
        low, high, developer_id=developer_id, limit=size, offset=skip
    )
    return ApiJSON({"items": [record_json(c) for c in commits]})


def _routes_for(name: str, kind: type[Record], model: type[BaseModel], key_field: str) -> None:
    """Register the six routes of one kind on :data:`router`."""
    singular = LAYOUTS[kind].name
    key_path = Path(description=f"The {singular}'s {key_field}")

    def list_records(
        request: Request,
        limit: Annotated[int | None, Query(ge=1, le=10_000, description="At most 10,000")] = None,
        offset: Annotated[int | None, Query(ge=0)] = None,
        since: Annotated[
            str | None, Query(description="Time field from: RFC 3339, ns, 7d", pattern=TIME_PATTERN)
        ] = None,
        until: Annotated[
            str | None, Query(description="Time field before (excluded)", pattern=TIME_PATTERN)
        ] = None,
    ) -> ApiJSON:
        store = activity_of(request).store
        size, skip = page(limit, offset)
        filters = record_filters(kind, request.query_params.multi_items())
        items = store.list(kind, filters, limit=size, offset=skip)
        total = store.count(kind, filters)
        body = {"items": [record_json(r) for r in items], "total": total, "limit": size,
                "offset": skip}  # fmt: skip
        return ApiJSON(body)

    def create(request: Request, body: Annotated[model, Body()]) -> ApiJSON:  # type: ignore[valid-type]
        store = activity_of(request).store
        record = _record(kind, body)
        store.save(record)
        return ApiJSON(record_json(record), status_code=201)

    def batch(
        request: Request,
        body: Batch,
        on_conflict: Annotated[OnConflict, Query(description="error | skip | replace")] = (
            OnConflict.ERROR
        ),
    ) -> Response:
        store = activity_of(request).store
        if len(body.records) > MAX_BATCH:
            detail = f"records: {len(body.records):,} records, at most {MAX_BATCH:,} a batch"
            return ApiJSON({"detail": detail, "errors": []}, status_code=422)
        records = build_all(kind, body.records)
        done = records if isinstance(records, Refusal) else write(store, records, on_conflict)
        if isinstance(done, Refusal):
            return ApiJSON(done.body(), status_code=done.status)
        return ApiJSON({"inserted": done.inserted, "skipped": done.skipped,
                        "replaced": done.replaced})  # fmt: skip

    def get_one(request: Request, key: Annotated[str, key_path]) -> ApiJSON:
        return ApiJSON(record_json(activity_of(request).store.get(kind, _key(kind, key))))

    def replace(
        request: Request, key: Annotated[str, key_path],
        body: Annotated[model, Body()],  # type: ignore[valid-type]
    ) -> ApiJSON:  # fmt: skip
        store = activity_of(request).store
        record = _record(kind, body)
        if getattr(record, key_field) != _key(kind, key):
            raise _invalid_body(InvalidParameter(key_field, f"{key_field} "
                f"{getattr(record, key_field)!r} differs from the path's {key!r}"))  # fmt: skip
        store.update(record)
        return ApiJSON(record_json(record))

    def delete(request: Request, key: Annotated[str, key_path]) -> Response:
        activity_of(request).store.delete(kind, _key(kind, key))
        return Response(status_code=204)

    path = f"/{name}/{{key}}"
    router.add_api_route(f"/{name}", list_records, methods=["GET"],
                         response_model=PAGE_MODELS[name],
                         summary=f"{name.capitalize()}, filtered by any field, paged",
                         description=_LIST_DOC.format(name=name, time=LAYOUTS[kind].time),
                         name=f"list_{name}")  # fmt: skip
    router.add_api_route(f"/{name}", create, methods=["POST"], status_code=201,
                         response_model=model, responses=WRITE_RESPONSES,
                         summary=f"Create one {singular}",
                         name=f"create_{singular}")  # fmt: skip
    router.add_api_route(f"/{name}/batch", batch, methods=["POST"], response_model=BatchResult,
                         responses=BATCH_RESPONSES, summary=f"Insert {name} all or none",
                         description=_BATCH_DOC, name=f"batch_{name}")  # fmt: skip
    router.add_api_route(path, get_one, methods=["GET"], response_model=model,
                         summary=f"One {singular} by {key_field}",
                         name=f"get_{singular}")  # fmt: skip
    router.add_api_route(path, replace, methods=["PUT"], response_model=model,
                         responses=WRITE_RESPONSES,
                         summary=f"Replace a {singular} (body {key_field} = path key)",
                         name=f"replace_{singular}")  # fmt: skip
    router.add_api_route(path, delete, methods=["DELETE"], status_code=204,
                         response_class=Response, summary=f"Delete a {singular}",
                         name=f"delete_{singular}")  # fmt: skip


def _key(kind: type[Record], text: str) -> str:
    return text.lower() if kind is Commit else text


_LIST_DOC = (
    "Every query parameter besides limit, offset, since and until filters {name} on the "
    "field it names, for equality (e.g. `region=EU`, `ai_assisted=true`); since/until "
    "bound `{time}`. Answers the page and the total matching."
)
_BATCH_DOC = (
    "Up to 100,000 records of one kind. `on_conflict`: `error` refuses the batch when a "
    "key is stored or repeated; `skip` keeps the stored record (idempotent re-import); "
    "`replace` overwrites it. Invalid records refuse the batch with 422 listing each "
    "by index; nothing is stored on any refusal."
)

for _name, _kind in KINDS.items():
    _routes_for(_name, _kind, RECORD_MODELS[_name], LAYOUTS[_kind].key)
