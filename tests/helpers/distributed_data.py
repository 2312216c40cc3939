"""The survey the Spark and Dask integration tests share: ≥ 1M rows in 9 Parquet files.

Edge cases: a segment present in one file only ("island"), a one-row segment ("solo"), null
segments, null scores, a few invalid scores (dropped with on_invalid="drop"), and an empty file.
Weights are lognormal floats with full 53-bit mantissas: weight sums are kept exactly, so
distributed results must match the single-machine ones bit for bit all the same.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_FILE = 130_000
FILES = 8  # plus one empty file
SCHEMA = pa.schema([
    ("score", pa.int64()),
    ("csat", pa.int32()),
    ("region", pa.string()),
    ("wave", pa.int32()),
    ("w", pa.float64()),
])


def _file(rng: np.random.Generator, i: int, n: int) -> pa.Table:
    score = rng.integers(0, 11, n)
    score_null = rng.random(n) < 0.02
    score[rng.random(n) < 0.0005] = 11  # invalid
    regions = np.array(["north", "south", "east", "west"], dtype=object)[rng.integers(0, 4, n)]
    region_null = rng.random(n) < 0.01
    if i == 3:
        regions[: n // 10] = "island"  # only in this file
    if i == 5:
        regions[17] = "solo"  # a one-row segment
        region_null[17] = False
    return pa.table({
        "score": pa.array(score, mask=score_null),
        "csat": pa.array(rng.integers(1, 6, n).astype(np.int32)),
        "region": pa.array(regions, pa.string(), mask=region_null),
        "wave": pa.array(rng.integers(1, 5, n).astype(np.int32)),
        "w": pa.array(rng.lognormal(0.0, 0.5, n)),
    }, schema=SCHEMA)


def write_survey(directory: Path) -> pa.Table:
    """Writes the files into ``directory``; returns the whole table as one machine reads it."""
    rng = np.random.default_rng(20240601)
    directory.mkdir(parents=True, exist_ok=True)
    tables = []
    for i in range(FILES):
        table = _file(rng, i, ROWS_PER_FILE)
        pq.write_table(table, directory / f"part-{i:02d}.parquet", row_group_size=40_000)
        tables.append(table)
    pq.write_table(SCHEMA.empty_table(), directory / "part-99-empty.parquet")
    return pa.concat_tables(tables)


def check_weighted_bootstrap(run: Callable[..., Any], table: pa.Table) -> None:
    """A weighted bootstrap on a cluster (Poisson-bootstrap replicates kept per partition)
    against one machine: same estimates, a bootstrap se close to the one-shot weighted
    bootstrap's, reproducible from its seed, and BCa refused before any job runs."""
    import pytest

    import cxmetrics as cx

    kw: dict[str, Any] = {"by": "region", "weight": "w", "on_invalid": "drop",
                          "ci": "bootstrap", "n_resamples": 200}
    res = run(bootstrap="percentile", seed=11, **kw)
    again = run(bootstrap="percentile", seed=11, **kw)
    assert res.to_arrow().equals(again.to_arrow())
    local = cx.nps(table, "score", by="region", weight="w", on_invalid="drop",
                   ci="bootstrap", bootstrap="percentile", n_resamples=2000, seed=1)
    for got, want in [*zip(res, local, strict=True), (res.overall, local.overall)]:
        assert (got.segment, got.n, got.weighted_n) == (want.segment, want.n, want.weighted_n)
        assert got.value == pytest.approx(want.value, abs=1e-9)
        assert (got.n_resamples, got.seed, got.method) == (200, 11, "bootstrap-percentile")
        if got.n >= 1000:
            # B = 200 replicates: the se of a bootstrap se is about 5 %; 20 % is four of those.
            assert got.se == pytest.approx(want.se, rel=0.2)
            assert got.ci_low < got.value < got.ci_high
    with pytest.raises(cx.ArgumentError, match="percentile"):
        run(bootstrap="bca", **kw)


@contextmanager
def local_spark(app: str, max_partition_bytes: int) -> Iterator[Any]:
    """A ``local[2]`` SparkSession with the two settings a local run needs — workers run this
    Python (which has cxmetrics) and the driver listens on loopback — restoring the environment
    afterwards. ``max_partition_bytes`` sets how finely Parquet files are split."""
    from pyspark.sql import SparkSession

    env = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    session = (
        SparkSession.builder.master("local[2]")
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.files.maxPartitionBytes", str(max_partition_bytes))
        .config("spark.sql.files.openCostInBytes", str(1 << 16))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
