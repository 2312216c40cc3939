"""``cx.compare``: the difference of one metric between two independent groups.

- Wald: difference, se, clipped interval, z and p-value (``test="wald"``) against
  ``reference.wald_difference`` and ``scipy.stats.norm`` (p-values to 1e-12 relative, down to
  1e-300).
- The pooled (score-type) test, the default: z and p against ``reference.pooled_test`` computed
  from the raw responses, unweighted and weighted (effective n), for NPS, shares and means;
  ``note`` is set exactly when the test and the interval disagree about 0.
- Newcombe: shares against the NumPy reference of Newcombe's hybrid score method (MOVER on
  Wilson intervals) and his published example 56/70 vs 48/80 → [0.0524, 0.3339]; NPS against
  MOVER on the reference Tango score intervals.
- Bootstrap: the distribution of the resampled difference is read back from percentile bounds
  (as in test_bootstrap.py) and tested against NumPy row resampling of both groups (chi-square
  two-sample test, false alarm 1e-3); scipy.stats.bootstrap (two samples, ``paired=False``)
  applied to those same resamples must give cxmetrics' percentile, basic and BCa bounds to 1e-10
  relative;
  bounds with many resamples against the reference's quantiles (4 Monte-Carlo sd).
- Coverage of the Wald and Newcombe differences at n = 100 per group: exact for shares (all
  101 × 101 outcomes enumerated — no simulation error), simulated for NPS (50,000 pairs of
  surveys, MC sd 0.10 points, asserted within 95 ± (1.5 + 3 sd)).
"""

from __future__ import annotations

import math
import types
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

import cxmetrics as cx
from helpers import reference as ref

SEED = 20_241_124
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def csat_counts(satisfied: int, n: int) -> Any:
    return cx.csat([5] * satisfied + [1] * (n - satisfied))


def nps_counts(promoters: int, passives: int, detractors: int, **kw: Any) -> Any:
    return cx.nps([10] * promoters + [7] * passives + [0] * detractors, **kw)


# --------------------------------------------------------------------------------------------
# Wald and the z-test


