"""Per-segment NPS on every key shape against DuckDB, polars and pyarrow, measured interleaved.

Every engine computes the same numbers per segment — promoters (9–10), detractors (0–6) and the
count of valid answers, plus their weight sums when weighted — and each peer's numbers are
asserted equal to cxmetrics' (cxmetrics' own to a plain NumPy reference). cxmetrics is timed as a
user calls it: ``cx.nps(table, score="nps", by=...)``, with the default interval (Tango's score
interval, one root search per segment) and the result objects included. Peers are timed on what
their users would write, with data loading (DataFrame construction, registering the Arrow table)
done once, untimed.

Timing (with ``--benchmark-enable``) is interleaved (``interleave.py``): each round calls every
engine once in a rotating order, and a ratio is the median over rounds of peer time / our time
in that round. ``test_ratio_floor`` compares it with ``floors.py``; a scenario below a floor is
measured once more before the test fails. ``test_peak_memory`` measures our peak memory per
shape in a fresh subprocess (``peak_memory.py``).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import cxmetrics as cx
from floors import EXPECTED, FLOORS, INDEX_FLOOR, MEMORY_CEILINGS, TARGETS
from interleave import measure_rounds
from segment_data import (
    DESCRIPTIONS,
    DETRACTOR_HIGH,
    PROMOTER_LOW,
    SCENARIOS,
    Dataset,
    Key,
    Summary,
    build_dataset,
    rows_for,
)

ENGINE_NAMES = ("cxmetrics", "duckdb", "polars", "pyarrow")
# Rounds per scenario: at least MIN, at most MAX, stopping once the budget (seconds) is spent.
ROUNDS = {"quick": (7, 21, 1.5), "full": (5, 15, 8.0), "huge": (3, 5, 60.0)}
# Scenarios whose cxmetrics call is dominated by building one Python object per segment today
# (seconds per call at 1M rows): fewer rounds, so that `make bench-check` stays short.
SLOW_SCENARIOS = ("int_many", "result_1m")


@pytest.fixture(scope="session")
def dataset_factory(bench_size: str) -> Callable[[str], Dataset | None]:
    """Builds each scenario's data once per session (lazily, so ``-k`` only pays for its own);
    None when the scenario does not run at this size."""
    cache: dict[str, Dataset | None] = {}

    def get(scenario: str) -> Dataset | None:
        if scenario not in cache:
            rows = rows_for(scenario, bench_size)
            cache[scenario] = None if rows is None else build_dataset(scenario, rows, bench_size)
        return cache[scenario]

    return get


@dataclass(frozen=True)
class Engine:
    """How one engine gets ready (untimed), runs (timed) and reports its per-segment numbers."""

    prepare: Callable[[Dataset], Any]
    run: Callable[[Any], Any]
    summarize: Callable[[Any, Dataset], dict[Key, Summary]] | None


def _key_text(value: Any) -> str:
    return str(value)


def _summaries(rows: Iterable[Sequence[Any]], n_keys: int, weighted: bool) -> dict[Key, Summary]:
    """Rows of (keys..., promoters, detractors, n[, Σw promoters, Σw detractors, Σw])."""
    out: dict[Key, Summary] = {}
    for row in rows:
        key = tuple(_key_text(k) for k in row[:n_keys])
        p, d, n = (int(v) for v in row[n_keys:n_keys + 3])
        wp, wd, wn = ((float(v) for v in row[n_keys + 3:n_keys + 6]) if weighted
                      else (float(p), float(d), float(n)))
        out[key] = (p, d, n, wp, wd, wn)
    return out


# --- cxmetrics -------------------------------------------------------------------------------

def _cx_run(data: Dataset) -> cx.SegmentedResult:
    by: str | list[str] = data.by[0] if len(data.by) == 1 else list(data.by)
    # The default interval, as users call it (the score interval costs most with many segments).
    return cx.nps(data.table, score="nps", by=by, weight=data.weight)


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


# --- polars: the lazy group_by on a DataFrame built once from the Arrow table ------------------

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


# --- pyarrow: compute the bucket flags, then Table.group_by ------------------------------------

def _pyarrow_prepare(data: Dataset) -> Dataset:
    # Acero's hash aggregation has no string_view kernel (pyarrow 26): a user casts once.
    table = data.table
    for name in data.by:
        if table.schema.field(name).type == pa.string_view():
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pc.cast(table.column(name), pa.string()))
    return Dataset(data.scenario, data.rows, table, data.by, data.weight, data.reference)


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


ENGINES: dict[str, Engine] = {
    "cxmetrics": Engine(lambda d: d, _cx_run, None),
    "duckdb": Engine(_duckdb_prepare, _duckdb_run, _arrow_rows),
    "polars": Engine(_polars_prepare, _polars_lazy, _polars_rows),
    "pyarrow": Engine(_pyarrow_prepare, _pyarrow_run, _pyarrow_rows),
}


def assert_same_numbers(theirs: dict[Key, Summary], ours: cx.SegmentedResult) -> None:
    """Counts exactly equal; weight sums through cxmetrics' ``weighted_n`` and weighted NPS."""
    mine = {tuple(_key_text(k) for k in row.segment): row for row in ours}
    assert set(theirs) == set(mine), "different segments"
    for key, (p, d, n, wp, wd, wn) in theirs.items():
        row = mine[key]
        assert (p, d, n) == (row.counts["promoters"], row.counts["detractors"], row.n), key
        assert wn == pytest.approx(row.weighted_n, rel=1e-9), key
        assert 100.0 * (wp - wd) / wn == pytest.approx(row.value, rel=1e-9, abs=1e-9), key


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_segments(scenario: str, bench_size: str,
                  dataset_factory: Callable[[str], Dataset | None],
                  pytestconfig: pytest.Config,
                  record_rounds: Callable[..., None],
                  register_rerun: Callable[[str, Callable[[], None]], None]) -> None:
    data = dataset_factory(scenario)
    if data is None:
        pytest.skip(f"{scenario} does not run at --bench-size={bench_size}")
    states = {name: ENGINES[name].prepare(data) for name in ENGINE_NAMES}
    # One untimed call each: first-call costs (plan caches, thread pools) are not the subject,
    # and its results are what the numbers are checked on.
    results = {name: ENGINES[name].run(states[name]) for name in ENGINE_NAMES}
    ours = results["cxmetrics"]
    assert_same_numbers(data.reference, ours)
    for name in ENGINE_NAMES[1:]:
        summarize = ENGINES[name].summarize
        assert summarize is not None
        assert_same_numbers(summarize(results[name], data), ours)
    del results, ours
    if not pytestconfig.getoption("benchmark_enable", default=False):
        return
    calls = {name: (lambda n=name: ENGINES[n].run(states[n])) for name in ENGINE_NAMES}
    min_rounds, max_rounds, budget = ROUNDS[bench_size]
    if scenario in SLOW_SCENARIOS:
        min_rounds = min(min_rounds, 3)
    kept: dict[str, list[float]] = {name: [] for name in ENGINE_NAMES}

    def measure() -> None:
        # A rerun adds its rounds to the first measurement's: judged on twice the rounds.
        times = measure_rounds(calls, min_rounds=min_rounds, max_rounds=max_rounds,
                               budget_s=budget)
        for name, samples in times.items():
            kept[name].extend(samples)
        record_rounds(scenario, kept, nbytes=data.nbytes)

    measure()
    register_rerun(scenario, measure)


