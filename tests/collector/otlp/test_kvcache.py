from __future__ import annotations

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from infertrace.collector.otlp.kvcache import KeyValueCache


def raw(key: str, value: str) -> bytes:
    return KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString()


def test_decoded_entries_are_cached_and_lift_sources_attached() -> None:
    cache = KeyValueCache()
    data = raw("gen_ai.request.model", "m")
    assert cache.get(data) is None
    key, value, source, lifted = cache.decode(data)
    assert (key, value, lifted) == ("gen_ai.request.model", "m", "m")
    assert source is not None and source.column == 0
    assert cache.get(data) == (key, value, source, lifted)
    assert cache.decode(raw("plain", "x"))[2:] == (None, None)


def test_capacity_empties_the_cache_instead_of_growing() -> None:
    cache = KeyValueCache(capacity=10)
    for i in range(25):
        cache.decode(raw("k", str(i)))
        assert len(cache) <= 10
    assert cache.get(raw("k", "24")) is not None


def test_long_entries_are_not_cached() -> None:
    cache = KeyValueCache(max_entry_bytes=32)
    long = raw("prompt", "x" * 100)
    assert cache.decode(long)[1] == "x" * 100
    assert cache.get(long) is None and len(cache) == 0


def test_attributes_builds_a_dict_with_later_duplicates_winning() -> None:
    cache = KeyValueCache()
    assert cache.attributes([raw("a", "1"), raw("b", "2"), raw("a", "3")]) == {"a": "3", "b": "2"}
