"""cxmetrics.dask on a LocalCluster (2 worker processes, loopback) against the single-machine
result: ≥ 1M rows in 9 Parquet files (tests/helpers/distributed_data.py), Arrow-backed
partitions; the results and the merged accumulator's bytes must equal one machine's, and both
worker processes must have folded partitions.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics import _accumulator
from helpers.distributed_data import check_weighted_bootstrap, write_survey
from helpers.same_result import assert_same_result

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import dask
import dask.dataframe as dd

import cxmetrics.dask as cxd

Accumulator = getattr(cx, "Accumulator", _accumulator.Accumulator)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    path = tmp_path_factory.mktemp("dask") / "survey"
    return path, write_survey(path)


def test_segmented_nps_equals_single_machine(client: Any,
                                             survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    assert table.num_rows >= 1_000_000
    ddf = dd.read_parquet(str(path), dtype_backend="pyarrow")
    assert ddf.npartitions >= 8

    blank = Accumulator("nps", score="score", by=["region", "wave"], on_invalid="drop")
    merged, pids = cxd.fold_with_workers(ddf, blank)
    assert len(pids) >= 2, pids
    local = blank.copy()
    local.update(table)
    assert merged.to_bytes() == local.to_bytes()

    res = cxd.nps(ddf, "score", by=["region", "wave"], on_invalid="drop")
    assert_same_result(res, cx.nps(table, "score", by=["region", "wave"], on_invalid="drop"))
    solo = [r for r in res if r.segment[0] == "solo"]
    assert len(solo) == 1 and solo[0].n + solo[0].n_missing + solo[0].n_invalid == 1
    assert any(r.segment[0] == "island" for r in res)
    assert any(r.segment[0] is None for r in res)


def test_weighted_and_other_metrics_equal_single_machine(
        client: Any, survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    ddf = dd.read_parquet(str(path), dtype_backend="pyarrow")
    assert_same_result(cxd.csat(ddf, "csat", by="region", weight="w"),
                       cx.csat(table, "csat", by="region", weight="w"))
    assert_same_result(cxd.ces(ddf, "csat", variant="effort", weight="w"),
                       cx.ces(table, "csat", variant="effort", weight="w"))
    assert_same_result(cxd.bottom_box(ddf, "score", scale=cx.Scale(0, 10), on_invalid="drop"),
                       cx.bottom_box(table, "score", scale=cx.Scale(0, 10), on_invalid="drop"))


def test_numpy_backed_partitions_and_object_keys(client: Any) -> None:
    """Plain pandas partitions. An object key column that holds only nulls in one partition
    merges (its Null type takes the other partitions' type); one whose values really differ in
    type between partitions gets an error that says how to fix it."""
    pdf = pd.DataFrame({
        "s": [1, 9, 10, None, 7, 3, 9, 10],
        "k": pd.Series([None, None, None, None, "a", "b", "a", None], dtype=object),
        "num": np.arange(8, dtype=np.int16),
    })
    ddf = dd.from_pandas(pdf, npartitions=2, sort=False)
    assert_same_result(cxd.nps(ddf, "s", by=["k", "num"]), cx.nps(pdf, "s", by=["k", "num"]))
    with dask.config.set({"dataframe.convert-string": False}):
        raw = dd.from_pandas(pdf, npartitions=2, sort=False)
        assert raw["k"].dtype == object
        assert_same_result(cxd.nps(raw, "s", by="k"), cx.nps(pdf, "s", by="k"))
        mixed = pdf.assign(k=pd.Series([1, 2, 1, 2, "a", "b", "a", "b"], dtype=object))
        with pytest.raises(cx.ColumnError, match="astype"):
            cxd.nps(dd.from_pandas(mixed, npartitions=2, sort=False), "s", by="k")
        typed = raw.assign(k=raw["k"].astype("string[pyarrow]"))
        assert_same_result(cxd.nps(typed, "s", by="k"), cx.nps(pdf, "s", by="k"))


def test_errors(client: Any, survey: tuple[Path, pa.Table]) -> None:
    path, _ = survey
    ddf = dd.read_parquet(str(path), dtype_backend="pyarrow")
    with pytest.raises(ValueError, match="ci must be"):
        cxd.nps(ddf, "score", ci="nope")  # type: ignore[call-overload]
    with pytest.raises(cx.InvalidScoreError):
        cxd.nps(ddf, "score")  # scores of 11 with on_invalid="raise"
    with pytest.raises(cx.ColumnError):
        cxd.accumulate(ddf, Accumulator("nps"))  # names no columns
    with pytest.raises(TypeError, match=r"dask\.dataframe\.DataFrame"):
        cxd.nps(pd.DataFrame({"score": [1]}), "score")


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    monkeypatch.delitem(sys.modules, "cxmetrics.dask")
    with pytest.raises(ImportError, match=r"pip install 'cxmetrics\[dask\]'"):
        importlib.import_module("cxmetrics.dask")


def test_weighted_bootstrap_from_partition_replicates(client: Any,
                                                       survey: tuple[Path, pa.Table]) -> None:
    path, table = survey
    df = dd.read_parquet(str(path), dtype_backend="pyarrow")
    check_weighted_bootstrap(lambda **kw: cxd.nps(df, "score", **kw), table)
