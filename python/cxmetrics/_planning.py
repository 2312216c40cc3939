"""Planning a comparison of two independent groups: the smallest difference a study can detect,
and the responses it needs to detect a given one (normal approximation, as in the z-test that
``compare`` runs)."""

from __future__ import annotations

import math
from typing import Literal, get_args

from . import _native
from ._compare import Alternative
from .errors import ArgumentError

__all__ = [
    "detectable_difference",
    "margin_of_error",
    "sample_size",
    "sample_size_two_groups",
    "variance",
]

_ALTERNATIVES = get_args(Alternative)


def variance(metric: str, promoters: float | None, detractors: float | None,
             share: float | None) -> float:
    """Per-response variance (in units of the metric / 100) from the core's formula; the worst
    case when the shares are not given."""
    if metric == "nps":
        if share is not None:
            raise ArgumentError(
                "share= is for metric='share'; NPS takes promoters= and detractors="
            )
        return _native.nps_variance(promoters, detractors)
    if metric == "share":
        if promoters is not None or detractors is not None:
            raise ArgumentError("promoters=/detractors= are for metric='nps'; a share takes share=")
        return _native.share_variance(share)
    raise ArgumentError(f"metric must be 'nps' or 'share', got {metric!r}")


def _one_sided(alternative: str) -> bool:
    if alternative not in _ALTERNATIVES:
        raise ArgumentError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative != "two-sided"


def _variances(metric: str, promoters: float | None, detractors: float | None,
               share: float | None, promoters_b: float | None, detractors_b: float | None,
               share_b: float | None) -> tuple[float, float]:
    v_a = variance(metric, promoters, detractors, share)
    if promoters_b is None and detractors_b is None and share_b is None:
        return v_a, v_a
    return v_a, variance(metric, promoters_b, detractors_b, share_b)


def _check_n(name: str, n: float) -> float:
    if isinstance(n, bool) or not isinstance(n, int | float) or not n > 0 or math.isinf(n):
        raise ArgumentError(f"{name} must be a positive number, got {n!r}")
    return float(n)


def detectable_difference(
    n_a: float,
    n_b: float,
    *,
    metric: Literal["nps", "share"] = "nps",
    power: float = 0.8,
    confidence: float = 0.95,
    alternative: Alternative = "two-sided",
    promoters: float | None = None,
    detractors: float | None = None,
    share: float | None = None,
    promoters_b: float | None = None,
    detractors_b: float | None = None,
    share_b: float | None = None,
) -> float:
    """The smallest true difference (in points) between two independent groups of ``n_a`` and
    ``n_b`` (effective) responses that the z-test finds with probability ``power``:
    d = (z₁₋α/₂ + z_power) · 100 · sqrt(v_a/n_a + v_b/n_b).

    The per-response variance v is the worst case unless shares are given: 1 for NPS (all
    answers promoters or detractors), ¼ for a share; NPS v = p₊ + p₋ − (p₊ − p₋)², a share's
    p(1 − p). ``promoters_b`` etc. give group b its own shares (default: as group a).
    """
    v_a, v_b = _variances(metric, promoters, detractors, share, promoters_b, detractors_b,
                          share_b)
    n = (_check_n("n_a", n_a), _check_n("n_b", n_b))
    return _native.detectable_difference(n, (v_a, v_b), power, confidence,
                                         _one_sided(alternative))


def sample_size_two_groups(
    difference: float,
    *,
    metric: Literal["nps", "share"] = "nps",
    power: float = 0.8,
    confidence: float = 0.95,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    promoters: float | None = None,
    detractors: float | None = None,
    share: float | None = None,
    promoters_b: float | None = None,
    detractors_b: float | None = None,
    share_b: float | None = None,
) -> tuple[int, int]:
    """Responses per group ``(n_a, n_b)``, with ``n_b = ratio · n_a``, to detect a true
    difference of ``difference`` points with probability ``power`` (the inverse of
    :func:`detectable_difference`, rounded up)."""
    if not (isinstance(difference, int | float) and math.isfinite(difference)
            and difference != 0):
        raise ArgumentError(f"difference must be a finite, non-zero number of points, "
                            f"got {difference!r}")
    ratio = _check_n("ratio", ratio)
    v_a, v_b = _variances(metric, promoters, detractors, share, promoters_b, detractors_b,
                          share_b)
    return _native.sample_size_two_groups(float(difference), ratio, (v_a, v_b), power,
                                          confidence, _one_sided(alternative))


def margin_of_error(
    n: float,
    *,
    metric: Literal["nps", "share"] = "nps",
    confidence: float = 0.95,
    promoters: float | None = None,
    detractors: float | None = None,
    share: float | None = None,
) -> float:
    """Half-width in points of the Wald interval with ``n`` responses (worst case by default:
    for NPS all answers promoters or detractors, for a share p = ½)."""
    return _native.margin_of_error(
        float(n), variance(metric, promoters, detractors, share), float(confidence)
    )


def sample_size(
    margin: float,
    *,
    metric: Literal["nps", "share"] = "nps",
    confidence: float = 0.95,
    promoters: float | None = None,
    detractors: float | None = None,
    share: float | None = None,
) -> int:
    """Responses needed for a margin of error of at most ``margin`` points
    (``sample_size(5)`` = 1,537 for NPS at 95% in the worst case)."""
    if not math.isfinite(margin):
        raise ArgumentError("margin must be finite")
    return _native.sample_size(
        float(margin), variance(metric, promoters, detractors, share), float(confidence)
    )
