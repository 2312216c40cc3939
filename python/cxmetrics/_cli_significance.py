"""``cxmetrics significance FILE --score COL --by COL --against rest|previous|pairs
--adjust holm``: which segments differ, with multiple-comparison control."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, get_args

from ._adjust import AdjustMethod
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
from ._compare import Alternative
from ._registry import DEFAULT_MIN_N
from ._significance import Against

__all__ = ["add_significance_command"]

# The adjustments by their short names (the API's aliases fdr_bh/fdr_by are left out).
_ADJUST_CHOICES = tuple(m for m in get_args(AdjustMethod) if not m.startswith("fdr_"))


def add_significance_command(commands: Any, metrics: tuple[str, ...],
                             formats: tuple[str, ...]) -> None:
    sig = commands.add_parser(
        "significance",
        help="test segments against the rest, each other or the previous one",
        description=("Tests every segment of --by against the rest of the respondents "
                     "(or every pair, or the previous segment) and adjusts the p-values "
                     "for the family. FILE is CSV or Parquet; '-' reads CSV from stdin."),
    )
    add_input_options(sig, metrics, formats)
    sig.add_argument("--by", nargs="+", action="extend", metavar="COL", required=True,
                     help="segment columns")
    sig.add_argument("--against", choices=get_args(Against), default="rest")
    sig.add_argument("--adjust", choices=(*_ADJUST_CHOICES, "none"),
                     default="holm", help="multiple-comparison adjustment (default: holm)")
    sig.add_argument("--alpha", type=float, default=0.05)
    sig.add_argument("--alternative", choices=get_args(Alternative), default="two-sided")
    sig.add_argument("--min-n", type=float, default=float(DEFAULT_MIN_N), metavar="N",
                     help=f"groups with effective n below N are not tested "
                          f"(default: {DEFAULT_MIN_N})")
    sig.set_defaults(run=run_significance)


def run_significance(args: argparse.Namespace) -> str:
    import cxmetrics as cx

    from ._registry import FUNCTIONS
    from .cli import CliError

    score = score_column(args, CliError)
    if score is None:
        raise CliError("--score COL is required with FILE")
    by = split_names(args.by)
    table, source = load_input(args, [score, *by, *filter(None, [args.weight])], CliError)
    func = getattr(cx, FUNCTIONS[args.metric])
    result = func(table, score=score, by=by, weight=args.weight, min_n=args.min_n)
    note_seed(result, "significance")
    family = cx.significance(result, against=args.against,
                             adjust=None if args.adjust == "none" else args.adjust,
                             alpha=args.alpha, alternative=args.alternative, min_n=args.min_n)
    save_plot(args, result.plot)
    if args.format == "json":
        return json.dumps({"family": family.family, "family_size": family.family_size,
                           "metric": family.metric, "by": by, "against": family.against,
                           "adjust": family.adjust, "alpha": family.alpha, "source": source,
                           "tests": plain_records(family.to_arrow())}, indent=2,
                          allow_nan=False) + "\n"
    if args.format == "csv":
        return csv_text(family.to_arrow())
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
    lines = [f"{family.family} - {source}", "", *render_table(header, body, 2)]
    return "\n".join(lines) + "\n"
