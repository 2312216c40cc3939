"""The ``cxmetrics`` command line: ``cxmetrics report FILE --score COL [--by COL ...]``.

Reads a CSV or Parquet file (or the bundled sample survey with ``--sample``), computes one metric
per segment through the public API and prints a table, CSV or JSON. Errors in the input print one
line to stderr and exit with status 2; see ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa

import cxmetrics as cx
from cxmetrics import _cli_drivers, _native
from cxmetrics._cli_common import add_filter_option, load_input, note_seed
from cxmetrics._cli_significance import add_significance_command
from cxmetrics._cli_trend import add_trend_command
from cxmetrics._registry import BOX_POINTS, METRICS
from cxmetrics._report import ReportSpec, format_csv, format_json, format_table, report_rows

__all__ = ["main"]

# The option vocabulary is the binding's (rust/python/src/options.rs); "none" is the CLI's None.
CI_METHODS = ("none", *_native.CI_METHODS)
BOOTSTRAP_METHODS = tuple(_native.BOOTSTRAP_METHODS)
FORMATS = ("table", "csv", "json")

# Scales of the sample survey's score columns, so --sample works with every metric unaided.
_SAMPLE_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
_SAMPLE_DEFAULT_BY = ("region",)

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")


class CliError(Exception):
    """A user error the CLI reports as one line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    # argparse exits on usage errors; raise instead so main() always returns a status.
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CliError(f"{self.prog}: error: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cxmetrics",
        description="Customer-experience survey metrics with honest uncertainty.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    report = commands.add_parser(
        "report",
        help="compute a metric per segment from a CSV/Parquet file or the sample survey",
        description=(
            "Compute one metric per segment (plus the overall value) with a confidence interval. "
            "FILE is read by extension: .csv/.tsv (optionally .gz, .bz2, .zst) or .parquet."
        ),
    )
    source = report.add_argument_group("input")
    source.add_argument("file", nargs="?", metavar="FILE", help="CSV or Parquet file")
    source.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled sample survey (defaults: --score <metric's column> --by region)",
    )
    source.add_argument("--score", metavar="COL", help="column holding the scores")
    source.add_argument(
        "--by",
        nargs="*",
        action="extend",
        metavar="COL",
        help="segment by these columns (repeat or list several; '--by' alone: no segments)",
    )
    source.add_argument("--weight", metavar="COL", help="column of survey weights")

    metric = report.add_argument_group("metric")
    metric.add_argument("--metric", choices=METRICS, default="nps", help="default: nps")
    metric.add_argument(
        "--scale",
        nargs=2,
        type=int,
        metavar=("LOW", "HIGH"),
        help="score scale for top_box, bottom_box and mean (default: the API's)",
    )
    metric.add_argument("--top", type=int, metavar="K", help="boxes counted by top_box")
    metric.add_argument("--bottom", type=int, metavar="K", help="boxes counted by bottom_box")
    metric.add_argument(
        "--ces-variant",
        choices=("2.0", "effort"),
        help="CES 2.0 agreement 1-7 (default) or the original 1-5 effort question",
    )
    metric.add_argument(
        "--on-invalid",
        choices=("raise", "drop"),
        help="off-scale scores: fail (default) or drop and count them",
    )

    interval = report.add_argument_group("interval")
    interval.add_argument(
        "--ci", choices=CI_METHODS, metavar="METHOD", help=f"one of {', '.join(CI_METHODS)}"
    )
    interval.add_argument("--confidence", type=float, help="confidence level (default: 0.95)")
    interval.add_argument("--bootstrap", choices=BOOTSTRAP_METHODS, help="bootstrap interval type")
    interval.add_argument("--n-resamples", type=int, metavar="N", help="bootstrap resamples")
    interval.add_argument("--seed", type=int, help="bootstrap seed, for reproducible intervals")

    output = report.add_argument_group("output")
    output.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    output.add_argument("--plot", metavar="OUT", help="also draw the chart to OUT (.png/.svg)")
    add_filter_option(source)
    output.add_argument(
        "--decimals",
        type=int,
        metavar="D",
        help="decimals in the table (default: 1; 2 for means)",
    )
    # Further subcommands live in their own modules (their options, run function and output).
    add_trend_command(commands, METRICS, CI_METHODS, FORMATS)
    add_significance_command(commands, METRICS, FORMATS)
    _cli_drivers.add_parser(commands)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cxmetrics")
    except PackageNotFoundError:
        return "unknown"


