"""A million segments: the result table costs Arrow rows, not Python objects.

Two measurements on 2M rows with an int64 key of 1M distinct values:
- ``results_1m``: building the ``SegmentedResult`` and its flat ``to_arrow()`` table from the
  core's per-segment batch (what the Python layer adds after the Rust estimate), against
  ``polars`` building a table of the same shape (keys, value, se, bounds, counts) by group-by
  and expressions from the same 2M rows. The issue asks for "well under a second".
- ``call_1m``: the whole ``cx.nps(..., by=key).to_arrow()`` call against the same polars query,
  recorded for the ratio table at ``--bench-size=full`` only (the core's high-cardinality
  grouping is issue 9's work: 50 s against polars' 3 s when this was written).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics import _engine, _results

SEGMENTS = 1_000_000
ROWS = 2 * SEGMENTS
Z95 = 1.959963984540054
# The result-building step must stay well under a second for 1M segments (the bound,
# asserted as a benchmark, never in a test): 0.5 s leaves headroom on the loaded 2-core machine.
RESULTS_1M_SECONDS = 0.5


@pytest.fixture(scope="module")
def survey() -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table({"score": rng.integers(0, 11, ROWS),
                     "key": rng.permutation(np.arange(ROWS) % SEGMENTS)})


@pytest.fixture(scope="module")
def core_batches(survey: pa.Table) -> tuple[pa.RecordBatch, pa.RecordBatch, _engine.MetricDef]:
    metric = _engine.net("nps", cx.NPS_SCALE, (9, 10), (0, 6),
                         ("detractors", "passives", "promoters"))
    columns = _engine.resolve_columns(survey, "score", "key", None)
    agg = _engine.aggregate(metric, columns, "raise")
    segments, overall = agg.estimate(metric.native, _results.internal_key_names(("key",)),
                                     "wald", 0.95)
    return segments, overall, metric


def _polars_table(frame: pl.LazyFrame) -> pa.Table:
    n = pl.len()
    p = (pl.col("score") >= 9).sum() / n
    d = (pl.col("score") <= 6).sum() / n
    out = (frame.group_by("key").agg(
        n=n, promoters=(pl.col("score") >= 9).sum(), detractors=(pl.col("score") <= 6).sum(),
        value=100 * (p - d), se=100 * ((p + d - (p - d) ** 2) / n).sqrt())
        .with_columns(ci_low=pl.col("value") - Z95 * pl.col("se"),
                      ci_high=pl.col("value") + Z95 * pl.col("se"))
        .sort("key"))
    return out.collect().to_arrow()


def _build(batches: tuple[pa.RecordBatch, pa.RecordBatch, _engine.MetricDef]) -> pa.Table:
    segments, overall, metric = batches
    res = _results.result_rows(metric, segments, overall, ("key",), segmented=True,
                               method="wald", confidence=0.95, n_resamples=None, seed=None,
                               weighted=False)
    assert isinstance(res, cx.SegmentedResult)
    return res.to_arrow()


def test_same_table(survey: pa.Table, core_batches: Any) -> None:
    ours = _build(core_batches)
    theirs = _polars_table(pl.from_arrow(survey).lazy())  # type: ignore[union-attr]
    assert ours.num_rows == theirs.num_rows == SEGMENTS
    for name in ("key", "n", "promoters", "detractors"):
        assert ours.column(name).to_pylist()[:1000] == theirs.column(name).to_pylist()[:1000]
    assert np.allclose(ours.column("value").to_numpy(), theirs.column("value").to_numpy())


@pytest.mark.parametrize("engine", ["cxmetrics", "polars"])
def test_results_1m(benchmark: Any, engine: str, survey: pa.Table, core_batches: Any,
                    record_timing: Callable[..., None]) -> None:
    lazy = pl.from_arrow(survey).lazy()  # type: ignore[union-attr]
    run = (lambda: _build(core_batches)) if engine == "cxmetrics" else (
        lambda: _polars_table(lazy))
    benchmark.group = "1M segments: the result table"
    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    record_timing("results_1m", engine, benchmark)


@pytest.mark.parametrize("engine", ["cxmetrics", "polars"])
def test_call_1m(benchmark: Any, engine: str, survey: pa.Table, bench_size: str,
                 record_timing: Callable[..., None]) -> None:
    if bench_size != "full":
        # 50 s a call today (2026-12-03, loaded machine): the core's high-cardinality grouping
        # is issue 9's work; `make bench` measures it, `make bench-check` does not wait for it.
        pytest.skip("the whole 1M-segment call runs with --bench-size=full (make bench)")
    lazy = pl.from_arrow(survey).lazy()  # type: ignore[union-attr]
    run = (lambda: cx.nps(survey, "score", by="key").to_arrow()) if engine == "cxmetrics" else (
        lambda: _polars_table(lazy))
    benchmark.group = "1M segments: the whole call"
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=0)
    record_timing("call_1m", engine, benchmark)


def test_results_1m_well_under_a_second(medians: dict[tuple[str, str], float],
                                        record_extra: Callable[..., None]) -> None:
    ours = medians.get(("results_1m", "cxmetrics"))
    if ours is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    record_extra("results_1m_seconds", round(ours, 4),
                 f"1M segments: SegmentedResult + to_arrow() in {ours * 1e3:.0f} ms")
    assert ours < RESULTS_1M_SECONDS
