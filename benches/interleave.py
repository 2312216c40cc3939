"""Interleaved timing: every engine once per round, in a rotating order.

Timing one engine for a while and then the next lets a burst of load from another process fall
on one side only; on this shared 2-core machine that moved a ratio by up to 1.8× between runs.
Here each round calls every engine once (the order rotates, so no engine is always first after
a pause), and a ratio is judged on the median over rounds of (peer time / our time in that
round): a burst that hits one round hits both sides of that round's ratio alike, and the median
ignores the few rounds where it did not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping


def measure_rounds(calls: Mapping[str, Callable[[], object]], *, min_rounds: int = 7,
                   max_rounds: int = 25, budget_s: float = 2.0) -> dict[str, list[float]]:
    """Seconds per call, per engine, one entry per round (all engines' lists align).

    Runs at least ``min_rounds`` rounds and stops after ``max_rounds`` or once ``budget_s``
    seconds have passed, whichever comes first.
    """
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < max_rounds and (rounds < min_rounds
                                   or time.perf_counter() - start < budget_s):
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    return times


def paired_ratio(ours: list[float], theirs: list[float]) -> float:
    """Median over rounds of theirs / ours (rounds paired by position)."""
    return statistics.median(t / o for o, t in zip(ours, theirs, strict=True) if o > 0)
