"""The small-base policy: results whose effective n is below ``min_n`` are flagged, not hidden.

Tabulation software does not test columns whose (effective) base is below 30 and flags bases
below 100 (the defaults of Quantum and Unicom Intelligence); weighted tables use Kish's effective
n. cxmetrics keeps such results with their figures and a ``status`` of ``"small-base"``.
"""

from __future__ import annotations

import dataclasses
from typing import overload

import numpy as np
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
    overall = dataclasses.replace(result.overall, status=status_of(result.overall, threshold))
    segments = result.segments
    n = segments.column("n").to_numpy()
    effective = segments.column("effective_n").to_numpy()
    # The same rule as status_of, on whole columns (no per-segment objects).
    statuses = np.where((n == 0) | ~(effective > 0), "empty",
                        np.where(effective < threshold, "small-base", "ok"))
    column = pa.array(statuses.tolist(), pa.string())
    if "status" in segments.column_names:
        segments = segments.set_column(segments.column_names.index("status"), "status", column)
    else:
        segments = segments.append_column("status", column)
    flagged = dataclasses.replace(result, overall=overall, segments=segments)
    return result.carry_tallies(flagged)
