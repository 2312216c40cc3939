"""From resolved columns and a metric definition to typed results, through the Rust core."""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from . import _native
from ._definition import MetricDef, mean, net, share
from ._inputs import Columns, resolve_columns
from ._results import (
    MetricResult,
    SegmentedResult,
    internal_key_names,
    new_origin,
    public_key_names,
    result_rows,
)
from .errors import MostlyDroppedWarning

__all__ = [
    "BootstrapMethod", "CiMethod", "MetricDef", "OnInvalid", "compute", "internal_key_names",
    "mean", "net", "result_rows", "share",
]

CiMethod = Literal["wald", "adjusted-wald", "score", "wilson", "t", "bootstrap", "bayes"]
BootstrapMethod = Literal["percentile", "basic", "bca"]
OnInvalid = Literal["raise", "drop"]

def check_options(ci: str | None, confidence: float, on_invalid: str, bootstrap: str,
                  n_resamples: int) -> None:
    """Raises ArgumentError for the first option that does not fit; the rules are the native
    module's option types (one vocabulary, owned by Rust)."""
    _native.check_options(ci, confidence, on_invalid, bootstrap, n_resamples)


def aggregate(metric: MetricDef, columns: Columns, on_invalid: str) -> _native.AccumulatorState:
    agg = _native.AccumulatorState(metric.scale.low, metric.scale.high, len(columns.keys),
                              columns.weight is not None)
    agg.update(
        _single(columns.score),
        [_single(k) for k in columns.keys],
        None if columns.weight is None else _single(columns.weight),
        on_invalid,
        columns.score_name,
        list(columns.key_names),
        columns.weight_name,
    )
    return agg


def _single(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A one-chunk column as its array: the core imports an array (``__arrow_c_array__``) for
    less than a stream, which counts on a request-sized call."""
    return column.chunk(0) if column.num_chunks == 1 else column


def compute(
    metric: MetricDef,
    data: object,
    score: object,
    by: object,
    weight: object,
    *,
    ci: str | None,
    confidence: float,
    n_resamples: int,
    bootstrap: str,
    seed: int | None,
    on_invalid: str,
) -> MetricResult | SegmentedResult:
    check_options(ci, confidence, on_invalid, bootstrap, n_resamples)
    columns = resolve_columns(data, score, by, weight)
    agg = aggregate(metric, columns, on_invalid)
    cells = weight_cells(metric, columns, on_invalid) if ci == "bootstrap" else None
    result = results_from(metric, agg, columns.key_names, segmented=by is not None, ci=ci,
                          confidence=confidence, bootstrap=bootstrap, n_resamples=n_resamples,
                          seed=seed, weight_cells=cells, snapshot=False)
    if on_invalid == "drop":
        warn_if_mostly_dropped(result, columns.score_name)
    return result


def warn_if_mostly_dropped(result: MetricResult | SegmentedResult, column: str) -> None:
    """on_invalid="drop" that removes most scored rows is more likely a wrong column or scale
    than a few bad answers: say so, without failing."""
    overall = result.overall if isinstance(result, SegmentedResult) else result
    scored = overall.n + overall.n_invalid
    if scored and overall.n_invalid * 2 > scored:
        warnings.warn(
            f"column {column!r}: on_invalid=\"drop\" dropped {overall.n_invalid:,} of {scored:,} "
            f"scored rows as invalid for the {overall.scale.low}..{overall.scale.high} scale; "
            "check the column and the scale",
            MostlyDroppedWarning,
            stacklevel=3,
        )


def weight_cells(metric: MetricDef, columns: Columns,
                 on_invalid: str) -> _native.AccumulatorState | None:
    """For a weighted bootstrap: the same rows grouped by keys plus weight, unweighted. Each
    segment's (weight, answer) counts make the respondent bootstrap an exact multinomial."""
    if columns.weight is None:
        return None
    cells = _native.AccumulatorState(
        metric.scale.low, metric.scale.high, len(columns.keys) + 1, False
    )
    cells.update(
        columns.score,
        [*columns.keys, columns.weight],
        None,
        on_invalid,
        columns.score_name,
        [*columns.key_names, columns.weight_name or "weight"],
        None,
    )
    return cells


@dataclass(frozen=True, slots=True)
class _Method:
    """How the intervals of one call were made, as recorded in every result."""

    name: str | None
    confidence: float
    n_resamples: int | None = None
    seed: int | None = None


def results_from(metric: MetricDef, agg: _native.AccumulatorState, key_names: tuple[str, ...], *,
                 segmented: bool, ci: str | None, confidence: float, bootstrap: str = "bca",
                 n_resamples: int = 10_000, seed: int | None = None,
                 weight_cells: _native.AccumulatorState | None = None, snapshot: bool = True
                 ) -> MetricResult | SegmentedResult:
    """Results of ``agg``. A segmented result keeps the tallies for exact unions of segments
    (``cx.significance``'s "rest", windows): a copy when ``snapshot`` (an accumulator's
    aggregation keeps changing after ``result()``), else ``agg`` itself (a one-shot call's)."""
    # The core names the key columns as the result will (no rename afterwards).
    names = public_key_names(metric, key_names)
    # The overall row comes back as a dict and the segments as the core's batch, imported
    # into pyarrow only when read: a request-sized call pays for no export it does not use.
    output = "segments" if segmented else "overall"
    if ci in ("bootstrap", "bayes"):
        check_options(ci, confidence, "raise", bootstrap, n_resamples)
        # No seed means fresh entropy; the seed used is recorded so the result can be rebuilt.
        used_seed = fresh_seed() if seed is None else check_seed(seed)
        name = f"bootstrap-{bootstrap}" if ci == "bootstrap" else "bayes"
        method = _Method(name, float(confidence), n_resamples, used_seed)
        segments, overall = agg.estimate(metric.native, names, ci, float(confidence), bootstrap,
                                         n_resamples, used_seed, weight_cells, output=output)
    else:
        method = _Method(ci, float(confidence))
        segments, overall = agg.estimate(metric.native, names, ci, float(confidence),
                                         output=output)
    result = result_rows(metric, segments, overall, key_names, segmented=segmented,
                         method=method.name, confidence=method.confidence,
                         n_resamples=method.n_resamples, seed=method.seed,
                         weighted=agg.weighted)
    if isinstance(result, SegmentedResult):
        if not agg.weighted and agg.replicates is None and len(result) > 0:
            # Unweighted counts are all in the rows: rebuilt from them if ever asked for, so
            # the result keeps no second copy of the tallies (nor a snapshot of them).
            result.with_tallies_of_rows(agg.low, agg.high)
        else:
            result.with_tallies(agg.copy() if snapshot else agg)
    return result


def fresh_seed() -> int:
    return secrets.randbits(64)


class _Origins:
    """``next(_ORIGINS)``: a fresh token for the results of one call (see ``new_origin``)."""

    def __next__(self) -> int:
        return new_origin()


_ORIGINS = _Origins()


def check_seed(seed: int) -> int:
    """``seed`` when it is an int in [0, 2**64), else ArgumentError (the rule lives in Rust)."""
    return _native.check_seed(seed)
