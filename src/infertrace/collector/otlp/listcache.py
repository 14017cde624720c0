"""A bounded cache of whole span attribute lists, per instrumentation scope.

Most spans of a service carry one of a few attribute lists (a tokenize or
queue span: ``gen_ai.system`` and the operation name), and the same list
encodes to the same tuple of KeyValue bytes. Keyed by that tuple, one dict
lookup gives the span's frozen attribute map (scope attributes included), its
inference column values and model source, and its empty-key problem, all computed once by the
per-KeyValue path (:func:`attribute_entry`) and shared, read-only, by every
span that carries the list. A list with a distinct value in it (token counts,
latencies) misses and takes the per-KeyValue path, whose own cache
(:mod:`infertrace.collector.otlp.kvcache`) still serves its repeated attributes.

A list is remembered the second time it is seen (see
:meth:`AttributeListCache.decode`). Bounds: lists longer than
``max_list_bytes`` in total are never cached, each scope's table is emptied
when it holds ``capacity`` lists, and all tables are dropped when
``max_scopes`` scopes are held.

Thread safety: as for the KeyValue cache, an entry is a pure function of its
key and dict operations are atomic under the GIL; a race costs a redundant
decode.
"""

from __future__ import annotations

from types import MappingProxyType

from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.model import EMPTY_ATTRIBUTES, Attributes, AttributeValue
from infertrace.telemetry import semconv as lift

ListEntry = tuple[Attributes, tuple["lift.Lifted | None", ...], "str | None"]
"""(frozen attributes with the scope's, the inference column values then the model source
(``"span"`` when the attributes name the model, else None), the problem or None)."""

Table = dict[tuple[bytes, ...], ListEntry]

EMPTY_KEY_PROBLEM = "empty attribute key"
NO_COLUMNS: tuple[lift.Lifted | None, ...] = (None,) * (len(lift.COLUMNS) + 1)
"""The columns of a list that lifts nothing: this very tuple, so that the decoder tells
a span with no inference data by identity."""
_NOTHING_LIFTED = NO_COLUMNS[1:]


def attribute_entry(
    raws: tuple[bytes, ...], scope: tuple[tuple[str, str], ...], cache: KeyValueCache
) -> tuple[ListEntry, bool]:
    """The reference decoding of one span's attribute list, and whether it parsed a KeyValue.

    Scope attributes come first, then the span's in order with later duplicates
    winning; :func:`semconv.columns` lifts the liftable ones into columns (they
    stay in the attributes, as sent).
    O(len(raws)). Raises protobuf DecodeError for a malformed KeyValue.
    """
    get, decode = cache.get, cache.decode
    attrs: dict[str, AttributeValue] = dict(scope)
    candidates: list[lift.Candidate] = []
    parsed = False
    for raw in raws:
        entry = get(raw)
        if entry is None:
            entry = decode(raw)
            parsed = True
        attrs[entry[0]] = entry[1]
        if entry[2] is not None:
            candidates.append(entry)
    columns = NO_COLUMNS
    if candidates:
        lifted = lift.columns(candidates)
        if lifted != _NOTHING_LIFTED:
            columns = (*lifted, None if lifted[lift.MODEL_NAME] is None else lift.FROM_SPAN)
    problem = EMPTY_KEY_PROBLEM if "" in attrs else None
    return ((MappingProxyType(attrs) if attrs else EMPTY_ATTRIBUTES), columns, problem), parsed


class AttributeListCache:
    """Span attribute lists -> :data:`ListEntry`, one table per scope. Lookups are O(1)."""

    def __init__(
        self,
        cache: KeyValueCache,
        capacity: int = 4096,
        max_list_bytes: int = 2048,
        max_scopes: int = 256,
    ) -> None:
        self._kv = cache
        self._tables: dict[tuple[tuple[str, str], ...], Table] = {}
        self._capacity = capacity
        self._max_list_bytes = max_list_bytes
        self._max_scopes = max_scopes

    def table(self, scope: tuple[tuple[str, str], ...]) -> Table:
        """The table of ``scope``'s lists: call its ``get(raws)``, then :meth:`decode` on a miss."""
        table = self._tables.get(scope)
        if table is None:
            if len(self._tables) >= self._max_scopes:
                self._tables.clear()
            table = self._tables[scope] = {}
        return table

    def decode(
        self, table: Table, raws: tuple[bytes, ...], scope: tuple[tuple[str, str], ...]
    ) -> ListEntry:
        """Decode ``raws`` with :func:`attribute_entry`; remember it in ``table`` if seen before.

        A list that needed a KeyValue parsed is new (its KeyValues are cached
        now), most likely one with a distinct value that will not come again:
        it is remembered the second time it is seen, when all its KeyValues hit,
        so one-off lists neither fill the table nor evict the common ones.
        """
        entry, parsed = attribute_entry(raws, scope, self._kv)
        if not parsed and sum(map(len, raws)) <= self._max_list_bytes:
            if len(table) >= self._capacity:
                table.clear()
            table[raws] = entry
        return entry

    def __len__(self) -> int:
        return sum(map(len, self._tables.values()))
