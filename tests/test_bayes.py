"""``ci="bayes"``: equal-tailed credible intervals from the Dirichlet(counts + ½) posterior.

- Shares: the posterior is Beta(x + ½, n − x + ½) (Jeffreys); bounds against
  ``scipy.stats.beta.ppf`` and se against ``beta.std``, tolerance 4 Monte-Carlo sd of the
  sampled quantile (sqrt(q(1 − q)/B)/pdf) or sd (σ·sqrt((κ − 1)/(4B))): 6e-5 false alarms per
  check.
- NPS: Dirichlet over (promoters, passives, detractors) + ½ each; se against the exact posterior
  sd of p₊ − p₋, bounds against NumPy Dirichlet draws (ECDF straddles q within 4 sd).
- Means: Dirichlet over the scale points + ½ each; same checks.
- Weighted: effective counts = shares × Kish's n_eff.
- Coverage at n = 100: NPS grid simulated (R = 2000 surveys, asserted within
  95 ± (1.5 + 3·0.49)); shares enumerated exactly over the 101 possible surveys (only the
  posterior sampling is random, B = 20,000 draws) and checked against exact Jeffreys bounds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

import cxmetrics as cx

SEED = 20_241_125
DRAWS = 400_000
FloatArray = NDArray[np.float64]


def _quantile_tolerance(q: float, density: float, draws: int = DRAWS) -> float:
    return 4.0 * math.sqrt(q * (1 - q) / draws) / density


@pytest.mark.parametrize(("hits", "n"), [(30, 100), (2, 50), (0, 20), (199, 200), (1, 1)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_share_posterior_is_jeffreys_beta(hits: int, n: int, confidence: float) -> None:
    r = cx.csat([5] * hits + [1] * (n - hits), ci="bayes", n_resamples=DRAWS, seed=SEED,
                confidence=confidence)
    assert (r.method, r.n_resamples, r.seed) == ("bayes", DRAWS, SEED)
    post = stats.beta(hits + 0.5, n - hits + 0.5)
    for q, bound in (((1 - confidence) / 2, r.ci_low), ((1 + confidence) / 2, r.ci_high)):
        x = float(post.ppf(q))
        tol = 100.0 * _quantile_tolerance(q, float(post.pdf(x)))
        assert bound == pytest.approx(100.0 * x, abs=tol), (q, bound, 100 * x, tol)
    sd = float(post.std())
    kurtosis = float(post.stats(moments="k")) + 3.0
    tol_sd = 4.0 * sd * math.sqrt((kurtosis - 1) / (4 * DRAWS))
    assert r.se == pytest.approx(100.0 * sd, abs=100.0 * tol_sd)
    assert r.value == pytest.approx(100.0 * hits / n)  # the estimate stays the sample share


def _check_against_draws(r: Any, reference: FloatArray, confidence: float) -> None:
    """cxmetrics' equal-tailed bounds straddle the reference ECDF at q within 4 MC sd."""
    for q, bound in (((1 - confidence) / 2, r.ci_low), ((1 + confidence) / 2, r.ci_high)):
        tol = 4.0 * math.sqrt(q * (1 - q) * (1 / DRAWS + 1 / reference.size))
        assert abs(float(np.mean(reference <= bound)) - q) <= tol, (q, bound)


@pytest.mark.parametrize("counts", [(50, 30, 20), (3, 1, 0), (70, 25, 5), (0, 0, 4)])
def test_nps_posterior_is_dirichlet_over_the_buckets(counts: tuple[int, int, int]) -> None:
    promoters, passives, detractors = counts
    r = cx.nps([10] * promoters + [8] * passives + [2] * detractors, ci="bayes",
               n_resamples=DRAWS, seed=SEED)
    alpha = np.array(counts, dtype=np.float64) + 0.5
    a0 = float(alpha.sum())
    ap, am = alpha[0], alpha[2]
    var = (ap * (a0 - ap) + am * (a0 - am) + 2 * ap * am) / (a0 * a0 * (a0 + 1))
    sd = 100.0 * math.sqrt(var)
    rng = np.random.default_rng((SEED, 1, *counts))
    draws = rng.dirichlet(alpha, 200_000)
    reference = 100.0 * (draws[:, 0] - draws[:, 2])
    kurtosis = float(stats.kurtosis(reference, fisher=False))
    assert r.se == pytest.approx(sd, abs=4 * sd * math.sqrt((kurtosis - 1) / (4 * DRAWS)))
    _check_against_draws(r, reference, 0.95)


