"""Per-segment NPS against DuckDB, polars, pyarrow and pandas, measured in the same run.

Every engine computes the same numbers per segment — promoters (9–10), detractors (0–6) and the
count of valid answers, plus their weight sums when weighted — and each peer's numbers are
asserted equal to cxmetrics' (cxmetrics' own to a plain NumPy reference). cxmetrics is timed as a
user calls it: ``cx.nps(table, score="nps", by="seg", ci="wald")``, intervals and result objects
included. Peers are timed on what their users would write, with data loading (DataFrame
construction, registering the Arrow table) done once, untimed.

The last tests compare the measured ratios (peer median / cxmetrics median) with the floors in
``floors.py``; they skip unless benchmarks ran (``--benchmark-enable``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import cxmetrics as cx
from floors import FLOORS, TARGETS

SCENARIOS = ("dict", "string", "two_keys", "weighted")
SEGMENTS = 50
CHANNELS = ("app", "email", "phone", "web")
SEED = 20_240_611
PROMOTER_LOW = 9  # promoters: 9–10
DETRACTOR_HIGH = 6  # detractors: 0–6

# Everything a peer must reproduce per segment: (promoters, detractors, n, Σw promoters,
# Σw detractors, Σw). Unweighted scenarios have Σw = the counts.
Summary = tuple[int, int, int, float, float, float]
Key = tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    """One scenario: the Arrow table, what to group by, and the plain NumPy reference."""

    scenario: str
    rows: int
    table: pa.Table
    by: tuple[str, ...]
    weight: str | None
    reference: dict[Key, Summary]


def _reference(group: np.ndarray, n_groups: int, scores: np.ndarray,
               weights: np.ndarray | None) -> list[Summary]:
    """Per-group summaries by NumPy bincount over (group, score)."""
    cell = group.astype(np.int64) * 11 + scores
    hist = np.bincount(cell, minlength=n_groups * 11).reshape(n_groups, 11)
    whist = (hist.astype(np.float64) if weights is None
             else np.bincount(cell, weights=weights, minlength=n_groups * 11)
             .reshape(n_groups, 11))
    return [
        (int(hist[g, PROMOTER_LOW:].sum()), int(hist[g, : DETRACTOR_HIGH + 1].sum()),
         int(hist[g].sum()), float(whist[g, PROMOTER_LOW:].sum()),
         float(whist[g, : DETRACTOR_HIGH + 1].sum()), float(whist[g].sum()))
        for g in range(n_groups)
    ]


def build_dataset(scenario: str, rows: int) -> Dataset:
    """Deterministic data: uniform 0–10 int8 scores, 50 uniform segments (seeded NumPy)."""
    rng = np.random.default_rng(SEED)
    codes = rng.integers(0, SEGMENTS, rows, dtype=np.int32)
    scores = rng.integers(0, 11, rows, dtype=np.int8)
    names = [f"segment_{i:02d}" for i in range(SEGMENTS)]
    seg = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))
    columns: dict[str, pa.Array] = {"seg": seg, "nps": pa.array(scores)}
    by: tuple[str, ...] = ("seg",)
    weight, weights = None, None
    group, n_groups = codes, SEGMENTS
    labels: list[Key] = [(name,) for name in names]
    if scenario == "string":
        columns["seg"] = pc.cast(seg, pa.large_string())
    elif scenario == "two_keys":
        channel = rng.integers(0, len(CHANNELS), rows, dtype=np.int32)
        columns["channel"] = pa.DictionaryArray.from_arrays(pa.array(channel),
                                                            pa.array(CHANNELS))
        by = ("seg", "channel")
        group, n_groups = codes * len(CHANNELS) + channel, SEGMENTS * len(CHANNELS)
        labels = [(name, ch) for name in names for ch in CHANNELS]
    elif scenario == "weighted":
        weights = rng.uniform(0.5, 2.0, rows)
        columns["w"] = pa.array(weights)
        weight = "w"
    elif scenario != "dict":
        raise ValueError(f"unknown scenario {scenario!r}")
    summaries = _reference(group, n_groups, scores, weights)
    reference = {labels[g]: s for g, s in enumerate(summaries) if s[2] > 0}
    return Dataset(scenario, rows, pa.table(columns), by, weight, reference)


@pytest.fixture(scope="session")
def dataset_factory(bench_rows: int) -> Callable[[str], Dataset]:
    """Builds each scenario's data once per session (lazily, so ``-k`` only pays for its own)."""
    cache: dict[str, Dataset] = {}

    def get(scenario: str) -> Dataset:
        if scenario not in cache:
            cache[scenario] = build_dataset(scenario, bench_rows)
        return cache[scenario]

    return get


