"""From resolved columns and a metric definition to typed results, through the Rust core."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from . import _native
from ._inputs import Columns, resolve_columns
from ._results import MetricResult, SegmentedResult
from .errors import ArgumentError, MostlyDroppedWarning, UnsupportedTypeError
from .scale import Scale

__all__ = ["BootstrapMethod", "CiMethod", "MetricDef", "OnInvalid", "compute"]

CiMethod = Literal["wald", "adjusted-wald", "score", "wilson", "t", "bootstrap", "bayes"]
BootstrapMethod = Literal["percentile", "basic", "bca"]
OnInvalid = Literal["raise", "drop"]

# Core output columns that are not statistics and get renamed or dropped for users.
_STAT_COLUMNS = (
    "value", "se", "ci_low", "ci_high", "n", "n_missing", "n_invalid", "weighted_n", "effective_n",
)


@dataclass(frozen=True, slots=True)
class MetricDef:
    """What to compute: the metric's name, its native definition and its bucket names."""

    name: str
    scale: Scale
    native: _native.Metric
    bucket_names: tuple[str, ...]


def net(name: str, scale: Scale, positive: tuple[int, int], negative: tuple[int, int],
        bucket_names: tuple[str, str, str]) -> MetricDef:
    _check_scale(scale)
    native = _native_metric(_native.Metric.net, scale.low, scale.high, _pair(positive),
                            _pair(negative))
    return MetricDef(name, scale, native, bucket_names)


def share(name: str, scale: Scale, hit: tuple[int, int],
          bucket_names: tuple[str, str]) -> MetricDef:
    _check_scale(scale)
    return MetricDef(name, scale,
                     _native_metric(_native.Metric.share, scale.low, scale.high, _pair(hit)),
                     bucket_names)


def mean(name: str, scale: Scale) -> MetricDef:
    _check_scale(scale)
    return MetricDef(name, scale, _native_metric(_native.Metric.mean, scale.low, scale.high), ())


def _check_scale(scale: object) -> None:
    if not isinstance(scale, Scale):
        raise ArgumentError(f"scale must be a cx.Scale, e.g. cx.Scale(0, 10), got {scale!r}")


def _native_metric(make: Any, *bounds: object) -> _native.Metric:
    """The native metric; bounds beyond 64-bit integers are an ArgumentError, not an
    OverflowError from the conversion."""
    try:
        metric: _native.Metric = make(*bounds)
    except OverflowError:
        raise ArgumentError(f"scale and bucket bounds must fit in 64-bit integers, got "
                            f"{bounds}") from None
    return metric


def _pair(bounds: tuple[int, int]) -> tuple[int, int]:
    low, high = bounds
    return int(low), int(high)


def check_options(ci: str | None, confidence: float, on_invalid: str, bootstrap: str,
                  n_resamples: int) -> None:
    """Raises ArgumentError for the first option that does not fit; the rules are the native
    module's option types (one vocabulary, owned by Rust)."""
    _native.check_options(ci, confidence, on_invalid, bootstrap, n_resamples)


def aggregate(metric: MetricDef, columns: Columns, on_invalid: str) -> _native.Aggregation:
    agg = _native.Aggregation(metric.scale.low, metric.scale.high, len(columns.keys),
                              columns.weight is not None)
    agg.update(
        columns.score,
        list(columns.keys),
        columns.weight,
        on_invalid,
        columns.score_name,
        list(columns.key_names),
        columns.weight_name,
    )
    return agg


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
                          seed=seed, weight_cells=cells)
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
                 on_invalid: str) -> _native.Aggregation | None:
    """For a weighted bootstrap: the same rows grouped by keys plus weight, unweighted. Each
    segment's (weight, answer) counts make the respondent bootstrap an exact multinomial."""
    if columns.weight is None:
        return None
    cells = _native.Aggregation(metric.scale.low, metric.scale.high, len(columns.keys) + 1, False)
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


