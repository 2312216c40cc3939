"""Poisson-bootstrap replicates inside weighted accumulators (``replicates=``).

Each row is counted m ~ Poisson(1) times in each of B replicate histograms as it streams in, so
weighted bootstrap intervals survive batching, bytes and distributed merges. Checked here: the
replicate distribution against a plain NumPy Poisson bootstrap (tests/helpers/reference.py),
coverage of the percentile interval over the DOMAIN.md grid, merge-order independence of bytes and
results, refusal of correlated (shared-stream) merges, reproducibility from the seed, and the
contracts of ``result()``.
"""

from __future__ import annotations

import itertools
import pickle
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from helpers.simulation import mc_sd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import reference as ref

SEED = 20_240_611


def weighted_survey(rng: np.random.Generator, n: int, segments: int = 3) -> pa.Table:
    scores = rng.choice(11, n, p=[0.05] * 7 + [0.15, 0.15, 0.2, 0.15])
    return pa.table({
        "score": pa.array(scores, pa.int8()),
        "region": pa.array(rng.choice(["north", "south", "east", "west"][:segments], n)),
        "w": rng.lognormal(0.0, 0.5, n),
    })


def blank(replicates: int = 200, seed: int | None = 7, stream: int = 0) -> cx.Accumulator:
    return cx.Accumulator("nps", score="score", by="region", weight="w",
                          replicates=replicates, seed=seed, stream=stream)


def fed(table: pa.Table, acc: cx.Accumulator, batch_rows: int = 1000) -> cx.Accumulator:
    for batch in table.to_batches(max_chunksize=batch_rows):
        acc.update(batch)
    return acc


# ---------------------------------------------------------------------------------------------
# the distribution


def test_replicate_distribution_matches_a_numpy_poisson_bootstrap() -> None:
    rng = np.random.default_rng(1)
    n, b = 1500, 4000
    table = weighted_survey(rng, n, segments=1)
    acc = fed(table, blank(replicates=b, seed=3), batch_rows=400)
    ours = acc.result(ci="bootstrap", bootstrap="percentile").overall
    dist = ref.poisson_bootstrap_nps(table["score"].to_numpy(), table["w"].to_numpy(), b,
                                     np.random.default_rng(2))
    # Two independent Monte Carlo estimates of the same sd (B = 4000 each): their ratio has a
    # relative sd of about sqrt(2 / (2B)) = 1.6 %; 6 % is four of those.
    assert ours.se == pytest.approx(np.nanstd(dist, ddof=1), rel=0.06)
    assert ours.ci_low == pytest.approx(np.nanpercentile(dist, 2.5), abs=0.25 * ours.se)
    assert ours.ci_high == pytest.approx(np.nanpercentile(dist, 97.5), abs=0.25 * ours.se)
    # The same value as the one-shot weighted estimate, and a close se to the linearised one.
    wald = cx.nps(table, score="score", weight="w", ci="wald")
    assert ours.value == pytest.approx(wald.value, abs=1e-9)
    assert ours.se == pytest.approx(wald.se, rel=0.08)
    assert (ours.n_resamples, ours.seed, ours.method) == (b, 3, "bootstrap-percentile")


def test_replicates_average_to_the_weight_sums() -> None:
    """E[m] = 1: per segment, the mean replicate total weight is Σw (to Monte Carlo error)."""
    rng = np.random.default_rng(4)
    table = weighted_survey(rng, 3000)
    acc = fed(table, blank(replicates=500))
    res = acc.result(ci="bootstrap", bootstrap="basic")
    assert isinstance(res, cx.SegmentedResult)
    for seg in [*res, res.overall]:
        assert seg.ci_low < seg.value < seg.ci_high
        assert seg.method == "bootstrap-basic"


# ---------------------------------------------------------------------------------------------
# coverage (DOMAIN.md: 95 % ± 1.5 points at n >= 100 over the grid)

GRID = ((0.2, 0.2), (0.5, 0.1), (0.7, 0.05), (0.1, 0.6), (0.33, 0.33))
SURVEYS = 2000
REPLICATES = 400
CHUNK = 250  # surveys per accumulator (memory: 32 B x surveys x replicates x 11 values)


