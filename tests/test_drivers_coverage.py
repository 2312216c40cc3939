"""Coverage of the drivers' bootstrap intervals (percentile, BC or BCa from Poisson replicates
of the Gram matrix, resampled from the histogram of distinct answer tuples), with planted true
importances: drivers ~ N(0, Σ), y = Xβ + ε, whose population correlation matrix gives the true
relative weights and Shapley values (drivers_reference). Continuous values make every row its
own tuple; the ``ratings`` variant rounds the drivers to a 1-5 scale and the outcome to 0-10,
so tuples repeat (counts resampled as Poisson(n_t)), its truth from two million rows. The long
runs (n = 200, 1,000, 10,000) are marked slow; their results are in docs/statistics.md."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from helpers import drivers_reference as ref

SIGMA = np.array([[1.0, 0.4, 0.2], [0.4, 1.0, 0.3], [0.2, 0.3, 1.0]])
BETA = np.array([0.5, 0.3, 0.15])
NOISE_SD = 0.9


def truth(method: str) -> np.ndarray:
    var_y = BETA @ SIGMA @ BETA + NOISE_SD**2
    cov = np.empty((4, 4))
    cov[0, 0] = var_y
    cov[0, 1:] = cov[1:, 0] = SIGMA @ BETA
    cov[1:, 1:] = SIGMA
    sd = np.sqrt(np.diag(cov))
    rw, shap, _ = ref.population_importances(cov / np.outer(sd, sd))
    return rw if method == "relative-weights" else shap


def sample(rng: np.random.Generator, n: int, ratings: bool) -> pa.Table:
    """n rows of the planted model; with ``ratings`` on a 1-5 scale and a 0-10 outcome."""
    x = rng.normal(size=(n, 3)) @ np.linalg.cholesky(SIGMA).T
    y = x @ BETA + rng.normal(size=n) * NOISE_SD
    if ratings:
        x = np.clip(np.round(x + 3), 1, 5)
        y = np.clip(np.round(2 * y + 6), 0, 10)
    return pa.table({"y": y, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})


def rating_truth(method: str) -> np.ndarray:
    """The importances of the rounded model, from two million rows (sd ~1e-3)."""
    population = sample(np.random.default_rng(99), 2_000_000, ratings=True)
    res = cx.drivers(population, "y", ["a", "b", "c"], method=method,  # type: ignore[arg-type]
                     ci=None)
    return np.array([r.importance for r in res])


def simulate(method: str, n: int, reps: int, n_resamples: int, seed: int,
             ratings: bool = False, bootstrap: str = "percentile") -> tuple[np.ndarray, float]:
    """Per-driver coverage of 95% intervals, and how often the estimated order is the true one."""
    rng = np.random.default_rng(seed)
    true = rating_truth(method) if ratings else truth(method)
    hits = np.zeros(3)
    ordered = 0
    for r in range(reps):
        table = sample(rng, n, ratings)
        res = cx.drivers(table, "y", ["a", "b", "c"], method=method,  # type: ignore[arg-type]
                         n_resamples=n_resamples, seed=seed * 1000 + r,
                         bootstrap=bootstrap)  # type: ignore[arg-type]
        assert res.resampling == "tuples" and res.bootstrap == bootstrap
        low = np.array([row.ci_low for row in res])
        high = np.array([row.ci_high for row in res])
        hits += (low <= true) & (true <= high)
        ordered += res.ranking() == ["a", "b", "c"]
    return hits / reps, ordered / reps


@pytest.mark.parametrize(("method", "bootstrap"), [("relative-weights", "percentile"),
                                                   ("shapley", "bca")])
def test_intervals_cover_near_the_nominal_level(method: str, bootstrap: str) -> None:
    coverage, _ = simulate(method, n=1000, reps=120, n_resamples=200, seed=1,
                           bootstrap=bootstrap)
    # 120 intervals per driver: a 95% level gives 0.95 ± 0.02 (sd); allow ~2.5 sd.
    assert np.all(coverage >= 0.89), coverage
    assert np.all(coverage <= 1.0)


def test_rating_intervals_cover_near_the_nominal_level() -> None:
    coverage, _ = simulate("shapley", n=1000, reps=120, n_resamples=200, seed=3, ratings=True,
                           bootstrap="bca")
    assert np.all(coverage >= 0.89), coverage


@pytest.mark.slow
@pytest.mark.parametrize("n", [200, 1000, 10_000])
@pytest.mark.parametrize("method", ["relative-weights", "shapley"])
def test_coverage_table(method: str, n: int) -> None:
    # Fewer data sets at n = 10,000 keep the suite's time in check (each is 20x the work).
    coverage, ordered = simulate(method, n=n, reps=200 if n > 1000 else 400, n_resamples=500,
                                 seed=2)
    print(f"\n{method} n={n}: coverage {np.round(coverage, 3)} ranking {ordered:.3f}")
    assert np.all(coverage >= 0.90), coverage


@pytest.mark.slow
@pytest.mark.parametrize("n", [200, 1000, 10_000])
def test_rating_coverage_table(n: int) -> None:
    coverage, ordered = simulate("shapley", n=n, reps=200 if n > 1000 else 400, n_resamples=500,
                                 seed=4, ratings=True)
    print(f"\nshapley ratings n={n}: coverage {np.round(coverage, 3)} ranking {ordered:.3f}")
    assert np.all(coverage >= 0.90), coverage
