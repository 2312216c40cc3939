"""``cxmetrics trend FILE --score COL --time COL --every month [--by COL ...] [--window k]``."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, get_args

from ._cli_common import (
    add_input_options,
    csv_text,
    load_input,
    note_seed,
    plain_records,
    render_table,
    save_plot,
    score_column,
    split_names,
)
from ._periods import Every

__all__ = ["add_trend_command"]


def add_trend_command(commands: Any, metrics: tuple[str, ...], ci_methods: tuple[str, ...],
                      formats: tuple[str, ...]) -> None:
    trend = commands.add_parser(
        "trend",
        help="a metric per period (and segment), with the change from the previous period",
        description=("One row per (segment, period) with its interval, and the change from "
                     "the previous period with its interval and p-value. FILE is CSV or "
                     "Parquet; '-' reads CSV from stdin."),
    )
    add_input_options(trend, metrics, formats)
    trend.add_argument("--time", metavar="COL", help="date or timestamp column (sample: submitted)")
    trend.add_argument("--every", choices=get_args(Every),
                       default="month", help="period length (default: month; weeks are ISO)")
    trend.add_argument("--by", nargs="*", action="extend", metavar="COL", default=None,
                       help="segment by these columns")
    trend.add_argument("--window", type=int, metavar="K", help="rolling K-period figures")
    trend.add_argument("--ci", choices=ci_methods, metavar="METHOD",
                       help=f"one of {', '.join(ci_methods)} (default: the metric's)")
    trend.add_argument("--confidence", type=float, default=0.95)
    trend.add_argument("--min-n", type=float, metavar="N",
                       help="flag periods whose effective n is below N (no change tested)")
    trend.add_argument("--seed", type=int, help="seed for resampling intervals")
    trend.set_defaults(run=run_trend)


def run_trend(args: argparse.Namespace) -> str:
    import cxmetrics as cx

    from .cli import CliError

    score = score_column(args, CliError)
    time = args.time or ("submitted" if args.sample else None)
    if score is None or time is None:
        raise CliError("--score COL and --time COL are required with FILE")
    by = split_names(args.by)
    table, source = load_input(args, [score, time, *by, *filter(None, [args.weight])], CliError)
    options: dict[str, Any] = {}
    if args.ci is not None:
        options["ci"] = None if args.ci == "none" else args.ci
    if args.seed is not None:
        options["seed"] = args.seed
    result = cx.trend(table, args.metric, score, time=time, every=args.every, by=by or None,
                      weight=args.weight, window=args.window, confidence=args.confidence,
                      min_n=args.min_n, **options)
    if result.rows:
        note_seed(result.rows[0].result, "trend")
    save_plot(args, result.plot)
    if args.format == "json":
        return _json(result, source)
    if args.format == "csv":
        return csv_text(result.to_arrow())
    return _table(result, source, score)


def _number(x: float, decimals: int = 1) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:,.{decimals}f}"


def _json(result: Any, source: str) -> str:
    doc = {"metric": result.metric, "time": result.time, "every": result.every,
           "window": result.window, "by": list(result.by), "source": source,
           "confidence": result.confidence, "method": result.method,
           "rows_without_time": result.n_without_time,
           "rows": plain_records(result.to_arrow())}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _table(result: Any, source: str, score: str) -> str:
    header = [*result.by, "period", "n", result.metric.upper(),
              f"{result.confidence:.0%} CI", "change", "change CI", "p", "status"]
    body = []
    for row in result:
        ci = "-" if math.isnan(row.ci_low) else (
            f"[{_number(row.ci_low)}, {_number(row.ci_high)}]")
        change_ci = "-" if math.isnan(row.change_low) else (
            f"[{_number(row.change_low)}, {_number(row.change_high)}]")
        p = "-" if math.isnan(row.change_p) else f"{row.change_p:.3g}"
        status = row.status if row.change_status in ("ok", "first") else (
            f"{row.status}; change: {row.change_status}")
        body.append([*("(null)" if k is None else str(k) for k in row.segment), row.label,
                     f"{row.n:,}", _number(row.value), ci,
                     "-" if math.isnan(row.change) else f"{row.change:+.1f}", change_ci, p,
                     status])
    window = f", rolling {result.window}" if result.window > 1 else ""
    caption = (f"{result.metric.upper()} of {score!r} by {result.time!r}, every {result.every}"
               f"{window}"
               f"{' by ' + ', '.join(result.by) if result.by else ''}, "
               f"{result.confidence:.0%} CI ({result.method}) - {source}")
    if result.n_without_time:
        caption += f"; {result.n_without_time:,} rows without a time left out"
    lines = [caption, "", *render_table(header, body, len(result.by) + 1)]
    return "\n".join(lines) + "\n"