def replicate_coverage(pp: float, pm: float, n: int, surveys: int = SURVEYS) -> float:
    """Percent of simulated weighted surveys whose replicate percentile interval holds the
    true NPS. Weights are lognormal and independent of the answers, so the weighted NPS
    estimates 100 (p+ − p−)."""
    rng = np.random.default_rng((SEED, GRID.index((pp, pm)), n))
    hits = 0
    for start in range(0, surveys, CHUNK):
        k = min(CHUNK, surveys - start)
        category = rng.choice(3, size=k * n, p=(pp, 1 - pp - pm, pm))
        table = pa.table({
            "score": pa.array(np.array([10, 8, 0], np.int8)[category]),
            "survey": pa.array(np.repeat(np.arange(start, start + k, dtype=np.int32), n)),
            "w": rng.lognormal(0.0, 0.5, k * n),
        })
        acc = cx.Accumulator("nps", score="score", by="survey", weight="w",
                             replicates=REPLICATES, seed=SEED + start)
        acc.update(table)
        out = acc.result(ci="bootstrap", bootstrap="percentile").to_arrow()
        low, high = out.column("ci_low").to_numpy(), out.column("ci_high").to_numpy()
        truth = 100.0 * (pp - pm)
        hits += int(np.sum((low <= truth) & (truth <= high)))
    return 100.0 * hits / surveys


@pytest.mark.parametrize("n", [30, 100, 1000])
@pytest.mark.parametrize("cell", GRID, ids=lambda c: f"p+={c[0]},p-={c[1]}")
def test_replicate_percentile_coverage(cell: tuple[float, float], n: int,
                                       record_property: object) -> None:
    got = replicate_coverage(*cell, n)
    print(f"replicate coverage n={n:<5} p+={cell[0]:.2f} p-={cell[1]:.2f}: {got:.1f}%")
    if n >= 100:
        tol = 1.5 + 3 * mc_sd(SURVEYS)
        assert abs(got - 95.0) <= tol, f"{got:.2f}% outside 95 ± {tol:.2f}"
    else:
        assert got >= 89.0, f"{got:.2f}%"


# ---------------------------------------------------------------------------------------------
# merging, bytes, reproducibility


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_parts=st.integers(2, 7), order=st.randoms())
def test_merge_order_does_not_change_bytes_or_results(seed: int, n_parts: int,
                                                      order: object) -> None:
    rng = np.random.default_rng(seed)
    table = weighted_survey(rng, 1200)
    cuts = np.linspace(0, 1200, n_parts + 1).astype(int)
    template = blank(replicates=30, seed=seed)
    parts = [fed(table.slice(a, b - a), template.with_stream(i), batch_rows=150)
             for i, (a, b) in enumerate(itertools.pairwise(cuts))]
    forward = parts[0]
    for p in parts[1:]:
        forward = forward.merge(p)
    shuffled = list(parts)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    while len(shuffled) > 1:  # a random tree
        i = order.randrange(len(shuffled) - 1)  # type: ignore[attr-defined]
        pair = shuffled[i].merge(shuffled[i + 1])
        if order.random() < 0.5:  # type: ignore[attr-defined]
            pair = pickle.loads(pickle.dumps(pair))
        shuffled[i:i + 2] = [pair]
    assert shuffled[0].to_bytes() == forward.to_bytes()
    a = forward.result(ci="bootstrap")
    b = cx.Accumulator.from_bytes(shuffled[0].to_bytes()).result(ci="bootstrap")
    assert a.to_arrow().equals(b.to_arrow())
    # Analytic results of a replicate accumulator equal the one-shot ones.
    assert forward.result().to_arrow().equals(
        cx.nps(table, score="score", by="region", weight="w").to_arrow())


def test_same_seed_and_batches_reproduce_other_seeds_differ() -> None:
    table = weighted_survey(np.random.default_rng(9), 2000)
    one, two = fed(table, blank(seed=5)), fed(table, blank(seed=5))
    assert one.to_bytes() == two.to_bytes()
    other = fed(table, blank(seed=6))
    assert other.to_bytes() != one.to_bytes()
    assert other.result().to_arrow().equals(one.result().to_arrow())  # analytic: identical
    # Unseeded accumulators draw from fresh random streams: they differ, and merge freely.
    a, b = fed(table, blank(seed=None)), fed(table, blank(seed=None))
    assert a.to_bytes() != b.to_bytes()
    assert a.merge(b).result(ci="bootstrap").overall.seed is None
    assert one.result(ci="bootstrap").overall.seed == 5


