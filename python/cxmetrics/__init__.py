"""cxmetrics: customer-experience metrics with honest confidence intervals, on Arrow memory.

The whole public surface is listed in ``__all__``. Heavy optional libraries (pandas, polars,
matplotlib, scipy, pyspark, dask) are never imported here.
"""

from __future__ import annotations

from . import datasets
from ._accumulator import Accumulator
from ._adjust import adjust_pvalues
from ._compare import Comparison, compare
from ._composite import composite
from ._drivers import DriverImportance, DriversAccumulator, DriversResult, drivers
from ._metrics import bottom_box, ces, csat, mean_score, nps, top_box
from ._native import __version__
from ._planning import (
    detectable_difference,
    margin_of_error,
    sample_size,
    sample_size_two_groups,
)
from ._results import MetricResult, SegmentedResult
from ._significance import SignificanceResult, SignificanceRow, significance
from ._topics import TopicImpact, topic_impact
from ._trend import TrendResult, TrendRow, trend
from .errors import (
    ArgumentError,
    ColumnError,
    CorruptStateError,
    CxError,
    IncompatibleAccumulatorError,
    InvalidScoreError,
    InvalidWeightError,
    LengthMismatchError,
    MostlyDroppedWarning,
    OverlappingSamplesError,
    UnsupportedTypeError,
)
from .scale import CES2_SCALE, CES_EFFORT_SCALE, CSAT_SCALE, NPS_SCALE, Scale

__all__ = [
    "CES2_SCALE",
    "CES_EFFORT_SCALE",
    "CSAT_SCALE",
    "NPS_SCALE",
    "Accumulator",
    "ArgumentError",
    "ColumnError",
    "Comparison",
    "CorruptStateError",
    "CxError",
    "DriverImportance",
    "DriversAccumulator",
    "DriversResult",
    "IncompatibleAccumulatorError",
    "InvalidScoreError",
    "InvalidWeightError",
    "LengthMismatchError",
    "MetricResult",
    "MostlyDroppedWarning",
    "OverlappingSamplesError",
    "Scale",
    "SegmentedResult",
    "SignificanceResult",
    "SignificanceRow",
    "TopicImpact",
    "TrendResult",
    "TrendRow",
    "UnsupportedTypeError",
    "__version__",
    "adjust_pvalues",
    "bottom_box",
    "ces",
    "compare",
    "composite",
    "csat",
    "datasets",
    "detectable_difference",
    "drivers",
    "margin_of_error",
    "mean_score",
    "nps",
    "sample_size",
    "sample_size_two_groups",
    "significance",
    "top_box",
    "topic_impact",
    "trend",
]
