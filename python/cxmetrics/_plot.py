"""Charts of results (the ``plot`` extra). matplotlib is imported here, only when a chart is
drawn, and through ``matplotlib.figure.Figure`` so no pyplot state or GUI backend is touched."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .errors import ArgumentError

if TYPE_CHECKING:
    from ._results import SegmentedResult
    from ._trend import TrendResult, TrendRow

__all__ = ["plot_segments", "plot_trend", "save"]

SMALL_BASE_COLOUR = "#b0b0b0"
BAR_COLOUR = "#3b6ea8"
# Beyond this many segments a trend is drawn as small multiples, one panel per segment.
MAX_LINES = 4


def _figure(**kwargs: Any) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("charts need matplotlib: pip install 'cxmetrics[plot]'") from exc
    return Figure(**kwargs)


def _label(key: tuple[Any, ...]) -> str:
    return " / ".join("(null)" if k is None else str(k) for k in key) or "overall"


def plot_segments(result: SegmentedResult, ax: Any = None, *, sort: bool = True,
                  min_n: float | None = None, title: str | None = None) -> Any:
    """Horizontal bars of each segment's estimate with its interval as whiskers, sorted by the
    estimate, the overall value as a dashed reference line. Segments flagged ``small-base`` (or
    below ``min_n``, effective n) are grey. Returns the Axes."""
    rows = list(result)
    if sort:
        rows.sort(key=lambda r: (math.isnan(r.value), r.value))
    if ax is None:
        ax = _figure(figsize=(7, 1.2 + 0.35 * len(rows)), layout="constrained").subplots()
    small = [r.status == "small-base" or (min_n is not None and r.effective_n < min_n)
             for r in rows]
    positions = list(range(len(rows)))
    values = [0.0 if math.isnan(r.value) else r.value for r in rows]
    ax.barh(positions, values, color=[SMALL_BASE_COLOUR if s else BAR_COLOUR for s in small],
            height=0.6)
    with_ci = [i for i, r in enumerate(rows) if not math.isnan(r.ci_low)]
    if with_ci:
        ax.errorbar(
            [rows[i].value for i in with_ci], with_ci,
            xerr=[[rows[i].value - rows[i].ci_low for i in with_ci],
                  [rows[i].ci_high - rows[i].value for i in with_ci]],
            fmt="none", ecolor="black", capsize=3, linewidth=1)
    overall = result.overall
    if not math.isnan(overall.value):
        ax.axvline(overall.value, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"overall {overall.value:.1f}")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_yticks(positions, [f"{_label(r.segment)} (n={r.n:,})" for r in rows])
    unit = "points" if overall.metric == "nps" else ""
    ax.set_xlabel(f"{overall.metric.upper()} {unit}".strip()
                  + (f", {overall.confidence:.0%} {overall.method} interval"
                     if overall.method else ""))
    if title is not None:
        ax.set_title(title)
    return ax


def _draw_series(ax: Any, rows: list[TrendRow], name: str, marks: set[Any]) -> None:
    periods = [row.period for row in rows]
    values = [row.value for row in rows]
    line = ax.plot(periods, values, marker="o", markersize=3, label=name)[0]
    ax.fill_between(periods, [row.ci_low for row in rows], [row.ci_high for row in rows],
                    color=line.get_color(), alpha=0.2, linewidth=0)
    hits = [row for row in rows if (row.segment, row.period) in marks]
    if hits:
        ax.scatter([row.period for row in hits], [row.value for row in hits], marker="*",
                   s=120, color=line.get_color(), edgecolors="black", zorder=3)


def plot_trend(trend: TrendResult, ax: Any = None, *, adjust: str | None = "holm",
               alpha: float = 0.05, min_n: float | None = 30, title: str | None = None) -> Any:
    """One line per segment with its interval band; a star marks a period whose change from the
    previous one is significant (``cx.significance(trend, against="previous", adjust=...)``).
    Up to four segments share one Axes (returned); more are drawn as small multiples on one
    Figure (returned) with a shared y axis."""
    from ._significance import significance

    marks: set[Any] = set()
    if any(row.previous is not None for row in trend):
        tests = significance(trend, against="previous", adjust=adjust, alpha=alpha,
                             min_n=min_n)
        marks = {(t.a[:-1], t.a[-1]) for t in tests if t.significant}
    segments = trend.segments()
    if len(segments) <= MAX_LINES or ax is not None:
        if ax is None:
            ax = _figure(figsize=(8, 4), layout="constrained").subplots()
        for segment in segments:
            _draw_series(ax, trend.series(segment), _label(segment), marks)
        if trend.by:
            ax.legend(fontsize="small")
        _decorate(ax, trend, title)
        return ax
    columns = min(4, len(segments))
    rows_n = math.ceil(len(segments) / columns)
    figure = _figure(figsize=(3.2 * columns, 2.4 * rows_n), layout="constrained")
    axes = figure.subplots(rows_n, columns, sharex=True, sharey=True, squeeze=False)
    for panel, segment in zip(axes.flat, segments, strict=False):
        _draw_series(panel, trend.series(segment), _label(segment), marks)
        panel.set_title(_label(segment), fontsize="small")
        panel.tick_params(axis="x", labelrotation=45, labelsize="x-small")
    for panel in list(axes.flat)[len(segments):]:
        panel.set_visible(False)
    if title is not None:
        figure.suptitle(title)
    return figure


def _decorate(ax: Any, trend: TrendResult, title: str | None) -> None:
    window = f", rolling {trend.window} {trend.every}s" if trend.window > 1 else ""
    ax.set_ylabel(f"{trend.metric.upper()}{window}")
    ax.set_xlabel(f"{trend.every} ({trend.confidence:.0%} {trend.method} band; "
                  "★ significant change)")
    ax.tick_params(axis="x", labelrotation=30)
    if title is not None:
        ax.set_title(title)


def save(chart: Any, path: str) -> None:
    """Writes an Axes' or Figure's figure to ``path`` (.png or .svg)."""
    if not str(path).lower().endswith((".png", ".svg")):
        raise ArgumentError(f"--plot writes .png or .svg files, got {path!r}")
    figure = chart.get_figure() if hasattr(chart, "get_figure") and not hasattr(
        chart, "savefig") else chart
    figure.savefig(path, dpi=120)
