"""Checks of the NumPy reference itself, against published numbers and independent computations.

Where possible the expected value is computed by a *different* route than the reference takes
(exact rational arithmetic, scipy's own implementations, numerical maximum likelihood, explicit
pseudo-respondents), so a shared mistake is unlikely.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from helpers import reference as ref

Z95 = 1.959963984540054  # Φ⁻¹(0.975), e.g. from Abramowitz & Stegun / R qnorm(0.975)


def nps_sample(promoters: int, passives: int, detractors: int) -> np.ndarray:
    """Scores with the given bucket counts (10 = promoter, 8 = passive, 3 = detractor)."""
    return np.array([10] * promoters + [8] * passives + [3] * detractors, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# DOMAIN.md reference numbers


def test_domain_reference_n11() -> None:
    res = ref.nps(nps_sample(9, 0, 2))
    assert res.n == 11
    assert res.counts == {"promoters": 9, "passives": 0, "detractors": 2}
    assert round(res.value, 2) == 63.64
    # v = 11/11 − (7/11)² exactly, by rational arithmetic
    v_exact = Fraction(11, 11) - Fraction(7, 11) ** 2
    assert round(float(v_exact), 4) == 0.5950
    assert ref.nps_variance(9 / 11, 2 / 11) == pytest.approx(float(v_exact), rel=1e-14)
    assert round(res.se, 2) == 23.26
    assert res.se == pytest.approx(100 * math.sqrt(float(v_exact) / 11), rel=1e-14)


def test_domain_reference_50_30_20() -> None:
    res = ref.nps(nps_sample(50, 30, 20), ci="wald")
    assert res.value == pytest.approx(30.0, abs=1e-12)
    assert ref.nps_variance(0.5, 0.2) == pytest.approx(0.61, abs=1e-15)
    assert round(res.se, 2) == 7.81
    assert (round(res.ci_low, 2), round(res.ci_high, 2)) == (14.69, 45.31)


def test_wald_is_clipped() -> None:
    # 9 P / 2 D: 63.64 + 1.96·23.26 > 100
    res = ref.nps(nps_sample(9, 0, 2), ci="wald")
    assert res.ci_high == 100.0
    assert res.ci_low == pytest.approx(63.6363636 - Z95 * 23.2582600, abs=1e-5)
    share = ref.share(np.array([5] * 8 + [1] * 2), (4, 5), ci="wald")
    assert share.ci_high == 100.0
    assert share.ci_low == pytest.approx(80 - Z95 * 100 * math.sqrt(0.8 * 0.2 / 10), abs=1e-12)


def test_critical_values() -> None:
    assert ref.z_value(0.95) == pytest.approx(Z95, abs=1e-14)
    assert ref.z_value(0.90) == pytest.approx(1.6448536269514722, abs=1e-14)
    # t(10) and t(2.5) quantiles to 16 digits (inverse regularised incomplete beta, mpmath)
    assert ref.t_value(0.95, 10) == pytest.approx(2.2281388519862747, abs=1e-13)
    assert ref.t_value(0.95, 2.5) == pytest.approx(3.574654842003683, abs=1e-12)
    assert math.isnan(ref.t_value(0.95, 0.0))


# --------------------------------------------------------------------------------------------
# Tango's score interval


def test_tango_published_cavo_2012() -> None:
    """Cavo et al. (2012) paired table [[59, 6], [16, 80]] as printed by the contingencytables
    R package (Fagerland, Lydersen & Laake): Δ̂ = −0.0621, Tango 95% CI (−0.1240, −0.0054),
    Wald (−0.1184, −0.0058).  In NPS terms: 6 promoters, 16 detractors, n = 161."""
    x = nps_sample(6, 161 - 22, 16)
    score = ref.nps(x, ci="score")
    assert round(score.value / 100, 4) == -0.0621
    assert (round(score.ci_low / 100, 4), round(score.ci_high / 100, 4)) == (-0.1240, -0.0054)
    wald = ref.nps(x, ci="wald")
    assert (round(wald.ci_low / 100, 4), round(wald.ci_high / 100, 4)) == (-0.1184, -0.0058)


def _xlogy(k: float, y: float) -> float:
    return 0.0 if k == 0 else k * math.log(y)


def _q_hat_numeric(p: float, d: float, n: float, delta: float) -> float:
    """Restricted MLE of the detractor probability by maximising the multinomial likelihood
    numerically over its feasible range (no closed form involved)."""
    lo, hi = max(0.0, -delta), (1.0 - delta) / 2.0
    if hi - lo < 1e-15:
        return lo

    def negll(q: float) -> float:
        return -(_xlogy(p, q + delta) + _xlogy(d, q) + _xlogy(n - p - d, 1.0 - 2.0 * q - delta))

    res = optimize.minimize_scalar(
        negll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
    )
    return float(res.x)


def _t_numeric(p: float, d: float, n: float, delta: float) -> float:
    q = _q_hat_numeric(p, d, n, delta)
    p_plus, p_minus = q + delta, q
    var = p_plus + p_minus - (p_plus - p_minus) ** 2  # variance of x under the null
    num = p - d - n * delta
    if var <= 0.0:
        return 0.0 if num == 0 else math.copysign(math.inf, num)
    return num / math.sqrt(n * var)


def _tango_bisect(p: int, d: int, n: int, z: float) -> tuple[float, float]:
    """Invert the numerically computed score test by bisection (T is decreasing in Δ)."""
    d_hat = (p - d) / n

    def solve(target: float, a: float, b: float) -> float:
        # a: T(a) > target side, b: T(b) < target side
        for _ in range(60):
            mid = 0.5 * (a + b)
            if _t_numeric(p, d, n, mid) > target:
                a = mid
            else:
                b = mid
        return 0.5 * (a + b)

    lo = -1.0 if d == n else solve(z, -1.0, d_hat)
    hi = 1.0 if p == n else solve(-z, d_hat, 1.0)
    return 100 * lo, 100 * hi


TANGO_CASES = [
    (9, 2, 11),
    (50, 20, 100),
    (6, 16, 161),
    (0, 0, 5),
    (5, 0, 5),
    (0, 5, 5),
    (1, 0, 1),
    (0, 1, 1),
    (0, 0, 1),
    (0, 1, 2),
    (1, 1, 2),
    (3, 3, 6),
    (0, 3, 40),
    (40, 0, 41),
    (12, 30, 45),
    (700, 50, 1000),
    (1, 0, 30),
    (29, 0, 30),
]


@pytest.mark.parametrize(("p", "d", "n"), TANGO_CASES)
@pytest.mark.parametrize("confidence", [0.95, 0.80])
def test_tango_matches_numeric_inversion(p: int, d: int, n: int, confidence: float) -> None:
    z = ref.z_value(confidence)
    x = nps_sample(p, n - p - d, d)
    res = ref.nps(x, ci="score", confidence=confidence)
    lo, hi = _tango_bisect(p, d, n, z)
    assert res.ci_low == pytest.approx(lo, abs=1e-5)
    assert res.ci_high == pytest.approx(hi, abs=1e-5)
    assert res.ci_low <= res.value <= res.ci_high


@given(
    n=st.integers(1, 200),
    frac_p=st.floats(0, 1),
    frac_d=st.floats(0, 1),
    delta=st.floats(-0.999, 0.999),
)
@settings(max_examples=200, deadline=None)
def test_tango_q_hat_is_restricted_mle(n: int, frac_p: float, frac_d: float, delta: float) -> None:
    p = round(frac_p * n)
    d = round(frac_d * (n - p))
    q_closed = ref.tango_q_hat(p, d, n, delta)
    q_num = _q_hat_numeric(p, d, n, delta)
    assert q_closed == pytest.approx(q_num, abs=2e-6)


# --------------------------------------------------------------------------------------------
# adjusted Wald


def _adjusted_wald_pseudo(p: int, passive: int, d: int, z: float) -> tuple[float, float]:
    """Adjusted Wald by literally adding the pseudo-respondents and running plain Wald."""
    x = np.array([1.0, 0.0, -1.0])
    freq = np.array([p + 0.75, passive + 1.5, d + 0.75])
    n_adj = freq.sum()
    centre = np.average(x, weights=freq)
    var = np.cov(x, aweights=freq, ddof=0)  # population variance of x with pseudo-counts
    half = z * math.sqrt(float(var) / n_adj)
    return max(100 * (centre - half), -100.0), min(100 * (centre + half), 100.0)


def test_adjusted_wald_hand_example() -> None:
    # n' = 14, p₊' = 9.75/14, p₋' = 2.75/14, centre 50, v' = 12.5/14 − 0.25, se' = 0.2142857
    res = ref.nps(nps_sample(9, 0, 2), ci="adjusted-wald")
    se_adj = math.sqrt((12.5 / 14 - 0.25) / 14)
    assert se_adj == pytest.approx(0.2142857142857, abs=1e-12)
    assert res.ci_low == pytest.approx(50 - 100 * Z95 * se_adj, abs=1e-9)
    assert res.ci_high == pytest.approx(50 + 100 * Z95 * se_adj, abs=1e-9)
    assert (round(res.ci_low, 2), round(res.ci_high, 2)) == (8.00, 92.00)
    # se is that of the reported estimate, not of the adjusted centre
    assert res.se == pytest.approx(ref.nps(nps_sample(9, 0, 2)).se, abs=0)


@given(
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
@settings(max_examples=150, deadline=None)
def test_adjusted_wald_equals_pseudo_respondents(
    p: int, passive: int, d: int, confidence: float
) -> None:
    if p + passive + d == 0:
        return
    z = ref.z_value(confidence)
    res = ref.nps(nps_sample(p, passive, d), ci="adjusted-wald", confidence=confidence)
    lo, hi = _adjusted_wald_pseudo(p, passive, d, z)
    assert res.ci_low == pytest.approx(lo, abs=1e-9)
    assert res.ci_high == pytest.approx(hi, abs=1e-9)


# --------------------------------------------------------------------------------------------
# Wilson and shares


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (score, no CC)
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_newcombe_1998(k: int, n: int, lo: float, hi: float) -> None:
    res = ref.share(np.array([5] * k + [1] * (n - k)), (4, 5), ci="wilson")
    assert (round(res.ci_low / 100, 4), round(res.ci_high / 100, 4)) == (lo, hi)


def _wilson_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's bounds as the roots in p of (p̂ − p)² = z² p(1 − p)/n."""
    ph = k / n
    # (1 + z²/n) p² − (2p̂ + z²/n) p + p̂² = 0
    roots = np.roots([1 + z * z / n, -(2 * ph + z * z / n), ph * ph])
    roots = np.sort(np.real(roots))
    return 100 * roots[0], 100 * roots[1]


