"""Turning what users pass (tables, columns, arrays, sequences) into named Arrow columns.

Nothing here loops over rows: every conversion is a pyarrow call, zero-copy wherever Arrow
allows it (Arrow objects, contiguous NumPy numeric arrays, polars through the PyCapsule stream).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ._arrow import from_numpy
from .errors import ColumnError, UnsupportedTypeError

__all__ = ["Columns", "resolve_columns"]


@dataclass(frozen=True, slots=True)
class Columns:
    """The named columns of one call."""

    score: pa.ChunkedArray
    score_name: str
    keys: tuple[pa.ChunkedArray, ...]
    key_names: tuple[str, ...]
    weight: pa.ChunkedArray | None
    weight_name: str | None


def _module_of(obj: object) -> str:
    return type(obj).__module__.split(".")[0]


def as_table(data: object) -> pa.Table | None:
    """The table behind ``data``, or None when ``data`` is a single column."""
    if isinstance(data, np.ndarray | pa.Array | pa.ChunkedArray):
        return None  # the common one-column inputs, told apart first
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    module = _module_of(data)
    if module == "pandas" and hasattr(data, "columns"):
        return pa.Table.from_pandas(_periods_as_text(data), preserve_index=False)
    if module == "polars" and type(data).__name__ == "LazyFrame":
        # A lazy query: run it (the columns are needed in memory anyway).
        return _stream_to_table(data.collect())  # type: ignore[attr-defined]
    if module == "polars" and hasattr(data, "columns"):
        return _stream_to_table(data)
    if module == "pyarrow" and type(data).__name__.endswith("Dataset") and hasattr(
        data, "to_batches"
    ):
        # A pyarrow.dataset.Dataset: scanned batch by batch into one table.
        return pa.Table.from_batches(data.to_batches(), schema=data.schema)  # type: ignore[attr-defined]
    if hasattr(data, "__arrow_c_stream__") and not hasattr(data, "__arrow_c_array__"):
        # A generic stream: a table when its schema is a struct of columns.
        try:
            return _stream_to_table(data)
        except (TypeError, ValueError, pa.ArrowInvalid):
            return None
    return None


_NATIVE_ORDER = "<" if np.little_endian else ">"


def _periods_as_text(data: Any) -> Any:
    """pandas Period values as their labels ("2024-01"): Arrow would turn them into bare
    integers (ordinals), which print as unrelated numbers."""
    if hasattr(data, "columns"):
        periods = [c for c in data.columns if str(data[c].dtype).startswith("period")]
        return data.assign(**{str(c): data[c].astype(str) for c in periods}) if periods else data
    if str(getattr(data, "dtype", "")).startswith("period"):
        return data.astype(str)
    return data


def _stream_to_table(data: Any) -> pa.Table:
    return pa.RecordBatchReader.from_stream(data).read_all()


def as_column(values: object, role: str) -> pa.ChunkedArray:
    """One column as a ChunkedArray, without copying where the input allows it."""
    if isinstance(values, pa.ChunkedArray):
        return values
    if isinstance(values, pa.Array):
        return pa.chunked_array([values])
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ColumnError(f"{role} must be one-dimensional, got shape {values.shape}")
        if values.dtype.kind == "c":
            raise UnsupportedTypeError(
                f"{role}: complex numbers ({values.dtype}) are not scores, keys or weights; "
                "pass the real part (values.real) if that is what you mean",
                column=role,
            )
        if values.dtype.byteorder not in "=|" and values.dtype.byteorder != _NATIVE_ORDER:
            # Arrow holds numbers in native byte order: swap big-endian data (one copy).
            values = values.astype(values.dtype.newbyteorder("="))
        if values.dtype.kind in "iuf" and not (values.flags.c_contiguous and values.flags.aligned):
            # Arrow needs contiguous, aligned buffers: only such arrays are shared without a copy.
            values = np.require(values, requirements=["C", "A"])
        # Numbers, booleans and strings without pa.array (which imports pandas).
        array = from_numpy(values)
        if array is not None:
            return pa.chunked_array([array])
        return _arrow_from(values, role)
    module = _module_of(values)
    if module == "pandas":
        # pandas marks missing values with NaN/None/NA: from_pandas turns them into nulls.
        return _arrow_from(_periods_as_text(values), role, from_pandas=True)
    if module == "polars":
        return pa.chunked_array(values.to_arrow())  # type: ignore[attr-defined]
    if hasattr(values, "__arrow_c_stream__"):
        return pa.chunked_array(values)
    if hasattr(values, "__arrow_c_array__"):
        return pa.chunked_array([pa.array(values)])
    if isinstance(values, Sequence | range) and not isinstance(values, str | bytes):
        items = list(values)
        if _homogeneous(items):
            array = from_numpy(np.asarray(items))
            if array is not None:
                return pa.chunked_array([array])
        return _arrow_from(items, role)
    raise UnsupportedTypeError(
        f"{role}: cannot read a column from {type(values).__name__}", column=role
    )


def _homogeneous(items: list[object]) -> bool:
    """A non-empty list of one plain type, which NumPy converts as pa.array would."""
    if not items:
        return False
    first = type(items[0])
    return first in (int, float, bool, str) and all(type(v) is first for v in items)


def _arrow_from(values: object, role: str, from_pandas: bool = False) -> pa.ChunkedArray:
    try:
        array = pa.array(values, from_pandas=from_pandas)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
        raise UnsupportedTypeError(f"{role}: cannot convert to Arrow: {exc}", column=role) from exc
    if isinstance(array, pa.ChunkedArray):
        return array
    return pa.chunked_array([array])


def _names(spec: object, role: str) -> list[object]:
    if spec is None:
        return []
    if isinstance(spec, list | tuple):
        return list(spec)
    return [spec]


def _table_column(table: pa.Table, name: object, role: str) -> pa.ChunkedArray:
    if not isinstance(name, str):
        raise ColumnError(
            f"{role} must name a column of the table (a str), got {type(name).__name__}"
        )
    if name not in table.column_names:
        raise ColumnError(
            f"{role}: no column {name!r}; the table has {table.column_names}", column=name
        )
    if table.column_names.count(name) > 1:
        raise ColumnError(
            f"{role}: the table has {table.column_names.count(name)} columns named {name!r}; "
            "rename them so that each name is unique",
            column=name,
        )
    return table.column(name)


def resolve_columns(data: object, score: object, by: object, weight: object) -> Columns:
    """Resolves the ``data``/``score``/``by``/``weight`` arguments of every metric function."""
    table = as_table(data)
    if table is not None:
        if score is None:
            raise ColumnError(
                f"data is a table: say which column holds the scores with score=...; "
                f"columns are {table.column_names}"
            )
        score_name = str(score)
        score_col = _table_column(table, score, "score")
        key_names = tuple(str(n) for n in _names(by, "by"))
        keys = tuple(_table_column(table, n, "by") for n in _names(by, "by"))
        weight_col = None if weight is None else _table_column(table, weight, "weight")
        weight_name = None if weight is None else str(weight)
        return Columns(score_col, score_name, keys, key_names, weight_col, weight_name)

    if score is not None:
        raise ColumnError("score= names a column of a table, but data is a single column")
    score_name = _column_name(data, "score")
    by_list = [by] if _is_single_column(by) else _names(by, "by")
    keys = tuple(as_column(b, f"by[{i}]") for i, b in enumerate(by_list))
    key_names = tuple(_column_name(b, f"by_{i}" if len(by_list) > 1 else "by")
                      for i, b in enumerate(by_list))
    weight_col = None if weight is None else as_column(weight, "weight")
    weight_name = None if weight is None else _column_name(weight, "weight")
    return Columns(as_column(data, "score"), score_name, keys, key_names, weight_col, weight_name)


def _is_single_column(by: object) -> bool:
    """A ``by`` that is itself one column (not a list of columns)."""
    if by is None or isinstance(by, tuple):
        return False
    if isinstance(by, list):
        # A list of scalars is one column; a list of columns is several.
        return not any(_looks_like_column(item) for item in by)
    return True


def _looks_like_column(obj: object) -> bool:
    return (
        isinstance(obj, pa.Array | pa.ChunkedArray | np.ndarray | list | range)
        or hasattr(obj, "__arrow_c_array__")
        or hasattr(obj, "__arrow_c_stream__")
        or _module_of(obj) in ("pandas", "polars")
    )


def _column_name(obj: object, default: str) -> str:
    """A Series' own name where it has one, else the role."""
    if isinstance(obj, np.ndarray | list):
        return default  # nameless, and looking for a name would raise and catch inside
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else default
