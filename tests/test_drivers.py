"""Key driver analysis against the plain NumPy reference (tests/helpers/drivers_reference.py), a
published example, and the accumulator's merge/bytes guarantees."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from helpers import drivers_reference as ref


def _table(y: np.ndarray, x: np.ndarray, w: np.ndarray | None = None,
           seg: np.ndarray | None = None) -> pa.Table:
    cols: dict[str, object] = {"y": y}
    for j in range(x.shape[1]):
        cols[f"x{j}"] = x[:, j]
    if w is not None:
        cols["w"] = w
    if seg is not None:
        cols["seg"] = seg
    return pa.table(cols)


def _data(seed: int, n: int, p: int, ratings: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(p, p)) * 0.5 + np.eye(p)
    x = rng.normal(size=(n, p)) @ mix
    if ratings:
        x = np.clip(np.round(x + 3), 1, 5)
    y = x @ rng.normal(size=p) + rng.normal(size=n) * 2
    return y, x


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(40, 300), p=st.integers(1, 6),
       weighted=st.booleans(), segmented=st.booleans(), ratings=st.booleans())
def test_importances_equal_the_reference(seed: int, n: int, p: int, weighted: bool,
                                         segmented: bool, ratings: bool) -> None:
    y, x = _data(seed, n, p, ratings)
    rng = np.random.default_rng(seed + 1)
    w = rng.uniform(0.1, 5.0, n) if weighted else None
    seg = rng.choice(np.array(["a", "b"]), n) if segmented else None
    table = _table(y, x, w, seg)
    names = [f"x{j}" for j in range(p)]
    by = "seg" if segmented else None
    for method in ("relative-weights", "shapley"):
        res = cx.drivers(table, "y", names, method=method, weight="w" if weighted else None,
                         by=by, ci=None, min_n=0)
        for key in res.segments():
            mask = np.ones(n, bool) if not key else seg == key[0]
            ys, xs = y[mask], x[mask]
            ws = None if w is None else w[mask]
            if np.any(xs.std(axis=0) == 0) or mask.sum() < p + 2 or \
                    np.linalg.cond(np.corrcoef(xs.T) if p > 1 else np.eye(1)) > 1e6:
                continue  # (near-)collinear sample: compared elsewhere
            rows = res.segment(*key)
            want = (ref.relative_weights(ys, xs, ws) if method == "relative-weights"
                    else ref.shapley(ys, xs, ws))
            got = np.array([r.importance for r in rows])
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
            r2 = ref.full_r2(ys, xs, ws)
            assert abs(rows[0].r2 - r2) < 1e-9
            assert abs(got.sum() - rows[0].r2) < 1e-12, "importances sum to R²"
            assert abs(sum(r.rescaled for r in rows) - 100) < 1e-9
            signs = np.sign(ref.coefficients(ys, xs, ws))
            assert [r.sign for r in rows] == [int(s) for s in signs]
            assert all(r.n == mask.sum() and r.n_dropped == 0 for r in rows)


# mtcars (Henderson & Velleman 1981, R `datasets`): mpg, cyl, disp, hp, gear.
MTCARS = [
    (21.0, 6, 160.0, 110, 4), (21.0, 6, 160.0, 110, 4), (22.8, 4, 108.0, 93, 4),
    (21.4, 6, 258.0, 110, 3), (18.7, 8, 360.0, 175, 3), (18.1, 6, 225.0, 105, 3),
    (14.3, 8, 360.0, 245, 3), (24.4, 4, 146.7, 62, 4), (22.8, 4, 140.8, 95, 4),
    (19.2, 6, 167.6, 123, 4), (17.8, 6, 167.6, 123, 4), (16.4, 8, 275.8, 180, 3),
    (17.3, 8, 275.8, 180, 3), (15.2, 8, 275.8, 180, 3), (10.4, 8, 472.0, 205, 3),
    (10.4, 8, 460.0, 215, 3), (14.7, 8, 440.0, 230, 3), (32.4, 4, 78.7, 66, 4),
    (30.4, 4, 75.7, 52, 4), (33.9, 4, 71.1, 65, 4), (21.5, 4, 120.1, 97, 3),
    (15.5, 8, 318.0, 150, 3), (15.2, 8, 304.0, 150, 3), (13.3, 8, 350.0, 245, 3),
    (19.2, 8, 400.0, 175, 3), (27.3, 4, 79.0, 66, 4), (26.0, 4, 120.3, 91, 5),
    (30.4, 4, 95.1, 113, 5), (15.8, 8, 351.0, 264, 5), (19.7, 6, 145.0, 175, 5),
    (15.0, 8, 301.0, 335, 5), (21.4, 4, 121.0, 109, 4),
]


def mtcars() -> pa.Table:
    cols = list(zip(*MTCARS, strict=True))
    return pa.table({name: list(c) for name, c in
                     zip(["mpg", "cyl", "disp", "hp", "gear"], cols, strict=True)})


def test_published_relative_weights_of_mtcars() -> None:
    """The worked example of the R package rwa (README, `rwa(mtcars, outcome = "mpg",
    predictors = c("cyl", "disp", "hp", "gear"), applysigns = TRUE)`), to its printed
    precision: R² 0.7791896; raw weights 0.2284797, 0.2221469, 0.2321744, 0.0963886;
    rescaled 29.32274, 28.50999, 29.79691, 12.37037; signs -, -, -, +."""
    res = cx.drivers(mtcars(), "mpg", ["cyl", "disp", "hp", "gear"], ci=None, min_n=0)
    rows = res.segment()
    assert round(rows[0].r2, 7) == 0.7791896
    assert [round(r.importance, 7) for r in rows] == [0.2284797, 0.2221469, 0.2321744,
                                                      0.0963886]
    assert [round(r.rescaled, 5) for r in rows] == [29.32274, 28.50999, 29.79691, 12.37037]
    assert [r.sign for r in rows] == [-1, -1, -1, 1]
    assert all(r.n == 32 for r in rows)


def test_sampled_shapley_agrees_with_exact_within_its_error() -> None:
    y, x = _data(5, 400, 7, ratings=False)
    table = _table(y, x)
    names = [f"x{j}" for j in range(7)]
    exact = cx.drivers(table, "y", names, method="shapley", ci=None)
    sampled = cx.drivers(table, "y", names, method="shapley", ci=None, exact_up_to=5,
                         permutations=4000, seed=3)
    for e, s in zip(exact, sampled, strict=True):
        assert np.isnan(e.mc_error) and s.mc_error > 0
        assert abs(e.importance - s.importance) < 5 * s.mc_error
    assert abs(sum(s.importance for s in sampled) - exact.rows[0].r2) < 1e-12
    again = cx.drivers(table, "y", names, method="shapley", ci=None, exact_up_to=5,
                       permutations=4000, seed=3)
    assert repr(again.rows) == repr(sampled.rows)  # (NaN != NaN: compare the reprs)


def test_missing_values_are_dropped_listwise_and_counted() -> None:
    y, x = _data(1, 200, 3, ratings=True)
    yy = pa.array([None if i % 10 == 0 else v for i, v in enumerate(y)], pa.float64())
    x0 = x[:, 0].copy()
    x0[5] = np.nan  # NaN counts as missing too
    table = pa.table({"y": yy, "x0": x0, "x1": x[:, 1], "x2": x[:, 2]})
    res = cx.drivers(table, "y", ["x0", "x1", "x2"], ci=None)
    keep = np.array([i % 10 != 0 and i != 5 for i in range(200)])
    assert res.rows[0].n == keep.sum() and res.rows[0].n_dropped == 200 - keep.sum()
    want = ref.relative_weights(y[keep], x[keep])
    np.testing.assert_allclose([r.importance for r in res], want, atol=1e-9)


def test_promoter_outcome_is_the_zero_one_bucket() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, size=(500, 2)).astype(float)
    score = np.clip(np.round(x @ [1.0, 0.6] + rng.normal(0, 1.5, 500)), 0, 10)
    table = pa.table({"ltr": score.astype(np.int64), "a": x[:, 0], "b": x[:, 1]})
    res = cx.drivers(table, "ltr", ["a", "b"], bucket="promoter", ci=None)
    promoter = (score >= 9).astype(float)
    np.testing.assert_allclose([r.importance for r in res],
                               ref.relative_weights(promoter, x), atol=1e-9)
    detr = cx.drivers(table, "ltr", ["a", "b"], bucket="detractor", ci=None)
    np.testing.assert_allclose([r.importance for r in detr],
                               ref.relative_weights((score <= 6).astype(float), x), atol=1e-9)
    bad = table.set_column(0, "ltr", pa.array([11] + [5] * 499))
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.drivers(bad, "ltr", ["a", "b"], bucket="promoter", ci=None)
    assert (info.value.column, info.value.count, info.value.first_row,
            info.value.first_value) == ("ltr", 1, 0, 11)


def test_bad_input_gets_typed_errors() -> None:
    y, x = _data(2, 50, 2, ratings=True)
    table = _table(y, x)
    with pytest.raises(cx.ColumnError, match="nope"):
        cx.drivers(table, "y", ["x0", "nope"])
    bad = table.set_column(1, "x0", pa.array([1.0, 2.0, np.inf] + [1.0] * 47))
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.drivers(bad, "y", ["x0", "x1"])
    assert (info.value.column, info.value.count, info.value.first_row) == ("x0", 1, 2)
    # A driver's rule, not a score's (drivers need not be whole numbers; no on_invalid here).
    assert "2^26" in str(info.value) and "on_invalid" not in str(info.value)
    with pytest.raises(cx.UnsupportedTypeError) as t:
        cx.drivers(table.append_column("s", pa.array(["a"] * 50)), "y", ["x0", "s"])
    assert t.value.column == "s"
    weights = pa.array([1.0] * 49 + [-2.0])
    with pytest.raises(cx.InvalidWeightError) as w:
        cx.drivers(table.append_column("w", weights), "y", ["x0"], weight="w")
    assert (w.value.column, w.value.first_row, w.value.first_value) == ("w", 49, -2.0)
    with pytest.raises(cx.ArgumentError):
        cx.drivers(table, "y", ["x0"], method="ols")  # type: ignore[arg-type]
    with pytest.raises(cx.ArgumentError):
        cx.drivers(table, "y", ["x0"], missing="pairwise")  # type: ignore[arg-type]
    with pytest.raises(cx.ArgumentError, match="bootstrap"):
        cx.drivers(table, "y", ["x0"], bootstrap="basic")  # type: ignore[arg-type]
    with pytest.raises(cx.ColumnError):
        cx.drivers(table, "y", ["y", "x0"])
    # A constant driver or too few rows give a note, not a wrong number.
    const = table.set_column(2, "x1", pa.array([3.0] * 50))
    res = cx.drivers(const, "y", ["x0", "x1"], ci=None)
    assert "x1" in (res.rows[0].note or "") and np.isnan(res.rows[0].importance)
    few = cx.drivers(table, "y", ["x0", "x1"], ci=None, min_n=100)
    assert "fewer" in (few.rows[0].note or "")


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate() -> None:
    y, x = _data(4, 600, 3, ratings=True)
    table = _table(y, x)
    names = ["x0", "x1", "x2"]
    a = cx.drivers(table, "y", names, n_resamples=300, seed=11)
    b = cx.drivers(table, "y", names, n_resamples=300, seed=11)
    c = cx.drivers(table, "y", names, n_resamples=300, seed=12)
    assert repr(a.rows) == repr(b.rows)
    assert [r.ci_low for r in a] != [r.ci_low for r in c]
    for r in a:
        assert r.ci_low < r.importance < r.ci_high
        assert r.r2_low < r.r2 < r.r2_high
        assert r.replicates_used == 300


@pytest.mark.parametrize("resampling", ["tuples", "rows"])
def test_bc_and_bca_intervals_are_seeded_and_move_the_percentile_bounds(resampling: str) -> None:
    y, x = _data(4, 600, 3, ratings=resampling == "tuples")
    table = _table(y, x)
    names = ["x0", "x1", "x2"]
    acc = cx.DriversAccumulator("y", names, n_resamples=300, seed=11)
    acc.update(table)
    if resampling == "rows":  # past the tuple cap: replicates drawn per row, kept
        acc = cx.DriversAccumulator("y", names, n_resamples=300, seed=11)
        acc.update(_table(*_data(5, 140_000, 3, ratings=False)))
    assert acc.resampling == resampling
    bounds = {}
    for b in ("percentile", "bc", "bca"):
        res = acc.result("shapley", bootstrap=b)  # type: ignore[arg-type]
        again = acc.result("shapley", bootstrap=b)  # type: ignore[arg-type]
        assert res.bootstrap == b and repr(again.rows) == repr(res.rows)
        bounds[b] = [(r.ci_low, r.ci_high) for r in res] + [(res.rows[0].r2_low,
                                                             res.rows[0].r2_high)]
        for r in res:
            assert r.ci_low < r.importance < r.ci_high
    # Same replicates, different levels: the corrections move every bound a little.
    assert bounds["percentile"] != bounds["bc"] != bounds["bca"]
    width = np.subtract(*np.array(bounds["percentile"]).T[::-1])
    for b in ("bc", "bca"):
        assert np.all(np.abs(np.array(bounds[b]) - bounds["percentile"]) < width[:, None])


def _split(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    edges = [0, *cuts, table.num_rows]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(edges)]


def test_accumulator_merges_exactly_and_round_trips() -> None:
    y, x = _data(6, 3000, 3, ratings=True)
    rng = np.random.default_rng(0)
    table = _table(y, x, rng.uniform(0.5, 2, 3000), rng.choice(np.array(["n", "s"]), 3000))
    names = ["x0", "x1", "x2"]
    whole = cx.DriversAccumulator("y", names, weight="w", by="seg", ci=None)
    whole.update(table)
    parts = []
    for part in _split(table, [700, 1234, 2900]):
        acc = cx.DriversAccumulator("y", names, weight="w", by="seg", ci=None)
        acc.update(part)
        parts.append(acc)
    forward = parts[0].merge(parts[1]).merge(parts[2]).merge(parts[3])
    backward = parts[3].merge(parts[2].merge(parts[1].merge(parts[0])))
    assert forward.to_bytes() == backward.to_bytes() == whole.to_bytes()
    assert repr(forward.result().rows) == repr(whole.result().rows)
    restored = cx.DriversAccumulator.from_bytes(whole.to_bytes())
    assert restored == whole and pickle.loads(pickle.dumps(whole)) == whole
    data = bytearray(whole.to_bytes())
    for at in (3, 20, len(data) // 2, len(data) - 2):
        broken = bytearray(data)
        broken[at] ^= 0x01
        with pytest.raises(cx.CorruptStateError):
            cx.DriversAccumulator.from_bytes(bytes(broken))
    with pytest.raises(cx.CorruptStateError):
        cx.DriversAccumulator.from_bytes(bytes(data[:-10]))
    other = cx.DriversAccumulator("y", ["x0", "x1"], weight="w", by="seg", ci=None)
    with pytest.raises(cx.IncompatibleAccumulatorError):
        whole.merge(other)


def test_accumulator_replicates_merge_across_streams() -> None:
    y, x = _data(7, 2000, 2, ratings=True)
    table = _table(y, x)
    base = cx.DriversAccumulator("y", ["x0", "x1"], n_resamples=200, seed=5)
    a, b = base.with_stream(1), base.with_stream(2)
    a.update(table.slice(0, 1000))
    b.update(table.slice(1000))
    ab, ba = a.merge(b), b.merge(a)
    assert ab.to_bytes() == ba.to_bytes()
    one = cx.DriversAccumulator("y", ["x0", "x1"], n_resamples=200, seed=5)
    one.update(table)
    got, want = ab.result(), one.result()
    assert [r.importance for r in got] == [r.importance for r in want]
    assert all(r.ci_low < r.importance < r.ci_high for r in got)
    with pytest.raises(cx.IncompatibleAccumulatorError):
        a.merge(a)  # the same stream twice: correlated replicates
    assert got.to_arrow().num_rows == 2