@pytest.fixture(scope="session")
def prepared_cache() -> dict[tuple[str, str], Any]:
    """Per (scenario, engine) state built once and untimed: DataFrames, connections, results."""
    return {}


@dataclass(frozen=True)
class Engine:
    """How one engine gets ready (untimed), runs (timed) and reports its per-segment numbers."""

    prepare: Callable[[Dataset], Any]
    run: Callable[[Any], Any]
    summarize: Callable[[Any, Dataset], dict[Key, Summary]] | None


def _summaries(rows: Iterable[Sequence[Any]], n_keys: int, weighted: bool) -> dict[Key, Summary]:
    """Rows of (keys..., promoters, detractors, n[, Σw promoters, Σw detractors, Σw])."""
    out: dict[Key, Summary] = {}
    for row in rows:
        key = tuple(str(k) for k in row[:n_keys])
        p, d, n = (int(v) for v in row[n_keys:n_keys + 3])
        wp, wd, wn = ((float(v) for v in row[n_keys + 3:n_keys + 6]) if weighted
                      else (float(p), float(d), float(n)))
        out[key] = (p, d, n, wp, wd, wn)
    return out


# --- cxmetrics -------------------------------------------------------------------------------

def _cx_run(data: Dataset) -> cx.SegmentedResult:
    by: str | list[str] = data.by[0] if len(data.by) == 1 else list(data.by)
    return cx.nps(data.table, score="nps", by=by, weight=data.weight, ci="wald")


# --- DuckDB: SQL over the registered Arrow table ----------------------------------------------

def _duckdb_sql(data: Dataset) -> str:
    # count_if is DuckDB's fastest of the spellings tried (sum of a cast flag, count(*) FILTER,
    # sum(CASE ...)); see docs/performance.md.
    keys = ", ".join(data.by)
    aggs = [f"count_if(nps >= {PROMOTER_LOW}) AS promoters",
            f"count_if(nps <= {DETRACTOR_HIGH}) AS detractors",
            "count(nps) AS n"]
    if data.weight:
        w = data.weight
        # The fastest of CASE WHEN, FILTER and a multiply by the flag (1.6× faster than CASE).
        aggs += [f"sum({w} * (nps >= {PROMOTER_LOW})::DOUBLE) AS w_promoters",
                 f"sum({w} * (nps <= {DETRACTOR_HIGH})::DOUBLE) AS w_detractors",
                 f"sum({w}) AS w_n"]
    return f"SELECT {keys}, {', '.join(aggs)} FROM responses GROUP BY {keys}"


def _duckdb_prepare(data: Dataset) -> tuple[Any, str]:
    con = duckdb.connect()
    con.register("responses", data.table)
    return con, _duckdb_sql(data)


def _duckdb_run(state: tuple[Any, str]) -> pa.Table:
    con, sql = state
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    table: pa.Table = fetch()
    return table


# --- polars: group_by + agg on a DataFrame built once from the Arrow table ---------------------

def _polars_aggs(data: Dataset) -> list[pl.Expr]:
    nps = pl.col("nps")
    aggs = [(nps >= PROMOTER_LOW).sum().alias("promoters"),
            (nps <= DETRACTOR_HIGH).sum().alias("detractors"),
            nps.count().alias("n")]
    if data.weight:
        w = pl.col(data.weight)
        # when/then/otherwise: faster here than w.filter(...) or w * flag.
        aggs += [pl.when(nps >= PROMOTER_LOW).then(w).otherwise(0.0).sum().alias("w_promoters"),
                 pl.when(nps <= DETRACTOR_HIGH).then(w).otherwise(0.0).sum()
                 .alias("w_detractors"),
                 w.sum().alias("w_n")]
    return aggs


