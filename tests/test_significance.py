"""``cx.significance`` and the overlap rule of ``cx.compare``.

- ``against="rest"`` equals ``compare`` on an explicit disjoint split (the complement computed
  from its own rows), unweighted and weighted, to the last bit — also with 5,000 segments,
  where the rest is the core's exact complement (total minus segment), not a union of 4,999.
- Adjusted p-values are ``adjust_pvalues`` of the family's raw p-values; the family excludes
  small bases (status ``"small-base"``, kept in the table with NaN p-values).
- ``compare`` refuses overlapping samples (a segment and its overall, a result and itself) with
  ``OverlappingSamplesError``, and its one-sided p-values are scipy's normal tails.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import cxmetrics as cx


def survey(seed: int, n: int = 2_000, segments: int = 6, weighted: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    region = rng.integers(0, segments, n)
    # Segment 0 leans to promoters, so some tests find something.
    score = np.clip(rng.integers(0, 11, n) + (region == 0) * rng.integers(0, 3, n), 0, 10)
    columns = {"score": score, "region": pa.array([f"r{r}" for r in region])}
    if weighted:
        columns["w"] = rng.choice([0.5, 1.0, 2.0, 3.25], n)
    return pa.table(columns)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), weighted=st.booleans(),
       metric=st.sampled_from(["nps", "top_box", "mean"]))
def test_rest_equals_compare_on_a_disjoint_split(seed: int, weighted: bool, metric: str) -> None:
    table = survey(seed, n=600, weighted=weighted)
    weight = "w" if weighted else None
    func = {"nps": cx.nps, "top_box": cx.top_box, "mean": cx.mean_score}[metric]
    kwargs = {"scale": cx.Scale(0, 10)} if metric != "nps" else {}
    res = func(table, score="score", by="region", weight=weight, **kwargs)
    family = cx.significance(res, against="rest", adjust="holm", min_n=None)
    assert len(family) == len(res)
    for test, segment in zip(family, res, strict=True):
        mask = pa.compute.not_equal(table["region"], segment.segment[0])
        rest = func(table.filter(mask), score="score", weight=weight, **kwargs)
        want = cx.compare(segment, rest)
        assert test.b == "rest" and test.a == segment.segment
        assert test.difference == want.difference
        assert test.se == want.se
        assert (test.ci_low, test.ci_high) == (want.ci_low, want.ci_high)
        assert test.p_value == want.p_value
        assert test.comparison is not None
        assert test.comparison.b.n == rest.n
        assert test.comparison.b.effective_n == rest.effective_n


@pytest.mark.parametrize("weighted", [False, True])
def test_rest_of_many_segments_equals_the_explicit_split(weighted: bool) -> None:
    rng = np.random.default_rng(5_000)
    n, segments = 60_000, 5_000
    region = rng.integers(0, segments, n)
    scores = rng.integers(0, 11, n)
    weights = rng.choice([0.5, 1.0, 2.0, 3.25], n) if weighted else None
    res = cx.nps(scores, by=pa.array(region), weight=weights)
    family = cx.significance(res, against="rest", adjust="bh", min_n=None)
    assert len(family) == len(res) == segments
    rows = list(res)
    # Every rest holds exactly the rows outside its segment.
    for test, segment in zip(family, rows, strict=True):
        assert test.comparison is not None and test.comparison.b.n == n - segment.n
    # A sample of them, to the last bit, against the complement computed from its own rows.
    for i in [0, 1, segments // 2, segments - 1, *rng.integers(0, segments, 12)]:
        test, segment = family.tests[i], rows[i]
        mask = region != segment.segment[0]
        rest = cx.nps(scores[mask], weight=None if weights is None else weights[mask])
        want = cx.compare(segment, rest)
        assert test.comparison is not None
        assert test.comparison.b.effective_n == rest.effective_n
        assert test.comparison.b.weighted_n == rest.weighted_n
        assert (test.difference, test.se, test.ci_low, test.ci_high, test.p_value) == (
            want.difference, want.se, want.ci_low, want.ci_high, want.p_value)


def test_adjusted_p_values_are_the_family_adjusted() -> None:
    res = cx.nps(survey(1), score="score", by="region")
    for method in ("holm", "bonferroni", "bh", "by"):
        family = cx.significance(res, adjust=method)
        raw = [t.p_value for t in family]
        np.testing.assert_array_equal([t.p_adjusted for t in family],
                                      cx.adjust_pvalues(raw, method))  # type: ignore[arg-type]
        assert [t.significant for t in family] == [t.p_adjusted <= 0.05 for t in family]
        assert family.family_size == len(res)
        assert str(len(res)) in family.family and "rest" in family.family
    unadjusted = cx.significance(res, adjust=None)
    assert [t.p_adjusted for t in unadjusted] == [t.p_value for t in unadjusted]


def test_small_bases_are_flagged_kept_and_left_out_of_the_family() -> None:
    rng = np.random.default_rng(3)
    sizes = {"big1": 400, "big2": 500, "tiny": 12, "big3": 450}
    region = np.repeat(list(sizes), list(sizes.values()))
    scores = rng.integers(0, 11, region.size)
    res = cx.nps(scores, by=pa.array(region))
    family = cx.significance(res, against="rest")  # default min_n = 30
    by_key = {t.a[0]: t for t in family}
    assert by_key["tiny"].status == "small-base"
    assert math.isnan(by_key["tiny"].p_value) and math.isnan(by_key["tiny"].p_adjusted)
    assert not by_key["tiny"].significant
    assert math.isfinite(by_key["tiny"].difference)  # the difference is still shown
    assert family.family_size == 3
    raw = [by_key[k].p_value for k in ("big1", "big2", "big3")]
    np.testing.assert_array_equal([by_key[k].p_adjusted for k in ("big1", "big2", "big3")],
                                  cx.adjust_pvalues(raw, "holm"))
    table = family.to_arrow()
    assert table.column("status").to_pylist().count("small-base") == 1
    # Pairs involving the small base are flagged too.
    pairs = cx.significance(res, against="pairs")
    assert len(pairs) == 6 and pairs.family_size == 3


def test_min_n_on_metrics_flags_without_hiding() -> None:
    region = np.repeat(["a", "b", "c"], [50, 10, 0 + 40])
    scores = np.arange(region.size) % 11
    plain = cx.nps(scores, by=pa.array(region))
    flagged = cx.nps(scores, by=pa.array(region), min_n=30)
    assert [r.status for r in plain] == ["ok"] * 3
    assert [r.status for r in flagged] == ["ok", "small-base", "ok"]
    assert [r.value for r in flagged] == [r.value for r in plain]
    assert flagged.to_arrow().column("status").to_pylist() == ["ok", "small-base", "ok"]
    assert cx.nps(scores[:10], min_n=30).status == "small-base"
    with pytest.raises(cx.ArgumentError, match="min_n"):
        cx.nps(scores, min_n=-1)


def test_pairs_and_previous() -> None:
    res = cx.nps(survey(5), score="score", by="region")
    pairs = cx.significance(res, against="pairs", adjust="bh")
    assert len(pairs) == len(res) * (len(res) - 1) // 2
    keys = res.keys()
    first = pairs.tests[0]
    want = cx.compare(res[keys[0][0]], res[keys[1][0]])
    assert (first.a, first.b, first.p_value) == (keys[0], keys[1], want.p_value)
    previous = cx.significance(res, against="previous")
    assert [(t.a, t.b) for t in previous] == list(zip(keys[1:], keys[:-1], strict=True))


def test_one_sided_alternatives() -> None:
    res = cx.nps(survey(8), score="score", by="region")
    a, b = res["r0"], res["r1"]
    two = cx.compare(a, b)
    greater = cx.compare(a, b, alternative="greater")
    less = cx.compare(a, b, alternative="less")
    assert greater.p_value == pytest.approx(stats.norm.sf(two.z), rel=1e-12)
    assert less.p_value == pytest.approx(stats.norm.cdf(two.z), rel=1e-12)
    assert greater.p_value + less.p_value == pytest.approx(1.0)
    assert (greater.ci_low, greater.ci_high) == (two.ci_low, two.ci_high)
    family = cx.significance(res, alternative="greater", adjust=None, min_n=None)
    for t in family:
        assert t.comparison is not None and t.p_value == pytest.approx(
            stats.norm.sf(t.comparison.z), rel=1e-12)
    with pytest.raises(cx.ArgumentError, match="alternative"):
        cx.compare(a, b, alternative="bigger")  # type: ignore[arg-type]


def test_compare_refuses_overlapping_samples() -> None:
    res = cx.nps(survey(2), score="score", by="region")
    with pytest.raises(cx.OverlappingSamplesError, match="against='rest'"):
        cx.compare(res["r0"], res.overall)
    with pytest.raises(cx.OverlappingSamplesError, match="against='rest'"):
        cx.compare(res.overall, res["r0"])
    with pytest.raises(cx.OverlappingSamplesError, match="same result"):
        cx.compare(res["r0"], res["r0"])
    single = cx.nps([10, 9, 0, 7, 8])
    with pytest.raises(cx.OverlappingSamplesError):
        cx.compare(single, single)
    assert isinstance(cx.OverlappingSamplesError("x"), cx.ArgumentError)
    # Disjoint segments of one call, and results of different calls, are fine.
    cx.compare(res["r0"], res["r1"])
    cx.compare(cx.nps([10, 9, 0, 7, 8]), single)
    with pytest.raises(cx.ArgumentError, match="significance"):
        cx.compare(res, res["r0"])  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    res = cx.nps(survey(2), score="score", by="region")
    with pytest.raises(cx.ArgumentError, match="adjust"):
        cx.significance(res, adjust="sidak")
    with pytest.raises(cx.ArgumentError, match="against"):
        cx.significance(res, against="everyone")  # type: ignore[arg-type]
    with pytest.raises(cx.ArgumentError, match="alpha"):
        cx.significance(res, alpha=1.5)
    with pytest.raises(cx.ArgumentError, match="SegmentedResult"):
        cx.significance(res.overall)  # type: ignore[arg-type]


def test_rest_of_an_accumulator_result_is_a_snapshot() -> None:
    table = survey(4, n=800)
    acc = cx.Accumulator("nps", score="score", by="region")
    acc.update(table)
    res = acc.result()
    before = [t.p_value for t in cx.significance(res, min_n=None)]
    acc.update(survey(5, n=800))  # later rows must not leak into res
    assert [t.p_value for t in cx.significance(res, min_n=None)] == before
    assert before == [t.p_value for t in cx.significance(
        cx.nps(table, score="score", by="region"), min_n=None)]


def test_wald_test_stays_selectable() -> None:
    res = cx.nps(survey(7), score="score", by="region")
    pooled = cx.significance(res, min_n=None)
    wald = cx.significance(res, min_n=None, test="wald")
    assert pooled.test == "pooled" and wald.test == "wald" and "wald z-tests" in wald.family
    for p, w in zip(pooled, wald, strict=True):
        assert (p.difference, p.ci_low, p.ci_high) == (w.difference, w.ci_low, w.ci_high)
        assert p.comparison is not None and w.comparison is not None
        assert w.p_value == w.comparison.p_value == cx.compare(
            w.comparison.a, w.comparison.b, test="wald").p_value
        assert p.p_value == cx.compare(p.comparison.a, p.comparison.b).p_value


def test_bootstrap_differences_are_reproducible_from_the_seed() -> None:
    res = cx.nps(survey(6, n=900), score="score", by="region")
    first = cx.significance(res, ci="bootstrap", seed=3, min_n=None)
    again = cx.significance(res, ci="bootstrap", seed=3, min_n=None)
    assert [(t.ci_low, t.ci_high) for t in first] == [(t.ci_low, t.ci_high) for t in again]
    for t in first:
        assert t.comparison is not None and t.comparison.seed == 3
        assert t.comparison.method == "bootstrap-bca"


def test_tables_convert_to_pandas_and_polars() -> None:
    res = cx.nps(survey(9), score="score", by="region")
    family = cx.significance(res)
    assert list(family.to_pandas()["p_adjusted"]) == [t.p_adjusted for t in family]
    assert family.to_polars()["status"].to_list() == [t.status for t in family]
    days = pa.array([dt.date(2024, 1, 1), dt.date(2024, 3, 1)], pa.date32())
    trend = cx.trend([10, 0], time=days)
    assert trend.to_pandas()["n"].tolist() == [1, 0, 1]
    assert trend.to_polars()["status"].to_list() == ["ok", "empty", "ok"]
