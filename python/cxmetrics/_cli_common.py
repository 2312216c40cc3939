"""What the CLI's analysis subcommands share: the options naming the input and the metric
(FILE or ``-`` for stdin, ``--sample``, ``--score``, ``--weight``, ``--metric``, ``--format``,
``--plot``, ``--filter COL=VALUE``), reading that input, the note that tells which seed a
resampling run used, and the CSV, JSON-ready and aligned-table forms of a result's rows."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["add_filter_option", "add_input_options", "apply_filters", "csv_text", "load_input",
           "note_seed", "plain_records", "render_table", "save_plot", "score_column",
           "split_names"]


def add_input_options(parser: Any, metrics: tuple[str, ...], formats: tuple[str, ...]) -> None:
    """FILE, ``--sample``, ``--score``, ``--weight``, ``--metric``, ``--format``, ``--plot``
    and ``--filter``: the options of a subcommand that runs a metric over a file."""
    parser.add_argument("file", nargs="?", metavar="FILE", help="CSV or Parquet file, or -")
    parser.add_argument("--sample", action="store_true", help="use the bundled sample survey")
    parser.add_argument("--score", metavar="COL",
                        help="column of scores (sample: the metric's)")
    parser.add_argument("--weight", metavar="COL", help="column of survey weights")
    parser.add_argument("--metric", choices=metrics, default="nps", help="default: nps")
    parser.add_argument("--format", choices=formats, default="table")
    parser.add_argument("--plot", metavar="OUT", help="also draw the chart to OUT (.png or .svg)")
    add_filter_option(parser)


def score_column(args: argparse.Namespace, error: type[Exception]) -> str | None:
    """The score column: ``--score``, or on the sample survey the metric's own column; refuses
    both FILE and ``--sample`` (or neither)."""
    if args.sample == bool(args.file):
        raise error("give a FILE (or - for stdin), or --sample")
    return args.score or (args.metric if args.sample else None)


def split_names(items: Sequence[str] | None) -> list[str]:
    """Column names given as repeated and/or comma-separated arguments."""
    return [name for item in (items or []) for name in item.split(",") if name]


def save_plot(args: argparse.Namespace, chart: Any) -> None:
    """Draws ``chart()`` to ``--plot OUT`` when it is given."""
    if args.plot:
        from ._plot import save

        save(chart(), args.plot)


def add_filter_option(group: Any) -> None:
    group.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="COL=VALUE",
        help="keep only rows whose COL equals VALUE (repeat to combine; compared as text)",
    )


def load_input(args: argparse.Namespace, needed: Sequence[str], error: type[Exception]) -> Any:
    """The input table: the sample survey, FILE, or CSV read from stdin for ``-``; filtered."""
    from .cli import read_table

    if getattr(args, "sample", False):
        from .datasets import sample_survey

        table, source = sample_survey(), "sample survey"
    elif args.file == "-":
        import pyarrow.csv as pcsv

        data = sys.stdin.buffer.read()
        convert = pcsv.ConvertOptions(strings_can_be_null=True)
        table = pcsv.read_csv(io.BytesIO(data), convert_options=convert)
        source = "stdin"
    else:
        filter_columns = [item.split("=", 1)[0] for item in getattr(args, "filter", [])]
        table = read_table(args.file, [*needed, *filter_columns])
        source = str(args.file)
    return apply_filters(table, getattr(args, "filter", []), error), source


def apply_filters(table: pa.Table, filters: Sequence[str], error: type[Exception]) -> pa.Table:
    """Rows where every ``COL=VALUE`` holds (the column's values compared as text)."""
    for item in filters:
        if "=" not in item:
            raise error(f"--filter {item!r}: expected COL=VALUE")
        column, value = item.split("=", 1)
        if column not in table.column_names:
            raise error(f"--filter {item!r}: no column {column!r}; columns are "
                        f"{table.column_names}")
        as_text = table[column].cast(pa.string())
        table = table.filter(pc.fill_null(pc.equal(as_text, value), False))
    return table


def note_seed(result: Any, command: str) -> None:
    """Prints the seed of a resampling run to stderr, so the run can be repeated exactly."""
    seed = getattr(result, "seed", None)
    if seed is None:
        overall = getattr(result, "overall", None)
        seed = getattr(overall, "seed", None)
    if seed is not None:
        print(f"cxmetrics {command}: resampling seed {seed} (pass --seed {seed} to repeat)",
              file=sys.stderr)


def plain_records(table: pa.Table) -> list[dict[str, Any]]:
    """A result table's rows, JSON-ready: non-finite floats as None, dates in ISO form."""
    def plain(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x.isoformat() if hasattr(x, "isoformat") else x

    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]


def csv_text(table: pa.Table) -> str:
    """A result table as CSV (missing values empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = list(table.column_names)
    writer.writerow(names)
    for record in plain_records(table):
        writer.writerow(["" if record[n] is None else record[n] for n in names])
    return buffer.getvalue()


def render_table(header: list[str], body: list[list[str]], left: int) -> list[str]:
    """Aligned text lines: the header, a rule, then the body; the first ``left`` columns are
    left-aligned, the rest right-aligned."""
    widths = [max(len(c) for c in column) for column in zip(header, *body, strict=True)]

    def render(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [render(header), "  ".join("-" * w for w in widths), *(render(r) for r in body)]
