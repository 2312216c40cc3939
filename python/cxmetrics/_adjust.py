"""Multiple-comparison adjustment of a family of p-values.

Bonferroni and Holm's step-down control the family-wise error rate; Benjamini–Hochberg's step-up
controls the false discovery rate for independent or positively dependent tests, and
Benjamini–Yekutieli's (BH with c(m) = Σ 1/i) under any dependence. Adjusted p-values are monotone
in the sorted order and capped at 1, as in statsmodels' ``multipletests``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from .errors import ArgumentError

__all__ = ["ADJUST_METHODS", "AdjustMethod", "adjust_pvalues", "method_name"]

AdjustMethod = Literal["holm", "bonferroni", "bh", "fdr_bh", "by", "fdr_by"]

ADJUST_METHODS: tuple[str, ...] = ("holm", "bonferroni", "bh", "fdr_bh", "by", "fdr_by")

_CANONICAL = {"fdr_bh": "bh", "fdr_by": "by"}

_DESCRIPTION = {
    "holm": "Holm's step-down (family-wise error rate)",
    "bonferroni": "Bonferroni (family-wise error rate)",
    "bh": "Benjamini–Hochberg (false discovery rate)",
    "by": "Benjamini–Yekutieli (false discovery rate under any dependence)",
}


def method_name(method: str | None) -> str | None:
    """The canonical name (``"fdr_bh"`` → ``"bh"``); raises on an unknown method."""
    if method is None:
        return None
    if method not in ADJUST_METHODS:
        raise ArgumentError(f"adjust must be one of {ADJUST_METHODS} or None, got {method!r}")
    return _CANONICAL.get(method, method)


def describe(method: str | None) -> str:
    canonical = method_name(method)
    return "no adjustment" if canonical is None else _DESCRIPTION[canonical]


def adjust_pvalues(p: Sequence[float] | NDArray[np.float64], method: AdjustMethod = "holm"
                   ) -> NDArray[np.float64]:
    """Adjusted p-values of one family, in the input order.

    ``method``: ``"holm"``, ``"bonferroni"``, ``"bh"`` (alias ``"fdr_bh"``) or ``"by"`` (alias
    ``"fdr_by"``). Equal to ``statsmodels.stats.multitest.multipletests(p, method=...)[1]``.
    Reject a hypothesis at level α when its adjusted p-value is ≤ α.
    """
    canonical = method_name(method)
    values = np.asarray(p, dtype=np.float64)
    if values.ndim != 1:
        raise ArgumentError(f"p must be one-dimensional, got shape {values.shape}")
    bad = np.flatnonzero(~((values >= 0) & (values <= 1)))
    if bad.size:
        first = int(bad[0])
        raise ArgumentError(
            f"p-values must be in [0, 1]: {bad.size} are not, the first at position {first} "
            f"(counting from 0) is {values[first]!r}"
        )
    m = values.size
    if m == 0:
        return values.copy()
    if canonical == "bonferroni":
        return np.minimum(values * m, 1.0)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    if canonical == "holm":
        # Step-down: p_(i) × (m − i + 1), made monotone from the smallest p upwards.
        stepped = np.maximum.accumulate(ranked * np.arange(m, 0, -1))
    else:
        factor = m / np.arange(1, m + 1)
        if canonical == "by":
            factor = factor * np.sum(1.0 / np.arange(1, m + 1))
        # Step-up: p_(i) × m / i, made monotone from the largest p downwards.
        stepped = np.minimum.accumulate((ranked * factor)[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