@given(n=st.integers(1, 500), frac=st.floats(0, 1), confidence=st.sampled_from([0.8, 0.95, 0.99]))
@settings(max_examples=200, deadline=None)
def test_wilson_matches_scipy_and_quadratic(n: int, frac: float, confidence: float) -> None:
    k = round(frac * n)
    res = ref.share(np.array([5] * k + [2] * (n - k)), (4, 5), ci="wilson", confidence=confidence)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert res.ci_low == pytest.approx(100 * ci.low, abs=1e-9)
    assert res.ci_high == pytest.approx(100 * ci.high, abs=1e-9)
    lo, hi = _wilson_quadratic(k, n, ref.z_value(confidence))
    assert res.ci_low == pytest.approx(lo, abs=1e-6)
    assert res.ci_high == pytest.approx(hi, abs=1e-6)
    assert res.value == pytest.approx(100 * k / n, rel=1e-15)
    assert res.se == pytest.approx(100 * math.sqrt(k / n * (1 - k / n) / n), rel=1e-12)
    assert res.counts == {"in": k, "out": n - k}


def test_bucket_presets() -> None:
    x = np.array([1, 2, 3, 4, 5, 5, 6, 7, 9, 10])
    assert ref.top_box(x, scale=(1, 10), top=2).value == pytest.approx(20.0)
    assert ref.bottom_box(x, scale=(1, 10), bottom=3).value == pytest.approx(30.0)
    assert ref.csat(np.array([1, 2, 3, 4, 5, 5])).value == pytest.approx(50.0)
    assert ref.ces(np.array([1, 4, 5, 6, 7])).value == pytest.approx(60.0)
    custom = ref.nps(
        np.array([1, 4, 5, 6, 7, 7]), promoters=(7, 7), detractors=(1, 4), scale=(1, 7)
    )
    assert custom.counts == {"promoters": 2, "passives": 2, "detractors": 2}
    assert custom.distribution == (1, 0, 0, 1, 1, 1, 2)


