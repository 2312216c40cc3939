"""``cxmetrics drivers``: key driver analysis of a CSV/Parquet file (or the sample survey)."""

from __future__ import annotations

import argparse
from typing import Any

from ._drivers import BOOTSTRAPS, DEFAULT_BOOTSTRAP
from ._registry import DEFAULT_MIN_N

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    """Registers the ``drivers`` subcommand on the CLI's subparsers."""
    p = commands.add_parser(
        "drivers",
        help="key driver analysis: which attributes move an outcome, with intervals",
        description=(
            "Importance of each driver for the outcome (share of R²), per segment, with "
            "bootstrap intervals (percentile by default). FILE is CSV/TSV or Parquet."
        ),
    )
    p.set_defaults(run=run)
    p.add_argument("file", nargs="?", metavar="FILE", help="CSV or Parquet file")
    p.add_argument("--sample", action="store_true",
                   help="use the bundled sample survey (defaults: --outcome nps --drivers "
                        "product delivery support price app)")
    p.add_argument("--outcome", metavar="COL", help="outcome column (e.g. the 0-10 likelihood)")
    p.add_argument("--bucket", metavar="NAME",
                   help="model a 0-10 bucket instead of the score: promoter or detractor")
    p.add_argument("--drivers", nargs="+", metavar="COL", help="driver columns")
    p.add_argument("--by", nargs="*", action="extend", metavar="COL", help="segment columns")
    p.add_argument("--weight", metavar="COL", help="column of survey weights")
    p.add_argument("--method", choices=("relative-weights", "shapley"),
                   default="relative-weights", help="default: relative-weights")
    p.add_argument("--no-ci", action="store_true", help="skip the bootstrap intervals")
    p.add_argument("--bootstrap", choices=BOOTSTRAPS, default=DEFAULT_BOOTSTRAP,
                   help=f"which bootstrap interval (default: {DEFAULT_BOOTSTRAP})")
    p.add_argument("--n-resamples", type=int, default=1000, metavar="N",
                   help="bootstrap replicates (default: 1000)")
    p.add_argument("--seed", type=int, help="seed, for reproducible intervals")
    p.add_argument("--min-n", type=int, default=DEFAULT_MIN_N, metavar="N",
                   help=f"segments with fewer rows get no estimate (default: {DEFAULT_MIN_N})")
    p.add_argument("--format", choices=("table", "csv"), default="table", help="default: table")


_SAMPLE_DRIVERS = ["product", "delivery", "support", "price", "app"]


def run(args: argparse.Namespace) -> str:
    """The text output of one ``drivers`` run (raises the API's errors on bad input)."""
    import cxmetrics as cx

    from .cli import CliError, read_table

    if args.sample == (args.file is not None):
        raise CliError("give either FILE or --sample")
    outcome = args.outcome or ("nps" if args.sample else None)
    drivers = args.drivers or (_SAMPLE_DRIVERS if args.sample else None)
    if outcome is None or not drivers:
        raise CliError("--outcome and --drivers are required with a FILE")
    by = args.by or []
    columns = [outcome, *drivers, *by, *([args.weight] if args.weight else [])]
    table = cx.datasets.sample_survey() if args.sample else read_table(args.file, columns)
    res = cx.drivers(
        table, outcome, drivers, method=args.method, bucket=args.bucket, weight=args.weight,
        by=by or None, ci=None if args.no_ci else "bootstrap", n_resamples=args.n_resamples,
        seed=args.seed, min_n=args.min_n, bootstrap=args.bootstrap,
    )
    headers = [*by, "driver", "importance", "share %", "sign", "95% CI", "R²", "n", "dropped"]
    rows = []
    for r in res:
        ci = "" if r.ci_low != r.ci_low else f"[{r.ci_low:.3f}, {r.ci_high:.3f}]"
        sign = {1: "+", -1: "-", 0: "0"}.get(r.sign, "") if r.sign is not None else ""
        rows.append([*("(null)" if k is None else str(k) for k in r.segment), r.driver,
                     f"{r.importance:.3f}", f"{r.rescaled:.1f}", sign, ci, f"{r.r2:.3f}",
                     f"{r.n:,}", f"{r.n_dropped:,}"])
    if args.format == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        # The interval's bounds as two numeric columns (the table shows them as one).
        writer.writerow([*by, "driver", "importance", "share %", "sign", "ci_low", "ci_high",
                         "R²", "n", "dropped"])
        for r in res:
            writer.writerow([*r.segment, r.driver, r.importance, r.rescaled, r.sign, r.ci_low,
                             r.ci_high, r.r2, r.n, r.n_dropped])
        return buf.getvalue()
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    what = f"{args.bucket} ({outcome})" if args.bucket else repr(outcome)
    title = f"Key drivers of {what}, {args.method}" + (f" by {', '.join(by)}" if by else "")
    lines = [title, "", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    notes = sorted({r.note for r in res if r.note})
    lines += ["", *(f"note: {n}" for n in notes)] if notes else []
    return "\n".join(lines) + "\n"
