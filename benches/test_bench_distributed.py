"""Spark and Dask wall time for the 1M-row job, beside the native engines and one machine.

Data: the integration tests' survey (``tests/helpers/distributed_data.py``): 1,040,000 rows in
9 Parquet files (8 × 130,000 + an empty one), int64 scores with nulls and a few invalid 11s,
string regions with nulls and two odd segments, lognormal float64 weights. Written once per
module, untimed.

- ``spark``: ``cxmetrics.spark.nps(df, "score", by="region", weight="w", on_invalid="drop")`` on
  ``spark.read.parquet(dir)`` in a ``local[2]`` session (the settings of ``tests/test_spark.py``:
  loopback, ``PYSPARK_PYTHON`` = this interpreter; but 2 MiB splits, so that each 1.5 MB file is
  one partition: the tests' 300 kB splits cut the files into 41 partitions of ≈ 25k rows, whose
  per-task cost is then all one measures), against ``spark-sql``: the same session's
  ``groupBy("region").agg(...)`` of promoters, detractors, n and their weight sums over valid
  scores (``count(when(...))``, ``sum(when(..., w).otherwise(0))``), fetched with ``toArrow()``.
  ``spark-noop`` is the same ``mapInArrow`` round trip as cxmetrics' (the three columns to the
  Python workers, one row back per partition) doing nothing but count rows: the floor of that
  design, which shows what the job's time is made of.
- ``dask``: ``cxmetrics.dask.nps(...)`` on ``dd.read_parquet(dir, dtype_backend="pyarrow")`` with a
  ``LocalCluster`` of 2 worker processes × 1 thread (as ``tests/test_dask.py``), against
  ``dask-groupby``: flag and weight columns by ``assign``, then
  ``groupby("region", dropna=False).sum().compute()``; ``dask-noop`` reads the same three columns
  and counts each partition's rows (``map_partitions(len).sum()``).
- ``local``: ``cx.nps`` on the same rows in memory (read once, untimed), and ``parquet+cx``:
  ``pyarrow.parquet.read_table`` of the three columns plus ``cx.nps`` — the single-machine job.

Session and cluster start-up happen in class-scoped fixtures, outside the timed region (and are
torn down when their class is done, so an idle JVM or cluster does not sit beside the other
benchmarks). Without ``--benchmark-enable`` the Spark and Dask tests skip (starting them costs
≈ 15–30 s; ``tests/test_spark.py`` and ``tests/test_dask.py`` check the results), and the
single-machine ones run once. With benchmarks, each job runs once untimed (Python workers
start, imports happen), then 3 (Spark) or 5 (Dask) timed rounds. Each peer's per-region numbers are
asserted equal to cxmetrics' (to rounding for weight sums: cxmetrics keeps them exactly, the
peers add doubles), and cxmetrics' distributed results exactly equal to the single-machine
one. The floors in ``floors.py`` (``FIXED_SIZE_FLOORS``, native / cxmetrics) are checked by
``test_fixed_size_floors.py``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cxmetrics as cx

_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from helpers.distributed_data import local_spark, write_survey  # noqa: E402  (needs the path above)
from helpers.same_result import assert_same_result  # noqa: E402

SPARK_ROUNDS = 3  # a Spark job takes seconds; 3 timed rounds keep the suite's growth small
DASK_ROUNDS = 5
LOCAL_ROUNDS = 20
SCENARIOS = ("spark", "dask", "local")
COLUMNS = ["score", "region", "w"]
PROMOTER_LOW, DETRACTOR_HIGH, LOW, HIGH = 9, 6, 0, 10

# Per region: (promoters, detractors, n, Σw promoters, Σw detractors, Σw) over valid scores.
Summary = tuple[int, int, int, float, float, float]


def _cx_call(engine: Any, data: object) -> cx.SegmentedResult:
    # on_invalid="drop": the shared survey holds a few invalid scores (11) on purpose.
    result: cx.SegmentedResult = engine.nps(data, "score", by="region", weight="w",
                                            on_invalid="drop")
    return result


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """The Parquet directory, and its three columns read into memory (untimed)."""
    path = tmp_path_factory.mktemp("bench-distributed") / "survey"
    write_survey(path)
    table = pq.read_table(path, columns=COLUMNS)
    assert table.num_rows >= 1_000_000
    return path, table


@pytest.fixture(scope="module")
def expected(survey: tuple[Path, pa.Table]) -> cx.SegmentedResult:
    """The single-machine result every engine must reproduce."""
    return _cx_call(cx, survey[1])


def _run(benchmark: Any, fn: Callable[[], Any], rounds: int) -> Any:
    """One untimed run (warm-up), then ``rounds`` timed ones; once, untimed, when disabled."""
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)


def _summaries(rows: Iterable[Sequence[Any]]) -> dict[object, Summary]:
    """Rows of (region, promoters, detractors, n, Σw promoters, Σw detractors, Σw)."""
    return {row[0]: (int(row[1]), int(row[2]), int(row[3]), float(row[4] or 0.0),
                     float(row[5] or 0.0), float(row[6] or 0.0)) for row in rows}


def assert_same_numbers(theirs: dict[object, Summary], ours: cx.SegmentedResult) -> None:
    """Counts exactly equal; Σw and the weighted NPS from the peer's weight sums equal to
    rounding (cxmetrics keeps weight sums exactly; the peers add doubles in their own order)."""
    mine = {row.segment[0]: row for row in ours}
    assert set(theirs) == set(mine), "different segments"
    for key, (p, d, n, wp, wd, wn) in theirs.items():
        row = mine[key]
        assert (p, d, n) == (row.counts["promoters"], row.counts["detractors"], row.n), key
        assert wn == pytest.approx(row.weighted_n, rel=1e-9), key
        if n:
            assert 100.0 * (wp - wd) / wn == pytest.approx(row.value, rel=1e-9, abs=1e-9), key
        else:
            assert wp == wd == 0.0 and math.isnan(row.value), key


# --- Spark ----------------------------------------------------------------------------------------

def _benchmarks_disabled(config: pytest.Config) -> bool:
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's own verdict
    if session is not None:
        return bool(session.disabled)
    return bool(config.getoption("benchmark_disable", False)
                and not config.getoption("benchmark_enable", False))


def _skip_unless_benchmarking(config: pytest.Config) -> None:
    if _benchmarks_disabled(config):
        pytest.skip("starts a JVM or a cluster: runs with --benchmark-enable only (tests/"
                    "test_spark.py and tests/test_dask.py check the results in the test suite)")


@pytest.fixture(scope="class")
def spark(pytestconfig: pytest.Config) -> Iterator[Any]:
    _skip_unless_benchmarking(pytestconfig)
    pytest.importorskip("pyspark")

    # One partition per 1.5 MB file: 8 partitions (see the module docstring).
    with local_spark("cxmetrics-bench", max_partition_bytes=2 << 20) as session:
        yield session


def _spark_native(df: Any) -> pa.Table:
    from pyspark.sql import functions as F

    s, w = F.col("score"), F.col("w")
    valid = s.between(LOW, HIGH)
    promoter, detractor = valid & (s >= PROMOTER_LOW), valid & (s <= DETRACTOR_HIGH)
    query = df.groupBy("region").agg(
        F.count(F.when(promoter, 1)).alias("promoters"),
        F.count(F.when(detractor, 1)).alias("detractors"),
        F.count(F.when(valid, 1)).alias("n"),
        F.sum(F.when(promoter, w).otherwise(0.0)).alias("w_promoters"),
        F.sum(F.when(detractor, w).otherwise(0.0)).alias("w_detractors"),
        F.sum(F.when(valid, w).otherwise(0.0)).alias("w_n"),
    )
    if hasattr(query, "toArrow"):  # Spark >= 4.0
        table: pa.Table = query.toArrow()
        return table
    return pa.Table.from_pylist([r.asDict() for r in query.collect()])


def _spark_noop(df: Any) -> int:
    # Defined here so that it is pickled by value: the workers cannot import this module.
    def count_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = 0
        for batch in batches:
            rows += batch.num_rows
        yield pa.RecordBatch.from_arrays([pa.array([rows], pa.int64())], names=["rows"])

    table: pa.Table = df.select(*COLUMNS).mapInArrow(count_rows, "rows long").toArrow()
    return int(sum(table.column("rows").to_pylist()))


class TestSpark:
    def test_cxmetrics(self, benchmark: Any, spark: Any, survey: tuple[Path, pa.Table],
                       expected: cx.SegmentedResult, record_timing: Callable[..., None],
                       record_extra: Callable[..., None]) -> None:
        import cxmetrics.spark as cxs

        df = spark.read.parquet(str(survey[0]))
        record_extra("spark_partitions", df.rdd.getNumPartitions())
        benchmark.group = "spark · 1,040,000 rows in 9 Parquet files, local[2]"
        result = _run(benchmark, lambda: _cx_call(cxs, df), SPARK_ROUNDS)
        record_timing("spark", "cxmetrics", benchmark)
        assert_same_result(result, expected)

    def test_spark_noop(self, benchmark: Any, spark: Any, survey: tuple[Path, pa.Table],
                        record_timing: Callable[..., None]) -> None:
        df = spark.read.parquet(str(survey[0]))
        benchmark.group = "spark · 1,040,000 rows in 9 Parquet files, local[2]"
        rows = _run(benchmark, lambda: _spark_noop(df), SPARK_ROUNDS)
        record_timing("spark", "spark-noop", benchmark)
        assert rows == survey[1].num_rows

    def test_spark_sql(self, benchmark: Any, spark: Any, survey: tuple[Path, pa.Table],
                       expected: cx.SegmentedResult,
                       record_timing: Callable[..., None]) -> None:
        df = spark.read.parquet(str(survey[0]))
        benchmark.group = "spark · 1,040,000 rows in 9 Parquet files, local[2]"
        table = _run(benchmark, lambda: _spark_native(df), SPARK_ROUNDS)
        record_timing("spark", "spark-sql", benchmark)
        assert_same_numbers(_summaries(zip(*(table.column(c).to_pylist() for c in (
            "region", "promoters", "detractors", "n", "w_promoters", "w_detractors", "w_n")),
            strict=True)), expected)


# --- Dask -----------------------------------------------------------------------------------------

@pytest.fixture(scope="class")
def dask_client(pytestconfig: pytest.Config) -> Iterator[Any]:
    _skip_unless_benchmarking(pytestconfig)
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _dask_native(ddf: Any) -> Any:
    s, w = ddf["score"], ddf["w"]
    valid = ((s >= LOW) & (s <= HIGH)).fillna(False)  # null scores: not valid
    promoter = (valid & (s >= PROMOTER_LOW)).fillna(False)
    detractor = (valid & (s <= DETRACTOR_HIGH)).fillna(False)
    work = ddf[["region"]].assign(
        promoters=promoter.astype("int64"), detractors=detractor.astype("int64"),
        n=valid.astype("int64"), w_promoters=w.where(promoter, 0.0),
        w_detractors=w.where(detractor, 0.0), w_n=w.where(valid, 0.0))
    return work.groupby("region", dropna=False).sum().compute()


class TestDask:
    def test_cxmetrics(self, benchmark: Any, dask_client: Any, survey: tuple[Path, pa.Table],
                       expected: cx.SegmentedResult,
                       record_timing: Callable[..., None]) -> None:
        import dask.dataframe as dd

        import cxmetrics.dask as cxd

        ddf = dd.read_parquet(str(survey[0]), dtype_backend="pyarrow")
        benchmark.group = "dask · 1,040,000 rows in 9 Parquet files, 2 worker processes"
        result = _run(benchmark, lambda: _cx_call(cxd, ddf), DASK_ROUNDS)
        record_timing("dask", "cxmetrics", benchmark)
        assert_same_result(result, expected)

    def test_dask_noop(self, benchmark: Any, dask_client: Any, survey: tuple[Path, pa.Table],
                       record_timing: Callable[..., None]) -> None:
        import dask.dataframe as dd

        ddf = dd.read_parquet(str(survey[0]), dtype_backend="pyarrow")[COLUMNS]
        benchmark.group = "dask · 1,040,000 rows in 9 Parquet files, 2 worker processes"
        rows = _run(benchmark, lambda: int(ddf.map_partitions(len).sum().compute()),
                    DASK_ROUNDS)
        record_timing("dask", "dask-noop", benchmark)
        assert rows == survey[1].num_rows

    def test_dask_groupby(self, benchmark: Any, dask_client: Any,
                          survey: tuple[Path, pa.Table], expected: cx.SegmentedResult,
                          record_timing: Callable[..., None]) -> None:
        import dask.dataframe as dd

        ddf = dd.read_parquet(str(survey[0]), dtype_backend="pyarrow")
        benchmark.group = "dask · 1,040,000 rows in 9 Parquet files, 2 worker processes"
        frame = _run(benchmark, lambda: _dask_native(ddf), DASK_ROUNDS)
        record_timing("dask", "dask-groupby", benchmark)
        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
        assert_same_numbers(_summaries(zip(*(table.column(c).to_pylist() for c in (
            "region", "promoters", "detractors", "n", "w_promoters", "w_detractors", "w_n")),
            strict=True)), expected)


# --- one machine ----------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["cxmetrics", "parquet+cx"])
def test_single_machine(benchmark: Any, engine: str, survey: tuple[Path, pa.Table],
                        expected: cx.SegmentedResult,
                        record_timing: Callable[..., None]) -> None:
    path, table = survey
    benchmark.group = "local · 1,040,000 rows, one process"
    if engine == "cxmetrics":
        result = _run(benchmark, lambda: _cx_call(cx, table), LOCAL_ROUNDS)
    else:
        result = _run(benchmark, lambda: _cx_call(cx, pq.read_table(path, columns=COLUMNS)),
                      LOCAL_ROUNDS)
    record_timing("local", engine, benchmark)
    assert_same_result(result, expected)


def test_wall_times(medians: dict[tuple[str, str], float],
                    record_extra: Callable[..., None]) -> None:
    """The 1M-row job's wall times side by side (recorded; nothing asserted)."""
    keys = [("spark", "cxmetrics"), ("spark", "spark-noop"), ("spark", "spark-sql"),
            ("dask", "cxmetrics"), ("dask", "dask-noop"), ("dask", "dask-groupby"),
            ("local", "cxmetrics"), ("local", "parquet+cx")]
    found = {f"{s}/{e}": medians[(s, e)] for s, e in keys if (s, e) in medians}
    if not found:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    record_extra("distributed_wall_s", found,
                 "1M-row NPS job, median wall time: " + ", ".join(
                     f"{k} {v * 1e3:,.0f} ms" for k, v in found.items()))
