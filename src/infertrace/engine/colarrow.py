"""Column-table rows <-> one Arrow record batch: the form snapshots and log records take.

A str column travels as an Arrow dictionary array (int32 indices, NULL for
None, the column's dictionary as its values), so a batch costs what the table's
arrays cost plus each distinct string once, and encoding or decoding it is
NumPy and Arrow work, never a Python object per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from infertrace.engine.coldata import DTYPES, NULL, Array, ColumnSpec


def to_batch(
    specs: Sequence[ColumnSpec], arrays: Mapping[str, Array], dictionaries: Mapping[str, list[Any]]
) -> pa.RecordBatch:
    """One batch of the encoded ``arrays`` (text as codes into ``dictionaries``). O(n)."""
    out = []
    for spec in specs:
        data = arrays[spec.name]
        if spec.kind != "str":
            out.append(pa.array(data))
            continue
        mask = data == NULL if spec.optional else None
        indices = pa.array(data.astype(np.int32), mask=mask)
        text = pa.array(dictionaries[spec.name], type=pa.string())  # enum members are str
        out.append(pa.DictionaryArray.from_arrays(indices, text))
    return pa.record_batch(out, names=[s.name for s in specs])


def from_batch(
    specs: Sequence[ColumnSpec], batch: pa.RecordBatch | pa.Table
) -> tuple[dict[str, Array], dict[str, list[Any]]]:
    """The arrays and dictionaries :func:`to_batch` wrote; ValueError naming a column
    that is missing or of the wrong type. O(n)."""
    names = [s.name for s in specs]
    if list(batch.schema.names) != names:
        raise ValueError(f"columns {batch.schema.names} are not {names}")
    arrays: dict[str, Array] = {}
    dictionaries: dict[str, list[Any]] = {}
    for spec, column in zip(specs, batch.columns, strict=True):
        chunk = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if spec.kind == "str":
            if not pa.types.is_dictionary(chunk.type):
                raise ValueError(f"column {spec.name!r} is {chunk.type}, not dictionary text")
            indices = chunk.indices
            if indices.null_count and not spec.optional:
                raise ValueError(f"column {spec.name!r} holds nulls")
            codes = indices.fill_null(NULL) if indices.null_count else indices
            arrays[spec.name] = codes.to_numpy(zero_copy_only=False).astype(np.int32)
            dictionaries[spec.name] = chunk.dictionary.to_pylist()
            continue
        if chunk.null_count:
            raise ValueError(f"column {spec.name!r} holds nulls")
        data = chunk.to_numpy(zero_copy_only=False)
        if data.dtype != DTYPES[spec.kind]:
            raise ValueError(f"column {spec.name!r} is {data.dtype}, not {spec.kind}")
        arrays[spec.name] = data
    return arrays, dictionaries
