"""Ratio floors (peer median / cxmetrics median) below which the benchmark tests fail.

Placeholder: filled in from measurements.
"""

from __future__ import annotations

TARGETS: dict[tuple[str, str], float] = {("dict", "duckdb"): 3.0, ("dict", "polars"): 10.0}

FLOORS: dict[str, dict[tuple[str, str], float]] = {
    "quick": {("dict", "duckdb"): 1.0},
    "full": {("dict", "duckdb"): 1.0},
}