def results_from(metric: MetricDef, agg: _native.Aggregation, key_names: tuple[str, ...], *,
                 segmented: bool, ci: str | None, confidence: float, bootstrap: str = "bca",
                 n_resamples: int = 10_000, seed: int | None = None,
                 weight_cells: _native.Aggregation | None = None
                 ) -> MetricResult | SegmentedResult:
    if ci in ("bootstrap", "bayes"):
        check_options(ci, confidence, "raise", bootstrap, n_resamples)
        # No seed means fresh entropy; the seed used is recorded so the result can be rebuilt.
        used_seed = fresh_seed() if seed is None else check_seed(seed)
        name = f"bootstrap-{bootstrap}" if ci == "bootstrap" else "bayes"
        method = _Method(name, float(confidence), n_resamples, used_seed)
        segments, overall_batch = agg.estimate(metric.native, internal_key_names(key_names), ci,
                                               float(confidence), bootstrap, n_resamples,
                                               used_seed, weight_cells)
    else:
        method = _Method(ci, float(confidence))
        segments, overall_batch = agg.estimate(metric.native, internal_key_names(key_names), ci,
                                               float(confidence))
    return result_rows(metric, segments, overall_batch, key_names, segmented=segmented,
                       method=method.name, confidence=method.confidence,
                       n_resamples=method.n_resamples, seed=method.seed, weighted=agg.weighted)


def result_rows(metric: MetricDef, segments: pa.RecordBatch, overall_batch: pa.RecordBatch,
                key_names: tuple[str, ...], *, segmented: bool, method: str | None,
                confidence: float, n_resamples: int | None, seed: int | None,
                weighted: bool) -> MetricResult | SegmentedResult:
    """Typed results from the core's per-segment and overall record batches."""
    how = _Method(method, confidence, n_resamples, seed)
    overall = _rows(metric, overall_batch, (), how, weighted)[0]
    if not segmented:
        return overall
    rows = _rows(metric, segments, tuple(internal_key_names(key_names)), how, weighted)
    return SegmentedResult(key_names, rows, overall, _public_table(metric, segments, key_names))


def internal_key_names(key_names: Sequence[str]) -> list[str]:
    """Names the core gives key columns: never equal to a statistic's column, whatever the
    user's columns are called (a key named "n" or "value" must not shadow the count)."""
    return [f"__cx_key_{i}" for i in range(len(key_names))]


def fresh_seed() -> int:
    return secrets.randbits(64)


def check_seed(seed: int) -> int:
    """``seed`` when it is an int in [0, 2**64), else ArgumentError (the rule lives in Rust)."""
    return _native.check_seed(seed)


def _rows(metric: MetricDef, batch: pa.RecordBatch, key_names: tuple[str, ...],
          method: _Method, weighted: bool) -> list[MetricResult]:
    try:
        data: dict[str, list[Any]] = batch.to_pydict()
    except (OverflowError, ValueError) as exc:
        # e.g. a date key beyond Python's datetime range (year 1..9999).
        raise UnsupportedTypeError(
            f"segment keys cannot be shown as Python values ({exc}); cast the key column, "
            "e.g. to strings, before computing"
        ) from None
    keys = list(zip(*(data[name] for name in key_names), strict=True)) if key_names else None
    out = []
    for i in range(batch.num_rows):
        counts = {name: int(data[f"bucket_{b}"][i]) for b, name in enumerate(metric.bucket_names)}
        out.append(
            MetricResult(
                metric=metric.name,
                value=float(data["value"][i]),
                ci_low=float(data["ci_low"][i]),
                ci_high=float(data["ci_high"][i]),
                confidence=method.confidence,
                method=method.name,
                se=float(data["se"][i]),
                n=int(data["n"][i]),
                n_missing=int(data["n_missing"][i]),
                n_invalid=int(data["n_invalid"][i]),
                weighted_n=float(data["weighted_n"][i]),
                effective_n=float(data["effective_n"][i]),
                counts=counts,
                distribution=tuple(int(c) for c in data["distribution"][i]),
                scale=metric.scale,
                segment=() if keys is None else tuple(keys[i]),
                n_resamples=method.n_resamples,
                seed=method.seed,
                note=data["note"][i],
                weighted=weighted,
                definition=metric,
            )
        )
    return out


def _public_table(metric: MetricDef, batch: pa.RecordBatch,
                  key_names: tuple[str, ...]) -> pa.Table:
    batch = batch.drop_columns(["note"]) if batch.num_rows and all(
        v is None for v in batch.column("note").to_pylist()) else batch
    internal = dict(zip(internal_key_names(key_names), key_names, strict=True))
    stats = {name for name in batch.schema.names if name not in internal}
    stats |= set(metric.bucket_names)

    def public(name: str) -> str:
        if name in internal:
            # A key column named like a statistic keeps its name with a "_segment" suffix.
            user = internal[name]
            return f"{user}_segment" if user in stats else user
        if name.startswith("bucket_"):
            return metric.bucket_names[int(name.removeprefix("bucket_"))]
        return name

    names = [public(name) for name in batch.schema.names]
    return pa.Table.from_batches([batch.rename_columns(names)])

