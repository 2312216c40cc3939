"""Per-request speed: one call on 100 rows, as a web handler makes it, against plain NumPy.

The issue's targets: a 100-row ``cx.nps`` call in at most 30 µs without ``by`` and 60 µs with
one key. The peer is the same numbers (NPS, its Wald se and interval, the counts; per key with
``by``) computed with plain NumPy in the same run. The floors at the bottom guard the ratio
(NumPy median / cxmetrics median); the absolute times are recorded and printed, not asserted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import cxmetrics as cx

ROWS = 100
Z95 = 1.959963984540054
# NumPy median / cxmetrics median below which the floor tests fail. Plain NumPy on 100 rows is a
# handful of ufunc calls (2 µs; 21 µs with np.unique per key), so a library call is slower; the
# floors guard against regressions of our per-call overhead. Measured 2026-12-03 on the shared
# 2-core machine at load 11–15 (other helpers building): request 0.076× (27.7 µs vs 2.1 µs),
# request_by 0.19× (112 µs vs 21.3 µs). After the merge of the hardening work (cancellable
# calls) and the analyst layer: request_by 0.07× at load 2–3 (295 µs vs 21.9 µs; 83 µs of it is
# handing the segment batch to pyarrow), so its floor is a regression guard at 0.05×, not the
# issue's 60 µs target (not met).
REQUEST_FLOORS = {"request": 0.045, "request_by": 0.05}
TARGET_SECONDS = {"request": 30e-6, "request_by": 60e-6}


def _numpy_nps(scores: np.ndarray) -> tuple[float, float, float, float, int]:
    n = scores.size
    promoters = np.count_nonzero(scores >= 9)
    detractors = np.count_nonzero(scores <= 6)
    p, d = promoters / n, detractors / n
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
    by = _cx_by(scores, keys)
    theirs = _numpy_nps_by(scores, keys)
    assert sorted(theirs) == [k[0] for k in by.keys()]
    for key, numbers in theirs.items():
        seg = by[key]
        assert np.allclose((seg.value, seg.se, seg.ci_low, seg.ci_high, seg.n), numbers)


@pytest.mark.parametrize("engine", ["cxmetrics", "numpy"])
@pytest.mark.parametrize("scenario", ["request", "request_by"])
def test_request(benchmark: Any, scenario: str, engine: str,
                 request_rows: tuple[np.ndarray, np.ndarray],
                 record_timing: Callable[..., None]) -> None:
    scores, keys = request_rows
    calls: dict[tuple[str, str], Callable[[], object]] = {
        ("request", "cxmetrics"): lambda: _cx(scores),
        ("request", "numpy"): lambda: _numpy_nps(scores),
        ("request_by", "cxmetrics"): lambda: _cx_by(scores, keys),
        ("request_by", "numpy"): lambda: _numpy_nps_by(scores, keys),
    }
    benchmark.group = f"per-request {scenario}"
    benchmark.pedantic(calls[(scenario, engine)], rounds=2_000, iterations=5, warmup_rounds=200)
    record_timing(scenario, engine, benchmark)


@pytest.mark.parametrize("scenario", sorted(REQUEST_FLOORS))
def test_request_ratio_floor(scenario: str, medians: dict[tuple[str, str], float],
                             record_extra: Callable[..., None]) -> None:
    ours, theirs = medians.get((scenario, "cxmetrics")), medians.get((scenario, "numpy"))
    if ours is None or theirs is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    target = TARGET_SECONDS[scenario]
    record_extra(f"{scenario}_us", round(ours * 1e6, 1),
                 f"{scenario}: cxmetrics {ours * 1e6:.1f} µs per 100-row call (target "
                 f"{target * 1e6:.0f} µs: {'met' if ours <= target else 'NOT met'}), "
                 f"NumPy {theirs * 1e6:.1f} µs")
    ratio = theirs / ours
    assert ratio >= REQUEST_FLOORS[scenario], (
        f"{scenario}: NumPy / cxmetrics = {ratio:.2f}× is below the floor "
        f"{REQUEST_FLOORS[scenario]}× (cxmetrics {ours * 1e6:.1f} µs, NumPy "
        f"{theirs * 1e6:.1f} µs)")
