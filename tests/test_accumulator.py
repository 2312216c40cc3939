"""cx.Accumulator: streaming updates and merges equal the one-shot functions, exactly.

Property tests split random tables into random batches, fold them into accumulators and merge
those in random trees (with byte and pickle round trips on the way); the result and the bytes
must equal those of one accumulator fed the whole table, and the result must equal the one-shot
function's. Counts and weight sums are exact (weight sums are kept as exact integers of 2^-128;
see test_float_weights_merge_exactly_in_any_order), so equality is bit for bit.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from cxmetrics import _accumulator
from helpers.same_result import assert_same_result

Accumulator = getattr(cx, "Accumulator", _accumulator.Accumulator)
IncompatibleAccumulatorError = getattr(
    cx, "IncompatibleAccumulatorError", _accumulator.IncompatibleAccumulatorError
)

# (accumulator metric, its options, the one-shot call with the same options)
METRICS: list[tuple[str, dict[str, Any], Callable[..., Any]]] = [
    ("nps", {}, cx.nps),
    ("nps", {"promoters": (8, 10), "detractors": (0, 5)},
     lambda *a, **k: cx.nps(*a, promoters=(8, 10), detractors=(0, 5), **k)),
    ("csat", {"scale": cx.Scale(0, 10), "satisfied": (7, 10)},
     lambda *a, **k: cx.csat(*a, scale=cx.Scale(0, 10), satisfied=(7, 10), **k)),
    ("csat", {"statistic": "mean", "scale": cx.Scale(0, 10)},
     lambda *a, **k: cx.csat(*a, statistic="mean", scale=cx.Scale(0, 10), **k)),
    ("top_box", {"scale": cx.Scale(0, 10), "top": 3},
     lambda *a, **k: cx.top_box(*a, scale=cx.Scale(0, 10), top=3, **k)),
    ("bottom_box", {"scale": cx.Scale(0, 10)},
     lambda *a, **k: cx.bottom_box(*a, scale=cx.Scale(0, 10), **k)),
    ("mean", {"scale": cx.Scale(0, 10)},
     lambda *a, **k: cx.mean_score(*a, scale=cx.Scale(0, 10), **k)),
]
METRIC_IDS = [f"{m}-{i}" for i, (m, _, _) in enumerate(METRICS)]


def survey(rng: np.random.Generator, n: int, weighted: bool) -> pa.Table:
    score = rng.integers(-1, 12, n).astype(float)
    score[rng.random(n) < 0.05] = np.nan
    region = rng.choice(np.array(["north", "south", "east", "ünï"], dtype=object), n)
    region[rng.random(n) < 0.1] = None
    cols: dict[str, Any] = {
        "score": pa.array(score, from_pandas=True),
        "region": pa.array(region, pa.string()),
        "wave": pa.array(rng.integers(1, 4, n), pa.int32()),
    }
    if weighted:
        cols["w"] = pa.array(rng.integers(0, 40, n) / 8.0)
    return pa.table(cols)


# ---------------------------------------------------------------------------------------------
# one-shot equality


@pytest.mark.parametrize(("metric", "options", "one_shot"), METRICS, ids=METRIC_IDS)
@pytest.mark.parametrize("by", [None, "region", ["region", "wave"]])
@pytest.mark.parametrize("weighted", [False, True])
def test_batches_equal_one_shot(metric: str, options: dict[str, Any],
                                one_shot: Callable[..., Any], by: Any, weighted: bool) -> None:
    table = survey(np.random.default_rng(7), 3000, weighted)
    weight = "w" if weighted else None
    acc = Accumulator(metric, score="score", by=by, weight=weight, on_invalid="drop", **options)
    for batch in table.to_batches(max_chunksize=700):
        acc.update(batch)
    expected = one_shot(table, "score", by=by, weight=weight, on_invalid="drop")
    assert_same_result(acc.result(), expected)
    ci = "wald"
    assert_same_result(acc.result(ci=ci, confidence=0.9),
                       one_shot(table, "score", by=by, weight=weight, on_invalid="drop", ci=ci,
                                confidence=0.9))


def test_ces_variants_and_intervals() -> None:
    rng = np.random.default_rng(3)
    for variant, high in (("2.0", 7), ("effort", 5)):
        scores = pa.array(rng.integers(1, high + 1, 500))
        acc = Accumulator("ces", variant=variant)  # type: ignore[arg-type]
        acc.update(scores.slice(0, 200))
        acc.update(scores.slice(200))
        assert_same_result(acc.result(), cx.ces(scores, variant=variant))  # type: ignore[arg-type]
        assert_same_result(acc.result(ci=None), cx.ces(scores, variant=variant,  # type: ignore[arg-type]
                                                        ci=None))
    scores = pa.array(rng.integers(0, 11, 400))
    acc = Accumulator("nps")
    acc.update(scores)
    for ci in ("wald", "adjusted-wald", "score", None):
        assert_same_result(acc.result(ci=ci), cx.nps(scores, ci=ci))  # type: ignore[arg-type]


def test_bootstrap_matches_one_shot_with_a_seed() -> None:
    table = survey(np.random.default_rng(11), 800, False)
    acc = Accumulator("nps", score="score", by="region", on_invalid="drop")
    for batch in table.to_batches(max_chunksize=300):
        acc.update(batch)
    got = acc.result(ci="bootstrap", n_resamples=500, seed=5, bootstrap="percentile")
    want = cx.nps(table, "score", by="region", on_invalid="drop", ci="bootstrap",
                  n_resamples=500, seed=5, bootstrap="percentile")
    assert_same_result(got, want)


# ---------------------------------------------------------------------------------------------
# random batches, random merge trees


def _fold(acc: Any, table: pa.Table, cuts: list[int]) -> Any:
    bounds = sorted({0, table.num_rows, *cuts})
    if len(bounds) == 1:  # an empty table is still one (empty) batch
        bounds = [0, 0]
    parts = []
    for lo, hi in itertools.pairwise(bounds):
        part = acc.empty()
        part.update(table.slice(lo, hi - lo))
        parts.append(part)
    return parts


@st.composite
def merge_plans(draw: st.DrawFn) -> tuple[int, bool, list[int], list[int], int]:
    n = draw(st.integers(0, 400))
    weighted = draw(st.booleans())
    cuts = draw(st.lists(st.integers(0, max(n, 0)), max_size=8))
    # Each step merges parts[i % len] into parts[j % len]; the choices shape the tree.
    picks = draw(st.lists(st.integers(0, 1000), min_size=20, max_size=20))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, weighted, cuts, picks, seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=merge_plans(), metric_index=st.integers(0, len(METRICS) - 1),
       by_index=st.integers(0, 2))
def test_random_merge_trees_equal_one_shot(plan: tuple[int, bool, list[int], list[int], int],
                                           metric_index: int, by_index: int) -> None:
    n, weighted, cuts, picks, seed = plan
    metric, options, one_shot = METRICS[metric_index]
    by = [None, "region", ["region", "wave"]][by_index]
    weight = "w" if weighted else None
    table = survey(np.random.default_rng(seed), n, weighted)
    blank = Accumulator(metric, score="score", by=by, weight=weight, on_invalid="drop",
                        **options)
    whole = blank.copy()
    whole.update(table)

    parts = _fold(blank, table, cuts)
    parts.insert(picks[0] % (len(parts) + 1), blank.copy())  # an empty one somewhere
    step = 1
    while len(parts) > 1:
        i = picks[step % len(picks)] % len(parts)
        a = parts.pop(i)
        j = picks[(step + 1) % len(picks)] % len(parts)
        b = parts.pop(j)
        merged = a.merge(b) if step % 2 else b.merge(a)
        if step % 3 == 0:
            merged = pickle.loads(pickle.dumps(merged))
        elif step % 3 == 1:
            merged = Accumulator.from_bytes(merged.to_bytes())
        parts.append(merged)
        step += 2
    final = parts[0]
    assert final.to_bytes() == whole.to_bytes()
    assert final == whole
    assert_same_result(final.result(), whole.result())
    assert_same_result(final.result(), one_shot(table, "score", by=by, weight=weight,
                                                on_invalid="drop"))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_parts=st.integers(1, 12))
def test_float_weights_merge_exactly_in_any_order(seed: int, n_parts: int) -> None:
    """Arbitrary float weights (lognormal, full 53-bit mantissas): weight sums are exact, so the
    merged bytes and every reported figure equal the one-shot ones bit for bit, whatever the
    batching and merge order (docs/accumulators.md)."""
    rng = np.random.default_rng(seed)
    n = 2000
    table = survey(rng, n, False).append_column("w", pa.array(rng.lognormal(0, 1, n)))
    blank = Accumulator("nps", score="score", by="region", weight="w", on_invalid="drop")
    whole = blank.copy()
    whole.update(table)
    cuts = sorted(rng.integers(0, n, n_parts - 1).tolist())
    parts = _fold(blank, table, cuts)
    rng.shuffle(parts)  # type: ignore[arg-type]
    merged = parts[0]
    for part in parts[1:]:
        merged = part.merge(merged)
    assert merged.to_bytes() == whole.to_bytes()
    assert_same_result(merged.result(), whole.result())
    # Reversed rows in one batch, too: the sums do not depend on the order of rows.
    backwards = blank.copy()
    backwards.update(table.take(np.arange(n)[::-1]))
    assert backwards.to_bytes() == whole.to_bytes()
    assert_same_result(merged.result(), cx.nps(table, score="score", by="region", weight="w",
                                               on_invalid="drop"))


def test_weighted_totals_are_correctly_rounded_exact_sums() -> None:
    """``weighted_n`` of a one-point segment is the exact sum of its weights, rounded once: the
    same float ``fractions.Fraction`` arithmetic gives (not a float sum's accumulated error).
    (Over several scale points it is the float sum of the per-point exact sums.)"""
    from fractions import Fraction

    rng = np.random.default_rng(5)
    w = np.concatenate([rng.lognormal(0, 3, 5000), [2.0**31, 2.0**-38, 0.0, 1e-3, 3.5]])
    rng.shuffle(w)
    table = pa.table({"score": pa.array(np.full(w.size, 10), pa.int8()), "w": w})
    got = cx.nps(table, score="score", weight="w")
    exact = sum((Fraction(float(x)) for x in w), Fraction(0))
    squares = sum((Fraction(float(x) * float(x)) for x in w), Fraction(0))
    assert got.weighted_n == float(exact)
    assert got.effective_n == float(exact) * float(exact) / float(squares)


# ---------------------------------------------------------------------------------------------
# behaviour


def test_empty_is_identity_on_both_sides() -> None:
    table = survey(np.random.default_rng(1), 200, True)
    acc = Accumulator("nps", score="score", by="region", weight="w", on_invalid="drop")
    acc.update(table)
    empty = acc.empty()
    assert empty.merge(acc) == acc
    assert acc.merge(empty) == acc
    assert empty.merge(empty) == empty
    res = empty.result()
    assert isinstance(res, cx.SegmentedResult) and len(res) == 0 and res.overall.n == 0
    # Column mode: an accumulator that has seen nothing does not know its shape yet.
    col = Accumulator("nps")
    filled = Accumulator("nps")
    filled.update([1, 9, 10], by=["a", "b", "a"])
    assert col.merge(filled) == filled and filled.merge(col) == filled
    assert isinstance(col.result(), cx.MetricResult)
    assert col.result().n == 0


def test_column_mode() -> None:
    scores = np.array([0, 9, 10, 7, 3, 10])
    region = pd.Series(["a", "b", "a", None, "b", "a"], name="region")
    w = pl.Series("w", [1.0, 2.0, 1.0, 1.0, 0.5, 1.0])
    acc = Accumulator("nps")
    acc.update(scores[:3], by=region[:3], weight=w[:3])
    acc.update(scores[3:], by=region[3:].reset_index(drop=True), weight=w[3:])
    res = acc.result()
    assert isinstance(res, cx.SegmentedResult) and res.by == ("region",)
    assert_same_result(res, cx.nps(scores, by=region, weight=w.to_numpy()))
    assert acc.by == ("region",)
    with pytest.raises(cx.ColumnError, match="same shape"):
        acc.update(scores)
    with pytest.raises(cx.ColumnError):
        Accumulator("nps", by="region")
    with pytest.raises(cx.ColumnError, match="single column"):
        Accumulator("nps", score="s").update(scores)


def test_update_is_all_or_nothing_and_names_columns() -> None:
    acc = Accumulator("nps", score="s", by="k")
    acc.update(pa.table({"s": [1, 2], "k": ["a", "b"]}))
    before = acc.to_bytes()
    with pytest.raises(cx.InvalidScoreError) as err:
        acc.update(pa.table({"s": [1, 42], "k": ["a", "b"]}))
    assert err.value.column == "s" and err.value.first_value == 42
    assert acc.to_bytes() == before
    with pytest.raises(cx.ColumnError, match="nope"):
        Accumulator("nps", score="nope").update(pa.table({"s": [1]}))
    with pytest.raises(cx.InvalidWeightError):
        Accumulator("nps", score="s", weight="w").update(pa.table({"s": [1], "w": [-1.0]}))


def test_inputs_of_every_kind() -> None:
    data = {"s": [1, 5, 9, 10, None], "k": ["x", "y", "x", "y", "x"]}
    table = pa.table(data)
    expected = cx.nps(table, "s", by="k")
    for source in (table, table.to_batches()[0], pa.RecordBatchReader.from_batches(
            table.schema, table.to_batches()), pl.DataFrame(data), pd.DataFrame(data)):
        acc = Accumulator("nps", score="s", by="k")
        acc.update(source)
        assert_same_result(acc.result(), expected)


def test_merge_refuses_different_definitions() -> None:
    base = Accumulator("nps", score="s", by="k")
    for other in (Accumulator("csat", score="s", by="k"),
                  Accumulator("nps", score="s", by="k", promoters=(8, 10)),
                  Accumulator("nps", score="s", by="k", on_invalid="drop"),
                  Accumulator("nps", score="t", by="k"),
                  Accumulator("nps", score="s", by=["k", "j"]),
                  Accumulator("nps", score="s", by="k", weight="w"),
                  Accumulator("nps")):
        with pytest.raises(IncompatibleAccumulatorError, match="different definitions"):
            base.merge(other)
    with pytest.raises(TypeError):
        base.merge("not an accumulator")  # type: ignore[arg-type]


def test_options_are_validated_and_normalised() -> None:
    with pytest.raises(ValueError, match="metric must be one of"):
        Accumulator("net_promoter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes the options"):
        Accumulator("nps", top=2)
    with pytest.raises(ValueError, match="top must be"):
        Accumulator("top_box", top=99)
    with pytest.raises(ValueError, match="on_invalid"):
        Accumulator("nps", on_invalid="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ci must be"):
        Accumulator("nps").result(ci="magic")  # type: ignore[arg-type]
    # Defaults given explicitly or not: the same definition, the same bytes.
    assert Accumulator("nps").to_bytes() == Accumulator(
        "nps", scale=cx.NPS_SCALE, promoters=(9, 10), detractors=(0, 6)).to_bytes()
    assert Accumulator("ces", variant="effort").options == {"variant": "effort",
                                                            "statistic": "mean"}


def test_copy_and_pickle_are_independent() -> None:
    acc = Accumulator("csat", score="s", by="k", weight="w")
    acc.update(pa.table({"s": [1, 4, 5], "k": [True, False, None], "w": [1.0, 2.0, 3.0]}))
    for clone in (acc.copy(), copy.copy(acc), copy.deepcopy(acc),
                  pickle.loads(pickle.dumps(acc, protocol=pickle.HIGHEST_PROTOCOL))):
        assert clone == acc and clone is not acc
        clone.update(pa.table({"s": [5], "k": [True], "w": [1.0]}))
        assert clone != acc
    assert "csat" in repr(acc)


def test_key_types_survive_bytes() -> None:
    import datetime as dt
    from decimal import Decimal

    keys = {
        "b": pa.array([True, None, False]),
        "i": pa.array([1, 2**40, None], pa.uint64()),
        "f": pa.array([1.5, None, -0.0]),
        "s": pa.array(["x", None, "y"], pa.large_string()),
        "bin": pa.array([b"\x00", b"", None]),
        "d": pa.array([dt.date(2024, 1, 1), None, dt.date(1970, 1, 1)]),
        "t": pa.array([dt.datetime(2024, 1, 1), None, dt.datetime(2000, 1, 1)],
                      pa.timestamp("us", tz="UTC")),
        "dec": pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal128(6, 2)),
        "dict": pa.array(["p", "q", None]).dictionary_encode(),
    }
    table = pa.table({"s0": [1, 2, 3], **keys})
    acc = Accumulator("csat", score="s0", by=list(keys))
    acc.update(table)
    back = Accumulator.from_bytes(acc.to_bytes())
    assert back == acc
    assert_same_result(back.result(), cx.csat(table, "s0", by=list(keys)))
    # A decoded accumulator keeps accepting the same kinds of batches.
    back.update(table)
    assert back.result().overall.n == 6


def test_unsupported_key_type_fails_at_to_bytes() -> None:
    import datetime as dt

    acc = Accumulator("nps", score="s", by="t")
    acc.update(pa.table({"s": [1], "t": pa.array([dt.time(12, 0)])}))
    assert acc.result().overall.n == 1  # usable in memory
    with pytest.raises(cx.UnsupportedTypeError, match="cannot be stored"):
        acc.to_bytes()


def test_zero_chunk_batches_fix_the_same_key_types() -> None:
    empty = pa.table({"s": pa.chunked_array([], pa.int64()),
                      "k": pa.chunked_array([], pa.string())})
    assert empty.column("k").num_chunks == 0
    a = Accumulator("nps", score="s", by="k")
    a.update(empty)
    b = Accumulator("nps", score="s", by="k")
    b.update(pa.table({"s": [1, 10], "k": ["x", None]}))
    assert a.merge(b) == b.merge(a)
    assert Accumulator.from_bytes(a.to_bytes()).merge(b).result().overall.n == 2


def test_failed_first_update_in_column_mode_changes_nothing() -> None:
    acc = Accumulator("nps")
    before = acc.to_bytes()
    with pytest.raises(cx.InvalidScoreError):
        acc.update([1, 99], by=["a", "b"])
    assert acc.to_bytes() == before and acc.by is None
    acc.update([1, 2])  # still free to choose its shape
    assert isinstance(acc.result(), cx.MetricResult)


# ---------------------------------------------------------------------------------------------
# several metrics over the same answers


def test_other_metrics_over_the_same_answers_equal_their_one_shot_functions() -> None:
    rng = np.random.default_rng(21)
    table = survey(rng, 3000, True)
    ten = cx.Scale(0, 10)
    acc = Accumulator("nps", score="score", by="region", weight="w", on_invalid="drop")
    acc.update(table)
    common = {"by": "region", "weight": "w", "on_invalid": "drop"}
    pairs = [
        (acc.result(metric="top_box", scale=ten, top=3),
         cx.top_box(table, "score", scale=ten, top=3, **common)),
        (acc.result(metric="bottom_box", scale=ten, ci="wald"),
         cx.bottom_box(table, "score", scale=ten, ci="wald", **common)),
        (acc.result(metric="mean", scale=ten),
         cx.mean_score(table, "score", scale=ten, **common)),
        (acc.result(metric="csat", scale=ten, satisfied=(8, 10), statistic="share"),
         cx.csat(table, "score", scale=ten, satisfied=(8, 10), **common)),
        (acc.result(metric="nps", promoters=(8, 10), detractors=(0, 5), ci="score"),
         cx.nps(table, "score", promoters=(8, 10), detractors=(0, 5), ci="score", **common)),
        (acc.result(metric="top_box", scale=ten, ci="bayes", seed=3),
         cx.top_box(table, "score", scale=ten, ci="bayes", seed=3, **common)),
    ]
    for got, want in pairs:
        assert_same_result(got, want)
    with pytest.raises(cx.ArgumentError, match="pass scale="):
        acc.result(metric="mean")  # the one-shot default scale is 1..5
    with pytest.raises(cx.ArgumentError, match="metric="):
        acc.result(top=3)


def test_concurrent_merges_bytes_and_reads_do_not_deadlock() -> None:
    """Merges read both states in place under their locks: a.merge(b) and b.merge(a) from two
    threads, with to_bytes, updates and property reads alongside, must all finish."""
    import threading

    table = survey(np.random.default_rng(31), 2000, True)
    a = Accumulator("nps", score="score", by="region", weight="w", on_invalid="drop")
    a.update(table)
    b = a.copy()

    def work(x: Accumulator, y: Accumulator) -> None:
        for _ in range(300):
            x.merge(y)
            x.merge(x)
            y.to_bytes()
            _ = (x.replicates, x.stream, x.by)
        for _ in range(20):
            x.update(table.slice(0, 100))

    threads = [threading.Thread(target=work, args=pair) for pair in ((a, b), (b, a), (a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "deadlock"
    # a got 2 × 20 extra batches of 100 rows, b 20 (counts include missing and invalid).
    total = a.result().overall
    other = b.result().overall
    assert (total.n + total.n_missing + total.n_invalid
            - (other.n + other.n_missing + other.n_invalid)) == 20 * 100
