"""Bootstrap: 100 segments × 10,000 BCa resamples on 1M responses, against scipy in the same run.

- ``cxmetrics``: ``cx.nps(table, score="nps", by="seg", ci="bootstrap", n_resamples=10_000)``
  (BCa, the default) on 1,000,000 responses in 100 segments — intervals and result objects
  included, as a user calls it.
- ``scipy``: ``scipy.stats.bootstrap`` BCa on ONE 10,000-response segment with 2,000 resamples,
  vectorized, ``paired=False``, defaults otherwise (``batch=None``: the jackknife materialises an
  n × (n − 1) array).
- ``scipy-batch50``: the same with ``batch=50``, the fastest batch size on the development
  machine (a sweep over 50–2000) — what a user who tunes scipy gets.

The issue's target: the whole 100-segment job ≥ 30× faster in wall time than scipy's single
segment (≈ 15,000× per resampled response: 10¹⁰ resampled responses against 2·10⁷). The three
calls are timed interleaved, round by round in a rotating order (``interleave.measure_rounds``),
and a ratio is the median over rounds of scipy's time / ours in the same round, so a burst of
load from another process hits both sides of a round alike. ``test_bootstrap_ratio_floor``
asserts ``FLOORS`` below (measured once more before failing; skips unless benchmarks ran); the
30× target is printed beside the measured ratio, not asserted.

Peak memory of our call is measured in a fresh subprocess from ``VmHWM`` in /proc/self/status
(Rust allocations are invisible to tracemalloc): freed heap is returned with ``malloc_trim``, the
high-water mark reset through /proc/self/clear_refs, then the call runs once. It must stay
O(segments × (k + B)): 100 × 10,010 × 8 bytes ≈ 8 MB even if every segment's resamples were
alive at once; the test allows 64 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import cxmetrics as cx
from interleave import measure_rounds

ROWS = 1_000_000
SEGMENTS = 100
RESAMPLES = 10_000
SCIPY_ROWS = 10_000
SCIPY_RESAMPLES = 2_000
SCIPY_BATCH = 50
SEED = 20_241_126
SCENARIO = "bootstrap"
# Probabilities of the scores 0..10: a typical NPS survey (≈ 33% promoters, 37% detractors).
SCORE_P = (0.06, 0.03, 0.03, 0.04, 0.05, 0.07, 0.09, 0.14, 0.16, 0.15, 0.18)
# Median per-round scipy / cxmetrics ratio: the target, and the floors below which the
# test fails.
TARGETS: dict[str, float] = {"scipy": 30.0}
# 2026-12-03, sampler v3, load ≈ 10: 23.8–32.6× and 6.8–7.2× (docs/performance.md); scipy's
# default is inflated far more than ours by load, hence the wide headroom on it. 2026-12-04:
# 20.3× and 9.8× on a quiet fresh clone, but 7.5–14.7× and 5.0–7.9× in 10 `bench-check` runs
# with one core kept busy (our call uses both cores, scipy one): the scipy floor is ≈ 60 % of
# 7.5×.
FLOORS: dict[str, float] = {"scipy": 4.5, "scipy-batch50": 3.0}
MEMORY_LIMIT_MB = 64.0
# Interleaved rounds (each one runs all three calls; scipy's default takes 0.7 s quiet, 3–42 s
# on the loaded machine).
ROUNDS = 5


def _make_table() -> pa.Table:
    rng = np.random.default_rng(SEED)
    seg = rng.integers(0, SEGMENTS, ROWS, dtype=np.int32)
    scores = rng.choice(11, ROWS, p=SCORE_P).astype(np.int8)
    return pa.table({"seg": seg, "nps": scores})


def _scipy_segment() -> np.ndarray:
    """One 10,000-response segment as per-row NPS contributions (+100, 0, −100)."""
    rng = np.random.default_rng((SEED, 1))
    scores = rng.choice(11, SCIPY_ROWS, p=SCORE_P)
    return np.where(scores >= 9, 100.0, np.where(scores <= 6, -100.0, 0.0))


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return _make_table()


@pytest.fixture(scope="module")
def segment() -> np.ndarray:
    return _scipy_segment()


def _ours(table: pa.Table) -> cx.SegmentedResult:
    return cx.nps(table, score="nps", by="seg", ci="bootstrap", n_resamples=RESAMPLES,
                  seed=SEED)


def _scipy(x: np.ndarray, batch: int | None) -> Any:
    return stats.bootstrap((x,), np.mean, n_resamples=SCIPY_RESAMPLES, method="BCa",
                           vectorized=True, paired=False, batch=batch,
                           rng=np.random.default_rng(SEED))


def _check_ours(result: cx.SegmentedResult) -> None:
    assert len(result) == SEGMENTS
    for r in result:
        assert r.method == "bootstrap-bca" and r.n_resamples == RESAMPLES and r.note is None
        assert r.ci_low <= r.value <= r.ci_high


def _check_scipy(res: Any, segment: np.ndarray) -> None:
    # The same job: cxmetrics on this segment with scipy's resample count agrees within MC
    # error (bound sd ≈ 0.05 points at B = 2000; lattice 0.01 points).
    ours = cx.nps(np.where(segment > 0, 10, np.where(segment < 0, 0, 7)), ci="bootstrap",
                  n_resamples=SCIPY_RESAMPLES, seed=SEED)
    assert ours.ci_low == pytest.approx(res.confidence_interval.low, abs=0.3)
    assert ours.ci_high == pytest.approx(res.confidence_interval.high, abs=0.3)


def test_bootstrap_interleaved(table: pa.Table, segment: np.ndarray,
                               pytestconfig: pytest.Config,
                               record_rounds: Callable[..., None],
                               register_rerun: Callable[[str, Callable[[], None]], None]
                               ) -> None:
    # One untimed call each: it is what the numbers are checked on, and first-call costs (the
    # thread pool; scipy faulting in fresh pages, 5–6 s instead of ≈ 0.7 s) are not the subject.
    _check_ours(_ours(table))
    _check_scipy(_scipy(segment, None), segment)
    _check_scipy(_scipy(segment, SCIPY_BATCH), segment)
    if not pytestconfig.getoption("benchmark_enable", default=False):
        return
    calls: dict[str, Callable[[], object]] = {
        "cxmetrics": lambda: _ours(table),
        "scipy": lambda: _scipy(segment, None),
        f"scipy-batch{SCIPY_BATCH}": lambda: _scipy(segment, SCIPY_BATCH),
    }
    kept: dict[str, list[float]] = {name: [] for name in calls}

    def measure() -> None:
        # A rerun adds its rounds to the first measurement's: judged on all of them.
        for name, samples in measure_rounds(calls, min_rounds=ROUNDS, max_rounds=ROUNDS,
                                            budget_s=0.0).items():
            kept[name].extend(samples)
        record_rounds(SCENARIO, kept)

    measure()
    register_rerun(SCENARIO, measure)


_MEMORY_SCRIPT = """
import ctypes, json, re, sys
import numpy as np
sys.path.insert(0, {here!r})
from test_bench_bootstrap import _make_table, _ours, _scipy, _scipy_segment

