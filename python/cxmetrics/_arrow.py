"""Arrow arrays from NumPy arrays and Python scalars without ``pa.array``/``pa.scalar``.

``pa.array`` and ``pa.scalar`` import pandas whenever it is installed (pyarrow checks every input
for pandas types), which costs a web handler seconds on its first call and hundreds of modules
for a NumPy input. These builders go through ``Array.from_buffers`` instead: zero-copy for
contiguous numeric arrays, one vectorised pass for booleans and NumPy strings.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["from_numpy", "repeat", "to_pandas", "to_polars"]

_NUMPY = {pa.int64(): np.int64, pa.uint64(): np.uint64, pa.float64(): np.float64}


def from_numpy(values: np.ndarray) -> pa.Array | None:
    """A 1-D NumPy array as Arrow, or None for dtypes left to ``pa.array`` (objects, dates)."""
    dtype = values.dtype
    kind = dtype.kind
    n = len(values)
    if kind in "iuf" and dtype.byteorder in "=|" and dtype.itemsize <= 8:
        arrow_type = _arrow_type(dtype)
        if arrow_type is None:
            return None
        if not values.flags.c_contiguous:
            values = np.ascontiguousarray(values)
        return pa.Array.from_buffers(arrow_type, n, [None, pa.py_buffer(values)])
    if kind == "b":
        bits = np.packbits(values.view(np.uint8), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if kind == "U":
        return _strings(values)
    return None


@functools.lru_cache(maxsize=32)
def _arrow_type(dtype: np.dtype[Any]) -> pa.DataType | None:
    """The Arrow type of a native-order numeric dtype (None for float16, left to pa.array)."""
    return None if dtype == np.float16 else pa.from_numpy_dtype(dtype)


def _strings(values: np.ndarray) -> pa.Array:
    """UTF-8 strings from a fixed-width NumPy unicode array (trailing NULs dropped, as NumPy
    drops them when reading an element)."""
    encoded = np.char.encode(np.ascontiguousarray(values), "utf-8")
    width = encoded.dtype.itemsize
    n = len(encoded)
    if width == 0 or n == 0:
        offsets = np.zeros(n + 1, dtype=np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                      pa.py_buffer(b"")])
    cells = encoded.view(np.uint8).reshape(n, width)
    lengths = np.char.str_len(encoded).astype(np.int64)
    data = cells[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(
            offsets.astype(np.int32)), pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets),
                                                        pa.py_buffer(data)])


def repeat(value: object, n: int, type_: pa.DataType) -> pa.Array:
    """``value`` ``n`` times as one Arrow type (None gives nulls)."""
    if value is None:
        return pa.nulls(n, type_)
    if pa.types.is_string(type_):
        encoded = str(value).encode("utf-8")
        offsets = np.arange(n + 1, dtype=np.int64) * len(encoded)
        if offsets[-1] >= 2**31:
            raise OverflowError("repeated string too long for a string array")
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(offsets.astype(np.int32)),
                                                pa.py_buffer(encoded * n)])
    if pa.types.is_boolean(type_):
        bits = np.packbits(np.full(n, bool(value)), bitorder="little")
        return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(bits)])
    values = np.full(n, value, dtype=_NUMPY[type_])
    return pa.Array.from_buffers(type_, n, [None, pa.py_buffer(values)])


def to_pandas(table: pa.Table) -> Any:
    """``table`` as a pandas DataFrame, or an ImportError saying which extra to install."""
    try:
        import pandas  # noqa: F401  (pyarrow's own error would not name the extra)
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas: pip install 'cxmetrics[pandas]'") from exc
    return table.to_pandas()


def to_polars(table: pa.Table) -> Any:
    """``table`` as a polars DataFrame, or an ImportError saying which extra to install."""
    try:
        import polars as pl
    except ImportError as exc:
        raise ImportError("to_polars() needs polars: pip install 'cxmetrics[polars]'") from exc
    return pl.from_arrow(table)
