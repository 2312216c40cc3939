"""Key driver analysis on Spark (local[2]) and Dask (LocalCluster, 2 processes): the merged
statistics give exactly the single-machine results, bootstrap intervals included (the default
resampling draws from the merged histogram of distinct answer tuples, keyed by the seed alone),
and the merged bytes do not depend on the order partitions are merged in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cxmetrics as cx
from helpers.distributed_data import local_spark

ATTRS = ["product", "delivery", "support", "price", "app"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    table = cx.datasets.sample_survey(60_000).select(["nps", "region", "weight", *ATTRS])
    table = table.set_column(1, "region", table.column("region").cast(pa.string()))
    path = tmp_path_factory.mktemp("drivers") / "survey"
    path.mkdir()
    for i in range(6):
        pq.write_table(table.slice(i * 10_000, 10_000), path / f"part-{i}.parquet")
    return path, table


def _assert_same_points(got: cx.DriversResult, want: cx.DriversResult) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert (a.segment, a.driver, a.n, a.n_dropped) == (b.segment, b.driver, b.n, b.n_dropped)
        assert a.importance == b.importance and a.r2 == b.r2 and a.sign == b.sign


def _assert_same_intervals(got: cx.DriversResult, want: cx.DriversResult) -> None:
    assert got.resampling == want.resampling == "tuples"
    _assert_same_points(got, want)
    for a, b in zip(got, want, strict=True):
        assert (a.ci_low, a.ci_high, a.r2_low, a.r2_high, a.replicates_used) == \
            (b.ci_low, b.ci_high, b.r2_low, b.r2_high, b.replicates_used)


def test_spark_equals_one_machine(survey: tuple[Path, pa.Table]) -> None:
    pytest.importorskip("pyspark")
    import cxmetrics.spark as cxs

    path, table = survey
    with local_spark("cxmetrics-drivers", max_partition_bytes=1 << 20) as spark:
        df = spark.read.parquet(str(path))
        assert df.rdd.getNumPartitions() >= 2
        got = cxs.drivers(df, "nps", ATTRS, by="region", weight="weight", n_resamples=50,
                          seed=1)
        plain = cxs.drivers(df, "nps", ATTRS, by="region", weight="weight", ci=None)
    want = cx.drivers(table, "nps", ATTRS, by="region", weight="weight", n_resamples=50, seed=1)
    _assert_same_intervals(got, want)
    _assert_same_points(plain, want)
    assert all(r.replicates_used == 50 and r.ci_low < r.importance < r.ci_high for r in got)


def test_dask_equals_one_machine(survey: tuple[Path, pa.Table]) -> None:
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import cxmetrics.dask as cxd

    path, table = survey
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster):
        ddf = dd.read_parquet(str(path))
        assert ddf.npartitions >= 2
        got = cxd.drivers(ddf, "nps", ATTRS, by="region", weight="weight", n_resamples=50,
                          seed=1, method="shapley")
        again = cxd.drivers(ddf, "nps", ATTRS, by="region", weight="weight", n_resamples=50,
                            seed=1, method="shapley")
    want = cx.drivers(table, "nps", ATTRS, by="region", weight="weight", n_resamples=50,
                      seed=1, method="shapley")
    _assert_same_intervals(got, want)
    assert repr(got.rows) == repr(again.rows), "seeded: the same intervals every run"
    assert np.all([r.ci_low < r.importance < r.ci_high for r in got])


def test_merge_order_of_partitions_is_irrelevant(survey: tuple[Path, pa.Table]) -> None:
    from cxmetrics._distributed import merge_states, partition_stream

    _, table = survey
    blank = cx.DriversAccumulator("nps", ATTRS, by="region", n_resamples=20, seed=4)
    states = []
    for i in range(6):
        part = partition_stream(blank, i)
        part.update(table.slice(i * 10_000, 10_000))
        states.append(part.to_bytes())
    forward = merge_states(states, blank.to_bytes())
    backward = merge_states(states[::-1], blank.to_bytes())
    assert forward == backward
    merged: Any = cx.DriversAccumulator.from_bytes(forward)
    assert merged.result().rows[0].n + merged.result().rows[0].n_dropped > 0
