"""A metric over time: one row per (segment, period), the change from the previous period, and
rolling windows made by adding per-period tallies (never a second pass over the rows)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from . import _engine, _inputs, _native
from ._arrow import to_pandas, to_polars
from ._compare import CompareMethod, compare, difference
from ._periods import Every, check_every, period_column, period_label, period_range
from ._registry import N_RESAMPLES, definition_of
from ._results import MetricResult
from ._unions import UnionOrigin, check_min_n, estimate_unions, set_statuses, status_of
from .errors import ArgumentError, ColumnError

__all__ = ["TrendResult", "TrendRow", "trend"]


@dataclass(frozen=True, slots=True)
class TrendRow:
    """One segment in one period (or the window of periods ending with it).

    ``result`` holds the estimate; ``previous`` the estimate it is compared with (the period
    before, or with ``window=k`` the k periods before the window, so the two share no rows).
    ``change`` = result − previous with its interval and p-value; NaN with a ``change_status``
    saying why when there is nothing to compare (``"first"``, ``"empty"``, ``"small-base"``,
    ``"partial-window"``; ``"zero-variance"`` when both sides answered alike, p undefined).
    """

    segment: tuple[Any, ...]
    period: dt.date
    label: str
    result: MetricResult
    previous: MetricResult | None
    change: float
    change_low: float
    change_high: float
    change_p: float
    change_status: str

    @property
    def value(self) -> float:
        return self.result.value

    @property
    def ci_low(self) -> float:
        return self.result.ci_low

    @property
    def ci_high(self) -> float:
        return self.result.ci_high

    @property
    def n(self) -> int:
        return self.result.n

    @property
    def status(self) -> str:
        return self.result.status

    def __str__(self) -> str:
        where = f"{self.segment!r} " if self.segment else ""
        change = "" if math.isnan(self.change) else (
            f", change {self.change:+.2f} [{self.change_low:.2f}, {self.change_high:.2f}] "
            f"p={self.change_p:.3g}")
        return f"{where}{self.label}: {self.result.value:.2f} (n={self.result.n}){change}"


@dataclass(frozen=True, slots=True)
class TrendTallies:
    """What a trend keeps to form other unions later (e.g. the rest of the respondents in a
    period): the (segment, period) tallies and, per row, the tallies it was made of."""

    aggregation: Any
    definition: Any
    row_members: list[list[int]]
    period_members: list[list[int]]


class TrendOrigin(UnionOrigin):
    """The origin of one trend's results. Two of them share respondents when their windows share
    a period and they are one segment, or one of them is the overall series (which holds every
    segment): labels are ``(*segment, period)``, the overall's ``(period,)``."""

    position: dict[dt.date, int]
    window: int
    n_by: int

    def overlap(self, a: tuple[Any, ...], b: tuple[Any, ...]) -> str | None:
        if not (a and b and a[-1] in self.position and b[-1] in self.position):
            return None
        gap = abs(self.position[a[-1]] - self.position[b[-1]])
        if gap >= self.window:
            return None
        overall_a, overall_b = self.n_by > 0 and len(a) == 1, self.n_by > 0 and len(b) == 1
        if a == b:
            return ("a and b are the same row of one trend (the same respondents twice); a "
                    "comparison needs two independent groups")
        if overall_a or overall_b:
            part = b if overall_a else a
            return (f"{_key_text(part)} is part of the trend's overall series in "
                    f"{'that period' if self.window == 1 else 'overlapping windows'}, so the "
                    "two samples overlap and the test would be invalid; test each segment "
                    "against the rest of its period instead: cx.significance(trend, "
                    "against='rest')")
        if a[:-1] == b[:-1]:
            return (f"the windows of {_key_text(a)} and {_key_text(b)} share periods, so the "
                    "two samples overlap; compare windows that do not overlap (the change "
                    "column compares each window with the one just before it)")
        return None


def _key_text(key: tuple[Any, ...]) -> str:
    return " / ".join(str(k) for k in key)


