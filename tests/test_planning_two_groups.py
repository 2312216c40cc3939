"""Planning a comparison of two groups: ``cx.detectable_difference`` and
``cx.sample_size_two_groups`` against the textbook formula, statsmodels' power of the two-sample
z-test (shares), and a simulation of the power of ``cx.compare`` for NPS."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.power import NormalIndPower

import cxmetrics as cx

Z = 1.959963984540054
Z_POWER = 0.8416212335729143


def test_worst_case_formula() -> None:
    # d = (z_{1-a/2} + z_power) * 100 * sqrt(v_a/n_a + v_b/n_b); worst case v = 1 for NPS.
    assert cx.detectable_difference(1000, 1000) == pytest.approx(
        (Z + Z_POWER) * 100 * math.sqrt(2 / 1000), rel=1e-12)
    assert cx.detectable_difference(400, 900, metric="share") == pytest.approx(
        (Z + Z_POWER) * 100 * math.sqrt(0.25 / 400 + 0.25 / 900), rel=1e-12)
    v = 0.5 + 0.2 - 0.3**2
    assert cx.detectable_difference(500, 500, promoters=0.5, detractors=0.2) == pytest.approx(
        (Z + Z_POWER) * 100 * math.sqrt(2 * v / 500), rel=1e-12)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n_a=st.integers(20, 20_000), ratio=st.floats(0.25, 4), share=st.floats(0.05, 0.95),
       power=st.floats(0.5, 0.95), confidence=st.sampled_from([0.9, 0.95, 0.99]),
       alternative=st.sampled_from(["two-sided", "greater"]))
def test_shares_against_statsmodels_power(n_a: int, ratio: float, share: float, power: float,
                                          confidence: float, alternative: str) -> None:
    n_b = n_a * ratio
    d = cx.detectable_difference(n_a, n_b, metric="share", share=share, power=power,
                                 confidence=confidence, alternative=alternative)  # type: ignore[arg-type]
    effect = d / (100 * math.sqrt(share * (1 - share)))
    got = NormalIndPower().power(effect, nobs1=n_a, alpha=1 - confidence, ratio=ratio,
                                 alternative="two-sided" if alternative == "two-sided"
                                 else "larger")
    # statsmodels adds the far tail's rejection probability for two-sided tests.
    z_alpha = NormalDist().inv_cdf(1 - (1 - confidence) / (2 if alternative == "two-sided"
                                                          else 1))
    far = NormalDist().cdf(-effect / math.sqrt(1 / n_a + 1 / n_b) - z_alpha) \
        if alternative == "two-sided" else 0.0
    assert got == pytest.approx(power + far, abs=1e-9)
    n_needed, n_b_needed = cx.sample_size_two_groups(d, metric="share", share=share,
                                                     power=power, confidence=confidence,
                                                     ratio=ratio, alternative=alternative)  # type: ignore[arg-type]
    assert abs(n_needed - n_a) <= 1
    assert n_b_needed == math.ceil(n_needed * ratio * (1 - 1e-12))


def test_sample_size_is_the_inverse_and_rounds_up() -> None:
    n_a, n_b = cx.sample_size_two_groups(5, promoters=0.5, detractors=0.2)
    assert n_a == n_b
    assert cx.detectable_difference(n_a, n_b, promoters=0.5, detractors=0.2) <= 5
    assert cx.detectable_difference(n_a - 1, n_b - 1, promoters=0.5, detractors=0.2) > 5
    # Worst case, NPS, 95 %, 80 % power, 10 points: 2 * 7.849 / 0.01 = 1,570 per group.
    assert cx.sample_size_two_groups(10) == (1570, 1570)


def test_nps_power_by_simulation() -> None:
    # Groups of 400 with (promoters, detractors) = (0.5, 0.2) and (0.42, 0.24): a true
    # difference of 12 points. The planned power for it is the power at which
    # detectable_difference returns 12; cx.compare's z-test rejects at that rate.
    n, a, b = 400, (0.5, 0.2), (0.42, 0.24)
    truth = 100 * ((a[0] - a[1]) - (b[0] - b[1]))
    v_a, v_b = (s[0] + s[1] - (s[0] - s[1]) ** 2 for s in (a, b))
    se = 100 * math.sqrt(v_a / n + v_b / n)
    planned = NormalDist().cdf(truth / se - Z)
    assert cx.detectable_difference(n, n, power=planned, promoters=a[0], detractors=a[1],
                                    promoters_b=b[0], detractors_b=b[1]) == pytest.approx(truth)
    rng = np.random.default_rng(12)
    replicates = 1_500
    a_counts = rng.multinomial(n, (a[0], 1 - sum(a), a[1]), replicates)
    b_counts = rng.multinomial(n, (b[0], 1 - sum(b), b[1]), replicates)
    hits = 0
    for ca, cb in zip(a_counts, b_counts, strict=True):
        hits += cx.compare(cx.nps(np.repeat([10, 8, 0], ca)),
                           cx.nps(np.repeat([10, 8, 0], cb))).p_value < 0.05
    sd = math.sqrt(planned * (1 - planned) / replicates)
    # The z-test on estimated variances is close to, not exactly, the planned normal power.
    assert abs(hits / replicates - planned) < 4 * sd + 0.01, (hits / replicates, planned)


def test_bad_arguments() -> None:
    with pytest.raises(cx.ArgumentError, match="power"):
        cx.detectable_difference(100, 100, power=1.0)
    with pytest.raises(cx.ArgumentError, match="n_a"):
        cx.detectable_difference(0, 100)
    with pytest.raises(cx.ArgumentError, match="difference"):
        cx.sample_size_two_groups(0)
    with pytest.raises(cx.ArgumentError, match="alternative"):
        cx.detectable_difference(100, 100, alternative="both")  # type: ignore[arg-type]
