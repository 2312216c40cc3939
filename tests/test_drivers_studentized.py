"""The studentized (bootstrap-t) interval of the drivers: seeded, the same from merged
accumulators, its scale the delta-method/jackknife standard error, and refused (typed error)
when the replicates are drawn per row. The Rust unit tests check its standard errors against
brute-force influence and the delete-one jackknife (rust/core/src/drivers/interval.rs)."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics.errors import ArgumentError
from helpers import drivers_reference as ref

NAMES = ["x0", "x1", "x2"]


def _ratings(seed: int, n: int, ratings: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) @ np.array([[1.0, 0.4, 0.2], [0.0, 0.9, 0.3], [0.0, 0.0, 0.9]])
    y = x @ np.array([0.5, 0.3, 0.15]) + rng.normal(size=n) * 0.9
    if ratings:
        x = np.clip(np.round(x + 3), 1, 5)
        y = np.clip(np.round(2 * y + 6), 0, 10)
    return pa.table({"y": y, "x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2]})


def _bounds(res: cx.DriversResult) -> list[tuple[float, float]]:
    return [(r.ci_low, r.ci_high) for r in res] + [(res.rows[0].r2_low, res.rows[0].r2_high)]


@pytest.mark.parametrize("method", ["relative-weights", "shapley"])
def test_studentized_intervals_are_seeded(method: str) -> None:
    table = _ratings(1, 800)
    a = cx.drivers(table, "y", NAMES, method=method, n_resamples=300, seed=5,  # type: ignore[arg-type]
                   bootstrap="studentized")
    b = cx.drivers(table, "y", NAMES, method=method, n_resamples=300, seed=5,  # type: ignore[arg-type]
                   bootstrap="studentized")
    c = cx.drivers(table, "y", NAMES, method=method, n_resamples=300, seed=6,  # type: ignore[arg-type]
                   bootstrap="studentized")
    assert a.bootstrap == "studentized" and a.resampling == "tuples"
    assert repr(a.rows) == repr(b.rows)
    assert _bounds(a) != _bounds(c)
    percentile = cx.drivers(table, "y", NAMES, method=method,  # type: ignore[arg-type]
                            n_resamples=300, seed=5)
    assert _bounds(a) != _bounds(percentile)
    for r, q in zip(a, percentile, strict=True):
        assert r.ci_low < r.importance < r.ci_high
        assert r.r2_low < r.r2 < r.r2_high
        assert r.replicates_used == 300
        # Same replicates, another pivot: the bounds move by less than the interval's width.
        width = q.ci_high - q.ci_low
        assert abs(r.ci_low - q.ci_low) < width and abs(r.ci_high - q.ci_high) < width


def test_studentized_from_merged_accumulators_equals_one_pass() -> None:
    rng = np.random.default_rng(2)
    table = _ratings(2, 3000).append_column("w", pa.array(rng.choice([0.5, 1.0, 2.0], 3000)))
    table = table.append_column("seg", pa.array(rng.choice(np.array(["n", "s"]), 3000)))
    whole = cx.DriversAccumulator("y", NAMES, weight="w", by="seg", n_resamples=200, seed=3)
    whole.update(table)
    parts = []
    for i, (lo, hi) in enumerate(itertools.pairwise([0, 900, 2100, 3000])):
        acc = cx.DriversAccumulator("y", NAMES, weight="w", by="seg", n_resamples=200, seed=3,
                                    stream=i + 1)
        acc.update(table.slice(lo, hi - lo))
        parts.append(acc)
    merged = parts[2].merge(parts[0].merge(parts[1]))
    got = merged.result("shapley", bootstrap="studentized")
    want = whole.result("shapley", bootstrap="studentized")
    assert repr(got.rows) == repr(want.rows)
    assert all(np.isfinite(r.ci_low) and np.isfinite(r.ci_high) for r in want)


def test_studentized_width_is_the_jackknife_standard_error() -> None:
    # At n = 4,000 the bootstrap-t quantiles are near ±1.96, so the interval's width is about
    # 2·1.96·se; se (the delta method's) is checked against the delete-one jackknife computed
    # here from the rows (numpy), per distinct tuple.
    table = _ratings(3, 4000)
    res = cx.drivers(table, "y", NAMES, method="shapley", n_resamples=1000, seed=1,
                     bootstrap="studentized")
    data = np.column_stack([table[c].to_numpy() for c in ["y", *NAMES]])
    _, counts = np.unique(data, axis=0, return_counts=True)
    n = len(data)

    def shapley_of(rows: np.ndarray) -> np.ndarray:
        corr = ref.weighted_correlation(rows, np.ones(len(rows)))
        return ref.population_importances(corr)[1]

    full = shapley_of(data)
    assert np.allclose(full, [r.importance for r in res], atol=1e-9)
    order = np.lexsort(data.T[::-1])
    sorted_rows = data[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    left_out = np.array([shapley_of(np.delete(sorted_rows, s, axis=0)) for s in starts])
    mean = counts @ left_out / n
    jackknife = np.sqrt((n - 1) / n * counts @ (left_out - mean) ** 2)
    width = np.array([r.ci_high - r.ci_low for r in res])
    ratio = width / (2 * 1.959964 * jackknife)
    # The t quantiles of 1,000 replicates (Monte Carlo sd of a 2.5 % quantile about 4 %) and
    # the skewness of the t's move the ratio by a few percent.
    assert np.all(np.abs(ratio - 1) < 0.12), ratio


def test_studentized_is_refused_when_replicates_are_drawn_per_row() -> None:
    acc = cx.DriversAccumulator("y", NAMES, n_resamples=20, seed=1)
    acc.update(_ratings(4, 140_000, ratings=False))
    assert acc.resampling == "rows"
    with pytest.raises(ArgumentError, match=r"studentized.*distinct answer tuples"):
        acc.result("shapley", bootstrap="studentized")
    # The other intervals still work there.
    res = acc.result("shapley", bootstrap="bca")
    assert all(np.isfinite(r.ci_low) for r in res)
    with pytest.raises(ArgumentError, match="bootstrap"):
        acc.result("shapley", bootstrap="basic")  # type: ignore[arg-type]