def test_correlated_or_mismatched_merges_are_refused() -> None:
    table = weighted_survey(np.random.default_rng(10), 500)
    a = fed(table, blank(seed=1))
    with pytest.raises(cx.IncompatibleAccumulatorError, match="same random stream"):
        a.merge(a.copy())
    with pytest.raises(cx.IncompatibleAccumulatorError, match="same random stream"):
        a.merge(fed(table, blank(seed=1)))  # same seed, same stream
    with pytest.raises(cx.IncompatibleAccumulatorError, match="bootstrap"):
        a.merge(fed(table, blank(seed=2, stream=1)))
    with pytest.raises(cx.IncompatibleAccumulatorError, match="bootstrap"):
        a.merge(fed(table, blank(replicates=100, seed=1, stream=1)))
    with pytest.raises(cx.IncompatibleAccumulatorError, match="bootstrap"):
        a.merge(fed(table, cx.Accumulator("nps", score="score", by="region", weight="w")))
    # Distinct streams merge; an empty accumulator is the identity on both sides.
    b = fed(table, blank(seed=1, stream=1))
    both = a.merge(b)
    empty = blank(seed=1, stream=2)
    assert both.merge(empty).to_bytes() == both.to_bytes() == empty.merge(both).to_bytes()
    with pytest.raises(cx.ArgumentError, match="before its first update"):
        a.with_stream(4)
    assert blank(seed=1).with_stream(4).stream == 4


def test_bytes_and_pickle_round_trip_and_damage_is_caught() -> None:
    acc = fed(weighted_survey(np.random.default_rng(11), 300), blank(replicates=3))
    data = acc.to_bytes()
    again = cx.Accumulator.from_bytes(data)
    assert again == acc and again.to_bytes() == data
    assert pickle.loads(pickle.dumps(acc)) == acc
    assert (again.replicates, again.seed) == (3, 7)
    for i in range(0, len(data), 7):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(cx.CorruptStateError):
            cx.Accumulator.from_bytes(bytes(bad))


# ---------------------------------------------------------------------------------------------
# contracts


def test_argument_errors_say_what_to_do() -> None:
    with pytest.raises(cx.ArgumentError, match="weighted data"):
        cx.Accumulator("nps", score="score", replicates=100)
    with pytest.raises(cx.ArgumentError, match="replicates must be"):
        blank(replicates=0)
    with pytest.raises(cx.ArgumentError, match="need replicates"):
        cx.Accumulator("nps", score="score", weight="w", seed=3)
    acc = fed(weighted_survey(np.random.default_rng(12), 300), blank())
    with pytest.raises(cx.ArgumentError, match="BCa"):
        acc.result(ci="bootstrap", bootstrap="bca")
    with pytest.raises(cx.ArgumentError, match="fixed at creation"):
        acc.result(ci="bootstrap", n_resamples=500)
    with pytest.raises(cx.ArgumentError, match="takes no seed"):
        acc.result(ci="bootstrap", seed=1)
    assert acc.result(ci="bootstrap", n_resamples=200).overall.n_resamples == 200
    # Without replicates, a weighted accumulator's bootstrap says how to get one.
    plain = fed(weighted_survey(np.random.default_rng(12), 300),
                cx.Accumulator("nps", score="score", by="region", weight="w"))
    with pytest.raises(cx.ArgumentError, match="replicates="):
        plain.result(ci="bootstrap")


def test_a_segment_with_empty_replicates_says_so() -> None:
    table = pa.table({"score": pa.array([10, 9, 0], pa.int8()), "region": ["a", "a", "solo"],
                      "w": [1.0, 2.0, 1.5]})
    acc = blank(replicates=200)
    acc.update(table)
    res = acc.result(ci="bootstrap")
    assert isinstance(res, cx.SegmentedResult)
    solo = res["solo"]
    # One respondent: its replicates are either empty (left out) or the one answer.
    assert solo.note is not None and "left out" in solo.note
    assert solo.ci_low == solo.ci_high == -100.0


def test_replicates_serve_other_metrics_over_the_same_answers() -> None:
    table = weighted_survey(np.random.default_rng(13), 4000)
    acc = fed(table, blank(replicates=300))
    ten = cx.Scale(0, 10)
    boot = acc.result(metric="mean", scale=ten, ci="bootstrap")
    wald = cx.mean_score(table, "score", by="region", weight="w", scale=ten, ci="wald")
    assert isinstance(boot, cx.SegmentedResult) and isinstance(wald, cx.SegmentedResult)
    for b, w in [*zip(boot, wald, strict=True), (boot.overall, wald.overall)]:
        assert b.value == pytest.approx(w.value, abs=1e-12)
        assert b.se == pytest.approx(w.se, rel=0.2)  # B = 300: se of the se ≈ 4 %
