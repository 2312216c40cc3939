"""Many segments (thousands, in tables large enough to be tallied in several parallel tasks)
against the plain NumPy reference, and the routes that only such tables take: the first task's
tallies moved into the aggregator, the per-segment columns written block by block on several
threads, the state's bytes written in key order from the tallies in place.

Small tables (tests/test_key_shapes.py) take none of these routes: a chunk is split into tasks
from 65,536 rows on, and estimates go over threads from 1,025 segments on.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from cxmetrics import _native
from cxmetrics._results import _tables_equal

PROMOTER_LOW, DETRACTOR_HIGH = 9, 6


def _table(seed: int, rows: int, segments: int, weighted: bool, nulls: bool
           ) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray | None]:
    """Keys spread wide (hashed, not offsets), scores 0–10 (or null), optional weights."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, segments, rows)
    scores = rng.integers(0, 11, rows).astype(np.int8)
    valid = rng.random(rows) > 0.05 if nulls else np.ones(rows, dtype=bool)
    columns = {"seg": pa.array(codes * 7_919_000_003 + 11),
               "nps": pa.array(scores, mask=~valid)}
    weights = rng.uniform(0.5, 2.0, rows) if weighted else None
    if weights is not None:
        columns["w"] = pa.array(weights)
    return pa.table(columns), codes, np.where(valid, scores, -1), weights


def _reference(codes: np.ndarray, scores: np.ndarray, weights: np.ndarray | None,
               segments: int) -> dict[int, tuple[int, int, int, int, float]]:
    """Per present segment code: (n, missing, promoters, detractors, NPS) by bincount."""
    valid = scores >= 0
    n = np.bincount(codes[valid], minlength=segments)
    rows = np.bincount(codes, minlength=segments)
    prom = np.bincount(codes[scores >= PROMOTER_LOW], minlength=segments)
    det = np.bincount(codes[valid & (scores <= DETRACTOR_HIGH)], minlength=segments)
    w = np.ones(len(codes)) if weights is None else weights
    wn = np.bincount(codes[valid], weights=w[valid], minlength=segments)
    wp = np.bincount(codes[scores >= PROMOTER_LOW], weights=w[scores >= PROMOTER_LOW],
                     minlength=segments)
    dmask = valid & (scores <= DETRACTOR_HIGH)
    wd = np.bincount(codes[dmask], weights=w[dmask], minlength=segments)
    return {int(c): (int(n[c]), int(rows[c] - n[c]), int(prom[c]), int(det[c]),
                     100.0 * (wp[c] - wd[c]) / wn[c] if wn[c] > 0 else float("nan"))
            for c in np.flatnonzero(rows)}


def _same_bits(a: cx.SegmentedResult, b: cx.SegmentedResult) -> bool:
    """Every column equal, NaN equal to NaN (a segment with no valid answer has NaN values)."""
    return _tables_equal(a.to_arrow(distribution=True), b.to_arrow(distribution=True))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(140_000, 170_000),
       segments=st.integers(1_100, 30_000), weighted=st.booleans(), nulls=st.booleans())