def status():
    text = open("/proc/self/status").read()
    return {{k: int(re.search(k + r":\\s+(\\d+) kB", text).group(1)) for k in ("VmRSS", "VmHWM")}}

which = sys.argv[1]
table, segment = _make_table(), _scipy_segment()
import cxmetrics as cx
cx.nps([1, 2, 3], by=[1, 1, 2], ci="bootstrap", n_resamples=10, seed=1)  # start the pool
ctypes.CDLL("libc.so.6").malloc_trim(0)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current RSS
base = status()["VmRSS"]
if which == "cxmetrics":
    _ours(table)
else:
    _scipy(segment, None if which == "scipy" else int(which.removeprefix("scipy-batch")))
print(json.dumps({{"peak_delta_mb": (status()["VmHWM"] - base) / 1024, "base_mb": base / 1024}}))
"""


def _peak_memory(which: str) -> dict[str, float]:
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT.format(here=here), which],
                         capture_output=True, text=True, timeout=600, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def test_bootstrap_peak_memory(capsys: pytest.CaptureFixture[str],
                               record_property: Callable[[str, object], None]) -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("needs Linux /proc/self/clear_refs to reset the high-water mark")
    found = {which: _peak_memory(which)
             for which in ("cxmetrics", "scipy", f"scipy-batch{SCIPY_BATCH}")}
    for which, m in found.items():
        record_property(f"peak_delta_mb_{which}", m["peak_delta_mb"])
    with capsys.disabled():
        print("\npeak memory above the process's resident set (VmHWM delta):")
        print(f"  cxmetrics {SEGMENTS} segments × {RESAMPLES:,} BCa on {ROWS:,} rows: "
              f"{found['cxmetrics']['peak_delta_mb']:.1f} MB")
        for which in ("scipy", f"scipy-batch{SCIPY_BATCH}"):
            print(f"  {which} one {SCIPY_ROWS:,}-row segment × {SCIPY_RESAMPLES:,} BCa: "
                  f"{found[which]['peak_delta_mb']:.1f} MB")
    assert found["cxmetrics"]["peak_delta_mb"] <= MEMORY_LIMIT_MB


@pytest.mark.parametrize("peer", sorted(FLOORS))
def test_bootstrap_ratio_floor(peer: str, ratio_of: Callable[[str, str, float], Any],
                               capsys: pytest.CaptureFixture[str]) -> None:
    judged = ratio_of(SCENARIO, peer, FLOORS[peer])
    if judged is None:
        pytest.skip("not measured in this session (run with --benchmark-enable)")
    ratio = judged.ratio
    # Resampled responses: ours 100 segments × 10,000 resamples × ~10,000 rows = ROWS × B.
    per_response = ratio * (ROWS * RESAMPLES) / (SCIPY_ROWS * SCIPY_RESAMPLES)
    target = TARGETS.get(peer)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    again = " after one rerun" if judged.rerun else ""
    with capsys.disabled():
        print(f"\n{peer}: {judged.theirs_s * 1e3:.0f} ms for one segment; cxmetrics "
              f"{judged.ours_s * 1e3:.0f} ms for {SEGMENTS} (medians): {ratio:.1f}× median "
              f"per-round ratio{again}, {per_response:,.0f}× per resampled response (floor "
              f"{FLOORS[peer]:g}×" + ("" if target is None else f", issue target {target:g}×")
              + f"; load average {load:.1f})")
    assert ratio >= FLOORS[peer], f"{peer}: {ratio:.2f}×{again} below the floor {FLOORS[peer]:g}×"