def _origin(periods: list[dt.date], window: int, n_by: int) -> TrendOrigin:
    origin = TrendOrigin(next(_engine._ORIGINS))
    origin.position = {p: t for t, p in enumerate(periods)}
    origin.window, origin.n_by = window, n_by
    return origin


class TrendResult:
    """Rows ordered by segment then period; every period between the first and the last is
    present for every segment (``n = 0`` and status ``"empty"`` where nobody answered).

    ``overall`` holds the unsegmented series when ``by`` was given.
    """

    __slots__ = ("_tallies", "by", "confidence", "every", "method", "metric", "min_n",
                 "n_without_time", "overall", "periods", "rows", "time", "window")

    def __init__(self, *, metric: str, time: str, every: str, by: tuple[str, ...], window: int,
                 confidence: float, method: str | None, min_n: float | None,
                 periods: list[dt.date], rows: list[TrendRow], overall: list[TrendRow],
                 n_without_time: int, tallies: TrendTallies | None = None) -> None:
        self.metric = metric
        self.time = time
        self.every = every
        self.by = by
        self.window = window
        self.confidence = confidence
        self.method = method
        self.min_n = min_n
        self.periods = periods
        self.rows = rows
        self.overall = overall
        self.n_without_time = n_without_time
        self._tallies = tallies

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TrendRow]:
        return iter(self.rows)

    def segments(self) -> list[tuple[Any, ...]]:
        """Segment keys in order (``[()]`` without ``by``)."""
        return list(dict.fromkeys(row.segment for row in self.rows))

    def series(self, segment: Any = ()) -> list[TrendRow]:
        """The rows of one segment, in period order (a scalar key for one ``by`` column)."""
        key = segment if isinstance(segment, tuple) else (segment,)
        rows = [row for row in self.rows if row.segment == key]
        if not rows:
            raise KeyError(f"no segment {segment!r} in {self.by}")
        return rows

    def to_arrow(self) -> pa.Table:
        """One row per (segment, period): key columns, ``period`` (first day), ``label``, the
        estimate, interval, n, effective n, status, and the change with its interval and p."""
        columns: dict[str, Any] = {}
        for i, name in enumerate(self.by):
            columns[name] = [row.segment[i] for row in self.rows]
        columns["period"] = pa.array([row.period for row in self.rows], pa.date32())
        columns["label"] = [row.label for row in self.rows]
        for name in ("value", "ci_low", "ci_high", "se"):
            columns[name] = [getattr(row.result, name) for row in self.rows]
        columns["n"] = pa.array([row.result.n for row in self.rows], pa.int64())
        columns["effective_n"] = [row.result.effective_n for row in self.rows]
        columns["status"] = [row.status for row in self.rows]
        for name in ("change", "change_low", "change_high", "change_p"):
            columns[name] = [getattr(row, name) for row in self.rows]
        columns["change_status"] = [row.change_status for row in self.rows]
        return pa.table(columns)

    def to_pandas(self) -> Any:
        """As :meth:`to_arrow`, converted to pandas (needs the ``pandas`` extra)."""
        return to_pandas(self.to_arrow())

    def to_polars(self) -> Any:
        """As :meth:`to_arrow`, converted to polars (needs the ``polars`` extra)."""
        return to_polars(self.to_arrow())

    def plot(self, ax: Any = None, **options: Any) -> Any:
        """A line with its interval band per segment, significant changes marked (needs the
        ``plot`` extra); returns the matplotlib Axes (or the Figure of small multiples)."""
        from ._plot import plot_trend

        return plot_trend(self, ax=ax, **options)

    def __repr__(self) -> str:
        head = (f"TrendResult({self.metric} every {self.every}"
                f"{', window ' + str(self.window) if self.window > 1 else ''}"
                f"{', by ' + str(list(self.by)) if self.by else ''}, {len(self.rows)} rows)")
        lines = [head] + [f"  {row}" for row in self.rows[:24]]
        if len(self.rows) > 24:
            lines.append(f"  ... {len(self.rows) - 24} more")
        return "\n".join(lines)