def test_mean_posterior_is_dirichlet_over_the_scale_points() -> None:
    counts = np.array([2, 0, 5, 20, 13])  # 1..5, one point unused: it still gets ½
    r = cx.mean_score(np.repeat(np.arange(1, 6), counts), ci="bayes", n_resamples=DRAWS,
                      seed=SEED, confidence=0.9)
    alpha = counts + 0.5
    a0 = float(alpha.sum())
    values = np.arange(1.0, 6.0)
    m1 = float(values @ alpha) / a0
    var = (float(values**2 @ alpha) / a0 - m1 * m1) / (a0 + 1)
    rng = np.random.default_rng((SEED, 2))
    reference = rng.dirichlet(alpha, 200_000) @ values
    kurtosis = float(stats.kurtosis(reference, fisher=False))
    sd = math.sqrt(var)
    assert r.se == pytest.approx(sd, abs=4 * sd * math.sqrt((kurtosis - 1) / (4 * DRAWS)))
    _check_against_draws(r, reference, 0.9)


def test_weighted_share_uses_kish_effective_counts() -> None:
    rng = np.random.default_rng((SEED, 3))
    scores = rng.integers(1, 6, 150)
    weights = rng.uniform(0.2, 3.0, 150)
    r = cx.csat(scores, weight=weights, ci="bayes", n_resamples=DRAWS, seed=SEED)
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    share = weights[scores >= 4].sum() / weights.sum()
    assert r.effective_n == pytest.approx(n_eff)
    post = stats.beta(share * n_eff + 0.5, (1 - share) * n_eff + 0.5)
    for q, bound in ((0.025, r.ci_low), (0.975, r.ci_high)):
        x = float(post.ppf(q))
        tol = 100.0 * _quantile_tolerance(q, float(post.pdf(x)))
        assert bound == pytest.approx(100.0 * x, abs=tol)
    assert r.value == pytest.approx(100.0 * share)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(counts=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40)).filter(
    lambda c: sum(c) > 0), seed=st.integers(0, 2**64 - 1))
def test_bounds_in_range_and_reproducible(counts: tuple[int, int, int], seed: int) -> None:
    scores = [10] * counts[0] + [7] * counts[1] + [0] * counts[2]
    a = cx.nps(scores, ci="bayes", n_resamples=500, seed=seed)
    b = cx.nps(scores, ci="bayes", n_resamples=500, seed=seed)
    assert -100.0 <= a.ci_low < a.ci_high <= 100.0  # a continuous posterior: never a point
    assert (a.ci_low.hex(), a.ci_high.hex(), a.se.hex()) == (
        b.ci_low.hex(), b.ci_high.hex(), b.se.hex())
    c = cx.nps(scores, ci="bayes", n_resamples=500, seed=seed ^ 1)
    assert (a.ci_low, a.ci_high, a.se) != (c.ci_low, c.ci_high, c.se)


def test_segments_do_not_share_draws_and_do_not_depend_on_each_other() -> None:
    scores = np.tile([10, 10, 8, 0, 3], 40)
    keys = np.repeat(["a", "b", "c", "d"], 50)
    res = cx.nps(scores, by=keys, ci="bayes", n_resamples=2000, seed=4)
    assert len({(r.ci_low, r.ci_high) for r in res}) == 4  # same data, independent streams
    alone = cx.nps(scores[keys == "c"], by=keys[keys == "c"], ci="bayes", n_resamples=2000,
                   seed=4)
    assert alone["c"].ci_low.hex() == res["c"].ci_low.hex()


