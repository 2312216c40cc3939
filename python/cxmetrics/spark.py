"""cxmetrics on Spark: the metric functions over a ``pyspark.sql.DataFrame``.

Each partition is folded into an accumulator on the executors with ``DataFrame.mapInArrow`` (Arrow
record batches straight from Spark, no pandas, no per-row Python), serialized into one binary
cell, collected and merged exactly on the driver::

    import cxmetrics.spark as cxs
    res = cxs.nps(df, "score", by="region", weight="w")   # same result as cx.nps on one machine

Needs the ``spark`` extra (``pip install 'cxmetrics[spark]'``) and cxmetrics importable by the
Python workers (for a local session: ``PYSPARK_PYTHON=sys.executable``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING

try:
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised with pyspark hidden
    raise ImportError(
        "cxmetrics.spark needs PySpark, which is not installed: "
        "pip install 'cxmetrics[spark]'"
    ) from exc

import pyarrow as pa

from ._accumulator import Accumulator
from ._distributed import MetricFunctions, drivers_on, load_state, partition_stream, tree_merge

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["accumulate", "bottom_box", "ces", "csat", "drivers", "mean_score", "nps",
           "top_box"]

_OUTPUT = pa.schema([("state", pa.binary()), ("pid", pa.int64())])


def _quote(name: str) -> str:
    """A column reference Spark takes literally (dots and backticks included)."""
    return "`" + name.replace("`", "``") + "`"


def partition_states(df: DataFrame, blank: Accumulator) -> tuple[list[bytes], list[int]]:
    """Folds each partition of ``df`` into a copy of ``blank`` on the executors; returns the
    serialized accumulators and the process id of the worker that made each one."""
    from pyspark.sql import functions as F

    empty = blank.to_bytes()
    names = list(blank.columns)

    def fold(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        context = TaskContext.get()
        index = context.partitionId() if context is not None else 0
        part = partition_stream(load_state(empty), index)
        for batch in batches:
            part.update(batch.rename_columns(names))
        yield pa.RecordBatch.from_arrays(
            [pa.array([part.to_bytes()], pa.binary()), pa.array([os.getpid()], pa.int64())],
            schema=_OUTPUT,
        )

    # Plain positional names on the way in: mapInArrow cannot resolve names with dots.
    projected = df.select(*(F.col(_quote(c)).alias(f"_cx{i}") for i, c in enumerate(names)))
    folded = projected.mapInArrow(fold, "state binary, pid long")
    if hasattr(folded, "toArrow"):  # Spark >= 4.0
        table = folded.toArrow()
        return ([bytes(s) for s in table.column("state").to_pylist()],
                [int(p) for p in table.column("pid").to_pylist()])
    rows = folded.collect()  # Spark 3.x: one small row per partition
    return [bytes(r["state"]) for r in rows], [int(r["pid"]) for r in rows]


def _fold(df: DataFrame, blank: Accumulator) -> Accumulator:
    from pyspark.sql import DataFrame

    if not isinstance(df, DataFrame):
        raise TypeError(f"cxmetrics.spark takes a pyspark.sql.DataFrame, got {type(df).__name__}")
    states, _ = partition_states(df, blank)
    parts: list[Accumulator] = [load_state(s) for s in states]
    if not parts:
        return blank

    def merge(group: list[Accumulator]) -> Accumulator:
        out = group[0]
        for other in group[1:]:
            out = out.merge(other)
        return out

    return tree_merge(parts, merge)


_functions = MetricFunctions(_fold, "spark")
accumulate = _functions.accumulate
nps = _functions.nps
csat = _functions.csat
ces = _functions.ces
top_box = _functions.top_box
bottom_box = _functions.bottom_box
mean_score = _functions.mean_score
drivers = partial(drivers_on, _fold)
