"""Read whole metric series in a window from any store, for analytics.

``list_metric_points`` answers at most ``MAX_LIMIT`` points, newest first, so a
window is read in pages: when a page is full, its points newer than its oldest time
are kept, the points at exactly that time are read on their own, and the next page
ends there. Points are then grouped into :class:`Series` (name, type, temporality,
unit, service, attributes, resource), oldest first.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any

import numpy as np

from infertrace.errors import InvalidFilter
from infertrace.model import MetricPoint
from infertrace.telemetry.filters import MAX_LIMIT, MetricFilter
from infertrace.telemetry.memory.metric_series import memory_reader
from infertrace.telemetry.memory.store import MemoryStore
from infertrace.telemetry.metric_window import Series
from infertrace.telemetry.protocols import MetricStore

SeriesReader = Callable[[Collection[str], int, int], list[Series]]
"""``(names, since, until)`` -> the series of those metric names with points in the
half-open window, each with only its points in the window."""


def points_in(store: MetricStore, name: str, since: int, until: int) -> list[MetricPoint]:
    """Every stored point of metric ``name`` with ``since <= time < until``, in pages
    of ``MAX_LIMIT``. O(points); a query per page plus one per full page's oldest
    instant."""
    out: list[MetricPoint] = []
    hi = until
    while hi > since:
        page = store.list_metric_points(
            MetricFilter(name=name, since=since, until=hi, limit=MAX_LIMIT)
        )
        if len(page) < MAX_LIMIT:
            out.extend(page)
            break
        oldest = min(p.time_unix_nano for p in page)
        out.extend(p for p in page if p.time_unix_nano > oldest)
        same = store.list_metric_points(
            MetricFilter(name=name, since=oldest, until=oldest + 1, limit=MAX_LIMIT)
        )
        if len(same) >= MAX_LIMIT:
            raise InvalidFilter(
                f"metric {name!r} has {MAX_LIMIT} or more points at one instant ({oldest}); "
                "analytics cannot read them all"
            )
        out.extend(same)
        hi = oldest
    return out


def _frozen(m: Mapping[str, Any]) -> Hashable:
    return tuple(sorted((k, repr(v)) for k, v in m.items()))


def series_of(points: list[MetricPoint]) -> list[Series]:
    """Points grouped by series, each oldest first. O(points log points)."""
    keys: dict[int, Hashable] = {}  # one canonical form per attribute map object

    def key_of(m: Mapping[str, Any]) -> Hashable:
        k = keys.get(id(m))
        if k is None:
            k = keys[id(m)] = _frozen(m)
        return k

    groups: dict[Hashable, list[MetricPoint]] = {}
    for p in points:
        k = (
            p.name,
            p.type,
            p.temporality,
            p.unit,
            p.service_name,
            key_of(p.attributes),
            key_of(p.resource_attributes),
        )
        groups.setdefault(k, []).append(p)
    out = []
    for pts in groups.values():
        pts.sort(key=lambda p: p.time_unix_nano)
        p0 = pts[0]
        out.append(
            Series(
                p0.name,
                p0.type,
                p0.temporality,
                p0.unit,
                p0.service_name,
                p0.attributes,
                p0.resource_attributes,
                np.array([p.time_unix_nano for p in pts], np.int64),
                np.array([p.start_time_unix_nano for p in pts], np.int64),
                np.array([np.nan if p.value is None else p.value for p in pts], np.float64),
                tuple(p.histogram for p in pts) if p0.histogram is not None else (),
            )
        )
    return out


def store_reader(store: MetricStore) -> SeriesReader:
    """A reader over ``store``'s public ``list_metric_points`` (every backend)."""

    def read(names: Collection[str], since: int, until: int) -> list[Series]:
        points: list[MetricPoint] = []
        for name in names:
            points.extend(points_in(store, name, since, until))
        return series_of(points)

    return read


def reader_for(store: MetricStore) -> SeriesReader:
    """The fastest reader ``store`` allows: the memory store's columns when it is one,
    else :func:`store_reader`."""
    if isinstance(store, MemoryStore):
        return memory_reader(store)
    return store_reader(store)


__all__ = ["SeriesReader", "points_in", "reader_for", "series_of", "store_reader"]
