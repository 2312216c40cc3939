"""Plain NumPy reference implementation of the cxmetrics estimators.

Written for clarity, not speed: every function takes a 1-D array of *valid* integer scores (the
caller has already removed missing and invalid values) and optional non-negative weights of the
same length, and returns a :class:`RefResult`.  The Rust implementation mirrors the formulas
documented here; the test-suite compares the two.

Notation
--------
``n``            number of valid responses (rows), whatever their weights.
``w``            weights; unweighted means ``w = 1`` for every row.
``W = Σw``       the ``weighted_n``.
``m``            the sample size used by every analytic interval:
                 Kish's effective sample size ``m = (Σw)² / Σw²`` (equals ``n`` when unweighted).
``z``            ``Φ⁻¹(1 − α/2)`` for confidence ``1 − α``.

Point estimates are weighted means of an indicator or of the score:
``p = Σ w·1[x in bucket] / Σw``, ``x̄ = Σ w·x / Σw``.

Conventions shared by every metric
----------------------------------
* ``n == 0`` (or ``Σw == 0``): value, se, ci_low and ci_high are NaN.
* ``ci=None``: value and se are computed, ci_low and ci_high are NaN.
* ``se`` is always the standard error of the *reported point estimate* (the plain formula with
  ``m``); interval methods that move the centre (adjusted Wald) do not change ``se``.
* Wald and Student-t intervals are clipped to the metric's range: NPS [−100, 100], shares
  [0, 100], means [scale low, scale high] (a mean cannot leave the scale, and clipping never
  loses coverage).  Wilson and score intervals lie inside the range by construction.
* ``counts`` are row counts per bucket (never weighted); ``distribution`` is the row count of
  every scale value, low to high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

NAN = float("nan")


@dataclass(frozen=True)
class RefResult:
    """What the reference computes for one (sub)sample."""

    value: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    counts: dict[str, int] = field(default_factory=dict)
    weighted_n: float = 0.0
    effective_n: float = 0.0
    distribution: tuple[int, ...] = ()


# --------------------------------------------------------------------------------------------
# helpers


def z_value(confidence: float) -> float:
    """Two-sided normal critical value ``Φ⁻¹(1 − α/2) = Φ⁻¹(0.5 + confidence/2)``."""
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def t_value(confidence: float, df: float) -> float:
    """Two-sided Student-t critical value; ``df`` may be fractional (Kish), NaN if ``df <= 0``."""
    if not df > 0:
        return NAN
    return float(stats.t.ppf(0.5 + confidence / 2.0, df))


def kish_n_eff(weights: NDArray[np.float64]) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²`` (NaN when every weight is zero)."""
    s2 = float(np.sum(weights * weights))
    if s2 == 0.0:
        return NAN
    return float(np.sum(weights)) ** 2 / s2