# --------------------------------------------------------------------------------------------
# means


def test_t_interval_hand_example() -> None:
    res = ref.mean(np.array([1, 2, 3, 4, 5]), ci="t", scale=(0, 10))
    assert res.value == 3.0
    assert res.se == pytest.approx(math.sqrt(2.5 / 5), rel=1e-14)
    # t(4, 0.975) = 2.7764451051977987
    assert res.ci_low == pytest.approx(3 - 2.7764451051977987 * math.sqrt(0.5), abs=1e-12)
    assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (1.0368, 4.9632)


@given(
    st.lists(st.integers(1, 5), min_size=2, max_size=200), st.sampled_from([0.8, 0.9, 0.95, 0.99])
)
@settings(max_examples=150, deadline=None)
def test_t_interval_matches_scipy(xs: list[int], confidence: float) -> None:
    x = np.array(xs)
    res = ref.mean(x, ci="t", confidence=confidence)
    assert res.value == pytest.approx(np.mean(x), rel=1e-14)
    assert res.se == pytest.approx(stats.sem(x), rel=1e-12, abs=1e-15)
    if np.all(x == x[0]):
        # zero variance: a zero-width interval at the mean
        assert res.ci_low == res.ci_high == res.value
        return
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence_level=confidence)
    # clipped to the 1–5 scale
    assert res.ci_low == pytest.approx(max(ci.low, 1.0), abs=1e-9)
    assert res.ci_high == pytest.approx(min(ci.high, 5.0), abs=1e-9)


