"""The service call graph in SQL: Jaeger's dependency links from stored spans.

One query: each span starting in the window that has a parent id looks up its
parent (same trace id, span id = its parent span id) through the trace-id
index, at most one row, and the pairs of different services are counted.
Same definition as :meth:`infertrace.telemetry.reference.ReferenceStore.dependencies`.
"""

from __future__ import annotations

DEPENDENCIES_SQL = """
SELECT p.service_name, c.service_name, count(*)
FROM spans c
CROSS JOIN LATERAL (
    SELECT service_name FROM spans p
    WHERE p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    ORDER BY p.seq
    LIMIT 1
) p
WHERE c.start_time_unix_nano >= %s AND c.start_time_unix_nano < %s
    AND octet_length(c.parent_span_id) > 0
    AND p.service_name <> c.service_name
GROUP BY 1, 2
"""
"""Parameters: the window's start and end (unix ns, end exclusive). Rows come unordered:
the caller sorts in Python, as the database's collation may order text differently."""
