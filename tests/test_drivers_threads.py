"""Key drivers from many Python threads at once: the same results, bit for bit, as one thread,
and a shared accumulator updated, merged and stored concurrently without losing a row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

import cxmetrics as cx

DRIVERS = ["product", "delivery", "support", "price", "app"]


def ratings(seed: int, n: int) -> pa.Table:
    """1-5 ratings with a shared factor, a 0-10 outcome and three regions."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    columns = {d: np.clip(np.rint(3 + common + rng.normal(size=n)), 1, 5).astype(np.int64)
               for d in DRIVERS}
    score = sum((5 - i) * columns[d] for i, d in enumerate(DRIVERS)) / 7 + rng.normal(size=n)
    columns["nps"] = np.clip(np.rint(score), 0, 10).astype(np.int64)
    return pa.table({**columns, "region": rng.choice(["North", "South", "West"], n)})


def same(a: pa.Table, b: pa.Table) -> bool:
    """Equal values, bit for bit (repr round-trips a float), NaN equal to NaN."""
    return a.column_names == b.column_names and repr(a.to_pylist()) == repr(b.to_pylist())


def in_threads(calls: list[Callable[[], pa.Table]], workers: int = 8) -> list[pa.Table]:
    """Runs every call on a pool of `workers` threads, all released at once."""
    start = threading.Barrier(min(workers, len(calls)))

    def run(call: Callable[[], pa.Table]) -> pa.Table:
        try:
            start.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        return call()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, calls))


def test_concurrent_driver_analyses_equal_one_thread() -> None:
    tables = [ratings(seed, 3_000) for seed in range(4)]
    settings = [dict(method="shapley", bootstrap="bca"), dict(method="relative-weights"),
                dict(method="shapley", bootstrap="studentized")]

    def call(table: pa.Table, options: dict[str, str]) -> Callable[[], pa.Table]:
        return lambda: cx.drivers(table, outcome="nps", drivers=DRIVERS, by="region",
                                  n_resamples=200, seed=7, **options).to_arrow()

    calls = [call(t, o) for t in tables for o in settings] * 2
    alone = [c() for c in calls]
    together = in_threads(calls)
    for one, many in zip(alone, together, strict=True):
        assert same(one, many)
    # The repeated half is itself identical (same seed, same bits).
    half = len(calls) // 2
    assert all(same(a, b) for a, b in zip(together[:half], together[half:], strict=True))


def test_a_shared_accumulator_keeps_every_concurrent_update() -> None:
    table = ratings(11, 8_000)
    batches = [table.slice(i * 500, 500) for i in range(16)]
    sequential = cx.DriversAccumulator("nps", DRIVERS, by="region", n_resamples=100, seed=3)
    for batch in batches:
        sequential.update(batch)
    shared = cx.DriversAccumulator("nps", DRIVERS, by="region", n_resamples=100, seed=3)
    seen: list[bytes] = []

    def update(batch: pa.Table) -> pa.Table:
        shared.update(batch)
        seen.append(shared.merge(shared.with_stream(9)).to_bytes())  # reads alongside writes
        return batch

    in_threads([lambda b=b: update(b) for b in batches])  # type: ignore[misc]
    assert len(seen) == len(batches)
    # Ratings keep the histogram of answer tuples, whose replicates do not depend on the order
    # in which rows arrived: the concurrent result is the sequential one, bit for bit.
    want = sequential.result("shapley").to_arrow()
    got = shared.result("shapley").to_arrow()
    assert same(got, want)
    rows_per_region = dict(zip(got.column("region").to_pylist(), got.column("n").to_pylist(),
                               strict=True))
    assert sum(rows_per_region.values()) == len(table)
