"""Key driver analysis against the NumPy and statsmodels code a user would otherwise write,
measured in the same run (``pytest benches/test_bench_drivers.py --benchmark-enable``).

- ``drivers gram``: the pass over 1M rows × 10 weighted drivers (exact per-row Gram sums,
  ``DriversAccumulator.update`` with ``ci=None``) against ``(X·w)ᵀX`` with BLAS on the same
  float64 design matrix [1, y, x1..x10] (already built: the peer does no conversion). The
  outcome is continuous and the weights lognormal: two exact parts per term.
- ``drivers gram ratings``: the same unweighted, with a 0-10 outcome (ratings and a score:
  small integers, one part per term) against ``XᵀX`` with BLAS.
- ``shapley 16``: ``cx.drivers(method="shapley")`` on 1M rows × 16 drivers (pass + R² of all
  65,536 subsets) against the NumPy all-subsets reference working from the same sufficient
  statistic: BLAS Gram matrix, then one ``np.linalg.solve`` per subset.
- ``shapley 10 · refits``: 20k rows × 10 drivers, against refitting every one of the 1,024
  subset models from the rows, with ``np.linalg.lstsq`` (tests/helpers/drivers_reference.py)
  and with statsmodels ``WLS`` (rounds = 1: these take seconds each).
Each peer's importances are checked against cxmetrics' to 1e-9.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers import drivers_reference as ref

ROWS = 1_000_000


def _design(rows: int, p: int, seed: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.clip(np.round(rng.normal(3, 1, (rows, p)) + rng.normal(0, 0.7, (rows, 1))), 1, 5)
    y = x @ np.linspace(1.0, 0.1, p) + rng.normal(0, 2, rows)
    w = rng.lognormal(0, 0.3, rows)
    cols = {"y": y, "w": w, **{f"x{j}": x[:, j] for j in range(p)}}
    design = np.column_stack([np.ones(rows), y, x])
    return pa.table(cols), design, w


def _shapley_from_gram(gram: np.ndarray, p: int) -> np.ndarray:
    """Shapley importances from a weighted Gram matrix of [1, y, x...], one solve per subset."""
    w = gram[0, 0]
    mean = gram[0, 1:] / w
    cov = gram[1:, 1:] / w - np.outer(mean, mean)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    r2 = np.zeros(1 << p)
    for mask in range(1, 1 << p):
        idx = [j for j in range(p) if mask >> j & 1]
        r2[mask] = rxy[idx] @ np.linalg.solve(rxx[np.ix_(idx, idx)], rxy[idx])
    out = np.zeros(p)
    for j in range(p):
        bit = 1 << j
        for mask in range(1 << p):
            if not mask & bit:
                s = bin(mask).count("1")
                out[j] += (r2[mask | bit] - r2[mask]) / (p * math.comb(p - 1, s))
    return out


def test_gram_pass(benchmark: Any, record_timing: Callable[..., None]) -> None:
    table, design, w = _design(ROWS, 10, 1)
    names = [f"x{j}" for j in range(10)]

    def run() -> cx.DriversAccumulator:
        acc = cx.DriversAccumulator("y", names, weight="w", ci=None)
        acc.update(table)
        return acc

    benchmark.group = "drivers gram · 1M rows × 10 drivers"
    acc = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    record_timing("drivers gram", "cxmetrics", benchmark)
    got = np.array([r.importance for r in acc.result(min_n=0)])
    want = ref.relative_weights(design[:, 1], design[:, 2:], w)
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_gram_blas(benchmark: Any, record_timing: Callable[..., None]) -> None:
    _, design, w = _design(ROWS, 10, 1)
    benchmark.group = "drivers gram · 1M rows × 10 drivers"
    gram = benchmark.pedantic(lambda: (design * w[:, None]).T @ design, rounds=5, iterations=1,
                              warmup_rounds=1)
    record_timing("drivers gram", "numpy-blas", benchmark)
    assert gram.shape == (12, 12) and gram[0, 0] == pytest.approx(w.sum(), rel=1e-12)


@pytest.fixture(scope="module")
def ratings() -> tuple[pa.Table, np.ndarray]:
    table, design, _ = _design(ROWS, 10, 4)
    y = np.clip(np.round(design[:, 1] / 2), 0, 10)
    design = design.copy()
    design[:, 1] = y
    return table.set_column(table.column_names.index("y"), "y", pa.array(y)), design


def test_gram_ratings(benchmark: Any, record_timing: Callable[..., None],
                      ratings: tuple[pa.Table, np.ndarray]) -> None:
    table, design = ratings
    names = [f"x{j}" for j in range(10)]

    def run() -> cx.DriversAccumulator:
        acc = cx.DriversAccumulator("y", names, ci=None)
        acc.update(table)
        return acc

    benchmark.group = "drivers gram · 1M rows × 10 ratings, unweighted"
    acc = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    record_timing("drivers gram ratings", "cxmetrics", benchmark)
    got = np.array([r.importance for r in acc.result(min_n=0)])
    want = ref.relative_weights(design[:, 1], design[:, 2:], np.ones(ROWS))
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_gram_ratings_blas(benchmark: Any, record_timing: Callable[..., None],
                           ratings: tuple[pa.Table, np.ndarray]) -> None:
    design = ratings[1]
    benchmark.group = "drivers gram · 1M rows × 10 ratings, unweighted"
    gram = benchmark.pedantic(lambda: design.T @ design, rounds=5, iterations=1,
                              warmup_rounds=1)
    record_timing("drivers gram ratings", "numpy-blas", benchmark)
    assert gram[0, 0] == ROWS


@pytest.fixture(scope="module")
def wide() -> tuple[pa.Table, np.ndarray, np.ndarray]:
    return _design(ROWS, 16, 2)


def test_shapley_16(benchmark: Any, record_timing: Callable[..., None],
                    wide: tuple[pa.Table, np.ndarray, np.ndarray]) -> None:
    table = wide[0]
    names = [f"x{j}" for j in range(16)]
    benchmark.group = "shapley · 1M rows × 16 drivers"
    res = benchmark.pedantic(lambda: cx.drivers(table, "y", names, method="shapley",
                                                weight="w", ci=None), rounds=3, iterations=1)
    record_timing("shapley 16", "cxmetrics", benchmark)
    assert abs(sum(r.importance for r in res) - res.rows[0].r2) < 1e-12


def test_shapley_16_numpy(benchmark: Any, record_timing: Callable[..., None],
                          wide: tuple[pa.Table, np.ndarray, np.ndarray]) -> None:
    table, design, w = wide
    benchmark.group = "shapley · 1M rows × 16 drivers"
    got = benchmark.pedantic(lambda: _shapley_from_gram((design * w[:, None]).T @ design, 16),
                             rounds=1, iterations=1)
    record_timing("shapley 16", "numpy-subsets", benchmark)
    names = [f"x{j}" for j in range(16)]
    mine = cx.drivers(table, "y", names, method="shapley", weight="w", ci=None)
    np.testing.assert_allclose(got, [r.importance for r in mine], atol=1e-9)


@pytest.fixture(scope="module")
def small() -> tuple[pa.Table, np.ndarray, np.ndarray]:
    return _design(20_000, 10, 3)


def test_shapley_10_refits_cxmetrics(benchmark: Any, record_timing: Callable[..., None],
                                     small: tuple[pa.Table, np.ndarray, np.ndarray]) -> None:
    table = small[0]
    names = [f"x{j}" for j in range(10)]
    benchmark.group = "shapley · 20k rows × 10 drivers, refits"
    benchmark.pedantic(lambda: cx.drivers(table, "y", names, method="shapley", weight="w",
                                          ci=None), rounds=5, iterations=1)
    record_timing("shapley 10 refits", "cxmetrics", benchmark)


def test_shapley_10_refits_numpy(benchmark: Any, record_timing: Callable[..., None],
                                 small: tuple[pa.Table, np.ndarray, np.ndarray]) -> None:
    table, design, w = small
    benchmark.group = "shapley · 20k rows × 10 drivers, refits"
    got = benchmark.pedantic(lambda: ref.shapley(design[:, 1], design[:, 2:], w), rounds=1,
                             iterations=1)
    record_timing("shapley 10 refits", "numpy-lstsq", benchmark)
    names = [f"x{j}" for j in range(10)]
    mine = cx.drivers(table, "y", names, method="shapley", weight="w", ci=None)
    np.testing.assert_allclose(got, [r.importance for r in mine], atol=1e-9)


def test_shapley_10_refits_statsmodels(benchmark: Any, record_timing: Callable[..., None],
                                       small: tuple[pa.Table, np.ndarray, np.ndarray]) -> None:
    sm = pytest.importorskip("statsmodels.api")
    _, design, w = small
    y, x = design[:, 1], design[:, 2:]

    def all_subsets() -> np.ndarray:
        r2 = {(): 0.0}
        for size in range(1, 11):
            for s in itertools.combinations(range(10), size):
                fit = sm.WLS(y, sm.add_constant(x[:, list(s)]), weights=w).fit()
                r2[s] = float(fit.rsquared)
        out = np.zeros(10)
        for j in range(10):
            others = [i for i in range(10) if i != j]
            for size in range(10):
                for s in itertools.combinations(others, size):
                    out[j] += (r2[tuple(sorted((*s, j)))] - r2[s]) / (10 * math.comb(9, size))
        return out

    benchmark.group = "shapley · 20k rows × 10 drivers, refits"
    got = benchmark.pedantic(all_subsets, rounds=1, iterations=1)
    record_timing("shapley 10 refits", "statsmodels", benchmark)
    mine = cx.drivers(small[0], "y", [f"x{j}" for j in range(10)], method="shapley",
                      weight="w", ci=None)
    np.testing.assert_allclose(got, [r.importance for r in mine], atol=1e-9)
