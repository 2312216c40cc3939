"""``cx.trend`` (daily NPS for 50 segments over a year) against the same figures computed with
polars — truncate the dates, group by (segment, day), then the NPS and Wald formulas — and
against one segmented ``cx.nps`` call on (segment, day), the issue's cost yardstick ("at most
about twice one segmented call"). The three are timed in one run; their numbers are asserted
equal. No floor: the ratio is reported (see the session's ratio table), not yet enforced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import cxmetrics as cx

SEGMENTS = 50
DAYS = 365
Z = 1.959963984540054


@pytest.fixture(scope="module")
def table(bench_rows: int) -> pa.Table:
    rng = np.random.default_rng(20_261_203)
    days = np.datetime64("2025-01-01") + rng.integers(0, DAYS, bench_rows).astype(
        "timedelta64[D]")
    # Timestamps within the day, so every engine has to truncate them to dates.
    stamps = days.astype("datetime64[s]") + rng.integers(0, 86_400, bench_rows).astype(
        "timedelta64[s]")
    return pa.table({
        "seg": pa.array(rng.integers(0, SEGMENTS, bench_rows).astype(np.int32)),
        "nps": pa.array(rng.integers(0, 11, bench_rows).astype(np.int8)),
        "at": pa.array(stamps, pa.timestamp("s")),
    })


def run_cx(table: pa.Table) -> cx.TrendResult:
    return cx.trend(table, score="nps", time="at", every="day", by="seg", ci="wald")


def run_nps(table: pa.Table) -> cx.SegmentedResult:
    with_day = table.append_column("day", table["at"].cast(pa.date32()))
    return cx.nps(with_day, score="nps", by=["seg", "day"], ci="wald")


def run_polars(frame: pl.DataFrame) -> pl.DataFrame:
    nps = pl.col("nps")
    return (
        frame.with_columns(pl.col("at").dt.truncate("1d").alias("day"))
        .group_by("seg", "day")
        .agg(n=pl.len(), p=(nps >= 9).mean(), d=(nps <= 6).mean())
        .with_columns(value=100 * (pl.col("p") - pl.col("d")))
        .with_columns(se=100 * ((pl.col("p") + pl.col("d") - (pl.col("p") - pl.col("d")) ** 2)
                                / pl.col("n")).sqrt())
        .with_columns(ci_low=(pl.col("value") - Z * pl.col("se")).clip(-100, 100),
                      ci_high=(pl.col("value") + Z * pl.col("se")).clip(-100, 100))
        .sort("seg", "day")
    )


@pytest.mark.parametrize("engine", ["cxmetrics", "cxmetrics-nps", "polars"])
def test_trend(benchmark: Any, engine: str, table: pa.Table,
               record_timing: Any) -> None:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    run = {"cxmetrics": lambda: run_cx(table), "cxmetrics-nps": lambda: run_nps(table),
           "polars": lambda: run_polars(frame)}[engine]
    run()  # warm-up
    benchmark.group = f"trend · {table.num_rows:,} rows"
    result = benchmark(run)
    record_timing("trend", engine, benchmark)
    ours = run_cx(table)
    values = np.array([row.value for row in ours])
    if engine == "polars":
        np.testing.assert_allclose(result["value"].to_numpy(), values, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(result["ci_low"].to_numpy(),
                                   [row.ci_low for row in ours], rtol=1e-9, atol=1e-9)
    elif engine == "cxmetrics-nps":
        np.testing.assert_array_equal([row.value for row in result], values)
