"""Activity aggregations over REST: daily metrics, range totals, group stats, leaderboards.

Every number is computed from the stored records by
:class:`~infertrace.activity.aggregations.ActivityAnalytics` (its cache is
dropped for the days a write touches). Ranges are UTC days ``from``..``to``,
both included (:func:`~infertrace.api.activity_params.day_range`). The daily
series and the range totals are the same records summed two ways, so the sum of
a day's counts over the range equals the range's (active developers excepted:
the range counts each developer once).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from starlette.requests import Request

from infertrace.activity.aggregations import (
    METRICS,
    UNASSIGNED,
    DailyMetrics,
    Metrics,
    rows_in_days,
    tally,
)
from infertrace.activity.records import Developer
from infertrace.api.activity import activity_of, metrics_json, new_router, record_json
from infertrace.api.activity_models import (
    DailySeries,
    DeveloperDays,
    GroupStats,
    Leaderboard,
)
from infertrace.api.activity_models import Metrics as MetricsModel
from infertrace.api.activity_params import DAY_PATTERN, day_range, day_text
from infertrace.api.params import BadParameter
from infertrace.api.responses import ApiJSON

router = new_router()

From = Annotated[str | None, Query(alias="from", pattern=DAY_PATTERN, description="First UTC "
                                   "day, YYYY-MM-DD (default: 29 days before `to`)")]  # fmt: skip
To = Annotated[str | None, Query(alias="to", pattern=DAY_PATTERN, description="Last UTC day, "
                                 "YYYY-MM-DD, included (default: today)")]  # fmt: skip
By = Literal["developer", "team", "region"]


def days_json(days: list[DailyMetrics]) -> list[dict[str, Any]]:
    """Each day as ``{"day": "YYYY-MM-DD", <metrics>}``."""
    return [{"day": day_text(d.day), **metrics_json(d.metrics)} for d in days]


@router.get("/metrics/daily", summary="The metrics of each day", response_model=DailySeries)
def daily(request: Request, first: From = None, last: To = None) -> ApiJSON:
    """One entry per day of the range, days without activity included.
    O(log n + the range's records)."""
    first_day, last_day = day_range(first, last)
    series = activity_of(request).analytics.daily_series(first_day, last_day)
    return ApiJSON({"days": days_json(series)})


@router.get("/metrics/range", summary="The metrics of a whole range", response_model=MetricsModel)
def whole_range(request: Request, first: From = None, last: To = None) -> ApiJSON:
    """The daily series' records summed at once (distinct active developers)."""
    first_day, last_day = day_range(first, last)
    return ApiJSON(metrics_json(activity_of(request).analytics.range_stats(first_day, last_day)))


@router.get("/developers/{developer_id}/daily", summary="One developer's metrics per day",
            response_model=DeveloperDays)  # fmt: skip
def developer_daily(
    request: Request, developer_id: str, first: From = None, last: To = None
) -> ApiJSON:
    """The days the developer was active in the range; 404 for an unknown developer."""
    first_day, last_day = day_range(first, last)
    service = activity_of(request)
    developer = service.store.get(Developer, developer_id)
    days = service.analytics.developer_daily(developer_id, first_day, last_day)
    return ApiJSON({"developer": record_json(developer), "days": days_json(days)})


def _groups(stats: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"group": s.group, "developers": s.developers, **metrics_json(s.metrics)}
        for s in stats.values()
    ]


@router.get("/stats/regions", summary="Headcount and metrics per region",
            response_model=GroupStats)  # fmt: skip
def regions(request: Request, first: From = None, last: To = None) -> ApiJSON:
    first_day, last_day = day_range(first, last)
    stats = activity_of(request).analytics.region_stats(first_day, last_day)
    return ApiJSON({"groups": _groups(stats)})


@router.get("/stats/teams", summary="Headcount and metrics per team", response_model=GroupStats)
def teams(request: Request, first: From = None, last: To = None) -> ApiJSON:
    first_day, last_day = day_range(first, last)
    stats = activity_of(request).analytics.team_stats(first_day, last_day)
    return ApiJSON({"groups": _groups(stats)})


@router.get("/leaderboard", summary="Developers, teams or regions ranked by a metric",
            response_model=Leaderboard)  # fmt: skip
def leaderboard(
    request: Request,
    metric: Annotated[str, Query(description="One of " + ", ".join(METRICS))] = "agent_edits",
    by: Annotated[By, Query(description="What is ranked")] = "developer",
    first: From = None,
    last: To = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    team: Annotated[str | None, Query(description="Only this team's developers")] = None,
    region: Annotated[str | None, Query(description="Only this region's developers")] = None,
) -> ApiJSON:
    """Descending by ``metric``, ties broken by key; each entry carries every metric."""
    if metric not in METRICS:
        raise BadParameter("metric", f"metric {metric!r} is not one of {', '.join(METRICS)}")
    first_day, last_day = day_range(first, last)
    service = activity_of(request)
    entries: list[dict[str, Any]] = []
    if by == "developer":
        ranked = service.analytics.leaderboard(
            metric, first_day, last_day, team=team or None, region=region or None, limit=limit
        )
        with service.store.reading() as view:
            for e in ranked:
                totals = tally(rows_in_days(view, first_day, last_day, e.developer_id),
                               lambda _dev, _day: None)  # fmt: skip
                dev = view.get(Developer, e.developer_id)
                entries.append({
                    "rank": e.rank, "key": e.developer_id,
                    "name": (dev.name or dev.email) if dev is not None else e.developer_id,
                    "value": e.value, **metrics_json(totals[None].done()),
                })  # fmt: skip
    else:
        if team or region:
            raise BadParameter("team" if team else "region", "team/region filter only by=developer")
        analytics = service.analytics
        stats = (analytics.team_stats if by == "team" else analytics.region_stats)(
            first_day, last_day
        )
        groups = [(s.group, s.metrics) for s in stats.values() if _active(s.metrics)]
        groups.sort(key=lambda g: (-float(getattr(g[1], metric)), g[0]))
        for rank, (group, metrics) in enumerate(groups[:limit], 1):
            name = "(no team)" if group == UNASSIGNED and by == "team" else group
            entries.append({"rank": rank, "key": group, "name": name,
                            "value": float(getattr(metrics, metric)),
                            **metrics_json(metrics)})  # fmt: skip
    return ApiJSON({"metric": metric, "by": by, "entries": entries})


def _active(metrics: Metrics) -> bool:
    return metrics.active_developers > 0
