"""cxmetrics.spark on a local Spark session (local[2], loopback) against the single-machine result.

≥ 1M rows in 9 Parquet files (tests/helpers/distributed_data.py) read as ≥ 8 partitions; the
results and the merged accumulator's bytes must equal those of one machine reading the same
files, and at least two Python worker processes must have folded partitions.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics import _accumulator
from helpers.distributed_data import check_weighted_bootstrap, local_spark, write_survey
from helpers.same_result import assert_same_result

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    # PySpark starts a JVM; without one every test here would fail on the gateway, not on us.
    pytest.skip("the Spark tests need a Java runtime (java on PATH or JAVA_HOME); none found",
                allow_module_level=True)

import cxmetrics.spark as cxs

Accumulator = getattr(cx, "Accumulator", _accumulator.Accumulator)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    # One partition per (1.5 MB) file: 8 partitions, plus the empty file.
    with local_spark("cxmetrics-tests", max_partition_bytes=2 << 20) as session:
        yield session


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    path = tmp_path_factory.mktemp("spark") / "survey"
    return path, write_survey(path)


def test_segmented_nps_equals_single_machine(spark: Any, survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    assert table.num_rows >= 1_000_000
    df = spark.read.parquet(str(path))
    assert df.rdd.getNumPartitions() >= 8

    blank = Accumulator("nps", score="score", by=["region", "wave"], on_invalid="drop")
    states, pids = cxs.partition_states(df, blank)
    assert len(states) >= 8 and len(set(pids)) >= 2, pids

    res = cxs.nps(df, "score", by=["region", "wave"], on_invalid="drop")
    expected = cx.nps(table, "score", by=["region", "wave"], on_invalid="drop")
    assert_same_result(res, expected)
    solo = [r for r in res if r.segment[0] == "solo"]
    assert len(solo) == 1 and solo[0].n + solo[0].n_missing + solo[0].n_invalid == 1
    assert res[solo[0].segment] == solo[0]
    assert any(r.segment[0] == "island" for r in res)
    assert any(r.segment[0] is None for r in res)
    assert res.overall.n_missing > 0 and res.overall.n_invalid > 0

    # The merged partition states are byte-identical to one machine's state.
    local = blank.copy()
    local.update(table)
    merged = blank
    for state in states:
        merged = merged.merge(Accumulator.from_bytes(state))
    assert merged.to_bytes() == local.to_bytes()


def test_weighted_and_other_metrics_equal_single_machine(
        spark: Any, survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    df = spark.read.parquet(str(path))
    # A column name with a dot (Spark would read it as a struct field unless quoted).
    dotted = df.withColumnRenamed("region", "re.gion")
    local = table.rename_columns(["re.gion" if c == "region" else c for c in table.column_names])
    assert_same_result(cxs.csat(dotted, "csat", by="re.gion", weight="w"),
                       cx.csat(local, "csat", by="re.gion", weight="w"))
    assert_same_result(cxs.mean_score(df, "csat", weight="w", ci="wald"),
                       cx.mean_score(table, "csat", weight="w", ci="wald"))
    assert_same_result(cxs.top_box(df, "score", scale=cx.Scale(0, 10), on_invalid="drop"),
                       cx.top_box(table, "score", scale=cx.Scale(0, 10), on_invalid="drop"))


def test_empty_dataframe_and_errors(spark: Any, survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    df = spark.read.parquet(str(path))
    empty = df.limit(0)
    assert_same_result(cxs.nps(empty, "score", by="region"),
                       cx.nps(table.slice(0, 0), "score", by="region"))
    # accumulate() adds to what the accumulator already holds.
    start = Accumulator("nps", score="score", by="region")
    start.update(table.slice(0, 10))
    assert cxs.accumulate(empty, start) == start
    with pytest.raises(ValueError, match="ci must be"):
        cxs.nps(df, "score", ci="nope")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"pyspark\.sql\.DataFrame"):
        cxs.nps(table, "score")
    with pytest.raises(Exception, match="invalid score"):
        cxs.nps(df, "score")  # the file has scores of 11 and on_invalid="raise"


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.delitem(sys.modules, "cxmetrics.spark")
    with pytest.raises(ImportError, match=r"pip install 'cxmetrics\[spark\]'"):
        importlib.import_module("cxmetrics.spark")


def test_cxmetrics_does_not_import_engines() -> None:
    code = ("import sys, cxmetrics; "
            "assert not {'pyspark', 'dask', 'distributed'} & set(sys.modules), sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_weighted_bootstrap_from_partition_replicates(spark: Any,
                                                       survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    df = spark.read.parquet(str(path))
    check_weighted_bootstrap(lambda **kw: cxs.nps(df, "score", **kw), table)
