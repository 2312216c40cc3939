"""Benchmark plumbing: the size option, timings collected per (scenario, engine), the ratio report.

``pytest benches --benchmark-enable`` runs the quick size (1M rows); add ``--bench-size=full``
(or set ``CXMETRICS_BENCH_SIZE=full``) for the 10M-row suite of the issue, ``huge`` for the
100M-row case alone. At the end of the session the ratio table is printed and written to
``.benchmarks/ratios.json``: for scenarios timed interleaved (``record_rounds``) the ratio is the
median over rounds of peer time / cxmetrics time in the same round; for the others
(pytest-benchmark, ``record_timing``) the peer median / cxmetrics median.

Floors are judged by ``ratio_of`` (the same statistic); a scenario that registered a rerun
(``register_rerun``) is measured once more before a floor fails, so one burst of load cannot
fail the gate on its own.

Nothing here is imported by the test module (two ``conftest`` modules cannot share a name on
``sys.path``); it talks to the tests only through fixtures.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from floors import FIXED_SIZE_FLOORS, FLOORS, TARGETS  # noqa: E402  (needs the path above)
from interleave import paired_ratio  # noqa: E402

SIZES: dict[str, int] = {"quick": 1_000_000, "full": 10_000_000, "huge": 100_000_000}
REFERENCE_ENGINE = "cxmetrics"
MEMORY = ("memory", "numpy-read")


@dataclass(frozen=True)
class Timing:
    median: float
    iqr: float
    rounds: int
    minimum: float
    nbytes: int | None = None
    # Per-round seconds when timed interleaved (record_rounds): paired with the other engines'
    # samples of the same scenario by position.
    samples: tuple[float, ...] | None = None


_TIMINGS = pytest.StashKey[dict[tuple[str, str], Timing]]()
_SIZE = pytest.StashKey[str]()
_LOAD_AT_START = pytest.StashKey[list[float] | None]()
_EXTRA = pytest.StashKey[dict[str, tuple[Any, str | None]]]()
_RERUNS = pytest.StashKey[dict[str, Callable[[], None]]]()
_RERUN_DONE = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-size",
        choices=sorted(SIZES),
        default=os.environ.get("CXMETRICS_BENCH_SIZE", "quick"),
        help="quick: 1M rows (default); full: 10M rows, as in the issue's target; huge: only "
             "the 100M-row high-cardinality case",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMINGS] = {}
    config.stash[_SIZE] = str(config.getoption("--bench-size", default="quick"))
    config.stash[_LOAD_AT_START] = _load()
    config.stash[_EXTRA] = {}
    config.stash[_RERUNS] = {}
    config.stash[_RERUN_DONE] = set()


def _load() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


@pytest.fixture(scope="session")
def bench_size(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_SIZE]


@pytest.fixture(scope="session")
def bench_rows(bench_size: str) -> int:
    return SIZES[bench_size]


@pytest.fixture
def record_timing(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``record(scenario, engine, benchmark, nbytes=None)`` keeps a finished benchmark's stats."""

    def record(scenario: str, engine: str, benchmark: Any, nbytes: int | None = None) -> None:
        stats = getattr(benchmark, "stats", None)
        if stats is None:  # benchmarks disabled: the function ran once, untimed
            return
        s = stats.stats
        pytestconfig.stash[_TIMINGS][(scenario, engine)] = Timing(
            float(s.median), float(s.iqr), int(s.rounds), float(s.min), nbytes)

    return record