def _polars_prepare(data: Dataset) -> tuple[pl.DataFrame, list[str], list[pl.Expr]]:
    frame = pl.from_arrow(data.table)
    assert isinstance(frame, pl.DataFrame)
    return frame, list(data.by), _polars_aggs(data)


def _polars_lazy(state: tuple[pl.DataFrame, list[str], list[pl.Expr]]) -> pl.DataFrame:
    frame, by, aggs = state
    return frame.lazy().group_by(by).agg(aggs).collect()


def _polars_eager(state: tuple[pl.DataFrame, list[str], list[pl.Expr]]) -> pl.DataFrame:
    frame, by, aggs = state
    return frame.group_by(by).agg(aggs)


# --- pyarrow: compute the bucket flags, then Table.group_by ------------------------------------

def _pyarrow_run(data: Dataset) -> pa.Table:
    table = data.table
    nps = table.column("nps")
    promoter = pc.greater_equal(nps, PROMOTER_LOW)
    detractor = pc.less_equal(nps, DETRACTOR_HIGH)
    work = table.append_column("p", promoter).append_column("d", detractor)
    aggs: list[tuple[str, str]] = [("p", "sum"), ("d", "sum"), ("nps", "count")]
    if data.weight:
        w = table.column(data.weight)
        work = (work.append_column("wp", pc.if_else(promoter, w, 0.0))
                .append_column("wd", pc.if_else(detractor, w, 0.0)))
        aggs += [("wp", "sum"), ("wd", "sum"), (data.weight, "sum")]
    result: pa.Table = work.group_by(list(data.by)).aggregate(aggs)
    return result


# --- pandas: groupby on categoricals (observed=True) ------------------------------------------

def _pandas_prepare(data: Dataset) -> tuple[pd.DataFrame, Dataset]:
    return data.table.to_pandas(), data


def _pandas_run(state: tuple[pd.DataFrame, Dataset]) -> pd.DataFrame:
    frame, data = state
    nps = frame["nps"]
    work = frame.assign(p=nps >= PROMOTER_LOW, d=nps <= DETRACTOR_HIGH)
    aggs: dict[str, tuple[str, str]] = {
        "promoters": ("p", "sum"), "detractors": ("d", "sum"), "n": ("nps", "count")}
    if data.weight:
        w = frame[data.weight]
        work = work.assign(wp=w * work["p"], wd=w * work["d"])  # faster than w.where(flag, 0)
        aggs |= {"w_promoters": ("wp", "sum"), "w_detractors": ("wd", "sum"),
                 "w_n": (data.weight, "sum")}
    result: pd.DataFrame = work.groupby(list(data.by), observed=True).agg(**aggs)
    return result


def _arrow_rows(table: pa.Table, data: Dataset) -> dict[Key, Summary]:
    names = [*data.by, "promoters", "detractors", "n"]
    if data.weight:
        names += ["w_promoters", "w_detractors", "w_n"]
    columns = [table.column(c).to_pylist() for c in names]
    return _summaries(zip(*columns, strict=True), len(data.by), data.weight is not None)


def _pyarrow_rows(table: pa.Table, data: Dataset) -> dict[Key, Summary]:
    renamed = {"p_sum": "promoters", "d_sum": "detractors", "nps_count": "n",
               "wp_sum": "w_promoters", "wd_sum": "w_detractors", f"{data.weight}_sum": "w_n"}
    return _arrow_rows(table.rename_columns([renamed.get(c, c) for c in table.column_names]),
                       data)


def _polars_rows(frame: pl.DataFrame, data: Dataset) -> dict[Key, Summary]:
    return _arrow_rows(frame.to_arrow(), data)


def _pandas_rows(frame: pd.DataFrame, data: Dataset) -> dict[Key, Summary]:
    return _arrow_rows(pa.Table.from_pandas(frame.reset_index(), preserve_index=False), data)


ENGINES: dict[str, Engine] = {
    "cxmetrics": Engine(lambda d: d, _cx_run, None),
    "duckdb": Engine(_duckdb_prepare, _duckdb_run, _arrow_rows),
    "polars": Engine(_polars_prepare, _polars_lazy, _polars_rows),
    "polars-eager": Engine(_polars_prepare, _polars_eager, _polars_rows),
    "pyarrow": Engine(lambda d: d, _pyarrow_run, _pyarrow_rows),
    "pandas": Engine(_pandas_prepare, _pandas_run, _pandas_rows),
}