def _prepare(
    scores: ArrayLike, weights: ArrayLike | None
) -> tuple[NDArray[np.int64], NDArray[np.float64], bool]:
    x = np.asarray(scores, dtype=np.int64).reshape(-1)
    if weights is None:
        return x, np.ones(x.shape, dtype=np.float64), False
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != x.shape:
        raise ValueError("weights must have the same length as scores")
    if np.any(~np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and non-negative")
    return x, w, True


def _sizes(w: NDArray[np.float64], weighted: bool) -> tuple[int, float, float]:
    """(n, weighted_n, m) where m is the sample size used by the analytic intervals."""
    n = int(w.size)
    if not weighted:
        return n, float(n), float(n)
    return n, float(np.sum(w)), kish_n_eff(w) if n else 0.0


def _distribution(x: NDArray[np.int64], scale: tuple[int, int]) -> tuple[int, ...]:
    lo, hi = scale
    return tuple(int(np.count_nonzero(x == v)) for v in range(lo, hi + 1))


def _in(x: NDArray[np.int64], bucket: tuple[int, int]) -> NDArray[np.bool_]:
    return (x >= bucket[0]) & (x <= bucket[1])


def _clip(lo: float, hi: float, lower: float, upper: float) -> tuple[float, float]:
    return min(max(lo, lower), upper), min(max(hi, lower), upper)


# --------------------------------------------------------------------------------------------
# NPS


def nps_variance(p_plus: float, p_minus: float) -> float:
    """Variance of the per-respondent score x ∈ {+1, 0, −1}: ``v = p₊ + p₋ − (p₊ − p₋)²``."""
    return p_plus + p_minus - (p_plus - p_minus) ** 2


def nps_wald(p_plus: float, p_minus: float, m: float, z: float) -> tuple[float, float]:
    """``100(p₊ − p₋) ± z·100·sqrt(v/m)``, clipped to [−100, 100]."""
    centre = 100.0 * (p_plus - p_minus)
    half = z * 100.0 * math.sqrt(nps_variance(p_plus, p_minus) / m)
    return _clip(centre - half, centre + half, -100.0, 100.0)


def nps_adjusted_wald(p_plus: float, p_minus: float, m: float, z: float) -> tuple[float, float]:
    """Sauro & Lewis adjusted Wald.

    Add three pseudo-respondents (0.75 promoter, 1.5 passive, 0.75 detractor) to the *effective*
    counts ``P = p₊·m``, ``D = p₋·m``:
    ``m' = m + 3``, ``p₊' = (P + 0.75)/m'``, ``p₋' = (D + 0.75)/m'``, then the Wald interval
    ``100(p₊' − p₋') ± z·100·sqrt(v(p₊', p₋')/m')`` (centre included), clipped to [−100, 100].
    Unweighted, ``m = n`` and ``P``, ``D`` are the integer counts.
    """
    m_adj = m + 3.0
    pp = (p_plus * m + 0.75) / m_adj
    pm = (p_minus * m + 0.75) / m_adj
    return nps_wald(pp, pm, m_adj, z)


def tango_q_hat(big_p: float, big_d: float, m: float, delta: float) -> float:
    """Restricted MLE of the detractor share under ``p₊ − p₋ = Δ`` (Tango 1998).

    Root of ``A q² + B q + C = 0`` with ``A = 2m``, ``B = −P − D + (2m − P + D)Δ``,
    ``C = −D·Δ(1 − Δ)``:  ``q̂ = (−B + sqrt(B² − 4AC)) / (2A)`` (discriminant clamped at 0).
    """
    a = 2.0 * m
    b = -big_p - big_d + (2.0 * m - big_p + big_d) * delta
    c = -big_d * delta * (1.0 - delta)
    disc = max(b * b - 4.0 * a * c, 0.0)
    return (-b + math.sqrt(disc)) / (2.0 * a)


def tango_variance(big_p: float, big_d: float, m: float, delta: float) -> float:
    """Null variance of x under ``Δ``: ``V(Δ) = 2q̂ + Δ(1 − Δ)`` (clamped at 0)."""
    q = tango_q_hat(big_p, big_d, m, delta)
    return max(2.0 * q + delta * (1.0 - delta), 0.0)


def tango_statistic(big_p: float, big_d: float, m: float, delta: float) -> float:
    """Tango's score statistic ``T(Δ) = (P − D − mΔ) / sqrt(m·V(Δ))`` (decreasing in Δ)."""
    return (big_p - big_d - m * delta) / math.sqrt(m * tango_variance(big_p, big_d, m, delta))


def nps_score(
    big_p: float, big_d: float, m: float, z: float, *, xtol: float = 1e-15
) -> tuple[float, float]:
    """Tango's score interval for ``p₊ − p₋``, in points.

    The interval is ``{Δ : |T(Δ)| ≤ z}``.  Its ends are the roots of
    ``f_L(Δ) = (P − D − mΔ) − z·sqrt(m·V(Δ))`` on ``[−1, Δ̂]`` and
    ``f_U(Δ) = (P − D − mΔ) + z·sqrt(m·V(Δ))`` on ``[Δ̂, 1]`` (Δ̂ = (P − D)/m), found with
    Brent's method to ``xtol`` in Δ.  Multiplying through by the denominator keeps both
    functions finite at Δ = ±1, where ``V`` vanishes: ``f_L(−1) = P − D + m > 0`` and
    ``f_U(1) = P − D − m < 0`` unless every response is a detractor / promoter.

    ``V(Δ̂) = v̂ = 0`` only when every response falls in one bucket; then ``Δ̂`` is a spurious
    root of the f's and the ends have closed forms (with ``c = z²``):

    * all passives:    ``±c/(m + c)``
    * all promoters:   ``[(m − c)/(m + c), 1]``
    * all detractors:  ``[−1, −(m − c)/(m + c)]``

    Weighted: ``m`` is Kish's n_eff and ``P = p₊·m``, ``D = p₋·m`` (real-valued).
    """
    c = z * z
    if big_p == 0.0 and big_d == 0.0:
        half = c / (m + c)
        return -100.0 * half, 100.0 * half
    if big_p == m:
        return 100.0 * (m - c) / (m + c), 100.0
    if big_d == m:
        return -100.0, -100.0 * (m - c) / (m + c)

    d_hat = (big_p - big_d) / m

    def f_lower(delta: float) -> float:
        return big_p - big_d - m * delta - z * math.sqrt(m * tango_variance(big_p, big_d, m, delta))

    def f_upper(delta: float) -> float:
        return big_p - big_d - m * delta + z * math.sqrt(m * tango_variance(big_p, big_d, m, delta))

    lo = optimize.brentq(f_lower, -1.0, d_hat, xtol=xtol, rtol=4 * np.finfo(float).eps)
    hi = optimize.brentq(f_upper, d_hat, 1.0, xtol=xtol, rtol=4 * np.finfo(float).eps)
    return 100.0 * float(lo), 100.0 * float(hi)


def nps(
    scores: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    ci: str | None = "wald",
    confidence: float = 0.95,
    promoters: tuple[int, int] = (9, 10),
    detractors: tuple[int, int] = (0, 6),
    scale: tuple[int, int] = (0, 10),
) -> RefResult:
    """Net Promoter Score in points.

    ``p₊ = Σw·1[promoter]/Σw``, ``p₋ = Σw·1[detractor]/Σw``, value ``100(p₊ − p₋)``,
    ``se = 100·sqrt(v/m)`` with ``v = p₊ + p₋ − (p₊ − p₋)²``.
    ``ci``: ``"wald"``, ``"adjusted-wald"``, ``"score"`` or ``None`` (see the functions above).
    Buckets are inclusive score ranges; everything else on the scale is passive.
    """
    x, w, weighted = _prepare(scores, weights)
    n, wn, m = _sizes(w, weighted)
    is_p, is_d = _in(x, promoters), _in(x, detractors)
    counts = {
        "promoters": int(np.count_nonzero(is_p)),
        "passives": int(np.count_nonzero(~is_p & ~is_d)),
        "detractors": int(np.count_nonzero(is_d)),
    }
    dist = _distribution(x, scale)
    if n == 0 or wn == 0.0:
        return RefResult(NAN, NAN, NAN, NAN, n, counts, wn, m, dist)

    p_plus = float(np.sum(w[is_p])) / wn
    p_minus = float(np.sum(w[is_d])) / wn
    value = 100.0 * (p_plus - p_minus)
    se = 100.0 * math.sqrt(nps_variance(p_plus, p_minus) / m)

    z = z_value(confidence)
    if ci is None:
        lo, hi = NAN, NAN
    elif ci == "wald":
        lo, hi = nps_wald(p_plus, p_minus, m, z)
    elif ci == "adjusted-wald":
        lo, hi = nps_adjusted_wald(p_plus, p_minus, m, z)
    elif ci == "score":
        # Unweighted: the exact integer counts, so the degenerate cases are recognised exactly.
        big_p = float(counts["promoters"]) if not weighted else p_plus * m
        big_d = float(counts["detractors"]) if not weighted else p_minus * m
        if weighted:
            # Identify one-bucket samples by their row counts, not by float equality.
            if counts["promoters"] == n:
                big_p = m
            if counts["detractors"] == n:
                big_d = m
            if counts["passives"] == n:
                big_p = big_d = 0.0
        lo, hi = nps_score(big_p, big_d, m, z)
    else:
        raise ValueError(f"no interval {ci!r} for NPS")
    return RefResult(value, se, lo, hi, n, counts, wn, m, dist)


# --------------------------------------------------------------------------------------------
# shares (top-k box, bottom-k box, CSAT, CES)


def wilson(p: float, m: float, z: float) -> tuple[float, float]:
    """Wilson score interval for a proportion, in percent.

    ``centre = (p + z²/(2m)) / (1 + z²/m)``,
    ``half = z/(1 + z²/m) · sqrt(p(1 − p)/m + z²/(4m²))``.
    Weighted: ``p`` is the weighted share and ``m`` Kish's n_eff.
    """
    c = z * z
    denom = 1.0 + c / m
    centre = (p + c / (2.0 * m)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / m + c / (4.0 * m * m))
    return 100.0 * (centre - half), 100.0 * (centre + half)


def share_wald(p: float, m: float, z: float) -> tuple[float, float]:
    """``100p ± z·100·sqrt(p(1 − p)/m)``, clipped to [0, 100]."""
    half = z * math.sqrt(p * (1.0 - p) / m)
    return _clip(100.0 * (p - half), 100.0 * (p + half), 0.0, 100.0)


def share(
    scores: ArrayLike,
    bucket: tuple[int, int],
    weights: ArrayLike | None = None,
    *,
    ci: str | None = "wilson",
    confidence: float = 0.95,
    scale: tuple[int, int] = (1, 5),
) -> RefResult:
    """Share of responses in the inclusive score range ``bucket``, in percent.

    ``p = Σw·1[x in bucket]/Σw``, value ``100p``, ``se = 100·sqrt(p(1 − p)/m)``.
    ``ci``: ``"wilson"``, ``"wald"`` or ``None``.
    ``counts``: ``{"in": rows in the bucket, "out": the other rows}``.
    """
    x, w, weighted = _prepare(scores, weights)
    n, wn, m = _sizes(w, weighted)
    inside = _in(x, bucket)
    k = int(np.count_nonzero(inside))
    counts = {"in": k, "out": n - k}
    dist = _distribution(x, scale)
    if n == 0 or wn == 0.0:
        return RefResult(NAN, NAN, NAN, NAN, n, counts, wn, m, dist)

    p = float(np.sum(w[inside])) / wn
    se = 100.0 * math.sqrt(p * (1.0 - p) / m)
    z = z_value(confidence)
    if ci is None:
        lo, hi = NAN, NAN
    elif ci == "wilson":
        lo, hi = wilson(p, m, z)
    elif ci == "wald":
        lo, hi = share_wald(p, m, z)
    else:
        raise ValueError(f"no interval {ci!r} for a share")
    return RefResult(100.0 * p, se, lo, hi, n, counts, wn, m, dist)


def top_box(
    scores: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    scale: tuple[int, int] = (1, 10),
    top: int = 2,
    **kw: object,
) -> RefResult:
    """Share of the ``top`` highest scale points."""
    return share(scores, (scale[1] - top + 1, scale[1]), weights, scale=scale, **kw)  # type: ignore[arg-type]


def bottom_box(
    scores: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    scale: tuple[int, int] = (1, 10),
    bottom: int = 2,
    **kw: object,
) -> RefResult:
    """Share of the ``bottom`` lowest scale points."""
    return share(scores, (scale[0], scale[0] + bottom - 1), weights, scale=scale, **kw)  # type: ignore[arg-type]


def csat(scores: ArrayLike, weights: ArrayLike | None = None, **kw: object) -> RefResult:
    """CSAT: share of 4–5 on 1–5."""
    return share(scores, (4, 5), weights, scale=(1, 5), **kw)  # type: ignore[arg-type]


def ces(scores: ArrayLike, weights: ArrayLike | None = None, **kw: object) -> RefResult:
    """CES 2.0: share of 5–7 ("agree") on 1–7."""
    return share(scores, (5, 7), weights, scale=(1, 7), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# means


def mean(
    scores: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    ci: str | None = "t",
    confidence: float = 0.95,
    scale: tuple[int, int] = (1, 5),
) -> RefResult:
    """Mean score.

    Unweighted: ``x̄``, sample sd ``s`` (ddof = 1), ``se = s/sqrt(n)``, and the Student-t
    interval ``x̄ ± t(n − 1)·se``.

    Weighted (linearisation with Kish's ``m``):
    ``x̄ = Σw·x/Σw``,
    ``s² = [Σw(x − x̄)²/Σw] · m/(m − 1)``,
    ``se = s/sqrt(m)``, interval ``x̄ ± t(m − 1)·se`` with fractional df ``m − 1``.
    With unit weights these reduce exactly to the unweighted formulas.  Since
    ``m/(m − 1) = W²/(W² − Σw²)``, ``s²`` is the usual "reliability weights" unbiased variance
    ``Σw(x − x̄)² / (W − Σw²/W)``, i.e. ``numpy.cov(x, aweights=w, ddof=1)``.

    ``m <= 1`` (e.g. a single response): se and the interval are NaN.
    ``ci``: ``"t"``, ``"wald"`` (``x̄ ± z·se``) or ``None``; both intervals are clipped to the
    scale ``[low, high]``.
    ``counts`` is empty for a mean.
    """
    if ci not in (None, "t", "wald"):
        raise ValueError(f"no interval {ci!r} for a mean")
    x, w, weighted = _prepare(scores, weights)
    n, wn, m = _sizes(w, weighted)
    dist = _distribution(x, scale)
    if n == 0 or wn == 0.0:
        return RefResult(NAN, NAN, NAN, NAN, n, {}, wn, m, dist)

    xf = x.astype(np.float64)
    xbar = float(np.sum(w * xf)) / wn
    if m > 1.0:
        s2 = float(np.sum(w * (xf - xbar) ** 2)) / wn * m / (m - 1.0)
        se = math.sqrt(s2 / m)
    else:
        se = NAN

    if ci is None or not math.isfinite(se):
        lo, hi = NAN, NAN
    elif ci == "t":
        t = t_value(confidence, m - 1.0)
        lo, hi = _clip(xbar - t * se, xbar + t * se, float(scale[0]), float(scale[1]))
    else:  # "wald"
        z = z_value(confidence)
        lo, hi = _clip(xbar - z * se, xbar + z * se, float(scale[0]), float(scale[1]))
    return RefResult(xbar, se, lo, hi, n, {}, wn, m, dist)


# --------------------------------------------------------------------------------------------
# differences of two independent groups (added for tests/test_compare.py)


def wald_difference(
    value_a: float, se_a: float, value_b: float, se_b: float, z: float, span: float
) -> tuple[float, float, float, float, float]:
    """``d = a − b``, ``se = sqrt(se_a² + se_b²)``, ``d ± z·se`` clipped to ``[−span, span]``
    (span = width of the metric's range), the z statistic ``d/se`` and the two-sided p-value
    ``2·Φ(−|z|)``: (d, se, low, high, p)."""
    d = value_a - value_b
    se = math.sqrt(se_a * se_a + se_b * se_b)
    low, high = _clip(d - z * se, d + z * se, -span, span)
    p = 2.0 * float(stats.norm.sf(abs(d / se))) if se > 0 else NAN
    return d, se, low, high, p


def mover_difference(
    value_a: float, ci_a: tuple[float, float], value_b: float, ci_b: tuple[float, float]
) -> tuple[float, float]:
    """MOVER (Newcombe 1998; Zou & Donner 2008): the interval for ``a − b`` from each group's own
    interval: ``L = d − sqrt((a − l_a)² + (u_b − b)²)``,
    ``U = d + sqrt((u_a − a)² + (b − l_b)²)``."""
    d = value_a - value_b
    low = d - math.sqrt((value_a - ci_a[0]) ** 2 + (ci_b[1] - value_b) ** 2)
    high = d + math.sqrt((ci_a[1] - value_a) ** 2 + (value_b - ci_b[0]) ** 2)
    return low, high


def newcombe_hybrid(x_a: int, n_a: int, x_b: int, n_b: int, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for ``p_a − p_b``, in points: MOVER on
    the two Wilson intervals."""
    p_a, p_b = x_a / n_a, x_b / n_b
    return mover_difference(100.0 * p_a, wilson(p_a, n_a, z), 100.0 * p_b, wilson(p_b, n_b, z))


def poisson_bootstrap_nps(
    scores: ArrayLike,
    weights: ArrayLike,
    replicates: int,
    rng: np.random.Generator,
    promoters: tuple[int, int] = (9, 10),
    detractors: tuple[int, int] = (0, 6),
) -> NDArray[np.float64]:
    """The Poisson bootstrap distribution of a weighted NPS, row by row: every respondent is
    counted m ~ Poisson(1) times in each replicate, so replicate r's NPS is
    100 · Σ m·w·(1[promoter] − 1[detractor]) / Σ m·w. Replicates without a respondent are NaN."""
    x = np.asarray(scores, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    signed = _in(x, promoters).astype(np.float64) - _in(x, detractors).astype(np.float64)
    m = rng.poisson(1.0, size=(replicates, x.size)).astype(np.float64)
    total = (m * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (m * w * signed).sum(axis=1) / total


def pooled_test(x_a: NDArray[np.float64], w_a: NDArray[np.float64] | None,
                x_b: NDArray[np.float64], w_b: NDArray[np.float64] | None,
                *, bessel: bool) -> tuple[float, float]:
    """The pooled (score-type) z-test of "no difference" from the per-response scores ``x``
    (±100/0 for NPS, 100/0 for a share, the value for a mean) and optional weights: each side's
    weighted mean and population variance on Kish's effective n, the two pooled (n_eff-weighted
    mixture: within plus between), the variance of a − b under H0 = v·(1/n_a + 1/n_b) — for a
    mean with Bessel's N/(N − 1) on the pooled N. Returns (z, two-sided p)."""
    def side(x: NDArray[np.float64], w: NDArray[np.float64] | None
             ) -> tuple[float, float, float]:
        w = np.ones_like(x) if w is None else w
        mean = float(np.sum(w * x) / np.sum(w))
        var = float(np.sum(w * (x - mean) ** 2) / np.sum(w))
        n_eff = float(np.sum(w) ** 2 / np.sum(w * w))
        return mean, var, n_eff
    (m_a, v_a, n_a), (m_b, v_b, n_b) = side(x_a, w_a), side(x_b, w_b)
    total = n_a + n_b
    mean = (n_a * m_a + n_b * m_b) / total
    v = (n_a * (v_a + (m_a - mean) ** 2) + n_b * (v_b + (m_b - mean) ** 2)) / total
    if bessel:
        v *= total / (total - 1)
    z = (m_a - m_b) / math.sqrt(v * (1 / n_a + 1 / n_b))
    return z, 2.0 * float(stats.norm.sf(abs(z)))