def test_mean_single_response_has_no_interval() -> None:
    res = ref.mean(np.array([4]), ci="t")
    assert res.value == 4.0 and res.n == 1
    assert math.isnan(res.se) and math.isnan(res.ci_low) and math.isnan(res.ci_high)


def test_mean_intervals_clipped_to_scale() -> None:
    res = ref.mean(np.array([5, 5, 5, 1]), ci="wald", scale=(1, 5))
    assert res.ci_high == 5.0
    assert res.ci_low == pytest.approx(4 - Z95 * 2 / 2, abs=1e-12)  # s = 2, se = 1
    res = ref.mean(np.array([1, 2]), ci="t", scale=(1, 5))  # t(1) = 12.7: [-4.85, 7.85]
    assert (res.ci_low, res.ci_high) == (1.0, 5.0)


# --------------------------------------------------------------------------------------------
# weights


def test_kish() -> None:
    assert ref.kish_n_eff(np.array([1.0, 1.0, 2.0])) == pytest.approx(16 / 6, rel=1e-15)
    assert ref.kish_n_eff(np.full(7, 3.5)) == pytest.approx(7.0, rel=1e-15)


METHODS = [
    (lambda x, w, ci: ref.nps(x, w, ci=ci), (None, "wald", "adjusted-wald", "score"), (0, 10)),
    (lambda x, w, ci: ref.top_box(x, w, ci=ci), (None, "wilson", "wald"), (1, 10)),
    (lambda x, w, ci: ref.mean(x, w, ci=ci, scale=(1, 10)), (None, "t", "wald"), (1, 10)),
]


@given(st.data(), st.floats(0.01, 100))
@settings(max_examples=150, deadline=None)
def test_equal_weights_change_nothing(data: st.DataObject, c: float) -> None:
    fn, cis, (lo, hi) = data.draw(st.sampled_from(METHODS))
    ci = data.draw(st.sampled_from(cis))
    x = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=80)))
    plain = fn(x, None, ci)
    weighted = fn(x, np.full(x.size, c), ci)
    assert weighted.n == plain.n
    assert weighted.weighted_n == pytest.approx(c * x.size, rel=1e-13)
    assert weighted.effective_n == pytest.approx(x.size, rel=1e-13)
    for attr in ("value", "se", "ci_low", "ci_high"):
        a, b = getattr(weighted, attr), getattr(plain, attr)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(st.integers(0, 10), st.integers(1, 5)), min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
def test_integer_weights_equal_replication_for_point_estimates(
    rows: list[tuple[int, int]],
) -> None:
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows], dtype=float)
    rep = np.repeat(x, w.astype(int))
    assert ref.nps(x, w).value == pytest.approx(ref.nps(rep).value, rel=1e-12, abs=1e-12)
    assert ref.top_box(x, w, scale=(0, 10)).value == pytest.approx(
        ref.top_box(rep, scale=(0, 10)).value, rel=1e-12, abs=1e-12
    )
    assert ref.mean(x, w, scale=(0, 10)).value == pytest.approx(
        ref.mean(rep, scale=(0, 10)).value, rel=1e-12
    )


