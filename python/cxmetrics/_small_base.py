"""The small-base policy: results whose effective n is below ``min_n`` are flagged, not hidden.

Tabulation software does not test columns whose (effective) base is below 30 and flags bases
below 100 (the defaults of Quantum and Unicom Intelligence); weighted tables use Kish's effective
n. cxmetrics keeps such results with their figures and a ``status`` of ``"small-base"``.
"""

from __future__ import annotations

import dataclasses
from typing import overload

import pyarrow as pa

from ._results import MetricResult, SegmentedResult
from ._unions import check_min_n, status_of

__all__ = ["flag_small_bases"]


@overload
def flag_small_bases(result: MetricResult, min_n: float | None) -> MetricResult: ...
@overload
def flag_small_bases(result: SegmentedResult, min_n: float | None) -> SegmentedResult: ...
@overload
def flag_small_bases(result: MetricResult | SegmentedResult, min_n: float | None
                     ) -> MetricResult | SegmentedResult: ...
def flag_small_bases(result: MetricResult | SegmentedResult, min_n: float | None
                     ) -> MetricResult | SegmentedResult:
    """``result`` with each row's ``status`` set ("ok", "small-base" or "empty") when ``min_n``
    is given, and a ``status`` column in the segment table; unchanged when it is None."""
    threshold = check_min_n(min_n)
    if threshold is None:
        return result
    if isinstance(result, MetricResult):
        return dataclasses.replace(result, status=status_of(result, threshold))
    rows = [dataclasses.replace(row, status=status_of(row, threshold)) for row in result]
    overall = dataclasses.replace(result.overall, status=status_of(result.overall, threshold))
    table = result.to_arrow()
    # A key column may already be called "status": the new column then gets a suffix, as key
    # columns named like statistics do.
    name = "status" if "status" not in table.column_names else "status_base"
    table = table.append_column(name, pa.array([row.status for row in rows], pa.string()))
    return SegmentedResult(result.by, rows, overall, table, result._aggregation)
