"""One column of a table's state <-> one Arrow array, losslessly.

A column is a NumPy array (any numeric or bool dtype, any per-row shape) or a
sequence of Python objects. The Arrow type is chosen for what is in it, Arrow-
native wherever the values allow, and the field's metadata (``kind``, ``dtype``,
``shape``) says how to rebuild the exact column:

=========================  ==========================  =============================
column                     Arrow type                  kind
=========================  ==========================  =============================
1-D numeric array          the same primitive type     ``ndarray`` (zero copy)
``uint8`` rows of (k,)     ``fixed_size_binary(k)``    ``ndarray`` (ids: zero copy)
other rows of shape s      ``fixed_size_list``         ``ndarray``
objects: str or None       ``large_string``            ``str``
objects: bytes or None     ``large_binary``            ``bytes``
objects: anything plain    ``large_binary`` per cell   ``plain`` (:mod:`.plain`)
=========================  ==========================  =============================

None in an object column is an Arrow null in every object kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from infertrace.engine import plain

Column = npt.NDArray[Any] | Sequence[Any]
"""A column of a table's state: an array, or a sequence of Python objects."""


def to_arrow(name: str, values: Column) -> tuple[pa.Field, pa.Array]:
    """The field and array holding ``values``. O(n); object columns in Python."""
    if isinstance(values, np.ndarray):
        return _from_ndarray(name, values)
    kinds = set(map(type, values)) - {type(None)}
    if kinds <= {str}:
        arr = pa.array(values, pa.large_string())
        kind = "str"
    elif kinds <= {bytes}:
        arr = pa.array(values, pa.large_binary())
        kind = "bytes"
    else:
        enc = plain.encode
        arr = pa.array([None if v is None else enc(v) for v in values], pa.large_binary())
        kind = "plain"
    return pa.field(name, arr.type, metadata={"kind": kind}), arr


def _from_ndarray(name: str, values: npt.NDArray[Any]) -> tuple[pa.Field, pa.Array]:
    if values.dtype.kind not in "biuf":
        raise TypeError(f"column {name!r}: cannot store a {values.dtype} array")
    n, shape = len(values), values.shape[1:]
    width = math.prod(shape)
    flat = np.ascontiguousarray(values).reshape(n * width if shape else n)
    if not shape:
        arr: pa.Array = pa.array(flat)
    elif values.dtype == np.uint8:
        arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(flat)])
    else:
        arr = pa.FixedSizeListArray.from_arrays(pa.array(flat), width)
    meta = {"kind": "ndarray", "dtype": values.dtype.str, "shape": json.dumps(list(shape))}
    return pa.field(name, arr.type, metadata=meta), arr


def from_arrow(field: pa.Field, data: pa.Array | pa.ChunkedArray) -> Column:
    """The column :func:`to_arrow` stored in ``field`` and ``data``. O(n)."""
    arr = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    kind = meta.get("kind")
    if kind == "ndarray":
        dtype = np.dtype(meta["dtype"])
        shape = tuple(json.loads(meta["shape"]))
        n = len(arr)
        if not shape:
            out: npt.NDArray[Any] = arr.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
            return out
        width = math.prod(shape)
        if pa.types.is_fixed_size_binary(arr.type):
            buf = arr.buffers()[1]
            flat = np.frombuffer(buf, dtype=np.uint8, count=n * width, offset=arr.offset * width)
        else:
            flat = arr.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False)
        return flat.reshape(n, *shape).copy()  # writable, owned by the table
    if kind in ("str", "bytes"):
        cells: list[Any] = arr.to_pylist()
        return cells
    if kind == "plain":
        dec = plain.decode
        return [None if v is None else dec(v) for v in arr.to_pylist()]
    raise ValueError(f"column {field.name!r} has unknown kind {kind!r}")


__all__ = ["Column", "from_arrow", "to_arrow"]