@given(
    st.lists(st.tuples(st.integers(1, 5), st.floats(0.1, 10)), min_size=2, max_size=60),
    st.sampled_from([0.9, 0.95]),
)
@settings(max_examples=150, deadline=None)
def test_weighted_mean_formula(rows: list[tuple[int, float]], confidence: float) -> None:
    x = np.array([r[0] for r in rows], dtype=float)
    w = np.array([r[1] for r in rows])
    res = ref.mean(x.astype(int), w, ci="t", confidence=confidence)
    m = w.sum() ** 2 / (w**2).sum()
    var = float(np.cov(x, aweights=w, ddof=1))  # reliability-weights unbiased variance
    se = math.sqrt(var / m)
    t = stats.t.ppf(0.5 + confidence / 2, m - 1)
    assert res.value == pytest.approx(np.average(x, weights=w), rel=1e-13)
    assert res.effective_n == pytest.approx(m, rel=1e-13)
    assert res.se == pytest.approx(se, rel=1e-9, abs=1e-12)
    # n_eff close to 1 gives a tiny df and an enormous t: compare relatively as well
    assert res.ci_low == pytest.approx(max(res.value - t * se, 1.0), abs=1e-9, rel=1e-12)
    assert res.ci_high == pytest.approx(min(res.value + t * se, 5.0), abs=1e-9, rel=1e-12)


@given(st.lists(st.tuples(st.integers(0, 10), st.floats(0.1, 10)), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None)
def test_weighted_nps_linearisation(rows: list[tuple[int, float]]) -> None:
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    res = ref.nps(x, w, ci="wald")
    pm = np.where(x >= 9, 1.0, np.where(x <= 6, -1.0, 0.0))
    m = w.sum() ** 2 / (w**2).sum()
    centre = 100 * np.average(pm, weights=w)
    se = 100 * math.sqrt(max(float(np.cov(pm, aweights=w, ddof=0)), 0.0) / m) if x.size > 1 else 0.0
    assert res.value == pytest.approx(centre, rel=1e-12, abs=1e-10)
    assert res.se == pytest.approx(se, rel=1e-9, abs=1e-9)
    assert res.ci_low == pytest.approx(max(centre - Z95 * se, -100), abs=1e-9)
    assert res.ci_high == pytest.approx(min(centre + Z95 * se, 100), abs=1e-9)
    assert res.counts["promoters"] == int(np.sum(x >= 9))


def test_weighted_score_and_wilson_use_effective_n() -> None:
    x = np.array([10, 10, 10, 8, 0, 0])
    w = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 4.0])
    m = 144 / 32  # (Σw)² / Σw²
    p_plus, p_minus = 6 / 12, 5 / 12
    res = ref.nps(x, w, ci="score")
    assert res.effective_n == pytest.approx(m, rel=1e-15)
    lo, hi = ref.nps_score(p_plus * m, p_minus * m, m, Z95)
    assert (res.ci_low, res.ci_high) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
    share = ref.top_box(x, w, scale=(0, 10), top=2, ci="wilson")
    c = Z95**2
    p = 0.5
    centre = (p + c / (2 * m)) / (1 + c / m)
    half = Z95 / (1 + c / m) * math.sqrt(p * (1 - p) / m + c / (4 * m * m))
    assert share.ci_low == pytest.approx(100 * (centre - half), abs=1e-12)
    assert share.ci_high == pytest.approx(100 * (centre + half), abs=1e-12)


def test_weighted_one_bucket_score_interval() -> None:
    w = np.array([1.0, 3.0, 0.5])
    m = 4.5**2 / (1 + 9 + 0.25)
    c = Z95**2
    res = ref.nps(np.array([10, 9, 10]), w, ci="score")
    assert res.ci_low == pytest.approx(100 * (m - c) / (m + c), abs=1e-12)
    assert res.ci_high == 100.0


# --------------------------------------------------------------------------------------------
# conventions


@pytest.mark.parametrize("fn", [ref.nps, ref.csat, ref.ces, ref.mean, ref.top_box])
def test_empty_is_nan(fn: object) -> None:
    res = fn(np.array([], dtype=np.int64))  # type: ignore[operator]
    assert res.n == 0
    assert all(math.isnan(v) for v in (res.value, res.se, res.ci_low, res.ci_high))


def test_single_nps_response() -> None:
    res = ref.nps(np.array([10]), ci="wald")
    assert (res.value, res.se, res.ci_low, res.ci_high) == (100.0, 0.0, 100.0, 100.0)


def test_ci_none_keeps_se() -> None:
    res = ref.nps(nps_sample(50, 30, 20), ci=None)
    assert math.isnan(res.ci_low) and math.isnan(res.ci_high)
    assert res.se == pytest.approx(7.810249675906654, rel=1e-14)


def test_unknown_methods_raise() -> None:
    with pytest.raises(ValueError):
        ref.nps(nps_sample(1, 1, 1), ci="wilson")
    with pytest.raises(ValueError):
        ref.csat(np.array([1, 5]), ci="score")
    with pytest.raises(ValueError):
        ref.mean(np.array([1, 5]), ci="wilson")
