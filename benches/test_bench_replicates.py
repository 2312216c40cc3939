"""Poisson-bootstrap replicates in a weighted accumulator, against the NumPy code a user would
otherwise write, measured in the same run.

``replicates``: ``acc.update(batch)`` of a 10,000-row weighted ``pyarrow.RecordBatch`` (NPS
scores, a 50-segment dictionary key, lognormal weights) into an accumulator keeping B = 200
replicates — per row and replicate one Poisson(1) draw and one exact add. The peer, ``numpy``,
builds the same replicate histograms from the same batch: ``Generator.poisson(1, (B, n))``
multipliers, then one ``np.bincount`` over (replicate, segment, score) cells weighted by m·w.
Both are checked to hold B replicate histograms whose mean total weight is Σw (E[m] = 1).
The ratio floor is ``FIXED_SIZE_FLOORS`` in ``floors.py``, checked by
``test_fixed_size_floors.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx

ROWS = 10_000
SEGMENTS = 50
K = 11
B = 200


@pytest.fixture(scope="module")
def batch() -> pa.RecordBatch:
    rng = np.random.default_rng(20_240_611)
    codes = rng.integers(0, SEGMENTS, ROWS, dtype=np.int32)
    names = pa.array([f"segment_{i:02d}" for i in range(SEGMENTS)])
    return pa.RecordBatch.from_pydict({
        "seg": pa.DictionaryArray.from_arrays(pa.array(codes), names),
        "nps": pa.array(rng.integers(0, K, ROWS, dtype=np.int8)),
        "w": pa.array(rng.lognormal(0.0, 0.5, ROWS)),
    })


def test_replicate_update(benchmark: Any, batch: pa.RecordBatch,
                          record_timing: Callable[..., None]) -> None:
    acc = cx.Accumulator("nps", score="nps", by="seg", weight="w", replicates=B, seed=1)
    acc.update(batch)  # warm-up: the first update fixes the key types
    benchmark.group = f"replicates · {ROWS:,} rows × B = {B}"
    benchmark(acc.update, batch)
    record_timing("replicates", "cxmetrics", benchmark)
    res = acc.result(ci="bootstrap")
    assert isinstance(res, cx.SegmentedResult) and len(res) == SEGMENTS
    assert res.overall.n_resamples == B
    # Every update added the batch once: the weighted total is rounds × Σw, and the
    # percentile interval of the overall NPS brackets its value.
    updates = res.overall.n // ROWS
    total = float(np.sum(batch.column("w").to_numpy()))
    assert res.overall.weighted_n == pytest.approx(updates * total, rel=1e-12)
    assert res.overall.ci_low < res.overall.value < res.overall.ci_high


def test_replicate_numpy_peer(benchmark: Any, batch: pa.RecordBatch,
                              record_timing: Callable[..., None]) -> None:
    rng = np.random.default_rng(2)
    cells = (batch.column("seg").indices.to_numpy().astype(np.int64) * K
             + batch.column("nps").to_numpy().astype(np.int64))
    w = batch.column("w").to_numpy()
    running = np.zeros(B * SEGMENTS * K)
    offsets = (np.arange(B, dtype=np.int64) * SEGMENTS * K)[:, None]

    def update() -> None:
        m = rng.poisson(1.0, (B, ROWS))
        running[:] += np.bincount((offsets + cells[None, :]).ravel(), weights=(m * w).ravel(),
                                  minlength=B * SEGMENTS * K)

    benchmark.group = f"replicates · {ROWS:,} rows × B = {B}"
    benchmark(update)
    record_timing("replicates", "numpy", benchmark)
    # One more update from zero: E[m] = 1, so the mean replicate total is Σw, to within four
    # Monte Carlo standard errors (each replicate total has variance Σw²).
    running[:] = 0.0
    update()
    totals = running.reshape(B, -1).sum(axis=1)
    assert abs(totals.mean() - w.sum()) < 4 * np.sqrt(np.sum(w * w) / B)
