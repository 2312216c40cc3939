"""The metric functions: one obvious call per question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

from . import _engine
from ._engine import BootstrapMethod, CiMethod, OnInvalid
from ._results import MetricResult, SegmentedResult
from .scale import CES2_SCALE, CES_EFFORT_SCALE, CSAT_SCALE, NPS_SCALE, Scale

__all__ = ["bottom_box", "ces", "csat", "mean_score", "nps", "top_box"]

TEN_POINT_SCALE = Scale(1, 10)

# The default NPS interval: Tango's score interval keeps its coverage at small n and extreme
# shares, where Wald collapses (three promoters give Wald [100, 100]); ci="wald" stays available.
NPS_DEFAULT_CI = "score"

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
    from ._small_base import flag_small_bases

    result = _engine.compute(metric, data, score, by, weight, ci=ci, confidence=confidence,
                             n_resamples=n_resamples, bootstrap=bootstrap, seed=seed,
                             on_invalid=on_invalid)
    return flag_small_bases(result, min_n)


@overload
def nps(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
        ci: CiMethod | None = "score", confidence: float = 0.95, n_resamples: int = 10_000,
        bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = NPS_SCALE,
        promoters: tuple[int, int] = (9, 10), detractors: tuple[int, int] = (0, 6)
        ) -> MetricResult: ...
@overload
def nps(data: object, score: str | None = None, *, by: Column | Sequence[Column],
        weight: Column = None, ci: CiMethod | None = "score", confidence: float = 0.95,
        n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = NPS_SCALE,
        promoters: tuple[int, int] = (9, 10), detractors: tuple[int, int] = (0, 6)
        ) -> SegmentedResult: ...
def nps(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
        ci: CiMethod | None = "score", confidence: float = 0.95, n_resamples: int = 10_000,
        bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise", min_n: float | None = None, scale: Scale = NPS_SCALE,
        promoters: tuple[int, int] = (9, 10), detractors: tuple[int, int] = (0, 6)
        ) -> MetricResult | SegmentedResult:
    """Net Promoter Score: 100 × (promoters − detractors) / n, in points.

    ``ci``: ``"score"`` (Tango's score interval, the default: it keeps its coverage at small n),
    ``"wald"``, ``"adjusted-wald"``, ``"bootstrap"``, ``"bayes"`` or ``None``. ``scale``,
    ``promoters`` and ``detractors`` change the bucket rule.
    """
    metric = _engine.net("nps", scale, promoters, detractors,
                         ("detractors", "passives", "promoters"))
    return _run(metric, data, score, by, weight, ci, confidence, n_resamples, bootstrap, seed,
                on_invalid, min_n)


def _share_or_mean(name: str, scale: Scale, hit: tuple[int, int], statistic: str,
                   buckets: tuple[str, str]) -> _engine.MetricDef:
    if statistic == "share":
        return _engine.share(name, scale, hit, buckets)
    if statistic == "mean":
        return _engine.mean(name, scale)
    raise ValueError(f"statistic must be 'share' or 'mean', got {statistic!r}")


def _default_ci(ci: CiMethod | Literal["auto"] | None, statistic: str) -> str | None:
    if ci == "auto":
        return "wilson" if statistic == "share" else "t"
    return ci


@overload
def csat(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
         ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
         n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca", seed: int | None = None,
         on_invalid: OnInvalid = "raise",
         min_n: float | None = None, statistic: Literal["share", "mean"] = "share",
         scale: Scale = CSAT_SCALE, satisfied: tuple[int, int] = (4, 5)) -> MetricResult: ...
@overload
def csat(data: object, score: str | None = None, *, by: Column | Sequence[Column],
         weight: Column = None, ci: CiMethod | Literal["auto"] | None = "auto",
         confidence: float = 0.95, n_resamples: int = 10_000,
         bootstrap: BootstrapMethod = "bca", seed: int | None = None,
         on_invalid: OnInvalid = "raise",
         min_n: float | None = None, statistic: Literal["share", "mean"] = "share",
         scale: Scale = CSAT_SCALE, satisfied: tuple[int, int] = (4, 5)) -> SegmentedResult: ...
def csat(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
         ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
         n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca", seed: int | None = None,
         on_invalid: OnInvalid = "raise",
         min_n: float | None = None, statistic: Literal["share", "mean"] = "share",
         scale: Scale = CSAT_SCALE, satisfied: tuple[int, int] = (4, 5)
         ) -> MetricResult | SegmentedResult:
    """CSAT: percent satisfied (top-2-box 4–5 on 1–5) or, with ``statistic="mean"``, the mean.

    ``ci="auto"`` is Wilson for the share and Student-t for the mean.
    """
    metric = _share_or_mean("csat", scale, satisfied, statistic, ("unsatisfied", "satisfied"))
    return _run(metric, data, score, by, weight, _default_ci(ci, statistic), confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def ces(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
        ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
        n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise",
        min_n: float | None = None, variant: Literal["2.0", "effort"] = "2.0",
        statistic: Literal["share", "mean"] | None = None) -> MetricResult: ...
@overload
def ces(data: object, score: str | None = None, *, by: Column | Sequence[Column],
        weight: Column = None, ci: CiMethod | Literal["auto"] | None = "auto",
        confidence: float = 0.95, n_resamples: int = 10_000,
        bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise",
        min_n: float | None = None, variant: Literal["2.0", "effort"] = "2.0",
        statistic: Literal["share", "mean"] | None = None) -> SegmentedResult: ...
def ces(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
        ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
        n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca", seed: int | None = None,
        on_invalid: OnInvalid = "raise",
        min_n: float | None = None, variant: Literal["2.0", "effort"] = "2.0",
        statistic: Literal["share", "mean"] | None = None) -> MetricResult | SegmentedResult:
    """Customer Effort Score.

    ``variant="2.0"`` (default): agreement on 1–7, value = percent agreeing (5–7).
    ``variant="effort"``: effort on 1–5, value = mean effort (lower is better); with
    ``statistic="share"`` the percent of low-effort answers (1–2) instead.
    """
    if variant == "2.0":
        stat = statistic or "share"
        metric = _share_or_mean("ces", CES2_SCALE, (5, 7), stat, ("disagree", "agree"))
    elif variant == "effort":
        stat = statistic or "mean"
        metric = _share_or_mean("ces", CES_EFFORT_SCALE, (1, 2), stat, ("rest", "low_effort"))
    else:
        raise ValueError(f"variant must be '2.0' or 'effort', got {variant!r}")
    return _run(metric, data, score, by, weight, _default_ci(ci, stat), confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


def _box(name: str, scale: Scale, k: int, top: bool) -> _engine.MetricDef:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= scale.points:
        raise ValueError(f"{'top' if top else 'bottom'} must be an int in 1..{scale.points}")
    hit = (scale.high - k + 1, scale.high) if top else (scale.low, scale.low + k - 1)
    return _engine.share(name, scale, hit, ("rest", "top" if top else "bottom"))


@overload
def top_box(data: object, score: str | None = None, *, by: None = None, weight: Column = None,
            ci: CiMethod | None = "wilson", confidence: float = 0.95, n_resamples: int = 10_000,
            bootstrap: BootstrapMethod = "bca", seed: int | None = None,
            on_invalid: OnInvalid = "raise",
            min_n: float | None = None, scale: Scale = ..., top: int = 2
            ) -> MetricResult: ...
@overload
def top_box(data: object, score: str | None = None, *, by: Column | Sequence[Column],
            weight: Column = None, ci: CiMethod | None = "wilson", confidence: float = 0.95,
            n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
            seed: int | None = None, on_invalid: OnInvalid = "raise",
            min_n: float | None = None, scale: Scale = ...,
            top: int = 2) -> SegmentedResult: ...
def top_box(data: object, score: str | None = None, *, by: ByArg = None, weight: Column = None,
            ci: CiMethod | None = "wilson", confidence: float = 0.95, n_resamples: int = 10_000,
            bootstrap: BootstrapMethod = "bca", seed: int | None = None,
            on_invalid: OnInvalid = "raise",
            min_n: float | None = None, scale: Scale = TEN_POINT_SCALE, top: int = 2
            ) -> MetricResult | SegmentedResult:
    """Percent of answers in the top ``top`` values of ``scale``."""
    return _run(_box("top_box", scale, top, True), data, score, by, weight, ci, confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def bottom_box(data: object, score: str | None = None, *, by: None = None,
               weight: Column = None, ci: CiMethod | None = "wilson", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...,
               bottom: int = 2) -> MetricResult: ...
@overload
def bottom_box(data: object, score: str | None = None, *, by: Column | Sequence[Column],
               weight: Column = None, ci: CiMethod | None = "wilson", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...,
               bottom: int = 2) -> SegmentedResult: ...
def bottom_box(data: object, score: str | None = None, *, by: ByArg = None,
               weight: Column = None, ci: CiMethod | None = "wilson", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
               scale: Scale = TEN_POINT_SCALE, bottom: int = 2) -> MetricResult | SegmentedResult:
    """Percent of answers in the bottom ``bottom`` values of ``scale``."""
    return _run(_box("bottom_box", scale, bottom, False), data, score, by, weight, ci,
                confidence, n_resamples, bootstrap, seed, on_invalid, min_n)


@overload
def mean_score(data: object, score: str | None = None, *, by: None = None,
               weight: Column = None, ci: CiMethod | None = "t", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...
               ) -> MetricResult: ...
@overload
def mean_score(data: object, score: str | None = None, *, by: Column | Sequence[Column],
               weight: Column = None, ci: CiMethod | None = "t", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise",
               min_n: float | None = None, scale: Scale = ...
               ) -> SegmentedResult: ...
def mean_score(data: object, score: str | None = None, *, by: ByArg = None,
               weight: Column = None, ci: CiMethod | None = "t", confidence: float = 0.95,
               n_resamples: int = 10_000, bootstrap: BootstrapMethod = "bca",
               seed: int | None = None, on_invalid: OnInvalid = "raise", min_n: float | None = None,
               scale: Scale = CSAT_SCALE) -> MetricResult | SegmentedResult:
    """Mean score on ``scale`` (default 1–5) with a Student-t interval."""
    return _run(_engine.mean("mean", scale), data, score, by, weight, ci, confidence,
                n_resamples, bootstrap, seed, on_invalid, min_n)


for _f in (nps, csat, ces, top_box, bottom_box, mean_score):
    _f.__doc__ = (_f.__doc__ or "") + _COMMON_DOC
