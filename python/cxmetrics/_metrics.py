"""The metric functions: one obvious call per question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

from . import _engine
from . import _registry as reg
from ._engine import BootstrapMethod, CiMethod, OnInvalid
from ._registry import (
    BOOTSTRAP,
    BOX_POINTS,
    CES_VARIANT,
    CSAT_SATISFIED,
    CSAT_STATISTIC,
    MEAN_DEFAULT_CI,
    N_RESAMPLES,
    NET_DEFAULT_CI,
    NPS_DETRACTORS,
    NPS_PROMOTERS,
    SHARE_DEFAULT_CI,
    TEN_POINT_SCALE,
)
from ._results import MetricResult, SegmentedResult
from .scale import CSAT_SCALE, NPS_SCALE, Scale

__all__ = ["bottom_box", "ces", "csat", "mean_score", "nps", "top_box"]

# Every default below is the registry's (_registry.py); the overloads only narrow the result
# type, so they leave their defaults as `...`.

# A column of scores/keys/weights, or a column name when `data` is a table.
Column = Any
ByArg = Column | Sequence[Column] | None

_COMMON_DOC = """
    ``data`` is a column of scores (pyarrow, NumPy, pandas, polars or a sequence) with ``by`` and
    ``weight`` columns of the same length, or a table (anything with ``__arrow_c_stream__``, or a
    pandas DataFrame) with ``score``, ``by`` and ``weight`` naming its columns. Without ``by`` the
    result is a :class:`MetricResult`; with it, a :class:`SegmentedResult`. ``min_n`` (off by
    default) flags results whose effective n is below it with ``status="small-base"``; they keep
    their figures.
