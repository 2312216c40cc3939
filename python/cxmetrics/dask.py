"""cxmetrics on Dask: the metric functions over a ``dask.dataframe.DataFrame``.

Each partition becomes an Arrow table (``pyarrow.Table.from_pandas``: zero-copy for Arrow-backed
columns, no per-row Python) folded into an accumulator on a worker; the serialized accumulators
are merged exactly in a tree of tasks (eight at a time), and the driver reads the one result::

    import cxmetrics.dask as cxd
    res = cxd.nps(ddf, "score", by="region")   # same result as cx.nps on one machine

Runs on whatever scheduler is active (a ``distributed.Client`` if one exists). Needs the ``dask``
extra: ``pip install 'cxmetrics[dask]'``.
"""

from __future__ import annotations

import os
from functools import partial
from typing import TYPE_CHECKING, Any

try:
    import dask.dataframe
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - exercised with dask hidden
    raise ImportError(
        "cxmetrics.dask needs Dask, which is not installed: pip install 'cxmetrics[dask]'"
    ) from exc

import pyarrow as pa

from ._accumulator import Accumulator
from ._distributed import (
    MetricFunctions,
    drivers_on,
    load_state,
    merge_states,
    partition_stream,
    tree_merge,
)
from .errors import ColumnError, CxError

if TYPE_CHECKING:
    import pandas as pd
    from dask.dataframe import DataFrame

__all__ = ["accumulate", "bottom_box", "ces", "csat", "drivers", "mean_score", "nps",
           "top_box"]

# States merged per task of the reduction tree.
FAN_IN = 8

# (serialized accumulator, ids of the worker processes that contributed)
_Partial = tuple[bytes, tuple[int, ...]]


def _target_schema(meta: pd.DataFrame) -> pa.Schema:
    """Arrow types of the columns, from the DataFrame's metadata, so that every partition gives
    the same key types. Object columns have no Arrow type before data is seen (null here)."""
    return pa.Schema.from_pandas(meta, preserve_index=False)


_OBJECT_HINT = (
    "partitions gave different Arrow types for the object-dtype column(s) {names} (for example "
    "a partition where it holds only nulls); give them a concrete dtype first, e.g. "
    "ddf[{first!r}] = ddf[{first!r}].astype('string[pyarrow]')"
)


def _fold_partition(part: pd.DataFrame, empty: bytes, schema: pa.Schema,
                    index: int) -> _Partial:
    table = pa.Table.from_pandas(part, preserve_index=False)
    # Cast to the metadata's types where it knows them (object columns infer as null there).
    fields = [
        target if not pa.types.is_null(target.type) else table.schema.field(target.name)
        for target in schema
    ]
    table = _aligned(table.select(schema.names).cast(pa.schema(fields)))
    acc = partition_stream(load_state(empty), index)
    try:
        acc.update(table)
    except Exception:
        raise
    except BaseException as exc:
        # A Rust panic surfaces as pyo3's PanicException, a BaseException that a Dask worker
        # does not report back (the job would hang): hand it over as an ordinary error.
        if type(exc).__name__ != "PanicException":
            raise
        raise CxError(f"internal error (please report): {exc}") from None
    return acc.to_bytes(), (os.getpid(),)


def _aligned(table: pa.Table) -> pa.Table:
    """The table with every buffer aligned to 8 bytes. Partitions unpickled on a worker can hold
    NumPy data at any address (pickle protocol 5 buffers), which Arrow C-data importers may
    refuse; such columns are copied once into fresh (64-byte aligned) Arrow buffers."""
    columns = []
    for column in table.columns:
        misaligned = any(
            buf is not None and buf.address % 8
            for chunk in column.chunks for buf in chunk.buffers()
        )
        columns.append(pa.chunked_array([pa.concat_arrays(column.chunks)], column.type)
                       if misaligned else column)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _merge_partials(parts: list[_Partial], empty: bytes, untyped: list[str]) -> _Partial:
    try:
        merged = merge_states([state for state, _ in parts], empty)
    except CxError as exc:
        if not untyped:
            raise
        raise ColumnError(_OBJECT_HINT.format(names=untyped, first=untyped[0])) from exc
    return merged, tuple(sorted({pid for _, pids in parts for pid in pids}))


def fold_with_workers(ddf: DataFrame, blank: Accumulator) -> tuple[Accumulator, set[int]]:
    """Folds every partition of ``ddf`` into ``blank`` in a tree reduction; returns the merged
    accumulator and the process ids of the workers that folded partitions."""
    projected = ddf[list(blank.columns)]
    empty = blank.to_bytes()
    schema = _target_schema(projected._meta)
    untyped = [f.name for f in schema if pa.types.is_null(f.type)]
    fold = delayed(_fold_partition, pure=True)
    merge = delayed(_merge_partials, pure=True)
    leaves: list[Any] = [fold(part, empty, schema, i)
                         for i, part in enumerate(projected.to_delayed())]
    if not leaves:
        return blank, set()
    root = tree_merge(leaves, lambda group: merge(group, empty, untyped), FAN_IN)
    state, pids = root.compute()
    return load_state(state), set(pids)


def _fold(ddf: DataFrame, blank: Accumulator) -> Accumulator:
    if not isinstance(ddf, dask.dataframe.DataFrame):
        raise TypeError(f"cxmetrics.dask takes a dask.dataframe.DataFrame, got "
                        f"{type(ddf).__name__}")
    return fold_with_workers(ddf, blank)[0]


_functions = MetricFunctions(_fold, "dask")
accumulate = _functions.accumulate
nps = _functions.nps
csat = _functions.csat
ces = _functions.ces
top_box = _functions.top_box
bottom_box = _functions.bottom_box
mean_score = _functions.mean_score
drivers = partial(drivers_on, _fold)
