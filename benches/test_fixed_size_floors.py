"""Ratio floors of the fixed-size benchmarks (``FIXED_SIZE_FLOORS`` in ``floors.py``): the
accumulator, replicate and Spark/Dask scenarios, whose sizes do not change with --bench-size.

This module's name sorts after every ``test_bench_*`` module, so it runs when their timings are
recorded; each floor skips unless both sides were measured (``--benchmark-enable``).
"""

from __future__ import annotations

import pytest

from floors import FIXED_SIZE_FLOORS

CASES = sorted(FIXED_SIZE_FLOORS.items())


def _duration(seconds: float) -> str:
    if seconds >= 0.1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-4:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


@pytest.mark.parametrize("case", CASES, ids=[f"{s}-{p}" for (s, p), _ in CASES])
def test_fixed_size_ratio_floor(case: tuple[tuple[str, str], float],
                                medians: dict[tuple[str, str], float]) -> None:
    (scenario, peer), floor = case
    ours, theirs = medians.get((scenario, "cxmetrics")), medians.get((scenario, peer))
    if ours is None or theirs is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    ratio = theirs / ours
    assert ratio >= floor, (
        f"{scenario}/{peer}: {ratio:.2f}× (peer {_duration(theirs)} / cxmetrics "
        f"{_duration(ours)}) is below the floor {floor:g}×"
    )
