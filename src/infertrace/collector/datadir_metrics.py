"""The data directory's samples on ``/metrics``: log size, fsyncs, snapshots, refusals.

Read at scrape time from the :class:`~infertrace.engine.datadir.DataDir` that
``serve --data-dir`` opened (``infertrace_datadir_*``), so a dashboard sees the
log grow between snapshots, how long a snapshot holds the tables, and a full
disk (``refusing`` 1, ``refused_writes_total`` rising) before clients complain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from infertrace.engine.datadir import DataDir

PREFIX = "infertrace_datadir_"

log = logging.getLogger(__name__)


class DataDirCollector(Collector):
    """Yields the data directory's samples on each scrape. O(log segments) per scrape."""

    def __init__(self, data_dir: DataDir) -> None:
        self._dir = data_dir

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        d = self._dir
        try:
            log_bytes = d.log.size_bytes()
            segments = len(d.log.segments())
        except OSError:  # a segment deleted meanwhile by a snapshot: skip this scrape
            log.debug("data directory samples unavailable for /metrics", exc_info=True)
            return
        last = d.last_snapshot
        gauges = [
            ("log_bytes", "Bytes in the write-ahead log's segments", log_bytes),
            ("log_segments", "Segment files of the write-ahead log", segments),
            ("durable_lsn", "Every log record up to this LSN is durable", d.log.durable_lsn),
            ("refusing", "1 while the disk refuses log writes", int(d.refusing)),
            (
                "last_snapshot_seconds",
                "How long the last snapshot took (0: none yet)",
                last.seconds if last else 0.0,
            ),
            (
                "last_snapshot_capture_seconds",
                "How long the last snapshot held the tables (captures)",
                last.capture_seconds if last else 0.0,
            ),
            (
                "restored_records",
                "Log records replayed at start-up",
                d.report.records_replayed,
            ),
        ]
        for name, text, value in gauges:
            gauge = GaugeMetricFamily(PREFIX + name, text)
            gauge.add_metric([], value)
            yield gauge
        counters = [
            ("fsyncs", "fsyncs of log segments", d.log.syncs),
            ("snapshots", "Snapshots saved since start", d.snapshots_taken),
            ("refused_writes", "Log writes the disk refused", d.refused_total),
        ]
        for name, text, count in counters:
            counter = CounterMetricFamily(PREFIX + name, text)
            counter.add_metric([], count)
            yield counter


__all__ = ["DataDirCollector"]