@pytest.fixture
def record_rounds(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``record(scenario, times, nbytes=None)``: per-engine lists of per-round seconds from
    ``interleave.measure_rounds`` (replacing what an earlier measurement recorded)."""

    def record(scenario: str, times: dict[str, list[float]], nbytes: int | None = None) -> None:
        for engine, samples in times.items():
            ordered = sorted(samples)
            q1, _, q3 = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else (
                ordered[0], ordered[0], ordered[0])
            pytestconfig.stash[_TIMINGS][(scenario, engine)] = Timing(
                statistics.median(ordered), q3 - q1, len(ordered), ordered[0], nbytes,
                tuple(samples))

    return record


@pytest.fixture
def register_rerun(pytestconfig: pytest.Config) -> Callable[[str, Callable[[], None]], None]:
    """``register(scenario, measure)``: how to measure ``scenario`` again (``measure`` records
    its new timings itself); a floor below which the first measurement falls triggers it once."""

    def register(scenario: str, measure: Callable[[], None]) -> None:
        pytestconfig.stash[_RERUNS][scenario] = measure

    return register


def _ratio(found: dict[tuple[str, str], Timing], scenario: str, engine: str,
           field: str = "median") -> float | None:
    ours, theirs = found.get((scenario, REFERENCE_ENGINE)), found.get((scenario, engine))
    if ours is None or theirs is None:
        return None
    if (field == "median" and ours.samples is not None and theirs.samples is not None
            and len(ours.samples) == len(theirs.samples)):
        return paired_ratio(list(ours.samples), list(theirs.samples))
    mine, other = getattr(ours, field), getattr(theirs, field)
    return other / mine if mine > 0 else None


@dataclass(frozen=True)
class Judged:
    ratio: float
    ours_s: float
    theirs_s: float
    rerun: bool


@pytest.fixture
def rerun_all(pytestconfig: pytest.Config) -> Callable[[], None]:
    """Measures every scenario that registered a rerun once more (skipping those already rerun
    by a floor)."""

    def run() -> None:
        reruns, done = pytestconfig.stash[_RERUNS], pytestconfig.stash[_RERUN_DONE]
        for scenario, measure in reruns.items():
            if scenario not in done:
                done.add(scenario)
                measure()

    return run


@pytest.fixture
def ratio_of(pytestconfig: pytest.Config) -> Callable[[str, str, float], Judged | None]:
    """``ratio_of(scenario, peer, floor)``: the ratio to judge a floor on (None if not measured).
    Below the floor, the scenario's registered rerun runs once and the new ratio is returned."""

    def judge(scenario: str, peer: str, floor: float) -> Judged | None:
        found = pytestconfig.stash[_TIMINGS]
        ratio = _ratio(found, scenario, peer)
        if ratio is None:
            return None
        rerun = False
        reruns, done = pytestconfig.stash[_RERUNS], pytestconfig.stash[_RERUN_DONE]
        if ratio < floor and scenario in reruns:
            if scenario not in done:
                done.add(scenario)
                reruns[scenario]()
            rerun = True
            ratio = _ratio(found, scenario, peer) or ratio
        return Judged(ratio, found[(scenario, REFERENCE_ENGINE)].median,
                      found[(scenario, peer)].median, rerun)

    return judge


@pytest.fixture
def record_extra(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``record(key, value, line=None)`` keeps a figure that is not a peer ratio (e.g. the
    accumulator's update overhead in µs) for ``extra`` in the JSON report; ``line`` is printed
    under the ratio table."""

    def record(key: str, value: Any, line: str | None = None) -> None:
        pytestconfig.stash[_EXTRA][key] = (value, line)

    return record


@pytest.fixture
def medians(pytestconfig: pytest.Config) -> dict[tuple[str, str], float]:
    """Median seconds per (scenario, engine) measured so far in this session."""
    return {k: t.median for k, t in pytestconfig.stash[_TIMINGS].items()}


def ratios(found: dict[tuple[str, str], Timing], *, field: str = "median"
           ) -> dict[str, dict[str, float]]:
    """Peer / cxmetrics per scenario where both were measured: the median of per-round ratios
    for interleaved timings, else the ratio of ``field``s."""
    out: dict[str, dict[str, float]] = {}
    for scenario, engine in found:
        if engine == REFERENCE_ENGINE:
            continue
        r = _ratio(found, scenario, engine, field)
        if r is not None:
            out.setdefault(scenario, {})[engine] = r
    return out


def _machine(config: pytest.Config) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in ("cxmetrics", "numpy", "pyarrow", "duckdb", "polars", "pandas", "pyspark",
                 "dask", "distributed"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average_at_start": config.stash.get(_LOAD_AT_START, None),
        "load_average_at_end": _load(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


_SCENARIOS = ("dict", "utf8", "large_string", "string_view", "utf8_long", "str_1k", "int64",
              "small_int", "date", "bool", "two_str", "chunked", "three_mix", "str_15k", "weighted",
              "int_many", "result_1m", "memory",
              # benches/test_bench_accumulator.py and test_bench_distributed.py
              "update", "update_w", "merge_4", "merge_10k", "bytes_4", "bytes_10k",
              "spark", "dask", "local")
_ENGINES = ("cxmetrics", "duckdb", "polars", "polars-eager", "pyarrow", "pandas", "numpy-read",
            "kernel", "one-shot", "numpy", "arrow-ipc", "parquet", "spark-noop", "spark-sql",
            "dask-noop", "dask-groupby", "parquet+cx")


def _order(value: str, known: tuple[str, ...]) -> int:
    return known.index(value) if value in known else len(known)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    found = config.stash.get(_TIMINGS, {})
    if not found:
        return
    size = config.stash[_SIZE]
    by_median, by_min = ratios(found), ratios(found, field="minimum")
    floors = {**FLOORS.get(size, {}), **FIXED_SIZE_FLOORS}
    tr = terminalreporter
    memory = found.get(MEMORY)
    bandwidth = (memory.nbytes / memory.median
                 if memory is not None and memory.nbytes and memory.median > 0 else None)
    tr.section(f"cxmetrics ratios ({SIZES[size]:,} rows unless the scenario says otherwise; "
               "interleaved: median of per-round peer/cxmetrics, else peer median / ours)")
    tr.write_line(f"{'scenario':<12} {'engine':<13} {'median ms':>10} {'IQR ms':>8} {'min ms':>8} "
                  f"{'rounds':>6} {'ratio':>7} {'floor':>6} {'target':>6} {'MB read':>8} "
                  f"{'DRAM ms':>8}")
    for scenario, engine in sorted(found, key=lambda k: (_order(k[0], _SCENARIOS),
                                                         _order(k[1], _ENGINES))):
        t = found[(scenario, engine)]
        r = by_median.get(scenario, {}).get(engine)
        floor, target = floors.get((scenario, engine)), TARGETS.get((scenario, engine))
        # The memory-bandwidth floor: the input's bytes at the bandwidth measured in this run.
        read = (f"{t.nbytes / 1e6:8.0f} {t.nbytes / bandwidth * 1e3:8.2f}"
                if engine == REFERENCE_ENGINE and t.nbytes and bandwidth else "")
        tr.write_line(
            f"{scenario:<12} {engine:<13} {t.median * 1e3:10.2f} {t.iqr * 1e3:8.2f} "
            f"{t.minimum * 1e3:8.2f} {t.rounds:6d} "
            f"{'' if r is None else f'{r:6.2f}×':>7} "
            f"{'' if floor is None else f'{floor:g}×':>6} "
            f"{'' if target is None else f'{target:g}×':>6} {read}")
    report: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "size": size,
        "rows": SIZES[size],
        "machine": _machine(config),
        "timings_s": {
            f"{s}/{e}": {"median": t.median, "iqr": t.iqr, "min": t.minimum, "rounds": t.rounds}
            for (s, e), t in sorted(found.items())
        },
        "ratios": by_median,
        "ratios_of_minima": by_min,
        "floors": {f"{s}/{p}": v for (s, p), v in sorted(floors.items())},
        "targets": {f"{s}/{p}": v for (s, p), v in sorted(TARGETS.items())},
    }
    extra = config.stash.get(_EXTRA, {})
    if extra:
        report["extra"] = {key: value for key, (value, _) in sorted(extra.items())}
        for _, line in extra.values():  # in the order the tests recorded them
            if line:
                tr.write_line(line)
    ours = found.get(("dict", REFERENCE_ENGINE))
    if memory is not None and memory.nbytes and bandwidth:
        report["bandwidth_floor_s"] = {
            s: t.nbytes / bandwidth for (s, e), t in sorted(found.items())
            if e == REFERENCE_ENGINE and t.nbytes}
        report["memory_read"] = {
            "bytes": memory.nbytes,
            "median_s": memory.median,
            "bytes_per_s": bandwidth,
            "dict_cxmetrics_over_read": None if ours is None else ours.median / memory.median,
        }
        tr.write_line(f"memory read of the dict buffers: {memory.nbytes / 1e6:.0f} MB in "
                      f"{memory.median * 1e3:.2f} ms = {bandwidth / 1e9:.1f} GB/s"
                      + ("" if ours is None else
                         f"; cxmetrics dict takes {ours.median / memory.median:.1f}× that"))
    out = Path(str(config.rootpath)) / ".benchmarks" / "ratios.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tr.write_line(f"written to {out}")
