"""The columns of a :class:`~infertrace.engine.columnar.ColumnTable`: one NumPy array each.

A :class:`ColumnSpec` says what a column holds: ``int`` (int64), ``float``
(float64), ``bool``, or ``str``. A ``str`` column is dictionary-encoded: each
distinct value gets an int32 code in first-seen order and the rows hold codes,
so a team name shared by 25,000 rows is one string and 25,000 four-byte codes.
An ``optional`` str column holds None as the code -1. ``convert`` maps stored
text back to the object rows carry (an enum member), once per distinct value
when a dictionary is loaded from a snapshot.

Arrays grow by doubling (amortised O(1) per appended row). Codes are not
reference counted: a value no row uses any more stays until the owning table
compacts (it re-encodes every dictionary then), so a dictionary holds at most
the values of the rows stored since the last compaction.

Not thread-safe: the owning table's lock guards a column.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["int", "float", "bool", "str"]
Array = npt.NDArray[Any]
DTYPES: dict[str, type] = {"int": np.int64, "float": np.float64, "bool": np.bool_, "str": np.int32}
NULL = -1
"""The code of None in an optional str column."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A column's name, kind, whether a str column may hold None, and how stored text
    becomes the value rows carry (``convert``, str columns only)."""

    name: str
    kind: Kind = "str"
    optional: bool = False
    convert: Callable[[str], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in DTYPES:
            raise ValueError(
                f"column {self.name!r}: kind {self.kind!r} is not one of {list(DTYPES)}"
            )
        if (self.optional or self.convert is not None) and self.kind != "str":
            raise ValueError(f"column {self.name!r}: only str columns are optional or converted")


class Column:
    """One column's rows in a growable array, plus the dictionary of a str column."""

    __slots__ = ("codes", "data", "size", "spec", "values")

    def __init__(self, spec: ColumnSpec, capacity: int = 16) -> None:
        self.spec = spec
        self.data: Array = np.zeros(max(16, capacity), dtype=DTYPES[spec.kind])
        self.size = 0
        self.values: list[Any] = []
        """Code -> value (str columns)."""
        self.codes: dict[Any, int] = {None: NULL} if spec.optional else {}
        """Value -> code (str columns); None -> NULL when optional."""

    @property
    def view(self) -> Array:
        """The stored rows (a view, valid until the next append)."""
        return self.data[: self.size]

    def encode(self, values: Sequence[Any]) -> Array:
        """The array a batch of Python values is stored as; a str column adds codes for
        values it has not seen (:meth:`forget` takes them back). ValueError naming the
        column and a value of the wrong type. O(m)."""
        name, kind = self.spec.name, self.spec.kind
        if kind != "str":
            try:
                out: Array = np.array(values, dtype=DTYPES[kind])
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"column {name!r}: {exc}") from None
            if out.ndim != 1 or (kind != "float" and not _exact(values, kind)):
                bad = next((v for v in values if not _fits(v, kind)), values)
                raise ValueError(f"column {name!r}: {bad!r} is not {kind}")
            return out
        codes = self.codes
        distinct = dict.fromkeys(values)
        if codes.keys().isdisjoint(distinct):  # all new (a key column): at C speed
            fresh = list(distinct)
        else:
            fresh = [v for v in distinct if v not in codes]
        if fresh:
            if not set(map(type, fresh)) <= _TEXT_TYPES:
                bad = [v for v in fresh if not isinstance(v, str)]
                if bad:
                    raise ValueError(f"column {name!r}: {bad[0]!r} is not a string")
            convert = self.spec.convert
            if convert is not None:  # equal and hashed alike: the codes dict finds either
                try:
                    fresh = [convert(v) for v in fresh]
                except ValueError as exc:
                    raise ValueError(f"column {name!r}: {exc}") from None
            start = len(self.values)
            self.values.extend(fresh)
            codes.update(zip(fresh, range(start, start + len(fresh)), strict=True))
        return np.fromiter(map(codes.__getitem__, values), np.int32, len(values))

    def code_of(self, value: Any) -> int | None:
        """The code of a str value, or None when no row can hold it."""
        try:
            return self.codes.get(value)
        except TypeError:
            return None

    def forget(self, count: int) -> None:
        """Drop the dictionary's values from code ``count`` on (a refused batch's)."""
        for value in self.values[count:]:
            del self.codes[value]
        del self.values[count:]

    def append(self, array: Array) -> None:
        """Add encoded rows at the end. Amortised O(m)."""
        end = self.size + len(array)
        if end > len(self.data):
            grown = np.zeros(max(end, 2 * len(self.data)), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = array
        self.size = end

    def decode(self, array: Array) -> list[Any]:
        """Python values of encoded rows. O(m)."""
        if self.spec.kind != "str":
            out: list[Any] = array.tolist()
            return out
        values = self.values
        if self.spec.optional:
            return [None if c < 0 else values[c] for c in array.tolist()]
        return list(map(values.__getitem__, array.tolist()))

    def value_at(self, row: int) -> Any:
        """The Python value of one row. O(1)."""
        value = self.data[row].item()
        if self.spec.kind != "str":
            return value
        return None if value < 0 else self.values[value]

    def reset(self, array: Array, values: list[Any] | None = None) -> None:
        """Hold exactly ``array`` (encoded) with dictionary ``values``. O(n)."""
        self.data = np.array(array, dtype=self.data.dtype)
        if len(self.data) < 16:
            self.data = np.concatenate([self.data, np.zeros(16 - len(self.data), self.data.dtype)])
        self.size = len(array)
        if self.spec.kind == "str":
            self.values = list(values or [])
            self.codes = {None: NULL} if self.spec.optional else {}
            self.codes.update(zip(self.values, range(len(self.values)), strict=True))
            if len(self.codes) != len(self.values) + self.spec.optional:
                raise ValueError(f"column {self.spec.name!r}: its dictionary repeats a value")

    def nbytes(self, sample: int | None = None) -> int:
        """The array's used part and, for str, the dictionary (its strings counted
        once each: the rows hold codes, not references). With ``sample``, strings
        are measured on a seeded sample of that many and scaled. O(dictionary) or
        O(sample)."""
        used = self.size * self.data.itemsize
        if self.spec.kind != "str":
            return used
        size, values = sys.getsizeof, self.values
        measured: Sequence[Any] = values
        if sample and len(values) > sample:  # seeded, not strided: values can be periodic
            measured = random.Random(len(values)).sample(values, sample)
        text = sum(map(size, measured)) * len(values) // max(1, len(measured))
        # a dict entry's int code is an object of its own past the small-int cache
        return used + size(values) + size(self.codes) + text + 28 * max(0, len(values) - 256)


_TEXT_TYPES: set[type] = {str}
"""Types a str column takes without a closer look (others: any str subclass, an enum)."""


def _fits(value: Any, kind: str) -> bool:
    if kind == "bool":
        return type(value) is bool or isinstance(value, np.bool_)
    return type(value) is int or isinstance(value, np.integer)


def _exact(values: Sequence[Any], kind: str) -> bool:
    """Whether every value is of ``kind`` (NumPy would have converted 1.5 or True)."""
    if isinstance(values, np.ndarray):
        return values.dtype == DTYPES[kind]
    return set(map(type, values)) <= ({bool} if kind == "bool" else {int})
