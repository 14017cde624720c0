from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog

from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.encode import encode_logs
from infertrace.workload import Workload

NOW = 1_800_000_000_000_000_000


def decode(*records: PbLog) -> Any:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.add(key="service.name", value=AnyValue(string_value="svc"))
    rl.scope_logs.add().log_records.extend(records)
    return LogDecoder(clock=lambda: NOW).decode(request.SerializeToString())


def test_workload_logs_round_trip() -> None:
    logs = Workload(seed=8).logs(50)
    result = LogDecoder().decode(encode_logs(logs).SerializeToString())
    assert result.rejected == 0
    by_time = {r.time_unix_nano: r for r in result.records}
    for want in logs:
        got = by_time[want.time_unix_nano]
        assert (got.body, got.severity_number, got.severity_text) == (
            want.body,
            want.severity_number,
            want.severity_text,
        )
        assert (got.trace_id, got.span_id, got.service_name) == (
            want.trace_id,
            want.span_id,
            want.service_name,
        )
        assert {k: v for k, v in got.attributes.items() if k != "otel.scope.name"} == dict(
            want.attributes
        )
        assert got.observed_time_unix_nano == want.observed_time_unix_nano


@pytest.mark.parametrize(
    ("time_ns", "observed", "expected_time"),
    [(5, 7, 5), (0, 7, 7), (0, 0, NOW)],
)
def test_time_falls_back_to_observed_then_receive_time(
    time_ns: int, observed: int, expected_time: int
) -> None:
    (got,) = decode(PbLog(time_unix_nano=time_ns, observed_time_unix_nano=observed)).records
    assert (got.time_unix_nano, got.observed_time_unix_nano) == (expected_time, observed)


def test_structured_body_event_name_and_zero_ids() -> None:
    body = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                KeyValue(key="msg", value=AnyValue(string_value="oom")),
                KeyValue(key="gpu", value=AnyValue(int_value=2)),
            ]
        )
    )
    record = PbLog(
        time_unix_nano=1,
        body=body,
        trace_id=bytes(16),
        span_id=bytes(8),
        event_name="gen_ai.choice",
        severity_number=17,
        severity_text="ERROR",
    )
    (got,) = decode(record).records
    assert got.body == '{"msg":"oom","gpu":2}'
    assert (got.trace_id, got.span_id) == (b"", b"")
    assert got.attributes["event.name"] == "gen_ai.choice"
    assert (got.severity_number, got.severity_text, got.service_name) == (17, "ERROR", "svc")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (PbLog(time_unix_nano=1, severity_number=25), "severity_number must be 0..24, got 25"),
        (PbLog(time_unix_nano=1, trace_id=b"\x01" * 15), "trace_id must be 16 bytes, got 15"),
        (PbLog(time_unix_nano=1, span_id=b"\x01" * 7), "span_id must be 8 bytes, got 7"),
        (PbLog(time_unix_nano=2**63), "beyond 2**63-1"),
        (
            PbLog(time_unix_nano=1, attributes=[KeyValue(key="", value=AnyValue(int_value=1))]),
            "attributes has an attribute with an empty key",
        ),
    ],
)
def test_bad_log_records_are_rejected_and_the_rest_kept(record: PbLog, reason: str) -> None:
    result = decode(PbLog(time_unix_nano=1, body=AnyValue(string_value="ok")), record)
    assert [r.body for r in result.records] == ["ok"]
    assert result.rejected == 1
    assert reason in result.message("log records")
