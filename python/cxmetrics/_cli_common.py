"""Options shared by the CLI's subcommands: reading FILE (or ``-`` for stdin), ``--filter
COL=VALUE`` and the note that tells which seed a resampling run used."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["add_filter_option", "apply_filters", "load_input", "note_seed"]


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