def test_many_segments_match_the_reference(seed: int, rows: int, segments: int, weighted: bool,
                                           nulls: bool) -> None:
    table, codes, scores, weights = _table(seed, rows, segments, weighted, nulls)
    weight = "w" if weighted else None
    result = cx.nps(table, score="nps", by="seg", weight=weight, ci="wald")
    want = _reference(codes, scores, weights, segments)
    got = result.to_arrow()
    assert got.num_rows == len(want)
    keys = got.column("seg").to_numpy()
    assert (np.diff(keys) > 0).all(), "segments in key order"
    n, missing = got.column("n").to_numpy(), got.column("n_missing").to_numpy()
    prom, det = got.column("promoters").to_numpy(), got.column("detractors").to_numpy()
    value = got.column("value").to_numpy()
    for i, key in enumerate(keys):
        wn, wm, wp, wd, wv = want[int((key - 11) // 7_919_000_003)]
        assert (n[i], missing[i], prom[i], det[i]) == (wn, wm, wp, wd), key
        assert value[i] == pytest.approx(wv, rel=1e-9, abs=1e-9, nan_ok=True), key

    # The tallies behind the result (rebuilt from its rows when unweighted) are the state's,
    # to the byte.
    state = _native.AccumulatorState(0, 10, 1, weighted)
    state.update(table.column("nps"), [table.column("seg")],
                 table.column("w") if weighted else None, "raise", "nps", ["seg"], weight)
    tallies = result.tallies()
    assert tallies is not None
    assert tallies.to_bytes() == state.to_bytes()

    # The same rows in many small batches (each merged into the aggregation: no move, no
    # parallel tasks) give the same bits, and so do the state's bytes.
    acc = cx.Accumulator("nps", score="nps", by="seg", weight=weight)
    for start in range(0, rows, 20_000):
        acc.update(table.slice(start, 20_000))
    batched = acc.result(ci="wald")
    assert _same_bits(batched, result)
    whole = cx.Accumulator("nps", score="nps", by="seg", weight=weight)
    whole.update(table)
    assert whole.to_bytes() == acc.to_bytes()
    assert _same_bits(cx.Accumulator.from_bytes(whole.to_bytes()).result(ci="wald"), result)


@pytest.mark.parametrize("ci", ["score", "adjusted-wald", "bayes"])
def test_block_estimates_equal_one_segment_at_a_time(ci: str) -> None:
    """Estimates written block by block over threads equal each segment estimated alone."""
    table, _, _, _ = _table(5, 150_000, 3_000, weighted=False, nulls=True)
    many = cx.nps(table, score="nps", by="seg", ci=ci, seed=1, n_resamples=200)
    keys = table.column("seg").unique()[:40]
    for key in keys.to_pylist():
        alone = cx.nps(table.filter(pc.equal(table.column("seg"), key)), score="nps",
                       by="seg", ci=ci, seed=1, n_resamples=200)
        mine, theirs = many[key], alone[key]
        assert (mine.value, mine.ci_low, mine.ci_high, mine.se, mine.n) == \
            (theirs.value, theirs.ci_low, theirs.ci_high, theirs.se, theirs.n)


@pytest.mark.parametrize("ci", ["wald", "bayes"])
def test_every_row_and_column_equals_the_segment_alone(ci: str) -> None:
    """Each of 3,000 rows written block by block over threads (every column, the distribution
    and, for a resampled interval, the note) equals its segment estimated alone. Rows are
    written once into columns that start unfilled, so a row or column left unwritten shows
    here."""
    table, codes, _, _ = _table(9, 90_000, 3_000, weighted=False, nulls=True)
    # Segments where nobody answered: no interval, and a note saying why (resampled ones).
    silent = np.isin(codes, np.arange(0, 3_000, 97))
    scores = table.column("nps").to_numpy(zero_copy_only=False)
    missing = table.column("nps").is_null().to_numpy(zero_copy_only=False) | silent
    table = table.set_column(1, "nps", pa.array(np.nan_to_num(scores).astype(np.int8),
                                                mask=missing))
    options = {"ci": ci, "seed": 3, "n_resamples": 50} if ci == "bayes" else {"ci": ci}
    many = cx.nps(table, score="nps", by="seg", **options).to_arrow(distribution=True)
    assert many.num_rows == 3_000
    if ci == "bayes":
        assert many.column("note").null_count == many.num_rows - silent_segments(codes, silent)
    ordered = table.sort_by("seg")
    keys = ordered.column("seg").to_numpy()
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    alone = [cx.nps(ordered.slice(a, b - a), score="nps", by="seg", **options)
             .to_arrow(distribution=True) for a, b in zip(starts, ends, strict=True)]
    # A table of one silent segment has the note column, one of answered segments does not.
    columns = many.column_names
    alone_rows = pa.concat_tables(
        [t if "note" in t.column_names or "note" not in columns
         else t.append_column("note", pa.nulls(t.num_rows, pa.string())) for t in alone])
    assert _tables_equal(many, alone_rows.select(columns))


def silent_segments(codes: np.ndarray, silent: np.ndarray) -> int:
    return len(np.unique(codes[silent]))


@pytest.mark.parametrize("key", ["int", "str"])
@pytest.mark.parametrize("weighted", [False, True])
def test_chunks_as_readers_return_them_equal_one_chunk(key: str, weighted: bool) -> None:
    """A table in the chunks a CSV or Parquet read returns (10^3–10^5 rows; tallied several
    chunks side by side) gives the bits of the same rows in one chunk, and an invalid score is
    reported at its row with the count of all invalid rows, whichever chunk holds it."""
    rows = 420_000
    table, _, _, _ = _table(11, rows, 2_000, weighted, nulls=True)
    if key == "str":
        table = table.set_column(0, "seg", pc.cast(table.column("seg"), pa.string()))
    weight = "w" if weighted else None
    one = cx.nps(table, score="nps", by="seg", weight=weight, ci="wald")
    # Each column cut its own way (the chunks are the union of the cuts): 70,000-row keys,
    # 9,000-row scores with a run of 1,000-row chunks, weights in one piece.
    scores = table.column("nps").combine_chunks()
    cuts = [*range(0, 100_000, 1_000), *range(100_000, rows, 9_000), rows]
    chunked = {
        "seg": pa.chunked_array([table.column("seg").combine_chunks().slice(s, 70_000)
                                 for s in range(0, rows, 70_000)]),
        "nps": pa.chunked_array([scores.slice(a, b - a) for a, b in itertools.pairwise(cuts)]),
    }
    if weighted:
        chunked["w"] = table.column("w")
    many = pa.table(chunked)
    assert many.column("nps").num_chunks > 100
    assert _same_bits(cx.nps(many, score="nps", by="seg", weight=weight, ci="wald"), one)

    # Invalid scores in a late chunk and an early one: the first is reported, all are counted.
    bad = scores.to_numpy(zero_copy_only=False).copy()
    bad_rows = [391_234, 120_000, 57_001, 57_002, 250_000]  # 57,001 and 120,000: one window
    bad[bad_rows] = 42
    null = scores.is_null().to_numpy(zero_copy_only=False).copy()
    null[bad_rows] = False
    invalid = pa.array(bad, mask=null)
    many = many.set_column(1, "nps", pa.chunked_array(
        [invalid.slice(a, b - a) for a, b in itertools.pairwise(cuts)]))
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(many, score="nps", by="seg", weight=weight)
    assert (info.value.first_row, info.value.count) == (57_001, len(bad_rows))
