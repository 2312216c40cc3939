"""Coverage of the drivers' percentile, BC, BCa and studentized intervals on the grid of
docs/statistics.md.

Each simulated survey (tests/test_drivers_coverage.py's planted model) is read once and its
four intervals are taken from the same replicates, so the methods are compared on the same
data. Appends one JSON line per block of surveys to OUT; run blocks with different seeds and
add them up. Ratings use the truth of the rounded model from 20 million rows (seed 7).

    python tools/drivers_coverage_grid.py OUT {ratings10k|cont10k|relw10k|small|cont200|
                                               cont1000|ratings200|ratings1000|shap10k|
                                               ratings10k4}

The parts cont200 ... ratings1000 are single cells of ``small`` (the same seeds 60-63, so the
same surveys and replicates); shap10k is Shapley on relw10k's surveys (seeds 50-53) and
ratings10k4 the first half of ratings10k (seeds 40-43).

Each record also counts the surveys whose estimates order the drivers as the truth does, and
per method and driver the summed interval widths ("width") and the misses with the truth
above the upper bound ("above"; the other misses are below the lower bound).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import cxmetrics as cx
import test_drivers_coverage as t

BOOTSTRAPS = ("percentile", "bc", "bca", "studentized")


def rating_truth_20m() -> np.ndarray:
    big = t.sample(np.random.default_rng(7), 20_000_000, ratings=True)
    res = cx.drivers(big, "y", ["a", "b", "c"], method="shapley", ci=None)
    return np.array([r.importance for r in res])


def block(method: str, n: int, reps: int, seed: int, ratings: bool, true: np.ndarray,
          out: IO[str]) -> None:
    rng = np.random.default_rng(seed)
    hits = {b: np.zeros(3) for b in BOOTSTRAPS}
    # Sum of widths, and misses with the truth above the upper bound, per method and driver.
    width = {b: np.zeros(3) for b in BOOTSTRAPS}
    above = {b: np.zeros(3) for b in BOOTSTRAPS}
    # Surveys whose estimated importances put the drivers in the true order.
    ordered = 0
    start = time.time()
    for r in range(reps):
        acc = cx.DriversAccumulator("y", ["a", "b", "c"], n_resamples=500, seed=seed * 1000 + r)
        acc.update(t.sample(rng, n, ratings))
        for b in BOOTSTRAPS:
            res = acc.result(method, bootstrap=b)  # type: ignore[arg-type]
            low = np.array([row.ci_low for row in res])
            high = np.array([row.ci_high for row in res])
            hits[b] += (low <= true) & (true <= high)
            width[b] += high - low
            above[b] += true > high
            if b == BOOTSTRAPS[0]:
                estimate = np.array([row.importance for row in res])
                ordered += int((np.argsort(-estimate) == np.argsort(-true)).all())
    record = {"method": method, "n": n, "reps": reps, "seed": seed, "ratings": ratings,
              "secs": time.time() - start, "ordered": ordered,
              **{b: hits[b].tolist() for b in BOOTSTRAPS},
              "width": {b: width[b].tolist() for b in BOOTSTRAPS},
              "above": {b: above[b].tolist() for b in BOOTSTRAPS}}
    out.write(json.dumps(record) + "\n")
    out.flush()


def main(path: str, which: str) -> None:
    with open(path, "a") as out:
        if which == "ratings10k":
            true = rating_truth_20m()
            for seed in range(40, 48):
                block("shapley", 10_000, 100, seed, True, true, out)
        elif which == "cont10k":
            for method in ("shapley", "relative-weights"):
                for seed in range(50, 58):
                    block(method, 10_000, 100, seed, False, t.truth(method), out)
        elif which == "shap10k":
            # Shapley's cell of relw10k: the same seeds, so the same surveys.
            for seed in range(50, 54):
                block("shapley", 10_000, 100, seed, False, t.truth("shapley"), out)
        elif which == "ratings10k4":
            # Half of ratings10k (seeds 40-43): 400 surveys, as the other cells.
            true = rating_truth_20m()
            for seed in range(40, 44):
                block("shapley", 10_000, 100, seed, True, true, out)
        elif which == "relw10k":
            for seed in range(50, 54):
                block("relative-weights", 10_000, 100, seed, False,
                      t.truth("relative-weights"), out)
        elif which == "small":
            true = rating_truth_20m()
            for n in (200, 1000):
                for seed in range(60, 64):
                    block("shapley", n, 100, seed, True, true, out)
                    for method in ("shapley", "relative-weights"):
                        block(method, n, 100, seed, False, t.truth(method), out)
        elif which in ("cont200", "cont1000"):
            n = int(which.removeprefix("cont"))
            for method in ("relative-weights", "shapley"):
                for seed in range(60, 64):
                    block(method, n, 100, seed, False, t.truth(method), out)
        elif which in ("ratings200", "ratings1000"):
            true = rating_truth_20m()
            for seed in range(60, 64):
                block("shapley", int(which.removeprefix("ratings")), 100, seed, True, true, out)
        else:
            raise SystemExit(f"unknown grid part {which!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
