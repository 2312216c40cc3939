"""Bootstrap of weighted responses: respondents resampled through (weight, bucket) cells."""

from __future__ import annotations

import numpy as np
import pytest

import cxmetrics as cx


def _data(seed: int, n: int, distinct_weights: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.choice(11, n, p=[0.05] * 7 + [0.15, 0.15, 0.2, 0.15]).astype(np.int8)
    weights = rng.gamma(4.0, 0.25, n) if distinct_weights else rng.choice([0.5, 1.0, 2.0], n)
    keys = rng.choice(np.array(["a", "b", "c"]), n)
    return scores, weights, keys


def test_unit_weights_give_the_unweighted_bootstrap_bit_for_bit() -> None:
    scores, _, keys = _data(1, 500, False)
    plain = cx.nps(scores, by=keys, ci="bootstrap", seed=3, n_resamples=2000)
    unit = cx.nps(scores, by=keys, weight=np.ones(len(scores)), ci="bootstrap", seed=3,
                  n_resamples=2000)
    for p, u in zip([*plain, plain.overall], [*unit, unit.overall], strict=True):
        assert (p.ci_low, p.ci_high, p.value) == (u.ci_low, u.ci_high, u.value)


@pytest.mark.parametrize("distinct", [False, True], ids=["few-weights", "distinct-weights"])
def test_overall_of_a_segmented_call_equals_the_unsegmented_call(distinct: bool) -> None:
    scores, weights, keys = _data(2, 3000, distinct)
    seg = cx.nps(scores, by=keys, weight=weights, ci="bootstrap", seed=9, n_resamples=1000)
    one = cx.nps(scores, weight=weights, ci="bootstrap", seed=9, n_resamples=1000)
    assert (seg.overall.ci_low, seg.overall.ci_high) == (one.ci_low, one.ci_high)


@pytest.mark.parametrize("distinct", [False, True], ids=["multinomial", "poisson"])
def test_agrees_with_the_kish_wald_interval_on_large_samples(distinct: bool) -> None:
    # n = 5000: the bootstrap and the linearised (Kish) interval should nearly agree.
    scores, weights, _ = _data(3, 5000, distinct)
    boot = cx.nps(scores, weight=weights, ci="bootstrap", bootstrap="percentile", seed=4,
                  n_resamples=4000)
    wald = cx.nps(scores, weight=weights, ci="wald")
    assert boot.value == pytest.approx(wald.value, abs=1e-9)
    assert boot.ci_low < boot.value < boot.ci_high
    assert boot.se == pytest.approx(wald.se, rel=0.1)
    assert boot.ci_low == pytest.approx(wald.ci_low, abs=0.2 * wald.se * 2)
    assert boot.ci_high == pytest.approx(wald.ci_high, abs=0.2 * wald.se * 2)


def test_weighted_bootstrap_matches_numpy_row_resampling_se() -> None:
    # Plain NumPy reference: resample respondents (rows) with replacement, weighted NPS.
    scores, weights, _ = _data(5, 400, True)
    rng = np.random.default_rng(0)
    promoter = (scores >= 9).astype(float)
    detractor = (scores <= 6).astype(float)
    idx = rng.integers(0, len(scores), (20000, len(scores)))
    w = weights[idx]
    ref = 100 * ((w * (promoter[idx] - detractor[idx])).sum(axis=1) / w.sum(axis=1))
    ours = cx.nps(scores, weight=weights, ci="bootstrap", bootstrap="percentile", seed=1,
                  n_resamples=20000)
    # The Poisson bootstrap's sd matches the multinomial one's to O(1/n); Monte Carlo sd of
    # an sd estimate from 20k resamples is about 0.5%.
    assert ours.se == pytest.approx(ref.std(ddof=1), rel=0.05)
    assert ours.ci_low == pytest.approx(np.percentile(ref, 2.5), abs=0.15 * ours.se * 4)
    assert ours.ci_high == pytest.approx(np.percentile(ref, 97.5), abs=0.15 * ours.se * 4)
