"""The activity database: developers, their commits, AI-agent changes and sessions.

Public surface: the records (:class:`Developer`, :class:`Commit`, :class:`Change`,
:class:`Session`, :class:`Region`, :class:`ChangeKind`, :func:`day_of`; the day
length is ``records.DAY_NS``), the store protocol (:class:`ActivityStore`) and its
in-memory store (:class:`MemoryActivityStore`, :class:`KindStats`), range filters
(:class:`Between`), aggregations (:class:`ActivityAnalytics`, :class:`Metrics`,
:class:`DailyMetrics`, :class:`GroupStats`, :class:`LeaderboardEntry`; metric
names in ``aggregations.METRICS``), consistency (:func:`verify_consistency`,
:func:`repair`) and snapshots (:func:`write_snapshot`, :func:`restore_snapshot`).
Errors are in :mod:`infertrace.errors` (``RecordNotFound``, ``DuplicateRecord``,
``CapacityExceeded``, ``SnapshotInvalid``, ``InvalidParameter``).
"""

from infertrace.activity.aggregations import (
    ActivityAnalytics,
    DailyMetrics,
    GroupStats,
    LeaderboardEntry,
    Metrics,
)
from infertrace.activity.consistency import (
    ConsistencyReport,
    RepairReport,
    repair,
    verify_consistency,
)
from infertrace.activity.memory import KindStats, MemoryActivityStore
from infertrace.activity.records import (
    Change,
    ChangeKind,
    Commit,
    Developer,
    Region,
    Session,
    day_of,
)
from infertrace.activity.snapshot import SnapshotInfo, restore_snapshot, write_snapshot
from infertrace.activity.store import ActivityStore
from infertrace.engine.planner import Between

__all__ = [
    "ActivityAnalytics",
    "ActivityStore",
    "Between",
    "Change",
    "ChangeKind",
    "Commit",
    "ConsistencyReport",
    "DailyMetrics",
    "Developer",
    "GroupStats",
    "KindStats",
    "LeaderboardEntry",
    "MemoryActivityStore",
    "Metrics",
    "Region",
    "RepairReport",
    "Session",
    "SnapshotInfo",
    "day_of",
    "repair",
    "restore_snapshot",
    "verify_consistency",
    "write_snapshot",
]
