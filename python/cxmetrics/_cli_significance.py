"""``cxmetrics significance FILE --score COL --by COL --against rest|previous|pairs
--adjust holm``: which segments differ, with multiple-comparison control."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Callable
from typing import Any

from ._cli_common import add_filter_option, load_input, note_seed

__all__ = ["add_significance_command"]


def add_significance_command(commands: Any, metrics: tuple[str, ...],
                             formats: tuple[str, ...]) -> None:
    sig = commands.add_parser(
        "significance",
        help="test segments against the rest, each other or the previous one",
        description=("Tests every segment of --by against the rest of the respondents "
                     "(or every pair, or the previous segment) and adjusts the p-values "
                     "for the family. FILE is CSV or Parquet; '-' reads CSV from stdin."),
    )
    sig.add_argument("file", nargs="?", metavar="FILE", help="CSV or Parquet file, or -")
    sig.add_argument("--sample", action="store_true", help="use the bundled sample survey")
    sig.add_argument("--score", metavar="COL", help="column of scores (sample: the metric's)")
    sig.add_argument("--by", nargs="+", action="extend", metavar="COL", required=True,
                     help="segment columns")
    sig.add_argument("--weight", metavar="COL", help="column of survey weights")
    sig.add_argument("--metric", choices=metrics, default="nps", help="default: nps")
    sig.add_argument("--against", choices=("rest", "previous", "pairs"), default="rest")
    sig.add_argument("--adjust", choices=("holm", "bonferroni", "bh", "by", "none"),
                     default="holm", help="multiple-comparison adjustment (default: holm)")
    sig.add_argument("--alpha", type=float, default=0.05)
    sig.add_argument("--alternative", choices=("two-sided", "greater", "less"),
                     default="two-sided")
    sig.add_argument("--min-n", type=float, default=30.0, metavar="N",
                     help="groups with effective n below N are not tested (default: 30)")
    sig.add_argument("--format", choices=formats, default="table")
    sig.add_argument("--plot", metavar="OUT",
                     help="also draw the segments' chart to OUT (.png or .svg)")
    add_filter_option(sig)
    sig.set_defaults(run=run_significance)


def run_significance(args: argparse.Namespace) -> str:
    import cxmetrics as cx

    from ._registry import definition_of
    from .cli import CliError

    if args.sample == bool(args.file):
        raise CliError("give a FILE (or - for stdin), or --sample")
    score = args.score or (args.metric if args.sample else None)
    if score is None:
        raise CliError("--score COL is required with FILE")
    by = [name for item in args.by for name in item.split(",") if name]
    table, source = load_input(args, [score, *by, *filter(None, [args.weight])], CliError)
    functions: dict[str, Callable[..., Any]] = {
        "nps": cx.nps, "csat": cx.csat, "ces": cx.ces, "top_box": cx.top_box,
        "bottom_box": cx.bottom_box, "mean": cx.mean_score}
    func = functions[args.metric]
    definition_of(args.metric, {})  # the metric exists with its defaults
    result = func(table, score=score, by=by, weight=args.weight, min_n=args.min_n)
    note_seed(result, "significance")
    family = cx.significance(result, against=args.against,
                             adjust=None if args.adjust == "none" else args.adjust,
                             alpha=args.alpha, alternative=args.alternative, min_n=args.min_n)
    if args.plot:
        from ._plot import save

        save(result.plot(), args.plot)
    records = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()} for row in family.to_arrow().to_pylist()]
    if args.format == "json":
        return json.dumps({"family": family.family, "family_size": family.family_size,
                           "metric": family.metric, "by": by, "against": family.against,
                           "adjust": family.adjust, "alpha": family.alpha, "source": source,
                           "tests": records}, indent=2, allow_nan=False) + "\n"
    if args.format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = family.to_arrow().column_names
        writer.writerow(names)
        for record in records:
            writer.writerow(["" if record[n] is None else record[n] for n in names])
        return buffer.getvalue()
    return _table(family, source)


def _table(family: Any, source: str) -> str:
    def num(x: float, fmt: str = ".1f") -> str:
        return "-" if math.isnan(x) else format(x, fmt)

    header = ["a", "b", "difference", f"{family.confidence:.0%} CI", "p", "adjusted p",
              "significant", "status"]
    body = [[str(row["a"]), str(row["b"]), num(t.difference, "+.1f"),
             "-" if math.isnan(t.ci_low) else f"[{num(t.ci_low)}, {num(t.ci_high)}]",
             num(t.p_value, ".3g"), num(t.p_adjusted, ".3g"), "yes" if t.significant else "",
             t.status]
            for t, row in zip(family, family.to_arrow().to_pylist(), strict=True)]
    widths = [max(len(c) for c in column) for column in zip(header, *body, strict=True)]

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    lines = [f"{family.family} - {source}", "", render(header),
             "  ".join("-" * w for w in widths)]
    lines += [render(line) for line in body]
    return "\n".join(lines) + "\n"
