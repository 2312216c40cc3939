"""Per-request speed: one call on 100 rows, as a web handler makes it, against plain NumPy.

The issue's targets: a 100-row ``cx.nps`` call in at most 30 µs without ``by`` and 60 µs with
one key; each run prints whether they were met. The peers compute the same numbers (NPS, its
Wald se and interval, the counts; per key with ``by``): plain NumPy, and pyarrow compute for
the call without ``by``. Timing is interleaved (``interleave.py``): each round times a batch of
calls of each engine, so a burst of load falls on both sides of a round's ratio. The floors
(``REQUEST_FLOORS`` in floors.py) name the peer each is judged against and why.

``request_by_read`` also reads every segment's value: the per-segment table is imported into
pyarrow on first use, so ``request_by`` alone would not show what reading a result costs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import cxmetrics as cx
from floors import REQUEST_FLOORS, REQUEST_TARGET_SECONDS
from interleave import measure_rounds

ROWS = 100
Z95 = 1.959963984540054
# Each engine's batch of calls in a round lasts about this long: far above the clock's
# resolution, and well inside one scheduler time slice, so that on a loaded machine most rounds
# run unpreempted on both sides (a long batch would be preempted more often than a short one,
# which biases the ratio against the slower engine).
BATCH_S = 300e-6


def _numpy_nps(scores: np.ndarray) -> tuple[float, float, float, float, int]:
    n = scores.size
    promoters = np.count_nonzero(scores >= 9)
    detractors = np.count_nonzero(scores <= 6)
    p, d = promoters / n, detractors / n
    value = 100 * (p - d)
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return value, se, value - Z95 * se, value + Z95 * se, n


def _pyarrow_nps(scores: np.ndarray) -> tuple[float, float, float, float, int]:
    """The same numbers with pyarrow's compute functions, from the same NumPy input."""
    column = pa.array(scores)
    n = len(column)
    p = pc.sum(pc.greater_equal(column, 9)).as_py() / n
    d = pc.sum(pc.less_equal(column, 6)).as_py() / n
    value = 100 * (p - d)
    se = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return value, se, value - Z95 * se, value + Z95 * se, n


def _numpy_nps_by(scores: np.ndarray, keys: np.ndarray) -> dict[object, tuple[float, ...]]:
    uniques, group = np.unique(keys, return_inverse=True)
    hist = np.bincount(group * 11 + scores, minlength=uniques.size * 11).reshape(-1, 11)
    n = hist.sum(axis=1)
    p = hist[:, 9:].sum(axis=1) / n
    d = hist[:, :7].sum(axis=1) / n
    value = 100 * (p - d)
    se = 100 * np.sqrt((p + d - (p - d) ** 2) / n)
    return {k.item(): (value[i], se[i], value[i] - Z95 * se[i], value[i] + Z95 * se[i], n[i])
            for i, k in enumerate(uniques)}


@pytest.fixture(scope="module")
def request_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.integers(0, 11, ROWS), rng.integers(0, 4, ROWS)


def _cx(scores: np.ndarray) -> cx.MetricResult:
    return cx.nps(scores, ci="wald")  # the interval NumPy computes below


def _cx_by(scores: np.ndarray, keys: np.ndarray) -> cx.SegmentedResult:
    return cx.nps(scores, by=keys, ci="wald")


def test_request_numbers_agree(request_rows: tuple[np.ndarray, np.ndarray]) -> None:
    scores, keys = request_rows
    res = _cx(scores)
    assert np.allclose((res.value, res.se, res.ci_low, res.ci_high, res.n), _numpy_nps(scores))
    assert np.allclose(_pyarrow_nps(scores), _numpy_nps(scores))
    by = _cx_by(scores, keys)
    theirs = _numpy_nps_by(scores, keys)
    assert sorted(theirs) == [k[0] for k in by.keys()]
    for key, numbers in theirs.items():
        seg = by[key]
        assert np.allclose((seg.value, seg.se, seg.ci_low, seg.ci_high, seg.n), numbers)


def _read(res: cx.SegmentedResult) -> list[float]:
    return [seg.value for seg in res]


@pytest.mark.parametrize("scenario", ["request", "request_by", "request_by_read"])
def test_request(scenario: str, request_rows: tuple[np.ndarray, np.ndarray],
                 pytestconfig: pytest.Config, record_rounds: Callable[..., None],
                 register_rerun: Callable[[str, Callable[[], None]], None]) -> None:
    if not pytestconfig.getoption("benchmark_enable", default=False):
        pytest.skip("timed with --benchmark-enable")
    scores, keys = request_rows
    one: dict[str, Callable[[], object]] = {
        "request": lambda: _cx(scores),
        "request_by": lambda: _cx_by(scores, keys),
        "request_by_read": lambda: _read(_cx_by(scores, keys)),
    }
    peers: dict[str, Callable[[], object]] = (
        {"numpy": lambda: _numpy_nps(scores), "pyarrow": lambda: _pyarrow_nps(scores)}
        if scenario == "request" else {"numpy": lambda: _numpy_nps_by(scores, keys)})
    batches = {"cxmetrics": _batch(one[scenario])}
    batches.update((name, _batch(peer)) for name, peer in peers.items())
    calls = {name: batch[0] for name, batch in batches.items()}
    kept: dict[str, list[float]] = {name: [] for name in calls}

    def measure() -> None:
        times = measure_rounds(calls, min_rounds=200, max_rounds=3000, budget_s=3.0)
        for name, samples in times.items():
            kept[name].extend(t / batches[name][1] for t in samples)
        record_rounds(scenario, kept)

    measure()
    register_rerun(scenario, measure)


def _batch(call: Callable[[], object]) -> tuple[Callable[[], None], int]:
    """``call`` repeated to last about ``BATCH_S``, and how many calls that is."""
    for _ in range(50):
        call()  # warm caches and the allocator
    once = min(_seconds(call) for _ in range(20))
    count = max(1, round(BATCH_S / max(once, 1e-7)))

    def run() -> None:
        for _ in range(count):
            call()
    return run, count


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


@pytest.mark.parametrize("scenario", sorted(REQUEST_FLOORS))
def test_request_ratio_floor(scenario: str, ratio_of: Callable[[str, str, float], Any],
                             record_extra: Callable[..., None]) -> None:
    peer, floor = REQUEST_FLOORS[scenario]
    judged = ratio_of(scenario, peer, floor)
    if judged is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    target = REQUEST_TARGET_SECONDS.get(scenario)
    ours = judged.ours_s
    # The absolute target is reported, not gated: on a shared host the same build's call moves
    # by up to 2x within minutes while a tiny NumPy call does not (see floors.py).
    goal = ("" if target is None else
            f" (target {target * 1e6:.0f} µs: {'met' if ours <= target else 'NOT met'})")
    record_extra(f"{scenario}_us", round(ours * 1e6, 1),
                 f"{scenario}: cxmetrics {ours * 1e6:.1f} µs per 100-row call{goal}, {peer} "
                 f"{judged.theirs_s * 1e6:.1f} µs, ratio {judged.ratio:.3f}× (floor {floor}×)")
    assert judged.ratio >= floor, (
        f"{scenario}: {peer} / cxmetrics = {judged.ratio:.3f}× is below the floor {floor}× "
        f"(cxmetrics {ours * 1e6:.1f} µs, {peer} {judged.theirs_s * 1e6:.1f} µs per call)")