def test_no_responses_give_nan_bounds() -> None:
    r = cx.nps([], ci="bayes", seed=1)
    assert math.isnan(r.value) and math.isnan(r.ci_low) and math.isnan(r.ci_high)


def test_no_responses_are_explained() -> None:
    assert cx.nps([], ci="bayes", seed=1).note


# --------------------------------------------------------------------------------------------
# Coverage at n = 100

GRID = ((0.2, 0.2), (0.5, 0.1), (0.7, 0.05), (0.1, 0.6), (0.33, 0.33))
N = 100
REPLICATES = 2000
COVERAGE_DRAWS = 1000


@pytest.mark.parametrize("cell", GRID, ids=lambda c: f"p+={c[0]},p-={c[1]}")
def test_nps_coverage(cell: tuple[float, float], record_property: Any) -> None:
    pp, pm = cell
    rng = np.random.default_rng((SEED, 4, GRID.index(cell)))
    counts = rng.multinomial(N, (pp, 1 - pp - pm, pm), size=REPLICATES)
    scores = np.repeat(np.tile(np.array([10, 8, 0], dtype=np.int8), REPLICATES), counts.ravel())
    ids = np.repeat(np.repeat(np.arange(REPLICATES, dtype=np.int32), 3), counts.ravel())
    table = cx.nps(scores, by=ids, ci="bayes", n_resamples=COVERAGE_DRAWS, seed=SEED).to_arrow()
    low, high = table.column("ci_low").to_numpy(), table.column("ci_high").to_numpy()
    truth = 100.0 * (pp - pm)
    got = 100.0 * float(np.mean((low <= truth) & (truth <= high)))
    sd = 100.0 * math.sqrt(0.95 * 0.05 / REPLICATES)
    record_property("coverage", got)
    print(f"bayes coverage n={N} p+={pp} p-={pm}: {got:.1f}%")
    assert abs(got - 95.0) <= 1.5 + 3 * sd, f"{got:.2f}%"


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8, 0.95])
def test_share_coverage_enumerated(p: float, record_property: Any) -> None:
    """All 101 possible surveys in one call; coverage = Σ Binomial pmf × 1[covers]."""
    x = np.arange(N + 1)
    counts = np.column_stack([N - x, x])
    scores = np.repeat(np.tile([1, 5], N + 1), counts.ravel())
    ids = np.repeat(np.repeat(x, 2), counts.ravel())
    table = cx.csat(scores, by=ids, ci="bayes", n_resamples=20_000, seed=SEED).to_arrow()
    low, high = table.column("ci_low").to_numpy(), table.column("ci_high").to_numpy()
    covers = (low <= 100 * p) & (100 * p <= high)
    got = 100.0 * float(np.sum(stats.binom.pmf(x, N, p) * covers))
    # The same sum with exact Jeffreys bounds: only bounds within MC error of 100p may differ.
    exact_low = 100 * stats.beta.ppf(0.025, x + 0.5, N - x + 0.5)
    exact_high = 100 * stats.beta.ppf(0.975, x + 0.5, N - x + 0.5)
    exact = 100.0 * float(np.sum(stats.binom.pmf(x, N, p)
                                 * ((exact_low <= 100 * p) & (100 * p <= exact_high))))
    record_property("coverage", got)
    print(f"bayes share coverage n={N} p={p}: {got:.2f}% (exact Jeffreys {exact:.2f}%)")
    assert abs(got - exact) <= 1.0
    if p == 0.95:
        # Jeffreys' own coverage dips to 93.47% here (the discreteness of a binomial at n = 100;
        # Wilson gives 96.6% on the same cell): recorded, with a floor.
        assert got >= 93.0, f"{got:.2f}%"
    else:
        assert abs(got - 95.0) <= 1.5, f"{got:.2f}%"
