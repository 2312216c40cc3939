"""The per-segment benchmark data: one deterministic Arrow table per key shape.

Imported by ``test_bench_segments.py`` and by ``peak_memory.py`` (which rebuilds a scenario in a
fresh subprocess to measure our peak memory), so it holds only data, no pytest.

Every scenario has int8 NPS scores uniform on 0–10 and its key columns built from integer codes
drawn with seeded NumPy; the codes give the plain NumPy ``bincount`` reference per segment.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

SEED = 20_240_611
PROMOTER_LOW = 9  # promoters: 9–10
DETRACTOR_HIGH = 6  # detractors: 0–6

# Everything a peer must reproduce per segment: (promoters, detractors, n, Σw promoters,
# Σw detractors, Σw). Unweighted scenarios have Σw = the counts.
Summary = tuple[int, int, int, float, float, float]
Key = tuple[str, ...]

# Rows per scenario and size: quick = `make bench-check` (CI), full = `make bench`, huge =
# `make bench-huge` (only the scenarios listed there). Missing entry: the scenario skips.
DEFAULT_ROWS = {"quick": 1_000_000, "full": 10_000_000}
ROWS: dict[str, dict[str, int]] = {
    "int_many": {"quick": 1_000_000, "full": 20_000_000, "huge": 100_000_000},
}
# Segments of the high-cardinality scenarios per size.
MANY_SEGMENTS = {"quick": 50_000, "full": 1_000_000, "huge": 1_000_000}
RESULT_SEGMENTS = {"quick": 100_000, "full": 1_000_000}

# Rows per chunk of the "chunked" scenario: pyarrow's CSV reader returned 29 chunks and its
# Parquet reader 16 for 2M rows of a score and a key (pyarrow 22; 69,000–125,000 rows each).
CHUNK_ROWS = 65_536

# What each scenario is, for the docs and the ratio table.
DESCRIPTIONS: dict[str, str] = {
    "dict": "dictionary<int32, utf8> key, 60 segments",
    "utf8": "utf8 key, 60 segments",
    "large_string": "large_utf8 key, 60 segments",
    "string_view": "utf8_view key, 60 segments",
    "utf8_long": "utf8 key, 60 segments named in 24–36 bytes",
    "str_1k": "utf8 key, 1,000 segments",
    "int64": "int64 key, 60 values spread over 0..10^12",
    "small_int": "int32 key, 50 values 1..50",
    "date": "date32 key, 24 months",
    "bool": "bool key",
    "two_str": "two utf8 keys, 60 × 3 = 180 segments",
    "chunked": "two_str in chunks of 65,536 rows, as a CSV or Parquet read returns a table",
    "three_mix": "utf8 × int64 × dictionary keys, 60 × 4 × 3 = 720 segments",
    "str_15k": "utf8 key, 15,000 segments",
    "weighted": "dictionary key, 60 segments, float64 weights",
    "int_many": "int64 key, 1M distinct values (50,000 at 1M rows)",
    "result_1m": "int64 key, one segment per 10 rows: the result table of 1M segments "
                 "(100,000 at 1M rows)",
}
SCENARIOS = tuple(DESCRIPTIONS)


@dataclass(frozen=True)
class Dataset:
    """One scenario: the Arrow table, what to group by, and the plain NumPy reference."""

    scenario: str
    rows: int
    table: pa.Table
    by: tuple[str, ...]
    weight: str | None
    reference: dict[Key, Summary]

    @property
    def nbytes(self) -> int:
        """Bytes of the columns every engine must read (scores, keys, weights)."""
        return int(sum(self.table.column(c).nbytes for c in self.table.column_names))


def rows_for(scenario: str, size: str) -> int | None:
    return ROWS.get(scenario, DEFAULT_ROWS).get(size)


def _reference(group: np.ndarray, n_groups: int, scores: np.ndarray,
               weights: np.ndarray | None) -> list[Summary | None]:
    """Per-group summaries by NumPy bincount over (group, score); None for empty groups."""
    cell = group.astype(np.int64) * 11 + scores
    hist = np.bincount(cell, minlength=n_groups * 11).reshape(n_groups, 11)
    whist = (None if weights is None
             else np.bincount(cell, weights=weights, minlength=n_groups * 11)
             .reshape(n_groups, 11))
    promoters = hist[:, PROMOTER_LOW:].sum(axis=1)
    detractors = hist[:, : DETRACTOR_HIGH + 1].sum(axis=1)
    n = hist.sum(axis=1)
    if whist is None:
        wp, wd, wn = (promoters.astype(float), detractors.astype(float), n.astype(float))
    else:
        wp = whist[:, PROMOTER_LOW:].sum(axis=1)
        wd = whist[:, : DETRACTOR_HIGH + 1].sum(axis=1)
        wn = whist.sum(axis=1)
    return [
        None if n[g] == 0 else
        (int(promoters[g]), int(detractors[g]), int(n[g]), float(wp[g]), float(wd[g]),
         float(wn[g]))
        for g in range(n_groups)
    ]


def _names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{i:05d}" for i in range(count)]


def _months(count: int) -> list[_dt.date]:
    return [_dt.date(2024 + m // 12, m % 12 + 1, 1) for m in range(count)]


def _labelled(codes: np.ndarray, values: list[object], arrow_type: pa.DataType) -> pa.Array:
    """The key column: values[codes] as a plain (non-dictionary) array of ``arrow_type``."""
    if arrow_type == pa.string_view():  # no take kernel for string_view: take, then cast
        return _labelled(codes, values, pa.string()).cast(pa.string_view())
    return pa.array(values, arrow_type).take(pa.array(codes))


def build_dataset(scenario: str, rows: int, size: str = "quick") -> Dataset:
    """Deterministic data for one scenario (seeded NumPy)."""
    rng = np.random.default_rng(SEED)
    scores = rng.integers(0, 11, rows, dtype=np.int8)
    weights = None
    keys: list[tuple[str, pa.Array, np.ndarray, list[object]]] = []  # name, array, codes, labels

    def key(name: str, count: int, values: list[object], arrow_type: pa.DataType | None,
            dictionary: bool = False) -> None:
        codes = rng.integers(0, count, rows, dtype=np.int32)
        if dictionary:
            array: pa.Array = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values))
        else:
            array = _labelled(codes, values, arrow_type or pa.string())
        keys.append((name, array, codes, values))

    if scenario in ("dict", "weighted"):
        key("seg", 60, list(_names("segment", 60)), None, dictionary=True)
        if scenario == "weighted":
            weights = rng.uniform(0.5, 2.0, rows)
    elif scenario in ("utf8", "large_string", "string_view"):
        arrow_type = {"utf8": pa.string(), "large_string": pa.large_string(),
                      "string_view": pa.string_view()}[scenario]
        key("seg", 60, list(_names("segment", 60)), arrow_type)
    elif scenario == "utf8_long":
        # Names as exports spell them (longer than 16 bytes: not packed into one word).
        key("seg", 60, [f"Region {i:02d} - customer care and retail" [:24 + i % 17]
                        for i in range(60)], pa.string())
    elif scenario == "str_1k":
        key("seg", 1_000, list(_names("store", 1_000)), pa.string())
    elif scenario == "int64":
        spread = np.sort(np.random.default_rng(SEED + 1).choice(10**12, 60, replace=False))
        key("seg", 60, [int(v) for v in spread], pa.int64())
    elif scenario == "small_int":
        key("seg", 50, list(range(1, 51)), pa.int32())
    elif scenario == "date":
        key("seg", 24, list(_months(24)), pa.date32())
    elif scenario == "bool":
        key("seg", 2, [False, True], pa.bool_())
    elif scenario in ("two_str", "chunked"):
        key("seg", 60, list(_names("segment", 60)), pa.string())
        key("channel", 3, ["app", "email", "phone"], pa.string())
    elif scenario == "three_mix":
        key("seg", 60, list(_names("segment", 60)), pa.string())
        key("wave", 4, [2021, 2022, 2023, 2024], pa.int64())
        key("channel", 3, ["app", "email", "phone"], None, dictionary=True)
    elif scenario == "str_15k":
        key("seg", 15_000, list(_names("agent", 15_000)), pa.string())
    elif scenario == "int_many":
        count = MANY_SEGMENTS[size]
        key("seg", count, list(range(10**9, 10**9 + count)), pa.int64())
    elif scenario == "result_1m":
        count = RESULT_SEGMENTS.get(size, rows // 10)
        codes = np.arange(rows, dtype=np.int64) % count
        rng.shuffle(codes)
        keys.append(("seg", pa.array(codes + 10**9), codes, list(range(10**9, 10**9 + count))))
    else:
        raise ValueError(f"unknown scenario {scenario!r}")

    group = np.zeros(rows, dtype=np.int64)
    n_groups = 1
    for _, _, codes, labels in keys:
        group = group * len(labels) + codes
        n_groups *= len(labels)
    summaries = _reference(group, n_groups, scores, weights)
    reference: dict[Key, Summary] = {}
    label_lists = [[str(v) for v in labels] for _, _, _, labels in keys]
    for g, summary in enumerate(summaries):
        if summary is None:
            continue
        parts: list[str] = []
        rest = g
        for labels in reversed(label_lists):
            rest, code = divmod(rest, len(labels))
            parts.append(labels[code])
        reference[tuple(reversed(parts))] = summary
    columns: dict[str, pa.Array] = {name: array for name, array, _, _ in keys}
    columns["nps"] = pa.array(scores)
    weight = None
    if weights is not None:
        columns["w"] = pa.array(weights)
        weight = "w"
    table = pa.table(columns)
    if scenario == "chunked":
        table = pa.Table.from_batches(table.to_batches(max_chunksize=CHUNK_ROWS))
    return Dataset(scenario, rows, table, tuple(name for name, *_ in keys), weight, reference)
