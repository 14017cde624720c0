"""Activity REST API over HTTP: batch inserts, a filtered page, aggregations.

A collector with an activity database serves on 127.0.0.1 from a thread of this
process; requests go one at a time over one keep-alive connection and are timed
to their last byte. Loaded through the API: DEVS developers and COMMITS commits
and CHANGES changes over 90 days (``generate``), in batches of 10,000 records, so
the insert rate includes JSON, validation and the store. Each read's baseline is
the same call on the store or analytics in process (no HTTP, no JSON). The cache
is cleared between timed aggregation calls (a write to the covered days would do
the same), so the figures are computed answers, not cache hits. Server and client
share one interpreter, so the figures include their contention for the GIL.

Run: ``python -m benchmarks.activity_api [--quick]``; writes
``benchmarks/results/activity_api.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from dataclasses import asdict
from typing import Any

from benchmarks.report import report
from benchmarks.timing import p50_p99, timed_ms
from infertrace.activity.generate import generate
from infertrace.activity.records import Developer
from infertrace.activity.service import ActivityService
from infertrace.api import install_query_api
from infertrace.api.activity_params import day_text
from infertrace.collector.server import BackgroundCollector
from infertrace.config import Settings
from infertrace.telemetry.memory import MemoryStore

BATCH = 10_000
FIRST_DAY = 20_300
DAYS = 90


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> Any:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    assert response.status in (200, 201), (path, response.status, data[:300])
    return data


def _json(record: Any) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(record).items()}


def run(devs: int, commits: int, changes: int, n: int) -> list[dict[str, Any]]:
    population = generate(devs, DAYS, commits=commits, changes=changes, seed=7,
                          first_day=FIRST_DAY)  # fmt: skip
    kinds = (("developers", population.developers), ("commits", population.commits),
             ("changes", population.changes))  # fmt: skip
    bodies = [(kind, json.dumps({"records": [_json(r) for r in records[i : i + BATCH]]}).encode())
              for kind, records in kinds for i in range(0, len(records), BATCH)]  # fmt: skip
    store = MemoryStore(span_capacity=16)
    service = ActivityService.open()
    collector = BackgroundCollector(
        store, Settings(port=0, grpc_port=0), install_query_api, activity=service
    )
    endpoints = collector.start()
    rows: list[dict[str, Any]] = []
    try:
        conn = http.client.HTTPConnection(endpoints.host, endpoints.http_port, timeout=120)
        total = sum(len(r) for _, r in kinds)
        started = time.perf_counter()
        for kind, body in bodies:
            _call(conn, "POST", f"/api/activity/{kind}/batch", body)
        rate = total / (time.perf_counter() - started)
        label = f"batch insert over HTTP ({total:,} records, {BATCH:,}/batch)"
        rows.append({"metric": label, "value": rate, "unit": "records/s", "target": None,
                     "baseline": None})  # fmt: skip

        last = FIRST_DAY + DAYS - 1
        span = f"from={day_text(last - 29)}&to={day_text(last)}"
        team = population.developers[0].team
        analytics = service.analytics

        def clear_cache() -> None:
            if analytics.cache is not None:
                analytics.cache.invalidate(Developer, None)

        reads = [
            ("GET /developers?region=EU (page of 100)",
             "/api/activity/developers?region=EU&limit=100",
             lambda: service.store.list(Developer, {"region": "EU"}, limit=100)),
            ("GET /developers/by-email/{email}",
             f"/api/activity/developers/by-email/{population.developers[5].email}",
             lambda: service.store.find_developer(population.developers[5].email)),
            ("GET /metrics/daily (30 days)", f"/api/activity/metrics/daily?{span}",
             lambda: analytics.daily_series(last - 29, last)),
            ("GET /stats/teams (30 days)", f"/api/activity/stats/teams?{span}",
             lambda: analytics.team_stats(last - 29, last)),
            ("GET /leaderboard agent_edits (30 days)", f"/api/activity/leaderboard?{span}",
             lambda: analytics.leaderboard("agent_edits", last - 29, last)),
            (f"GET /leaderboard within team {team} (30 days)",
             f"/api/activity/leaderboard?{span}&team={team}",
             lambda: analytics.leaderboard("agent_edits", last - 29, last, team=team)),
        ]  # fmt: skip
        for label, path, direct in reads:

            def over_http(path: str = path) -> None:
                clear_cache()
                _call(conn, "GET", path)

            def in_process(direct: Any = direct) -> None:
                clear_cache()
                direct()

            timed_ms(over_http, 3)
            http_p = p50_p99(timed_ms(over_http, n))
            base_p = p50_p99(timed_ms(in_process, n))
            rows.append({"metric": f"{label} p50", "value": http_p[0], "unit": "ms",
                         "baseline": base_p[0]})  # fmt: skip
            rows.append({"metric": f"{label} p99", "value": http_p[1], "unit": "ms",
                         "baseline": base_p[1]})  # fmt: skip
        conn.close()
    finally:
        collector.stop()
        service.close()
        store.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.activity_api")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    devs, commits, changes, n = (1_000, 10_000, 10_000, 10) if args.quick else (
        10_000, 100_000, 100_000, 30)  # fmt: skip
    title = (f"Activity API over HTTP: {devs:,} developers, {commits:,} commits, "
             f"{changes:,} changes over {DAYS} days ({n} requests each; "
             "baseline: in process)")  # fmt: skip
    report("activity_api" + ("_quick" if args.quick else ""), title, run(devs, commits, changes, n))


if __name__ == "__main__":
    main()
