"""Monte-Carlo error of coverage simulations."""

from __future__ import annotations

import math


def mc_sd(runs: int, p: float = 0.95) -> float:
    """Standard deviation, in percentage points, of a coverage estimated from ``runs``
    simulated surveys whose true coverage is ``p``."""
    return 100.0 * math.sqrt(p * (1 - p) / runs)