def read_table(path: str, columns: Sequence[str] = ()) -> Any:
    """A pyarrow Table from a CSV/TSV or Parquet file, chosen by the file's extension.

    With ``columns``, Parquet reads only those (when they all exist; a missing one is left for
    the metric call to report with the table's real column list).
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    kind = suffixes[-1] if suffixes else ""
    if not os.path.exists(path):
        raise CliError(f"{path}: no such file")
    if kind in _PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        wanted = list(dict.fromkeys(columns))
        names = set(pq.read_schema(path).names)
        return pq.read_table(path, columns=wanted if wanted and names.issuperset(wanted) else None)
    if kind in _CSV_SUFFIXES:
        import pyarrow.csv as pcsv

        parse = pcsv.ParseOptions(delimiter="\t" if kind == ".tsv" else ",")
        # Empty cells in text columns are missing keys, as they are in numeric columns.
        convert = pcsv.ConvertOptions(strings_can_be_null=True)
        table = pcsv.read_csv(path, parse_options=parse, convert_options=convert)
        _refuse_multiline_values(path, table)
        return table
    raise CliError(f"{path}: unknown file type (expected .csv, .tsv or .parquet)")


def _refuse_multiline_values(path: str, table: Any) -> None:
    """Values are read one line each (pyarrow's default), so a text value holding a line break
    means a quote that was never closed swallowed the rows after it: refuse the file."""
    import pyarrow.compute as pc

    for name, column in zip(table.column_names, table.columns, strict=True):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        broken = pc.match_substring_regex(column, r"[\r\n]")
        row = pc.index(broken, True).as_py()
        if row >= 0:
            raise CliError(
                f"{path}: column {name!r}, data row {row} (rows count from 0) runs over "
                "several lines: probably a quote (\") that is never closed; fix the file"
            )


def _looks_like_data_file(name: str) -> bool:
    suffixes = [s.lower() for s in Path(name).suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in _PARQUET_SUFFIXES + _CSV_SUFFIXES


def _metric_call(args: argparse.Namespace) -> tuple[Callable[..., Any], dict[str, Any], str]:
    """The API function, its metric-specific keyword arguments and the value's column label."""
    if args.scale is not None and args.metric not in ("top_box", "bottom_box", "mean"):
        raise CliError("--scale applies to --metric top_box, bottom_box or mean")
    if args.top is not None and args.metric != "top_box":
        raise CliError("--top applies to --metric top_box")
    if args.bottom is not None and args.metric != "bottom_box":
        raise CliError("--bottom applies to --metric bottom_box")
    if args.ces_variant is not None and args.metric != "ces":
        raise CliError("--ces-variant applies to --metric ces")

    kwargs: dict[str, Any] = {}
    scale = args.scale
    scaled_metric = args.metric in ("top_box", "bottom_box", "mean")
    if scale is None and scaled_metric and args.sample and args.score in _SAMPLE_SCALES:
        scale = _SAMPLE_SCALES[args.score]
    if scale is not None:
        low, high = scale
        if low >= high:
            raise CliError(f"--scale {low} {high}: LOW must be below HIGH")
        kwargs["scale"] = cx.Scale(low, high)

    if args.metric == "nps":
        return cx.nps, kwargs, "NPS"
    if args.metric == "csat":
        return cx.csat, kwargs, "CSAT %"
    if args.metric == "ces":
        if args.ces_variant is not None:
            kwargs["variant"] = args.ces_variant
        return cx.ces, kwargs, "CES mean" if args.ces_variant == "effort" else "CES %"
    if args.metric == "top_box":
        if args.top is not None:
            kwargs["top"] = args.top
        return cx.top_box, kwargs, f"top-{args.top or BOX_POINTS} %"
    if args.metric == "bottom_box":
        if args.bottom is not None:
            kwargs["bottom"] = args.bottom
        return cx.bottom_box, kwargs, f"bottom-{args.bottom or BOX_POINTS} %"
    return cx.mean_score, kwargs, "mean"


def _interval_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    # Only what the user set is passed: each metric keeps the API's own defaults otherwise.
    kwargs: dict[str, Any] = {}
    if args.ci is not None:
        kwargs["ci"] = None if args.ci == "none" else args.ci
    if args.confidence is not None:
        if not 0.0 < args.confidence < 1.0:
            raise CliError(f"--confidence must be between 0 and 1, got {args.confidence}")
        kwargs["confidence"] = args.confidence
    if args.bootstrap is not None:
        kwargs["bootstrap"] = args.bootstrap
    if args.n_resamples is not None:
        if args.n_resamples < 1:
            raise CliError(f"--n-resamples must be positive, got {args.n_resamples}")
        kwargs["n_resamples"] = args.n_resamples
    if args.seed is not None:
        kwargs["seed"] = args.seed
    if args.on_invalid is not None:
        kwargs["on_invalid"] = args.on_invalid
    return kwargs


def run_report(args: argparse.Namespace) -> str:
    """Compute the report described by parsed ``report`` arguments and return it as text."""
    if args.file is None and args.by and _looks_like_data_file(args.by[-1]):
        # "--by COL FILE": the greedy --by swallowed the file name; give it back.
        args.file = args.by.pop()
    if args.sample and args.file:
        raise CliError("give either FILE or --sample, not both")
    if not args.sample and not args.file:
        raise CliError("give a FILE to read, or --sample for the bundled sample survey")
    if args.sample and args.score is None:
        # The sample has one column per standard metric; other metrics need a named column.
        if args.metric not in _SAMPLE_SCALES:
            raise CliError(f"--metric {args.metric} needs --score (e.g. --score csat)")
        args.score = args.metric
    if args.score is None:
        raise CliError("--score COL is required with FILE")
    by: list[str] = list(args.by) if args.by is not None else []
    if args.by is None and args.sample:
        by = list(_SAMPLE_DEFAULT_BY)
    # "--by a,b" is accepted as well as "--by a b".
    by = [name for item in by for name in item.split(",") if name]

    if args.decimals is not None and not 0 <= args.decimals <= 10:
        raise CliError(f"--decimals must be between 0 and 10, got {args.decimals}")
    func, kwargs, label = _metric_call(args)
    kwargs.update(_interval_kwargs(args))

    needed = [args.score, *by, *([args.weight] if args.weight else [])]
    table, source = load_input(args, needed, CliError)

    result = func(table, score=args.score, by=by or None, weight=args.weight, **kwargs)
    note_seed(result, "report")
    if args.plot:
        from cxmetrics._plot import save

        if not by:
            raise CliError("--plot draws segments: give --by COL")
        save(result.plot(), args.plot)

    mean_like = args.metric == "mean" or args.ces_variant == "effort"
    decimals = args.decimals if args.decimals is not None else (2 if mean_like else 1)
    spec = ReportSpec(
        metric=args.metric,
        label=label,
        score=args.score,
        by=tuple(by),
        weight=args.weight,
        source=source,
        rows_read=int(table.num_rows),
        decimals=decimals,
    )
    rows = report_rows(result, by)
    if args.format == "json":
        return format_json(rows, spec)
    if args.format == "csv":
        return format_csv(rows, spec)
    return format_table(rows, spec)


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text or type(err).__name__


def _user_errors() -> tuple[type[BaseException], ...]:
    # ValueError covers the API's value errors and pyarrow's ArrowInvalid (bad CSV/Parquet).
    return (cx.CxError, OSError, ValueError, pa.ArrowException)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except CliError as err:
        print(_one_line(err), file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", cx.MostlyDroppedWarning)
            text = getattr(args, "run", run_report)(args)
        for warning in caught:
            print(f"cxmetrics {args.command}: warning: {warning.message}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except CliError as err:
        print(f"cxmetrics {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except _user_errors() as err:
        print(f"cxmetrics {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly, and keep Python from complaining at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
