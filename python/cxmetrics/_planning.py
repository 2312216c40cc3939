"""Planning a comparison of two independent groups: the smallest difference a study can detect,
and the responses it needs to detect a given one (normal approximation, as in the z-test that
``compare`` runs)."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

from ._compare import Alternative, _variance
from .errors import ArgumentError

__all__ = ["detectable_difference", "sample_size_two_groups"]

_ALTERNATIVES = ("two-sided", "greater", "less")


def _z_sum(power: float, confidence: float, alternative: str) -> float:
    if not 0 < power < 1:
        raise ArgumentError(f"power must be strictly between 0 and 1, got {power!r}")
    if not 0 < confidence < 1:
        raise ArgumentError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    if alternative not in _ALTERNATIVES:
        raise ArgumentError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    alpha = 1 - confidence
    tail = alpha / 2 if alternative == "two-sided" else alpha
    normal = NormalDist()
    return normal.inv_cdf(1 - tail) + normal.inv_cdf(power)


def _variances(metric: str, promoters: float | None, detractors: float | None,
               share: float | None, promoters_b: float | None, detractors_b: float | None,
               share_b: float | None) -> tuple[float, float]:
    v_a = _variance(metric, promoters, detractors, share)
    if promoters_b is None and detractors_b is None and share_b is None:
        return v_a, v_a
    return v_a, _variance(metric, promoters_b, detractors_b, share_b)


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
    n_a, n_b = _check_n("n_a", n_a), _check_n("n_b", n_b)
    return _z_sum(power, confidence, alternative) * 100 * math.sqrt(v_a / n_a + v_b / n_b)


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
    z = _z_sum(power, confidence, alternative)
    n_a = (z * 100 / abs(difference)) ** 2 * (v_a + v_b / ratio)
    # A hair of tolerance so that exact products (e.g. 1,570.0000000002) do not round up.
    n_a_int = math.ceil(n_a * (1 - 1e-12))
    return n_a_int, math.ceil(n_a_int * ratio * (1 - 1e-12))
