"""Charts of a driver analysis (matplotlib, imported only here: the ``plot`` extra)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .errors import ArgumentError

if TYPE_CHECKING:
    from ._drivers import DriversResult

__all__ = ["importance_chart", "priority_matrix"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("charts need matplotlib: pip install 'cxmetrics[plot]'") from exc
    return plt


def importance_chart(result: DriversResult, key: tuple[Any, ...], ax: Any = None) -> Any:
    """Horizontal bars of each driver's share of R² (%), most important on top, with the
    bootstrap interval as error bars where there is one. Returns the Axes."""
    rows = sorted(result.segment(*key), key=lambda r: r.importance)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    scale = [100.0 / r.r2 if r.r2 > 0 else math.nan for r in rows]
    values = [r.rescaled for r in rows]
    has_ci = all(not math.isnan(r.ci_low) for r in rows)
    err = None
    if has_ci:
        err = [[max(0.0, v - r.ci_low * s) for v, r, s in zip(values, rows, scale, strict=True)],
               [max(0.0, r.ci_high * s - v) for v, r, s in zip(values, rows, scale, strict=True)]]
    colors = ["#2a7ab0" if (r.sign or 0) >= 0 else "#c0504d" for r in rows]
    ax.barh([r.driver for r in rows], values, xerr=err, color=colors, capsize=3)
    ax.set_xlabel("share of explained variance (%)")
    where = f" ({', '.join(map(str, key))})" if key else ""
    ax.set_title(f"Key drivers of {result.outcome}{where}: R² = {rows[0].r2:.2f}")
    return ax


def priority_matrix(result: DriversResult, performance: dict[str, float],
                    key: tuple[Any, ...], ax: Any = None) -> Any:
    """Importance (x) against performance (y, e.g. each attribute's mean rating), split at
    the medians into the four CX quadrants. Returns the Axes."""
    rows = result.segment(*key)
    missing = [r.driver for r in rows if r.driver not in performance]
    if missing:
        raise ArgumentError(f"performance is missing drivers {missing}")
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 5))
    x = [r.rescaled for r in rows]
    y = [float(performance[r.driver]) for r in rows]
    ax.scatter(x, y, color="#2a7ab0")
    for r, xi, yi in zip(rows, x, y, strict=True):
        ax.annotate(r.driver, (xi, yi), textcoords="offset points", xytext=(4, 4))
    mx, my = sorted(x)[len(x) // 2], sorted(y)[len(y) // 2]
    ax.axvline(mx, color="grey", lw=0.8)
    ax.axhline(my, color="grey", lw=0.8)
    for text, hx, vy in (("fix first", "right", "bottom"), ("keep up", "right", "top"),
                         ("monitor", "left", "bottom"), ("possible overkill", "left", "top")):
        ax.text(0.98 if hx == "right" else 0.02, 0.02 if vy == "bottom" else 0.98, text,
                transform=ax.transAxes, ha=hx, va=vy, color="grey")
    ax.set_xlabel("importance (% of explained variance)")
    ax.set_ylabel("performance")
    ax.set_title(f"Priority matrix for {result.outcome}")
    return ax