bucket_counts = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60)).filter(
    lambda c: sum(c) >= 2)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(a=bucket_counts, b=bucket_counts, confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wald_difference_matches_the_formula(a: tuple[int, int, int], b: tuple[int, int, int],
                                             confidence: float) -> None:
    ra = nps_counts(*a, confidence=confidence)
    rb = nps_counts(*b)
    c = cx.compare(ra, rb, test="wald")  # confidence defaults to a's
    assert c.confidence == confidence and c.method == "wald" and c.metric == "nps"
    assert c.test == "wald"
    d, se, low, high, p = ref.wald_difference(ra.value, ra.se, rb.value, rb.se,
                                              ref.z_value(confidence), 200.0)
    assert c.difference == pytest.approx(d, abs=1e-12)
    assert c.se == pytest.approx(se, rel=1e-12, abs=1e-12)
    assert c.ci_low == pytest.approx(low, abs=1e-9)
    assert c.ci_high == pytest.approx(high, abs=1e-9)
    if se > 0:
        assert c.z == pytest.approx(d / se, rel=1e-12, abs=1e-12)
        assert c.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert (c.a, c.b) == (ra, rb) and c.seed is None and c.n_resamples is None


@pytest.mark.parametrize(("metric", "span"), [("share", 100.0), ("mean", 4.0)])
def test_wald_difference_for_shares_and_means(metric: str, span: float) -> None:
    rng = np.random.default_rng((SEED, 1))
    for _ in range(20):
        xa = rng.integers(1, 6, rng.integers(2, 80))
        xb = rng.integers(1, 6, rng.integers(2, 80))
        f = cx.csat if metric == "share" else cx.mean_score
        ra, rb = f(xa), f(xb)
        c = cx.compare(ra, rb, confidence=0.9, test="wald")
        d, se, low, high, p = ref.wald_difference(ra.value, ra.se, rb.value, rb.se,
                                                  ref.z_value(0.9), span)
        assert c.confidence == 0.9
        assert c.difference == pytest.approx(d, abs=1e-12)
        assert c.se == pytest.approx(se, rel=1e-12)
        assert c.ci_low == pytest.approx(low, abs=1e-9)
        assert c.ci_high == pytest.approx(high, abs=1e-9)
        assert c.p_value == pytest.approx(p, rel=1e-9)


def test_wald_interval_is_clipped_to_the_range_of_a_difference() -> None:
    # Tiny groups at opposite ends: the unclipped Wald interval would leave [−200, 200].
    c = cx.compare(nps_counts(2, 0, 1), nps_counts(0, 0, 1), confidence=0.999)
    assert -200.0 <= c.ci_low <= c.ci_high <= 200.0
    assert c.ci_high == 200.0


@pytest.mark.parametrize("z_target", [0.5, 3.0, 8.0, 20.0, 35.0])
def test_p_value_matches_scipy_far_into_the_tail(z_target: float) -> None:
    """p = 2Φ(−|z|) to 1e-9 relative even when 1 − Φ(|z|) would cancel to 0."""
    n = 20_000
    a = nps_counts(n // 2, n // 2, 0)
    # Search the b with the z closest to the target (z grows as b's promoters fall).
    best = min(range(0, n // 2 + 1, 25),
               key=lambda k: abs(cx.compare(a, nps_counts(k, n - k, 0)).z - z_target))
    c = cx.compare(a, nps_counts(best, n - best, 0))
    expected = 2.0 * float(stats.norm.sf(abs(c.z)))
    assert expected > 0
    assert c.p_value == pytest.approx(expected, rel=1e-9)
    assert c.p_value == pytest.approx(2.0 * float(stats.norm.cdf(-abs(c.z))), rel=1e-9)


def test_identical_groups_have_p_value_one() -> None:
    a = nps_counts(30, 40, 30)
    for test in ("pooled", "wald"):
        c = cx.compare(a, nps_counts(30, 40, 30), test=test)  # type: ignore[arg-type]
        assert (c.difference, c.z, c.p_value) == (0.0, 0.0, 1.0)


def _responses(counts: tuple[int, ...], values: tuple[float, ...]) -> FloatArray:
    return np.repeat(np.array(values, dtype=float), counts)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(a=bucket_counts, b=bucket_counts)
def test_pooled_test_matches_the_reference(a: tuple[int, int, int],
                                           b: tuple[int, int, int]) -> None:
    ra, rb = nps_counts(*a), nps_counts(*b)
    c = cx.compare(ra, rb)
    assert c.test == "pooled"
    # Promoters, passives, detractors score 100, 0, −100.
    x_a, x_b = _responses(a, (100, 0, -100)), _responses(b, (100, 0, -100))
    if np.ptp(np.concatenate([x_a, x_b])) == 0:  # everyone alike: no variance, no test
        assert math.isnan(c.p_value)
        return
    z, p = ref.pooled_test(x_a, None, x_b, None, bessel=False)
    assert c.z == pytest.approx(z, rel=1e-12, abs=1e-12)
    assert c.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    # The interval is still Wald's, on each group's own variance.
    assert c.se == pytest.approx(math.sqrt(ra.se ** 2 + rb.se ** 2), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("metric", ["nps", "share", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_pooled_test_on_shares_means_and_weights(metric: str, weighted: bool) -> None:
    """Weighted: the weighted means and variances, pooled on Kish's effective n's."""
    rng = np.random.default_rng((SEED, 2))
    func = {"nps": cx.nps, "share": cx.csat, "mean": cx.mean_score}[metric]
    low, high = (0, 10) if metric == "nps" else (1, 5)

    def score(x: IntArray) -> FloatArray:
        if metric == "nps":
            return np.where(x >= 9, 100.0, np.where(x <= 6, -100.0, 0.0))
        return np.where(x >= 4, 100.0, 0.0) if metric == "share" else x.astype(float)

    for _ in range(15):
        xa = rng.integers(low, high + 1, rng.integers(5, 120))
        xb = rng.integers(low, high + 1, rng.integers(5, 120))
        wa = rng.choice([0.5, 1.0, 2.5], xa.size) if weighted else None
        wb = rng.choice([0.5, 1.0, 2.5], xb.size) if weighted else None
        c = cx.compare(func(xa, weight=wa), func(xb, weight=wb))
        z, p = ref.pooled_test(score(xa), wa, score(xb), wb, bessel=metric == "mean")
        assert c.z == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert c.p_value == pytest.approx(p, rel=1e-8, abs=1e-300)


def test_pooled_test_sees_groups_that_each_answer_alike() -> None:
    # Wald has se = 0 here (each group answered alike) and cannot weigh the evidence; the
    # pooled variance is that of 5 promoters and 3 detractors together.
    c = cx.compare(nps_counts(5, 0, 0), nps_counts(0, 0, 3))
    z, p = ref.pooled_test(np.full(5, 100.0), None, np.full(3, -100.0), None, bessel=False)
    assert c.z == pytest.approx(z, rel=1e-12) and c.p_value == pytest.approx(p, rel=1e-9)
    assert 0 < c.p_value < 0.01
    assert cx.compare(nps_counts(5, 0, 0), nps_counts(0, 0, 3), test="wald").se == 0
    with pytest.raises(cx.ArgumentError, match="test"):
        cx.compare(nps_counts(5, 0, 0), nps_counts(0, 0, 3), test="t")  # type: ignore[arg-type]


@pytest.mark.parametrize("ci", ["wald", "newcombe"])
def test_note_says_when_test_and_interval_disagree(ci: str) -> None:
    """Every pair of share outcomes at n = 40 per group: the note is there exactly when
    p < 0.05 and the 95% interval holds 0, or the other way round — and that is rare (4 of
    1,679 testable pairs with Wald, 8 with Newcombe)."""
    disagree = 0
    for x_a in range(41):
        for x_b in range(41):
            c = cx.compare(csat_counts(x_a, 40), csat_counts(x_b, 40), ci=ci)  # type: ignore[arg-type]
            if math.isnan(c.p_value):
                continue
            split = (c.p_value < 0.05) != (c.ci_low > 0 or c.ci_high < 0)
            assert (c.note is not None and "borderline" in c.note) == split, (x_a, x_b, c)
            disagree += split
    assert 0 < disagree < 0.01 * 41 * 41


# --------------------------------------------------------------------------------------------
# Newcombe


def test_newcombe_published_example() -> None:
    """Newcombe (1998), Stat Med 17:873, example (a): 56/70 − 48/80 = 0.2, 95% hybrid score
    interval 0.0524 to 0.3339."""
    c = cx.compare(csat_counts(56, 70), csat_counts(48, 80), ci="newcombe")
    assert c.difference == pytest.approx(20.0)
    assert round(c.ci_low / 100, 4) == 0.0524
    assert round(c.ci_high / 100, 4) == 0.3339
    assert c.method == "newcombe"


@settings(max_examples=80, deadline=None, derandomize=True)
@given(n_a=st.integers(1, 120), n_b=st.integers(1, 120), fa=st.floats(0, 1), fb=st.floats(0, 1),
       confidence=st.sampled_from([0.8, 0.95, 0.99]))
def test_newcombe_for_shares_matches_reference(n_a: int, n_b: int, fa: float, fb: float,
                                               confidence: float) -> None:
    x_a, x_b = round(fa * n_a), round(fb * n_b)
    c = cx.compare(csat_counts(x_a, n_a), csat_counts(x_b, n_b), ci="newcombe",
                   confidence=confidence)
    low, high = ref.newcombe_hybrid(x_a, n_a, x_b, n_b, ref.z_value(confidence))
    assert c.ci_low == pytest.approx(low, abs=1e-9)
    assert c.ci_high == pytest.approx(high, abs=1e-9)
    assert -100.0 <= c.ci_low <= c.difference <= c.ci_high <= 100.0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(a=bucket_counts, b=bucket_counts)
def test_newcombe_for_nps_is_mover_on_tango_intervals(a: tuple[int, int, int],
                                                      b: tuple[int, int, int]) -> None:
    ra, rb = nps_counts(*a), nps_counts(*b)
    z = ref.z_value(0.95)
    ci_a = ref.nps_score(float(a[0]), float(a[2]), float(sum(a)), z)
    ci_b = ref.nps_score(float(b[0]), float(b[2]), float(sum(b)), z)
    low, high = ref.mover_difference(ra.value, ci_a, rb.value, ci_b)
    c = cx.compare(ra, rb, ci="newcombe")
    assert c.ci_low == pytest.approx(low, abs=1e-7)
    assert c.ci_high == pytest.approx(high, abs=1e-7)


def test_options_that_do_not_fit_raise() -> None:
    m = cx.mean_score([1, 2, 3, 4])
    with pytest.raises(cx.ArgumentError):
        cx.compare(m, cx.mean_score([2, 3]), ci="newcombe")
    with pytest.raises(cx.ArgumentError):
        cx.compare(nps_counts(1, 1, 1), csat_counts(1, 2))
    with pytest.raises(ValueError):
        cx.compare(nps_counts(1, 1, 1), nps_counts(1, 1, 1), confidence=1.0)


# --------------------------------------------------------------------------------------------
# Bootstrap difference

GROUP_A = (40, 35, 25)  # promoters, passives, detractors: n = 100
GROUP_B = (22, 30, 28)  # n = 80
RESAMPLES = 2048
BOOT_SEED = 31
ALARM = 1e-3


def _units(counts: tuple[int, int, int]) -> IntArray:
    return np.repeat(np.array([1, 0, -1], dtype=np.int64), counts)


@cache
def reference_difference(resamples: int = 40_000) -> IntArray:
    """Row resampling of both groups: n_b·S_a − n_a·S_b (= difference × n_a·n_b / 100)."""
    rng = np.random.default_rng((SEED, 2))
    ua, ub = _units(GROUP_A), _units(GROUP_B)
    sa = ua[rng.integers(0, ua.size, (resamples, ua.size))].sum(axis=1)
    sb = ub[rng.integers(0, ub.size, (resamples, ub.size))].sum(axis=1)
    return np.asarray(ub.size * sa - ua.size * sb, dtype=np.int64)


UNIT = sum(GROUP_A) * sum(GROUP_B) / 100.0


@cache
def reconstructed_difference() -> FloatArray:
    """All order statistics of one seeded bootstrap of the difference, from percentile bounds."""
    a, b = nps_counts(*GROUP_A), nps_counts(*GROUP_B)
    last = RESAMPLES - 1
    out = np.empty(RESAMPLES)
    for i in range(RESAMPLES // 2):
        confidence = 1.0 - 2.0 * i / last if i else 1.0 - 1e-12
        c = cx.compare(a, b, ci="bootstrap", bootstrap="percentile", n_resamples=RESAMPLES,
                       seed=BOOT_SEED, confidence=confidence)
        out[i], out[last - i] = c.ci_low, c.ci_high
    return out


def _snap(values: FloatArray) -> IntArray:
    scaled = values * UNIT
    k = np.rint(scaled)
    assert np.max(np.abs(scaled - k)) < 1e-6, "resampled differences off their lattice"
    return k.astype(np.int64)


def _homogeneity_pvalue(a: IntArray, b: IntArray, min_expected: float = 5.0) -> float:
    values = np.union1d(a, b)
    ca = np.array([np.count_nonzero(a == v) for v in values])
    cb = np.array([np.count_nonzero(b == v) for v in values])
    share_small = min(a.size, b.size) / (a.size + b.size)
    bins: list[list[int]] = []
    acc = [0, 0]
    for x, y in zip(ca, cb, strict=True):
        acc = [acc[0] + int(x), acc[1] + int(y)]
        if sum(acc) * share_small >= min_expected:
            bins.append(acc)
            acc = [0, 0]
    if sum(acc):
        bins[-1] = [bins[-1][0] + acc[0], bins[-1][1] + acc[1]]
    _, p, _, _ = stats.chi2_contingency(np.array(bins).T, correction=False)
    return float(p)


def test_bootstrap_difference_distribution_equals_row_resampling_of_both_groups() -> None:
    dist = reconstructed_difference()
    assert np.all(np.diff(dist) >= 0)
    p = _homogeneity_pvalue(_snap(dist), reference_difference())
    assert p >= ALARM, f"p = {p:.2g}"


def _difference_statistic(xa: FloatArray, xb: FloatArray, axis: int = -1) -> FloatArray:
    """n_a·n_b·(mean a − mean b), exact integers on full-size resamples (ties stay ties)."""
    na, nb = float(sum(GROUP_A)), float(sum(GROUP_B))
    fa, fb = na / xa.shape[axis], nb / xb.shape[axis]
    return np.asarray(np.sum(xa, axis=axis) * fa * nb - np.sum(xb, axis=axis) * fb * na)


@pytest.mark.parametrize(("method", "scipy_method"),
                         [("percentile", "percentile"), ("basic", "basic"), ("bca", "BCa")])
def test_bootstrap_difference_interval_equals_scipy_on_the_same_resamples(
        method: Any, scipy_method: str) -> None:
    previous = types.SimpleNamespace(
        bootstrap_distribution=_snap(reconstructed_difference()).astype(np.float64))
    a, b = nps_counts(*GROUP_A), nps_counts(*GROUP_B)
    for confidence in (0.8, 0.95):
        theirs = stats.bootstrap(
            (_units(GROUP_A).astype(np.float64), _units(GROUP_B).astype(np.float64)),
            _difference_statistic, n_resamples=0, bootstrap_result=previous,
            method=scipy_method, vectorized=True, paired=False, confidence_level=confidence,
        ).confidence_interval
        ours = cx.compare(a, b, ci="bootstrap", bootstrap=method, n_resamples=RESAMPLES,
                          seed=BOOT_SEED, confidence=confidence)
        # Not degenerate (a note, if any, is the test and interval disagreeing about 0).
        assert ours.note is None or ours.note.startswith("borderline")
        assert ours.method == f"bootstrap-{method}"
        assert (ours.seed, ours.n_resamples) == (BOOT_SEED, RESAMPLES)
        # Bounds interpolate between order statistics tens of lattice units apart, so the
        # last-bit difference between our histogram jackknife's acceleration and scipy's
        # row jackknife (≈ 1e-12 in the BCa level) moves a bound by up to ≈ 5e-8 units; a
        # wrong level or acceleration would move it by whole units.
        assert ours.ci_low * UNIT == pytest.approx(theirs.low, rel=1e-10, abs=1e-6)
        assert ours.ci_high * UNIT == pytest.approx(theirs.high, rel=1e-10, abs=1e-6)


def test_bootstrap_difference_bounds_match_row_resampling_quantiles() -> None:
    b_ours = 400_000
    c = cx.compare(nps_counts(*GROUP_A), nps_counts(*GROUP_B), ci="bootstrap",
                   bootstrap="percentile", n_resamples=b_ours, seed=SEED)
    ref_values = reference_difference() / UNIT
    b_ref = ref_values.size
    for q, bound in ((0.025, c.ci_low), (0.975, c.ci_high)):
        tol = 4 * math.sqrt(q * (1 - q) * (1 / b_ours + 1 / b_ref))
        assert float(np.mean(ref_values <= bound + 1e-9)) >= q - tol
        assert float(np.mean(ref_values < bound - 1e-9)) <= q + tol
    # The bootstrap comparison keeps the Wald se and z-test beside its interval.
    w = cx.compare(nps_counts(*GROUP_A), nps_counts(*GROUP_B))
    assert (c.se, c.p_value) == (w.se, w.p_value)


def test_bootstrap_difference_reproducible_and_degenerate() -> None:
    a, b = nps_counts(*GROUP_A), nps_counts(*GROUP_B)
    one = cx.compare(a, b, ci="bootstrap", n_resamples=500, seed=9)
    two = cx.compare(a, b, ci="bootstrap", n_resamples=500, seed=9)
    assert (one.ci_low, one.ci_high) == (two.ci_low, two.ci_high)
    fresh = cx.compare(a, b, ci="bootstrap", n_resamples=500)
    assert fresh.seed is not None
    again = cx.compare(a, b, ci="bootstrap", n_resamples=500, seed=fresh.seed)
    assert (again.ci_low, again.ci_high) == (fresh.ci_low, fresh.ci_high)
    empty = cx.compare(cx.nps([]), b, ci="bootstrap", seed=1)
    assert math.isnan(empty.ci_low) and math.isnan(empty.difference) and empty.note
    flat = cx.compare(nps_counts(5, 0, 0), nps_counts(0, 0, 3), ci="bootstrap", seed=1)
    assert (flat.ci_low, flat.ci_high) == (200.0, 200.0) and flat.note


# --------------------------------------------------------------------------------------------
# Coverage at n = 100 per group

N = 100
CONFIDENCE = 0.95
SHARE_PAIRS = ((0.5, 0.5), (0.8, 0.7), (0.3, 0.2), (0.1, 0.2), (0.95, 0.9))


@cache
def all_share_results(side: str = "a") -> list[Any]:
    """The result for every possible share survey of N responses (x = 0..N satisfied)."""
    x = np.arange(N + 1)
    counts = np.column_stack([N - x, x])
    scores = np.repeat(np.tile([1, 5], N + 1), counts.ravel())
    ids = np.repeat(np.repeat(x, 2), counts.ravel())
    return list(cx.csat(scores, by=ids, ci="wilson"))


@pytest.mark.parametrize("pair", SHARE_PAIRS, ids=str)
@pytest.mark.parametrize("method", ["wald", "newcombe"])
def test_exact_coverage_of_share_differences(pair: tuple[float, float], method: Any,
                                             record_property: Any) -> None:
    # Two separate calls: group a and group b are independent surveys (compare() refuses a
    # result against itself, so the same outcome on both sides needs its own result object).
    results, results_b = all_share_results("a"), all_share_results("b")
    pmf_a = stats.binom.pmf(np.arange(N + 1), N, pair[0])
    pmf_b = stats.binom.pmf(np.arange(N + 1), N, pair[1])
    truth = 100.0 * (pair[0] - pair[1])
    keep_a, keep_b = np.flatnonzero(pmf_a > 1e-12), np.flatnonzero(pmf_b > 1e-12)
    covered = 0.0
    for i in keep_a:
        for j in keep_b:
            c = cx.compare(results[i], results_b[j], ci=method)
            if c.ci_low <= truth <= c.ci_high:
                covered += pmf_a[i] * pmf_b[j]
    got = 100.0 * covered
    record_property("coverage", got)
    print(f"exact coverage {method} p_a={pair[0]} p_b={pair[1]} n={N}: {got:.2f}%")
    assert abs(got - 95.0) <= 1.5, f"{got:.2f}%"


NPS_PAIRS = (((0.2, 0.2), (0.2, 0.2)), ((0.5, 0.1), (0.33, 0.33)), ((0.7, 0.05), (0.5, 0.1)),
             ((0.1, 0.6), (0.2, 0.2)))
NPS_REPLICATES = 50_000


@cache
def all_nps_results(side: str = "a") -> tuple[dict[tuple[int, int], int], list[Any]]:
    """The result for every NPS survey of N responses, indexed by (promoters, detractors)."""
    pairs = [(p, d) for p in range(N + 1) for d in range(N + 1 - p)]
    counts = np.array([(p, N - p - d, d) for p, d in pairs])
    scores = np.repeat(np.tile([10, 8, 0], len(pairs)), counts.ravel())
    ids = np.repeat(np.repeat(np.arange(len(pairs)), 3), counts.ravel())
    results = list(cx.nps(scores, by=ids, ci="score"))
    return {pd: i for i, pd in enumerate(pairs)}, results


@pytest.mark.parametrize("pair", NPS_PAIRS, ids=str)
@pytest.mark.parametrize("method", ["wald", "newcombe"])
def test_simulated_coverage_of_nps_differences(pair: tuple[tuple[float, float], ...],
                                               method: Any, record_property: Any) -> None:
    # Separate calls for the two independent groups (see the share test above).
    (index, results), (_, results_b) = all_nps_results("a"), all_nps_results("b")
    rng = np.random.default_rng((SEED, 3, NPS_PAIRS.index(pair)))
    draws = []
    for pp, pm in pair:
        counts = rng.multinomial(N, (pp, 1 - pp - pm, pm), size=NPS_REPLICATES)
        draws.append([index[(int(p), int(d))]
                      for p, d in zip(counts[:, 0], counts[:, 2], strict=True)])
    truth = 100.0 * ((pair[0][0] - pair[0][1]) - (pair[1][0] - pair[1][1]))
    hits = 0
    for i, j in zip(*draws, strict=True):
        c = cx.compare(results[i], results_b[j], ci=method)
        hits += c.ci_low <= truth <= c.ci_high
    got = 100.0 * hits / NPS_REPLICATES
    sd = 100.0 * math.sqrt(0.95 * 0.05 / NPS_REPLICATES)
    record_property("coverage", got)
    print(f"coverage {method} {pair} n={N}: {got:.2f}% (MC sd {sd:.2f})")
    assert abs(got - 95.0) <= 1.5 + 3 * sd, f"{got:.2f}%"