def test_memory_read(benchmark: Any, dataset_factory: Callable[[str], Dataset | None],
                     record_timing: Callable[..., None]) -> None:
    """The bandwidth floor: read the very buffers ``dict`` aggregates (int32 keys + int8 scores)
    with a vectorized NumPy reduction (64-bit words, so it is memory- not compute-bound). Each
    scenario's floor in the ratio table is its input bytes at this rate."""
    data = dataset_factory("dict")
    if data is None:
        pytest.skip("dict does not run at this size")
    keys = data.table.column("seg").chunk(0).indices.to_numpy()
    scores = data.table.column("nps").chunk(0).to_numpy()
    words = [a[: a.nbytes // 8 * 8 // a.itemsize].view(np.uint64) for a in (keys, scores)]
    benchmark.group = f"memory · {data.rows:,} rows"
    nbytes = int(sum(w.nbytes for w in words))
    benchmark.extra_info["bytes"] = nbytes
    benchmark(lambda: [w.max() for w in words])
    record_timing("memory", "numpy-read", benchmark, nbytes)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_peak_memory(scenario: str, bench_size: str, pytestconfig: pytest.Config,
                     record_extra: Callable[..., None]) -> None:
    """Our peak memory above what the process held before the call, in a fresh subprocess
    (VmHWM: Rust allocations are invisible to tracemalloc), against the input's size."""
    if not pytestconfig.getoption("benchmark_enable", default=False):
        pytest.skip("memory is measured with --benchmark-enable")
    rows = rows_for(scenario, bench_size)
    if rows is None:
        pytest.skip(f"{scenario} does not run at --bench-size={bench_size}")
    script = Path(__file__).with_name("peak_memory.py")
    out = subprocess.run([sys.executable, str(script), scenario, str(rows), bench_size],
                         check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(script.parent)})
    found = json.loads(out.stdout.strip().splitlines()[-1])
    share = found["peak_above_bytes"] / found["input_bytes"]
    repeat = found["repeat_above_bytes"] / found["input_bytes"]
    ceiling = MEMORY_CEILINGS.get(scenario)
    record_extra(f"peak_memory_{scenario}", found,
                 f"peak memory {scenario:<12} {found['peak_above_bytes'] / 1e6:8.1f} MB above "
                 f"the {found['input_bytes'] / 1e6:.1f} MB input = {share:5.2f}× "
                 f"(result table {found['result_table_bytes'] / found['input_bytes']:5.2f}×, "
                 f"repeat call {repeat:5.2f}×; target ≤ 0.25×"
                 f"{'' if ceiling is None else f', ceiling {ceiling:g}× on the first call'}; "
                 f"{DESCRIPTIONS[scenario]})")
    if ceiling is not None:
        assert share <= ceiling, (
            f"{scenario}: peak {found['peak_above_bytes'] / 1e6:.1f} MB above the input is "
            f"{share:.2f}× the input, above the regression ceiling {ceiling:g}×")


# --- floors (keep these last: they read the timings recorded above) ---------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "floor_case" in metafunc.fixturenames:
        size = str(metafunc.config.getoption("--bench-size"))
        cases = sorted(FLOORS.get(size, {}).items())
        metafunc.parametrize("floor_case", cases, ids=[f"{s}-{p}" for (s, p), _ in cases])


def test_ratio_floor(floor_case: tuple[tuple[str, str], float],
                     ratio_of: Callable[[str, str, float], Any], bench_size: str) -> None:
    (scenario, peer), floor = floor_case
    judged = ratio_of(scenario, peer, floor)
    if judged is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    target = TARGETS.get((scenario, peer))
    note = f" (issue target {target:g}×)" if target else ""
    again = " after one rerun" if judged.rerun else ""
    assert judged.ratio >= floor, (
        f"{scenario}/{peer} ({bench_size}): median per-round ratio {judged.ratio:.2f}×{again} "
        f"(peer {judged.theirs_s * 1e3:.1f} ms / cxmetrics {judged.ours_s * 1e3:.1f} ms) "
        f"is below the floor {floor:g}×{note}"
    )


def test_speed_index(ratio_of: Callable[[str, str, float], Any], bench_size: str,
                     rerun_all: Callable[[], None], record_extra: Callable[..., None]) -> None:
    """The gate that catches a general slowdown: per scenario, the geometric mean over peers of
    measured / expected ratio (``EXPECTED`` in floors.py, medians of loaded-machine runs); the
    median of that over scenarios must stay above ``INDEX_FLOOR``. One scenario's noise moves
    the median little; a slowdown of our kernel moves every scenario at once. Below the floor,
    every scenario is measured once more (rounds added to the first measurement's)."""
    expected = EXPECTED.get(bench_size, {})

    def index() -> tuple[float, dict[str, float]]:
        logs: dict[str, list[float]] = {}
        for (scenario, peer), want in expected.items():
            judged = ratio_of(scenario, peer, 0.0)
            if judged is not None:
                logs.setdefault(scenario, []).append(math.log(judged.ratio / want))
        per = {s: math.exp(sum(v) / len(v)) for s, v in logs.items()}
        return (statistics.median(per.values()) if per else math.nan), per

    value, per = index()
    if math.isnan(value):
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    again = False
    if value < INDEX_FLOOR:
        rerun_all()
        value, per = index()
        again = True
    detail = ", ".join(f"{s} {v:.2f}" for s, v in sorted(per.items(), key=lambda kv: kv[1]))
    record_extra("speed_index", {"median": value, "per_scenario": per, "rerun": again},
                 f"speed index (median over scenarios of measured/expected ratio): {value:.2f} "
                 f"(floor {INDEX_FLOOR:g}{'; after one rerun' if again else ''}): {detail}")
    assert value >= INDEX_FLOOR, (
        f"speed index {value:.2f}{' after one rerun' if again else ''} is below "
        f"{INDEX_FLOOR:g}: cxmetrics is slower against its peers than expected on most key "
        f"shapes ({detail})")