def trend(
    data: object,
    metric: str = "nps",
    score: str | None = None,
    *,
    time: Any,
    every: Every = "month",
    by: Any = None,
    weight: Any = None,
    window: int | None = None,
    ci: str | None = "auto",
    confidence: float = 0.95,
    min_n: float | None = None,
    change_ci: CompareMethod = "wald",
    n_resamples: int = N_RESAMPLES,
    bootstrap: str = "bca",
    seed: int | None = None,
    on_invalid: str = "raise",
    **metric_options: Any,
) -> TrendResult:
    """``metric`` per period of ``time`` (and per segment of ``by``), in one pass over the rows.

    ``time``: a date32/date64/timestamp column (a column name when ``data`` is a table);
    zoned timestamps are read in their zone's calendar. ``every``: ``"day"``, ``"week"`` (ISO
    weeks, Monday first), ``"month"``, ``"quarter"`` or ``"year"``. ``window=k``: rolling
    k-period figures (the periods' tallies added exactly). ``ci="auto"`` is the metric's own
    default. ``min_n`` flags rows whose effective n is below it (status ``"small-base"``), and
    no change is tested for them. Each row's change is tested against the previous period (with
    a window, the window just before, which shares no period): its interval by ``change_ci``,
    its p-value by the pooled z-test of :func:`compare`; periods of different respondents are
    independent, a panel of the same people is not.
    ``metric_options`` go to the metric (``scale=``, ``top=``, ``statistic=``, …).
    """
    check_every(every)
    k = 1 if window is None else window
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ArgumentError(f"window must be a positive int or None, got {window!r}")
    min_n = check_min_n(min_n)
    if change_ci not in _native.COMPARE_METHODS:
        raise ArgumentError(f"change_ci must be one of {', '.join(_native.COMPARE_METHODS)}, "
                            f"got {change_ci!r}")
    definition, default_ci = definition_of(metric, metric_options)
    ci = default_ci if ci == "auto" else ci
    _engine.check_options(ci, confidence, on_invalid, bootstrap, n_resamples)
    used_seed = None
    if ci in ("bootstrap", "bayes"):
        used_seed = _engine.fresh_seed() if seed is None else _engine.check_seed(seed)

    table = _inputs.as_table(data)
    source = data if table is None else table
    if table is not None and (not isinstance(time, str) or time not in table.column_names):
        raise ColumnError(f"time: no column {time!r}; the table has {table.column_names}",
                          column=str(time))
    if by is None:
        by_list = []
    elif table is not None:  # column names: one, or a list of them
        by_list = [by] if isinstance(by, str) else list(by)
    else:
        by_list = [by] if _inputs._is_single_column(by) else list(by)
    columns = _inputs.resolve_columns(source, score, [*by_list, time], weight)
    time_name = columns.key_names[-1] if table is None else str(time)
    periods_col = period_column(columns.keys[-1], every, time_name)
    columns = dataclasses.replace(columns, keys=(*columns.keys[:-1], periods_col))
    by_names = columns.key_names[:-1]
    agg = _engine.aggregate(definition, columns, on_invalid)

    # The aggregation's groups, in result order (keys ascending, nulls last).
    groups_batch, _ = agg.estimate(definition.native,
                                   _engine.internal_key_names(columns.key_names), None,
                                   float(confidence))
    keys = groups_batch.to_pydict()
    n_keys = len(columns.key_names)
    names = _engine.internal_key_names(columns.key_names)
    segment_of = list(zip(*(keys[name] for name in names[:-1]), strict=True)) if n_keys > 1 \
        else [()] * groups_batch.num_rows
    period_of: list[dt.date | None] = keys[names[-1]]
    counts = [n + m + i for n, m, i in zip(keys["n"], keys["n_missing"], keys["n_invalid"],
                                           strict=True)]
    index: dict[tuple[tuple[Any, ...], dt.date], int] = {}
    without_time = 0
    for g, (seg, period) in enumerate(zip(segment_of, period_of, strict=True)):
        if period is None:
            without_time += counts[g]
        else:
            index[(tuple(seg), period)] = g
    dated = [p for p in period_of if p is not None]
    periods = period_range(min(dated), max(dated), every) if dated else []
    segments = list(dict.fromkeys(tuple(s) for s, p in zip(segment_of, period_of, strict=True)
                                  if p is not None))

    in_period: dict[dt.date, list[int]] = {}
    for (_, period), g in index.items():
        in_period.setdefault(period, []).append(g)

    def window_members(seg: tuple[Any, ...] | None, t: int) -> list[int]:
        span = periods[max(0, t - k + 1):t + 1]
        if seg is not None:
            return [index[(seg, p)] for p in span if (seg, p) in index]
        return sorted(g for p in span for g in in_period.get(p, []))

    series: list[tuple[tuple[Any, ...] | None, int]] = [(s, t) for s in segments
                                                        for t in range(len(periods))]
    if by_names:
        series += [(None, t) for t in range(len(periods))]
    labels = [(*(s or ()), periods[t]) for s, t in series]
    estimates = estimate_unions(agg, definition, [window_members(s, t) for s, t in series],
                                labels, ci=ci, confidence=float(confidence),
                                bootstrap=bootstrap, n_resamples=n_resamples, seed=used_seed,
                                origin=_origin(periods, k, len(by_names)))
    set_statuses(estimates, [_status(e, min_n, partial=t < k - 1)
                             for e, (_, t) in zip(estimates, series, strict=True)])
    by_position = {key: e for key, e in zip(series, estimates, strict=True)}
    rows: list[TrendRow] = []
    overall: list[TrendRow] = []
    for (which, t), estimate in zip(series, estimates, strict=True):
        previous = by_position.get((which, t - k)) if t >= k else None
        row = _row(which or (), periods[t], every, estimate, previous, change_ci,
                   float(confidence))
        (overall if which is None else rows).append(row)
    if not by_names:
        overall = []
    members = [window_members(s, t) for s, t in series if s is not None]
    tallies = TrendTallies(agg, definition, members,
                           [window_members(None, t) for t in range(len(periods))])
    return TrendResult(metric=definition.name, time=time_name, every=every, by=by_names,
                       window=k, confidence=float(confidence),
                       method=estimates[0].method if estimates else ci, min_n=min_n,
                       periods=periods, rows=rows, overall=overall,
                       n_without_time=without_time, tallies=tallies)


