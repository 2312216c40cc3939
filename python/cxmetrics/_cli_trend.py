"""``cxmetrics trend FILE --score COL --time COL --every month [--by COL ...] [--window k]``."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from typing import Any

from ._cli_common import add_filter_option, load_input, note_seed

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
    trend.add_argument("file", nargs="?", metavar="FILE", help="CSV or Parquet file, or -")
    trend.add_argument("--sample", action="store_true", help="use the bundled sample survey")
    trend.add_argument("--score", metavar="COL", help="column of scores (sample: the metric's)")
    trend.add_argument("--time", metavar="COL", help="date or timestamp column (sample: submitted)")
    trend.add_argument("--every", choices=("day", "week", "month", "quarter", "year"),
                       default="month", help="period length (default: month; weeks are ISO)")
    trend.add_argument("--by", nargs="*", action="extend", metavar="COL", default=None,
                       help="segment by these columns")
    trend.add_argument("--weight", metavar="COL", help="column of survey weights")
    trend.add_argument("--window", type=int, metavar="K", help="rolling K-period figures")
    trend.add_argument("--metric", choices=metrics, default="nps", help="default: nps")
    trend.add_argument("--ci", choices=ci_methods, metavar="METHOD",
                       help=f"one of {', '.join(ci_methods)} (default: the metric's)")
    trend.add_argument("--confidence", type=float, default=0.95)
    trend.add_argument("--min-n", type=float, metavar="N",
                       help="flag periods whose effective n is below N (no change tested)")
    trend.add_argument("--seed", type=int, help="seed for resampling intervals")
    trend.add_argument("--format", choices=formats, default="table")
    trend.add_argument("--plot", metavar="OUT", help="also draw the chart to OUT (.png or .svg)")
    add_filter_option(trend)
    trend.set_defaults(run=run_trend)


def run_trend(args: argparse.Namespace) -> str:
    import cxmetrics as cx

    from .cli import CliError

    if args.sample == bool(args.file):
        raise CliError("give a FILE (or - for stdin), or --sample")
    score = args.score or (args.metric if args.sample else None)
    time = args.time or ("submitted" if args.sample else None)
    if score is None or time is None:
        raise CliError("--score COL and --time COL are required with FILE")
    by = [name for item in (args.by or []) for name in item.split(",") if name]
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
    if args.plot:
        from ._plot import save

        save(result.plot(), args.plot)
    if args.format == "json":
        return _json(result, source)
    if args.format == "csv":
        return _csv(result)
    return _table(result, source, score)


def _number(x: float, decimals: int = 1) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:,.{decimals}f}"


def _plain(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x.isoformat() if hasattr(x, "isoformat") else x


def _records(result: Any) -> list[dict[str, Any]]:
    rows = result.to_arrow().to_pylist()
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _json(result: Any, source: str) -> str:
    doc = {"metric": result.metric, "time": result.time, "every": result.every,
           "window": result.window, "by": list(result.by), "source": source,
           "confidence": result.confidence, "method": result.method,
           "rows_without_time": result.n_without_time, "rows": _records(result)}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def _csv(result: Any) -> str:
    buffer = io.StringIO()
    records = _records(result)
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(result.to_arrow().column_names)
    writer.writerow(names)
    for record in records:
        writer.writerow(["" if record[n] is None else record[n] for n in names])
    return buffer.getvalue()


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
    widths = [max(len(c) for c in column) for column in zip(header, *body, strict=True)]
    keys = len(result.by) + 1

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < keys else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    window = f", rolling {result.window}" if result.window > 1 else ""
    caption = (f"{result.metric.upper()} of {score!r} by {result.time!r}, every {result.every}"
               f"{window}"
               f"{' by ' + ', '.join(result.by) if result.by else ''}, "
               f"{result.confidence:.0%} CI ({result.method}) - {source}")
    if result.n_without_time:
        caption += f"; {result.n_without_time:,} rows without a time left out"
    lines = [caption, "", render(header), "  ".join("-" * w for w in widths)]
    lines += [render(line) for line in body]
    return "\n".join(lines) + "\n"
