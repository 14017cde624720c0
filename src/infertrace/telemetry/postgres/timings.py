"""The columns Jaeger's Monitor tab needs, in SQL: one indexed range scan.

Same answer as :meth:`infertrace.telemetry.reference.ReferenceStore.span_timings`.
"""

from __future__ import annotations

from infertrace.model import StatusCode

SPAN_TIMINGS_SQL = f"""
SELECT start_time_unix_nano, duration_nanos, status_code = {int(StatusCode.ERROR)}, operation_name
FROM spans
WHERE service_name = %s AND kind = ANY(%s)
    AND start_time_unix_nano >= %s AND start_time_unix_nano < %s
"""
"""Parameters: the service, the kinds (a list of smallints), the window (unix ns, end
exclusive)."""