def _status(result: MetricResult, min_n: float | None, *, partial: bool) -> str:
    """As :func:`status_of`; a window that starts before the first period is
    ``"partial-window"``."""
    status = status_of(result, min_n)
    return "partial-window" if partial and status == "ok" else status


def _row(segment: tuple[Any, ...], period: dt.date, every: str, result: MetricResult,
         previous: MetricResult | None, change_ci: CompareMethod, confidence: float
         ) -> TrendRow:
    nan = math.nan
    label = period_label(period, every)
    if previous is None:
        return TrendRow(segment, period, label, result, None, nan, nan, nan, nan, "first")
    statuses = (result.status, previous.status)
    worst = next((s for s in ("empty", "small-base", "partial-window") if s in statuses), "ok")
    if worst != "ok":
        return TrendRow(segment, period, label, result, previous, nan, nan, nan, nan, worst)
    if change_ci == "bootstrap":
        c = compare(result, previous, ci=change_ci, confidence=confidence)
        value, low, high, p = c.difference, c.ci_low, c.ci_high, c.p_value
    else:
        # The periods of one trend are one metric and disjoint: compare()'s checks hold.
        value, _, low, high, _, p, _ = difference(result, previous, change_ci, confidence)
    # Every answer alike in both periods: no variance, even pooled, and no test is possible.
    status = "zero-variance" if math.isnan(p) else "ok"
    return TrendRow(segment, period, label, result, previous, value, low, high, p, status)