def assert_same_numbers(theirs: dict[Key, Summary], ours: cx.SegmentedResult) -> None:
    """Counts exactly equal; weight sums through cxmetrics' ``weighted_n`` and weighted NPS."""
    mine = {row.segment: row for row in ours}
    assert set(theirs) == set(mine), "different segments"
    for key, (p, d, n, wp, wd, wn) in theirs.items():
        row = mine[key]
        assert (p, d, n) == (row.counts["promoters"], row.counts["detractors"], row.n), key
        assert wn == pytest.approx(row.weighted_n, rel=1e-9), key
        assert 100.0 * (wp - wd) / wn == pytest.approx(row.value, rel=1e-9, abs=1e-9), key


def _our_result(scenario: str, data: Dataset, cache: dict[tuple[str, str], Any]
                ) -> cx.SegmentedResult:
    key = (scenario, "cxmetrics-result")
    if key not in cache:
        cache[key] = _cx_run(data)
    result: cx.SegmentedResult = cache[key]
    return result


CASES = [(s, e) for s in SCENARIOS for e in ENGINES]


@pytest.mark.parametrize(("scenario", "engine"), CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_segments(benchmark: Any, scenario: str, engine: str,
                  dataset_factory: Callable[[str], Dataset],
                  prepared_cache: dict[tuple[str, str], Any],
                  record_timing: Callable[..., None]) -> None:
    data = dataset_factory(scenario)
    spec = ENGINES[engine]
    if (scenario, engine) not in prepared_cache:
        prepared_cache[(scenario, engine)] = spec.prepare(data)
    state = prepared_cache[(scenario, engine)]
    spec.run(state)  # warm-up: first-call costs (plan caches, thread pools) are not the subject
    benchmark.group = f"{scenario} · {data.rows:,} rows"
    result = benchmark(spec.run, state)
    record_timing(scenario, engine, benchmark)
    if spec.summarize is None:
        assert_same_numbers(data.reference, result)
    else:
        assert_same_numbers(spec.summarize(result, data),
                            _our_result(scenario, data, prepared_cache))


def test_memory_read(benchmark: Any, dataset_factory: Callable[[str], Dataset],
                     record_timing: Callable[..., None]) -> None:
    """The bandwidth floor: read the very buffers ``dict`` aggregates (int32 keys + int8 scores)
    with a vectorized NumPy reduction (64-bit words, so it is memory- not compute-bound)."""
    data = dataset_factory("dict")
    keys = data.table.column("seg").chunk(0).indices.to_numpy()
    scores = data.table.column("nps").chunk(0).to_numpy()
    words = [a[: a.nbytes // 8 * 8 // a.itemsize].view(np.uint64) for a in (keys, scores)]
    benchmark.group = f"memory · {data.rows:,} rows"
    nbytes = int(sum(w.nbytes for w in words))
    benchmark.extra_info["bytes"] = nbytes
    benchmark(lambda: [w.max() for w in words])
    record_timing("memory", "numpy-read", benchmark, nbytes)


# --- floors (keep these last: they read the timings recorded above) ---------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "floor_case" in metafunc.fixturenames:
        size = str(metafunc.config.getoption("--bench-size"))
        cases = sorted(FLOORS[size].items())
        metafunc.parametrize("floor_case", cases, ids=[f"{s}-{p}" for (s, p), _ in cases])


def test_ratio_floor(floor_case: tuple[tuple[str, str], float],
                     medians: dict[tuple[str, str], float], bench_rows: int) -> None:
    (scenario, peer), floor = floor_case
    ours, theirs = medians.get((scenario, "cxmetrics")), medians.get((scenario, peer))
    if ours is None or theirs is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    ratio = theirs / ours
    target = TARGETS.get((scenario, peer))
    note = f" (issue target {target:g}×)" if target else ""
    assert ratio >= floor, (
        f"{scenario}/{peer} at {bench_rows:,} rows: {ratio:.2f}× "
        f"(peer {theirs * 1e3:.1f} ms / cxmetrics {ours * 1e3:.1f} ms) "
        f"is below the floor {floor:g}×{note}"
    )
