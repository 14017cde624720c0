"""Column batches: the unit that flows from the decoders to the stores.

A batch holds the records of one request as columns, one sequence per field of
the record's schema (:mod:`infertrace.telemetry.schema`), in record order. The
decoders fill a batch row by row with plain tuples and transpose it once in C
(``zip``), so no record object is built per span on the way in; the memory
tables turn the columns into arrays with vectorised copies and the PostgreSQL
writer encodes COPY rows straight from them.

A batch is also a read-only ``Sequence`` of its records, built only when a
caller reads one (a processor, a test), so any code written for
``Sequence[Span]`` takes a batch unchanged. ``write_batch(list[Span])`` stays
the stores' public convenience: :meth:`ColumnBatch.of` transposes a record list
into the same columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, ClassVar, Generic, TypeVar, overload

from infertrace.errors import InvalidRecord
from infertrace.model import Attributes, LogRecord, MetricPoint, Span, fast_constructor
from infertrace.telemetry.schema import LOG, METRIC, SPAN, RecordSchema

R = TypeVar("R", Span, LogRecord, MetricPoint)
B = TypeVar("B", bound="ColumnBatch[Any]")


class ColumnBatch(Sequence[R], Generic[R]):
    """Records of one type as columns (one tuple or list per schema field, record order).

    Immutable once built: the columns are never changed in place, so a batch can
    be shared by the store and the processors. O(1) ``len``; indexing builds
    the record (O(fields)).
    """

    __slots__ = ("_n", "checked", "columns")

    schema: ClassVar[RecordSchema]
    _build: ClassVar[Callable[..., Any]]
    _fields: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def __init__(self, columns: Sequence[Sequence[Any]], checked: bool = False) -> None:
        width = len(self.schema.names)
        if len(columns) != width:
            raise ValueError(f"{type(self).__name__} needs {width} columns, got {len(columns)}")
        n = len(columns[0])
        if any(len(c) != n for c in columns):
            raise ValueError(f"{type(self).__name__} columns differ in length")
        self.columns: tuple[Sequence[Any], ...] = tuple(columns)
        self._n = n
        self.checked = checked
        """True when the producer applied :mod:`infertrace.telemetry.validate`'s rules to
        every record (the OTLP decoders, held to it by
        ``tests/collector/otlp/test_one_rule_source.py``): stores then skip their
        per-record checks. Any other batch is checked like a list of records."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._build = staticmethod(fast_constructor(cls.schema.record, cls.schema.names))
        cls._fields = staticmethod(attrgetter(*cls.schema.names))

    @classmethod
    def from_rows(cls: type[B], rows: Sequence[tuple[Any, ...]], checked: bool = False) -> B:
        """A batch of ``rows``, each a tuple of one record's fields in record order. O(n)."""
        if not rows:
            return cls(((),) * len(cls.schema.names), checked)
        return cls(tuple(zip(*rows, strict=True)), checked)

    @classmethod
    def empty(cls: type[B]) -> B:
        """A batch of no records."""
        return cls(((),) * len(cls.schema.names))

    @classmethod
    def of(cls: type[B], records: Iterable[Any]) -> B:
        """``records`` as a batch: itself when already one, else transposed. O(n).

        Raises InvalidRecord when an item is not a record of this type (an
        object lacking a field), naming the first such index.
        """
        if isinstance(records, cls):
            return records
        items = records if isinstance(records, list | tuple) else list(records)
        try:
            return cls.from_rows(list(map(cls._fields, items)))
        except AttributeError:
            bad = next(i for i, r in enumerate(items) if not isinstance(r, cls.schema.record))
            name = cls.schema.record.__name__
            raise InvalidRecord(bad, f"not a {name}: {type(items[bad]).__name__}") from None

    def column(self, name: str) -> Sequence[Any]:
        """The values of field ``name``, one per record."""
        return self.columns[self.schema.names.index(name)]

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Each record's fields as a tuple, in record order."""
        return zip(*self.columns, strict=True)

    def select(self: B, keep: Sequence[int]) -> B:
        """A batch of the records at positions ``keep`` (in that order). O(len(keep) x fields)."""
        return type(self)(tuple([c[i] for i in keep] for c in self.columns), self.checked)

    def records(self) -> list[R]:
        """Every record, built now. O(n x fields)."""
        build = self._build
        return [build(*row) for row in self.rows()]

    def resources(self) -> list[Attributes]:
        """The distinct resource attribute maps of the batch, in first-seen order.

        Records of one resource share its map object, so this is by identity.
        """
        seen: dict[int, Attributes] = {}
        for m in self.column("resource_attributes"):
            seen.setdefault(id(m), m)
        return list(seen.values())

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> R: ...

    @overload
    def __getitem__(self, index: slice) -> list[R]: ...

    def __getitem__(self, index: int | slice) -> R | list[R]:
        if isinstance(index, slice):
            build = self._build
            return [build(*row) for row in zip(*(c[index] for c in self.columns), strict=True)]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError("batch index out of range")
        result: R = self._build(*(c[index] for c in self.columns))
        return result

    def __iter__(self) -> Iterator[R]:
        build = self._build
        return (build(*row) for row in self.rows())

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same records in the same order."""
        if isinstance(other, ColumnBatch):
            return type(other) is type(self) and list(self.rows()) == list(other.rows())
        if isinstance(other, list | tuple):
            return self.records() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self.records())


class SpanBatch(ColumnBatch[Span]):
    """Spans as columns of :data:`~infertrace.telemetry.schema.SPAN`."""

    __slots__ = ()
    schema = SPAN


class LogBatch(ColumnBatch[LogRecord]):
    """Log records as columns of :data:`~infertrace.telemetry.schema.LOG`."""

    __slots__ = ()
    schema = LOG


class MetricBatch(ColumnBatch[MetricPoint]):
    """Metric points as columns of :data:`~infertrace.telemetry.schema.METRIC`."""

    __slots__ = ()
    schema = METRIC
