"""Benchmark set-up: data sets built once per session, medians collected, ratios reported.

``pytest benches --benchmark-enable`` runs the quick size (1M rows); add ``--bench-size=full``
(or set ``CXMETRICS_BENCH_SIZE=full``) for the 10M-row suite of the issue. At the end of the session
the ratio table (median of each peer / median of cxmetrics, per scenario) is printed and written to
``.benchmarks/ratios.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

SIZES: dict[str, int] = {"quick": 1_000_000, "full": 10_000_000}
SEGMENTS = 50
CHANNELS = ("app", "email", "phone", "web")
SEED = 20_240_611
PROMOTER_LOW = 9  # promoters: 9–10
DETRACTOR_HIGH = 6  # detractors: 0–6

# Everything a peer must reproduce per segment: (promoters, detractors, n, Σw promoters,
# Σw detractors, Σw). Unweighted scenarios have Σw = the counts.
Summary = tuple[int, int, int, float, float, float]
Key = tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    """One benchmark scenario: the Arrow table, what to group by, and the NumPy reference."""

    scenario: str
    rows: int
    table: pa.Table
    by: tuple[str, ...]
    weight: str | None
    reference: dict[Key, Summary]

    @property
    def nbytes(self) -> int:
        """Bytes of the columns the aggregation reads (buffers, dictionaries included)."""
        return int(sum(self.table.column(c).nbytes for c in ("nps", *self.by)) + (
            self.table.column(self.weight).nbytes if self.weight else 0))


@dataclass(frozen=True)
class Timing:
    median: float
    iqr: float
    rounds: int
    minimum: float


_TIMINGS = pytest.StashKey[dict[tuple[str, str], Timing]]()
_SIZE = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-size",
        choices=sorted(SIZES),
        default=os.environ.get("CXMETRICS_BENCH_SIZE", "quick"),
        help="quick: 1M rows (default); full: 10M rows, as in the issue's target",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMINGS] = {}
    config.stash[_SIZE] = str(config.getoption("--bench-size", default="quick"))


# ---------------------------------------------------------------------------------------------
# Data


def _reference(group: np.ndarray, n_groups: int, scores: np.ndarray,
               weights: np.ndarray | None) -> list[Summary]:
    """Per-group summaries by plain NumPy bincount over (group, score)."""
    cell = group.astype(np.int64) * 11 + scores
    hist = np.bincount(cell, minlength=n_groups * 11).reshape(n_groups, 11)
    whist = (hist.astype(np.float64) if weights is None
             else np.bincount(cell, weights=weights, minlength=n_groups * 11)
             .reshape(n_groups, 11))
    out: list[Summary] = []
    for g in range(n_groups):
        out.append((
            int(hist[g, PROMOTER_LOW:].sum()),
            int(hist[g, : DETRACTOR_HIGH + 1].sum()),
            int(hist[g].sum()),
            float(whist[g, PROMOTER_LOW:].sum()),
            float(whist[g, : DETRACTOR_HIGH + 1].sum()),
            float(whist[g].sum()),
        ))
    return out


def build_dataset(scenario: str, rows: int) -> Dataset:
    """Deterministic data: uniform 0–10 scores (int8), 50 uniform segments."""
    rng = np.random.default_rng(SEED)
    codes = rng.integers(0, SEGMENTS, rows, dtype=np.int32)
    scores = rng.integers(0, 11, rows, dtype=np.int8)
    names = [f"segment_{i:02d}" for i in range(SEGMENTS)]
    seg = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(names))
    columns: dict[str, pa.Array] = {"seg": seg, "nps": pa.array(scores)}
    by: tuple[str, ...] = ("seg",)
    weight = None
    weights: np.ndarray | None = None
    group, n_groups = codes, SEGMENTS
    labels: list[Key] = [(name,) for name in names]
    if scenario == "dict":
        pass
    elif scenario == "string":
        columns["seg"] = pc.cast(seg, pa.large_string())
    elif scenario == "two_keys":
        channel = rng.integers(0, len(CHANNELS), rows, dtype=np.int32)
        columns["channel"] = pa.DictionaryArray.from_arrays(pa.array(channel),
                                                            pa.array(CHANNELS))
        by = ("seg", "channel")
        group, n_groups = codes * len(CHANNELS) + channel, SEGMENTS * len(CHANNELS)
        labels = [(name, ch) for name in names for ch in CHANNELS]
    elif scenario == "weighted":
        weights = rng.uniform(0.5, 2.0, rows)
        columns["w"] = pa.array(weights)
        weight = "w"
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    summaries = _reference(group, n_groups, scores, weights)
    reference = {labels[g]: s for g, s in enumerate(summaries) if s[2] > 0}
    return Dataset(scenario, rows, pa.table(columns), by, weight, reference)


@pytest.fixture(scope="session")
def bench_size(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[_SIZE]


@pytest.fixture(scope="session")
def dataset_factory(bench_size: str) -> Callable[[str], Dataset]:
    """Builds each scenario's data once per session (lazily, so ``-k`` only pays for its own)."""
    cache: dict[str, Dataset] = {}

    def get(scenario: str) -> Dataset:
        if scenario not in cache:
            cache[scenario] = build_dataset(scenario, SIZES[bench_size])
        return cache[scenario]

    return get