"""


def _run(metric: _engine.MetricDef, data: object, score: object, by: object, weight: object,
         ci: str | None, confidence: float, n_resamples: int, bootstrap: str, seed: int | None,
         on_invalid: str, min_n: float | None = None) -> MetricResult | SegmentedResult:
    result = _engine.compute(metric, data, score, by, weight, ci=ci, confidence=confidence,
                             n_resamples=n_resamples, bootstrap=bootstrap, seed=seed,
                             on_invalid=on_invalid)
    if min_n is None:  # the common call: no import, no pass over the result
        return result
    from ._small_base import flag_small_bases

    return flag_small_bases(result, min_n)


@overload
def nps(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
        ci: CiMethod | None = ..., confidence: float = ..., n_resamples: int = ...,
        bootstrap: BootstrapMethod = ..., seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = ...,
        promoters: tuple[int, int] = ..., detractors: tuple[int, int] = ...
        ) -> MetricResult: ...
@overload
def nps(data: object, score: str | None = None, *, by: Column | Sequence[Column],
        weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
        n_resamples: int = ..., bootstrap: BootstrapMethod = ..., seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = ...,
        promoters: tuple[int, int] = ..., detractors: tuple[int, int] = ...
        ) -> SegmentedResult: ...
def nps(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
        ci: CiMethod | None = NET_DEFAULT_CI, confidence: float = 0.95,
        n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
        seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
        scale: Scale = NPS_SCALE, promoters: tuple[int, int] = NPS_PROMOTERS,
        detractors: tuple[int, int] = NPS_DETRACTORS) -> MetricResult | SegmentedResult:
    """Net Promoter Score: 100 × (promoters − detractors) / n, in points.

    ``ci``: ``"score"`` (Tango's score interval, the default: it keeps its coverage at small n),
    ``"wald"``, ``"adjusted-wald"``, ``"bootstrap"``, ``"bayes"`` or ``None``. ``scale``,
    ``promoters`` and ``detractors`` change the bucket rule.
    """
    return _run(reg.nps(scale, promoters, detractors), data, score, by, weight, ci, confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def csat(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
         ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
         n_resamples: int = ..., bootstrap: BootstrapMethod = ..., seed: int | None = None,
         on_invalid: OnInvalid = "raise", min_n: float | None = None,
         statistic: Literal["share", "mean"] = ..., scale: Scale = ...,
         satisfied: tuple[int, int] = ...) -> MetricResult: ...
@overload
def csat(data: object, score: str | None = None, *, by: Column | Sequence[Column],
         weight: Column = None, ci: CiMethod | Literal["auto"] | None = ...,
         confidence: float = ..., n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
         seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
         statistic: Literal["share", "mean"] = ..., scale: Scale = ...,
         satisfied: tuple[int, int] = ...) -> SegmentedResult: ...
def csat(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
         ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
         n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
         seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
         statistic: Literal["share", "mean"] = CSAT_STATISTIC, scale: Scale = CSAT_SCALE,
         satisfied: tuple[int, int] = CSAT_SATISFIED) -> MetricResult | SegmentedResult:
    """CSAT: percent satisfied (top-2-box 4–5 on 1–5) or, with ``statistic="mean"``, the mean.

    ``ci="auto"`` is Wilson for the share and Student-t for the mean.
    """
    metric = reg.csat(scale, satisfied, statistic)
    return _run(metric, data, score, by, weight, reg.resolve_ci(ci, metric), confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def ces(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
        ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
        n_resamples: int = ..., bootstrap: BootstrapMethod = ..., seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None,
        variant: Literal["2.0", "effort"] = ...,
        statistic: Literal["share", "mean"] | None = None) -> MetricResult: ...
@overload
def ces(data: object, score: str | None = None, *, by: Column | Sequence[Column],
        weight: Column = None, ci: CiMethod | Literal["auto"] | None = ...,
        confidence: float = ..., n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
        seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
        variant: Literal["2.0", "effort"] = ...,
        statistic: Literal["share", "mean"] | None = None) -> SegmentedResult: ...
def ces(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
        ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
        n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
        seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
        variant: Literal["2.0", "effort"] = CES_VARIANT,
        statistic: Literal["share", "mean"] | None = None) -> MetricResult | SegmentedResult:
    """Customer Effort Score.

    ``variant="2.0"`` (default): agreement on 1–7, value = percent agreeing (5–7).
    ``variant="effort"``: effort on 1–5, value = mean effort (lower is better); with
    ``statistic="share"`` the percent of low-effort answers (1–2) instead.
    """
    metric = reg.ces(variant, statistic)
    return _run(metric, data, score, by, weight, reg.resolve_ci(ci, metric), confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def top_box(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
            ci: CiMethod | None = ..., confidence: float = ..., n_resamples: int = ...,
            bootstrap: BootstrapMethod = ..., seed: int | None = None,
            on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = ...,
            top: int = ...) -> MetricResult: ...
@overload
def top_box(data: object, score: str | None = None, *, by: Column | Sequence[Column],
            weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
            n_resamples: int = ..., bootstrap: BootstrapMethod = ..., seed: int | None = None,
            on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = ...,
            top: int = ...) -> SegmentedResult: ...
def top_box(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
            ci: CiMethod | None = SHARE_DEFAULT_CI, confidence: float = 0.95,
            n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
            seed: int | None = None, on_invalid: OnInvalid = "raise",
            min_n: float | None = None, scale: Scale = TEN_POINT_SCALE, top: int = BOX_POINTS
            ) -> MetricResult | SegmentedResult:
    """Percent of answers in the top ``top`` values of ``scale``."""
    return _run(reg.box("top_box", scale, top, True), data, score, by, weight, ci, confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def bottom_box(data: object, score: str | None = None, *, by: None = None,
               weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
               n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...,
               bottom: int = ...) -> MetricResult: ...
@overload
def bottom_box(data: object, score: str | None = None, *, by: Column | Sequence[Column],
               weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
               n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...,
               bottom: int = ...) -> SegmentedResult: ...
def bottom_box(data: object, score: str | None = None, *, by: ByArg = None,
               weight: Column = None, ci: CiMethod | None = SHARE_DEFAULT_CI,
               confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
               bootstrap: BootstrapMethod = BOOTSTRAP, seed: int | None = None,
               on_invalid: OnInvalid = "raise", min_n: float | None = None,
               scale: Scale = TEN_POINT_SCALE, bottom: int = BOX_POINTS
               ) -> MetricResult | SegmentedResult:
    """Percent of answers in the bottom ``bottom`` values of ``scale``."""
    return _run(reg.box("bottom_box", scale, bottom, False), data, score, by, weight, ci,
                confidence, n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def mean_score(data: object, score: str | None = None, *, by: None = None,
               weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
               n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...
               ) -> MetricResult: ...
@overload
def mean_score(data: object, score: str | None = None, *, by: Column | Sequence[Column],
               weight: Column = None, ci: CiMethod | None = ..., confidence: float = ...,
               n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...
               ) -> SegmentedResult: ...
def mean_score(data: object, score: str | None = None, *, by: ByArg = None,
               weight: Column = None, ci: CiMethod | None = MEAN_DEFAULT_CI,
               confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
               bootstrap: BootstrapMethod = BOOTSTRAP, seed: int | None = None,
               on_invalid: OnInvalid = "raise", min_n: float | None = None,
               scale: Scale = CSAT_SCALE) -> MetricResult | SegmentedResult:
    """Mean score on ``scale`` (default 1–5) with a Student-t interval."""
    return _run(reg.mean_score(scale), data, score, by, weight, ci, confidence, n_resamples,
                bootstrap, seed, on_invalid, min_n)


for _f in (nps, csat, ces, top_box, bottom_box, mean_score):
    _f.__doc__ = (_f.__doc__ or "") + _COMMON_DOC