@pytest.fixture(scope="session")
def prepared_cache() -> dict[tuple[str, str], Any]:
    """Per (scenario, engine) state built once and untimed: DataFrames, connections."""
    return {}


# ---------------------------------------------------------------------------------------------
# Timings and the ratio report


@pytest.fixture
def record_timing(pytestconfig: pytest.Config) -> Callable[[str, str, Any], None]:
    """Stores a finished benchmark's statistics under (scenario, engine)."""

    def record(scenario: str, engine: str, benchmark: Any) -> None:
        stats = getattr(benchmark, "stats", None)
        if stats is None:  # benchmarks disabled: the function ran once, untimed
            return
        s = stats.stats
        pytestconfig.stash[_TIMINGS][(scenario, engine)] = Timing(
            float(s.median), float(s.iqr), int(s.rounds), float(s.min))

    return record


@pytest.fixture
def timings(pytestconfig: pytest.Config) -> dict[tuple[str, str], Timing]:
    return pytestconfig.stash[_TIMINGS]


REFERENCE_ENGINE = "cxmetrics"


def ratios(found: dict[tuple[str, str], Timing]) -> dict[str, dict[str, float]]:
    """Median of each peer / median of cxmetrics, per scenario (where both were measured)."""
    out: dict[str, dict[str, float]] = {}
    for (scenario, engine), t in found.items():
        ours = found.get((scenario, REFERENCE_ENGINE))
        if engine == REFERENCE_ENGINE or ours is None or ours.median <= 0:
            continue
        out.setdefault(scenario, {})[engine] = t.median / ours.median
    return out


def _machine() -> dict[str, Any]:
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
    for name in ("cxmetrics", "numpy", "pyarrow", "duckdb", "polars", "pandas"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    found = config.stash.get(_TIMINGS, {})
    if not found:
        return
    size = config.stash[_SIZE]
    rat = ratios(found)
    tr = terminalreporter
    tr.section(f"cxmetrics ratios ({SIZES[size]:,} rows; peer median / cxmetrics median)")
    tr.write_line(f"{'scenario':<10} {'engine':<14} {'median ms':>10} {'IQR ms':>8} "
                  f"{'rounds':>6} {'ratio':>7}")
    scenarios = sorted({s for s, _ in found}, key=_scenario_order)
    for scenario in scenarios:
        engines = sorted((e for s, e in found if s == scenario), key=_engine_order)
        for engine in engines:
            t = found[(scenario, engine)]
            r = rat.get(scenario, {}).get(engine)
            ratio = "" if r is None else f"{r:6.2f}×"
            tr.write_line(f"{scenario:<10} {engine:<14} {t.median * 1e3:10.2f} "
                          f"{t.iqr * 1e3:8.2f} {t.rounds:6d} {ratio:>7}")
    report = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "size": size,
        "rows": SIZES[size],
        "machine": _machine(),
        "timings_s": {
            f"{s}/{e}": {"median": t.median, "iqr": t.iqr, "rounds": t.rounds, "min": t.minimum}
            for (s, e), t in sorted(found.items())
        },
        "ratios": rat,
    }
    out = Path(str(config.rootpath)) / ".benchmarks" / "ratios.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    tr.write_line(f"written to {out}")


_SCENARIOS = ("dict", "string", "two_keys", "weighted", "memory")
_ENGINES = ("cxmetrics", "duckdb", "polars", "polars-eager", "pyarrow", "pandas",
            "numpy-read")


def _scenario_order(s: str) -> int:
    return _SCENARIOS.index(s) if s in _SCENARIOS else len(_SCENARIOS)


def _engine_order(e: str) -> int:
    return _ENGINES.index(e) if e in _ENGINES else len(_ENGINES)
