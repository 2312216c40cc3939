"""Ratio floors (peer / cxmetrics) below which the benchmark tests fail, and the issue's targets.

Per-scenario ratios (test_bench_segments.py) are medians over interleaved rounds of peer time /
cxmetrics time in the same round (benches/interleave.py). Two gates use them:

- ``FLOORS``: one per (scenario, peer), ≈ 60 % of the lowest ratio seen in 5 runs on this
  project's 2-core machine while it was LOADED (load average 11–13: five other engineers'
  builds and tests), rounded down. They are regression guards that do not fail on noise (a
  failing scenario is also measured once more and judged on all its rounds); several are
  below 1 because the peer is faster there today, not claims.
- ``EXPECTED`` and ``INDEX_FLOOR``: the median ratio per (scenario, peer) of 5 runs with one
  core kept busy (re-measured on 2026-12-04 after the kernels changed; see its comment); the
  speed index is, per scenario, the geometric mean over peers of measured / expected, and its
  median over scenarios must stay ≥ ``INDEX_FLOOR``. Noise in one scenario hardly moves a
  median of 14; a slowdown of our kernel moves every scenario at once, so a 2× slowdown
  (``CXMETRICS_TEST_SLOWDOWN=2``) fails it — see docs/performance.md. Re-measure ``EXPECTED``
  when the kernels change (a stale value that is too low makes the index less sensitive).

``TARGETS`` are the issue's goals, printed beside each ratio and not asserted.
"""

from __future__ import annotations

from segment_data import SCENARIOS

# The issue: every key shape ≥ 2× polars (lazy) and ≥ 2× DuckDB; the dictionary and the
# small-range integer key ≥ 5× polars.
TARGETS: dict[tuple[str, str], float] = {
    **{(s, peer): 2.0 for s in SCENARIOS for peer in ("duckdb", "polars")},
    ("dict", "polars"): 5.0,
    ("small_int", "polars"): 5.0,
    # Key drivers (issue 13): the Gram pass within 2× of BLAS (weighted, and unweighted
    # ratings), exact Shapley ≥ 20× NumPy.
    ("drivers gram", "numpy-blas"): 0.5,
    ("drivers gram ratings", "numpy-blas"): 0.5,
    ("shapley 16", "numpy-subsets"): 20.0,
}

# 1M rows (`make bench-check`), 5 runs between 16:05 and 16:15 UTC on 2026-12-03 (2 for
# int_many and result_1m), load average 11–13; comment: lowest–highest ratio, median.
# int_many and result_1m since 2026-12-07: 40 % of the lowest ratio in 4 runs (EXPECTED's 3 with
# one core busy, and one `make bench-check` with mimalloc's huge pages, 13:54 UTC).
_QUICK_FLOORS: dict[tuple[str, str], float] = {
    ("bool", "duckdb"): 1.1,  # 1.97–3.22, median 2.17 (5 runs)
    ("bool", "polars"): 2.5,  # 4.21–6.55, median 4.91 (5 runs)
    ("bool", "pyarrow"): 1,  # 1.67–2.83, median 2.32 (5 runs)
    ("date", "duckdb"): 0.69,  # 1.16–1.52, median 1.34 (2 runs after offsets in place, 16:35)
    ("date", "polars"): 0.55,  # 0.92–1.49, median 1.20 (2 runs after offsets in place, 16:35)
    ("date", "pyarrow"): 0.93,  # 1.56–1.65, median 1.60 (2 runs after offsets in place, 16:35)
    ("dict", "duckdb"): 0.85,  # 1.42–2.28, median 2.16 (5 runs)
    ("dict", "polars"): 1.2,  # 2.03–4.18, median 2.17 (5 runs)
    ("dict", "pyarrow"): 1.3,  # 2.29–3.04, median 2.94 (5 runs)
    ("int64", "duckdb"): 0.52,  # 0.88–1.23, median 1.07 (5 runs)
    ("int64", "polars"): 0.49,  # 0.82–1.09, median 1.03 (5 runs)
    ("int64", "pyarrow"): 0.55,  # 0.93–1.28, median 1.05 (5 runs)
    ("int_many", "duckdb"): 0.57,  # 40 % of 1.43, lowest of 4 runs, 2026-12-07
    ("int_many", "polars"): 0.68,  # 40 % of 1.70, lowest of 4 runs, 2026-12-07
    ("int_many", "pyarrow"): 0.68,  # 40 % of 1.72, lowest of 4 runs, 2026-12-07
    ("large_string", "duckdb"): 0.59,  # 1.00–1.15, median 1.07 (5 runs)
    ("large_string", "polars"): 0.62,  # 1.04–1.46, median 1.17 (5 runs)
    ("large_string", "pyarrow"): 2.1,  # 3.62–5.37, median 4.36 (5 runs)
    ("result_1m", "duckdb"): 0.61,  # 40 % of 1.54, lowest of 4 runs, 2026-12-07
    ("result_1m", "polars"): 0.49,  # 40 % of 1.24, lowest of 4 runs, 2026-12-07
    ("result_1m", "pyarrow"): 0.41,  # 40 % of 1.04, lowest of 4 runs, 2026-12-07
    ("small_int", "duckdb"): 1.1,  # 1.81–3.36, median 3.22 (3 runs after offsets in place)
    ("small_int", "polars"): 1.2,  # 2.13–2.45, median 2.29 (2 runs after offsets in place, 16:35)
    ("small_int", "pyarrow"): 1.6,  # 2.72–3.93, median 3.33 (2 runs after offsets in place, 16:35)
    ("str_15k", "duckdb"): 0.082,  # 0.14–0.20, median 0.16 (5 runs)
    ("str_15k", "polars"): 0.087,  # 0.15–0.22, median 0.17 (5 runs)
    ("str_15k", "pyarrow"): 0.043,  # 0.07–0.18, median 0.12 (5 runs)
    ("string_view", "duckdb"): 0.36,  # 0.61–1.27, median 0.93 (5 runs)
    ("string_view", "polars"): 0.47,  # 0.80–1.30, median 1.05 (5 runs)
    ("string_view", "pyarrow"): 0.37,  # 0.63–1.28, median 1.07 (5 runs)
    ("three_mix", "duckdb"): 0.56,  # 0.95–1.29, median 1.12 (5 runs)
    ("three_mix", "polars"): 0.48,  # 0.80–1.10, median 0.98 (5 runs)
    ("three_mix", "pyarrow"): 0.55,  # 0.93–1.30, median 1.02 (5 runs)
    ("two_str", "duckdb"): 0.55,  # 0.93–1.27, median 1.15 (5 runs)
    ("two_str", "polars"): 0.41,  # 0.70–0.83, median 0.74 (5 runs)
    ("two_str", "pyarrow"): 0.41,  # 0.70–0.96, median 0.76 (5 runs)
    ("utf8", "duckdb"): 0.57,  # 0.95–1.77, median 1.16 (5 runs)
    # utf8_long and str_1k (added 2026-12-05): ≈ 45 % of the lower of two runs (07:55 UTC, load
    # ≈ 5, ci="wald"; 09:01 UTC, load ≈ 1.2, the default score interval).
    ("utf8_long", "duckdb"): 0.61,  # 1.36, 2.74
    ("utf8_long", "polars"): 0.5,  # 1.12, 1.79
    ("utf8_long", "pyarrow"): 0.69,  # 1.54, 1.77
    ("str_1k", "duckdb"): 0.91,  # 2.04, 3.53
    ("str_1k", "polars"): 0.49,  # 1.09, 1.73
    ("str_1k", "pyarrow"): 0.88,  # 1.96, 1.96
    ("utf8", "polars"): 0.64,  # 1.07–1.39, median 1.35 (5 runs)
    ("utf8", "pyarrow"): 0.63,  # 1.06–1.88, median 1.37 (5 runs)
    ("weighted", "duckdb"): 0.45,  # 0.76–1.08, median 0.86 (5 runs)
    ("weighted", "polars"): 0.55,  # 0.92–1.40, median 1.25 (5 runs)
    ("weighted", "pyarrow"): 1,  # 1.79–2.73, median 2.12 (5 runs)
    # chunked (added 2026-12-07): 40 % of the lowest ratio in 6 runs (3 quiet, 3 with one core
    # kept busy; code of aaba522).
    ("chunked", "duckdb"): 1.1,  # 2.78–3.76
    ("chunked", "polars"): 0.48,  # 1.20–1.55
    ("chunked", "pyarrow"): 0.68,  # 1.72–2.32
}

FLOORS: dict[str, dict[tuple[str, str], float]] = {
    "quick": _QUICK_FLOORS,
    # 10M rows (`make bench`): the 1M floors (one loaded 10M run, docs/performance.md, is
    # within them except where noted there). int_many (20M rows, 1M segments) and result_1m
    # (1M segments) have none at 10M: one Python object per segment makes them 20–50× slower
    # than the peers until the results are Arrow-first.
    "full": {
        **{k: v for k, v in _QUICK_FLOORS.items() if k[0] not in ("int_many", "result_1m")},
        # Lower at 10M in the one loaded run (16:37–16:40 UTC, load 16–19): 0.6 × that ratio.
        ("bool", "duckdb"): 0.6,  # 1.02
        ("bool", "polars"): 1.7,  # 2.94
        ("int64", "duckdb"): 0.28,  # 0.47
        ("small_int", "duckdb"): 0.93,  # 1.56
        ("string_view", "duckdb"): 0.33,  # 0.55
        ("two_str", "polars"): 0.41,  # 0.80 (same as 1M)
    },
}

EXPECTED: dict[str, dict[tuple[str, str], float]] = {
    # Medians of 3 runs of `benches/test_bench_segments.py` (quick) on 2026-12-07 (14:14–14:18
    # UTC) with one core kept busy by a spin loop, after the u32 per-task counts and mimalloc
    # (code of 56b21b1; the runs on the expected values before them gave indices 1.26–1.38);
    # comment: lowest–highest of those runs.
    "quick": {
        ("bool", "duckdb"): 4.43,  # 3.49–4.55
        ("bool", "polars"): 7.13,  # 7.11–8.48
        ("bool", "pyarrow"): 4.06,  # 3.99–4.66
        ("date", "duckdb"): 4.35,  # 3.82–5.02
        ("date", "polars"): 4.39,  # 3.41–5.13
        ("date", "pyarrow"): 5.36,  # 5.14–5.87
        ("dict", "duckdb"): 7.86,  # 7.83–9.03
        ("dict", "polars"): 8.03,  # 7.87–8.05
        ("dict", "pyarrow"): 9.71,  # 9.61–10.90
        ("int64", "duckdb"): 1.88,  # 1.49–2.32
        ("int64", "polars"): 2.13,  # 2.08–2.26
        ("int64", "pyarrow"): 2.43,  # 2.05–2.53
        ("int_many", "duckdb"): 1.70,  # 1.43–2.20
        ("int_many", "polars"): 1.95,  # 1.70–2.30
        ("int_many", "pyarrow"): 1.72,  # 1.72–2.18
        ("large_string", "duckdb"): 5.45,  # 5.33–7.16
        ("large_string", "polars"): 5.06,  # 4.36–5.97
        ("large_string", "pyarrow"): 16.71,  # 14.90–21.38
        ("result_1m", "duckdb"): 1.58,  # 1.54–1.92
        ("result_1m", "polars"): 1.48,  # 1.24–1.58
        ("result_1m", "pyarrow"): 1.21,  # 1.04–1.42
        ("small_int", "duckdb"): 3.41,  # 2.99–4.63
        ("small_int", "polars"): 3.32,  # 2.56–4.19
        ("small_int", "pyarrow"): 5.27,  # 3.58–6.37
        ("str_15k", "duckdb"): 1.98,  # 1.67–2.49
        ("str_15k", "polars"): 1.67,  # 1.39–1.74
        ("str_15k", "pyarrow"): 2.20,  # 2.07–2.56
        ("str_1k", "duckdb"): 4.55,  # 4.50–4.58
        ("str_1k", "polars"): 2.47,  # 2.18–2.82
        ("str_1k", "pyarrow"): 2.99,  # 2.78–3.85
        ("string_view", "duckdb"): 4.06,  # 3.31–4.91
        ("string_view", "polars"): 3.86,  # 3.04–5.12
        ("string_view", "pyarrow"): 3.64,  # 2.87–4.67
        ("three_mix", "duckdb"): 4.76,  # 4.61–4.85
        ("three_mix", "polars"): 2.33,  # 1.98–2.40
        ("three_mix", "pyarrow"): 3.13,  # 2.75–3.21
        ("two_str", "duckdb"): 4.11,  # 4.01–4.50
        ("two_str", "polars"): 1.65,  # 1.60–1.88
        ("two_str", "pyarrow"): 3.34,  # 2.66–3.37
        ("utf8", "duckdb"): 5.05,  # 4.67–5.32
        ("utf8", "polars"): 3.98,  # 3.58–4.46
        ("utf8", "pyarrow"): 3.96,  # 3.66–4.09
        ("utf8_long", "duckdb"): 3.28,  # 3.02–3.34
        ("utf8_long", "polars"): 2.66,  # 2.35–2.98
        ("utf8_long", "pyarrow"): 2.96,  # 2.84–3.09
        ("weighted", "duckdb"): 3.53,  # 2.62–3.84
        ("weighted", "polars"): 3.62,  # 2.91–4.06
        ("weighted", "pyarrow"): 5.31,  # 4.39–5.54
        # chunked (added 2026-12-07, code of aaba522): medians of 3 runs with one core busy.
        ("chunked", "duckdb"): 3.02,  # 2.78–3.38
        ("chunked", "polars"): 1.30,  # 1.20–1.40
        ("chunked", "pyarrow"): 1.75,  # 1.72–2.09
    },
}
INDEX_FLOOR = 0.7

# Peak memory above the input, as a multiple of the input's size (test_peak_memory): a
# regression ceiling per scenario, ≈ 1.5–10× what was measured at 1M rows (16:00 UTC, result
# objects included; small inputs carry a fixed few MB); the target is 0.25× (the peak
# above the input within 25 % of the input's size).
# Measured: dict 0.05, utf8 0.23, large_string 0.19, string_view 0.14, int64 0.47, small_int
# 0.10, date 0.13, bool 0.36 (after in-place ids, 16:57; before 0.84, 3.4, 3.7), two_str
# 0.47, three_mix 0.51, str_15k 2.3, weighted 0.05, int_many 12, result_1m 23.
# After the per-task morsel ids (20:03 UTC, branch keys; no per-row id vector): utf8 0.02,
# string_view 0.013, int64 0.059, two_str 0.03, three_mix 0.056 — ceilings 0.3 for those.
MEMORY_CEILINGS: dict[str, float] = {
    "dict": 0.5, "utf8": 0.3, "large_string": 0.3, "string_view": 0.3, "int64": 0.3,
    "small_int": 0.5, "date": 0.5, "bool": 1.0, "two_str": 0.3, "three_mix": 0.3,
    "str_15k": 4.0, "weighted": 0.5, "int_many": 20.0, "result_1m": 40.0,
    # Added 2026-12-05 (measured 0.02 and 0.10 at 1M rows).
    "utf8_long": 0.3, "str_1k": 0.5,
    # Added 2026-12-07 (measured 0.03 at 1M rows).
    "chunked": 0.3,
}

# The accumulator and distributed benchmarks (test_bench_accumulator.py, test_bench_distributed.py)
# measure fixed sizes — one 10,000-row batch, merges of 4 and 10,000 segments, the 1,040,000-row
# Parquet job — whatever --bench-size says, so their floors hold for both sizes. They are kept
# out of FLOORS on purpose: test_bench_segments.py's test_ratio_floor asserts every FLOORS entry
# (with a message about 1M/10M rows), so an entry there would be asserted twice; the floor tests
# test_fixed_size_floors.py checks these (after the benchmarks ran), and conftest.py prints them
# in the ratio table.
#
# ≈ 65 % of the lowest ratio in 10 runs (2026-11-23, 14:42–15:00 UTC: 7 runs of the two files,
# 3 of the whole suite; extension built 14:36; load average 0.2–1.0 at the start of each run,
# 1.5–2.2 at the end — Spark and Dask load both cores), rounded down. Observed ranges:
#   update    kernel 0.72–0.83, numpy 0.97–1.23, pyarrow 7.0–9.9
#   update_w  kernel 0.50–1.24, numpy 0.47–1.37, pyarrow 3.1–5.6
#   merge_4   pyarrow 27–38, pandas 4.8–9.5
#   merge_10k pyarrow 0.39–0.58, pandas 0.025–0.030
#   bytes_4   arrow-ipc 0.32–0.55, parquet 16–35
#   bytes_10k arrow-ipc 0.0044–0.0064, parquet 0.20–0.26
#   spark     spark-sql 0.32–0.42
#   dask      dask-groupby 2.6–3.9
# These are calls of 10 µs to 20 ms, timed in 0.5 s windows; a load burst in one window moves a
# ratio by up to 1.7× (the lows of update_w and bytes_4 are such runs), hence the wide floors.
# Floors below 1 are regression guards where the peer is faster than we are (merging 10,000
# segments, the byte round trip, Spark's own aggregation), not claims. update/kernel guards the
# accumulator's overhead beyond the kernel: it fails when update takes more than 2–3× the kernel
# (the 20 µs overhead target is printed and recorded, not asserted).
#
# Lowered on 2026-12-04 to ≈ 60 % of the lowest ratio in 9 runs (the quiet fresh-clone run of
# 8c22a1d and 8 `make bench-check` runs with one core kept busy, 16:06–16:32 UTC), where that
# was below the old floor's 1/0.6: merge_4/pandas fell to 2.34× (floor 3×) in one of them, and
# update/kernel 0.46 (floor 0.45), merge_4/pyarrow 18.9 (17), update/numpy 0.67 (0.6),
# update/pyarrow 5.4 (4.5), replicates 3.7 (2.7), dask 2.43 (1.6), update_w/pyarrow 3.07 (2.0)
# came close. These fixed-size benchmarks are not interleaved with their peers, so a burst of
# load moves their ratio more than the segment scenarios'.
FIXED_SIZE_FLOORS: dict[tuple[str, str], float] = {
    ("update", "kernel"): 0.28,
    ("update", "numpy"): 0.4,
    ("update", "pyarrow"): 3.3,
    ("update_w", "kernel"): 0.32,
    ("update_w", "numpy"): 0.3,
    ("update_w", "pyarrow"): 1.8,
    ("merge_4", "pyarrow"): 11.0,
    ("merge_4", "pandas"): 1.4,
    ("merge_10k", "pyarrow"): 0.25,
    ("merge_10k", "pandas"): 0.016,
    ("bytes_4", "arrow-ipc"): 0.2,
    ("bytes_4", "parquet"): 10.0,
    ("bytes_10k", "arrow-ipc"): 0.0028,
    ("bytes_10k", "parquet"): 0.12,
    ("spark", "spark-sql"): 0.2,
    ("dask", "dask-groupby"): 1.5,
    # test_bench_replicates.py: B = 200 Poisson-bootstrap replicates on a 10,000-row weighted
    # batch against NumPy's Poisson draws + bincount; 6 runs (14:25–15:05 UTC, load 1–2):
    # 4.1–5.2×.
    ("replicates", "numpy"): 2.2,
    # test_bench_drivers.py (1M rows): 2 runs at 19:22 and 19:53 UTC on 2026-12-03, load
    # average 13-15; ~60 % of the lower ratio. Gram pass vs BLAS: 0.47×, 0.48× (weighted),
    # 0.21×, 0.21× (unweighted ratings); Shapley 16 vs NumPy all-subsets: 7.57×, 5.49×.
    ("drivers gram", "numpy-blas"): 0.28,
    ("drivers gram ratings", "numpy-blas"): 0.12,
    ("shapley 16", "numpy-subsets"): 3.3,
}


# test_bench_request.py: one 100-row cx.nps call (ci="wald") against the same numbers computed by
# a peer in the same interleaved rounds. The targets are absolute (30 µs without by, 60 µs
# with one key); they are printed as met / NOT met beside each ratio, not gated.
# Why not gated: on this shared host the same build's 100-row call moves between 25 µs and
# 50 µs within minutes (timeit, one process, nothing else running), in blocks of seconds, while a
# four-line NumPy call stays at 2.1-2.3 µs. Its ratio to NumPy therefore moved 0.045-0.089x, and
# a floor set as target/NumPy (0.056x) failed two fresh-clone runs (0.051x, 0.053x) with no
# change to the code it times. The slow blocks hit code with a large footprint (our call runs
# through CPython, pyarrow and the core) and spare NumPy's tight loop.
#   request     judged against pyarrow compute on the same NumPy input (pa.array, two
#               comparisons summed, the same arithmetic): its footprint is like ours, so the
#               slow blocks move both. Per 3-second bench: 0.71-0.77x in slow blocks (cxmetrics
#               41-52 µs), 0.87-1.09x in quiet ones (25 µs; rounds of timeit). Floor 0.5: 70% of
#               the lowest, and a 2x slowdown of our call in a slow block (0.35-0.39x) fails it.
#   request_by  NumPy's np.unique + bincount is itself mostly Python, so it moves with ours:
#               0.43-0.48x quiet (2026-12-03), 0.38-0.39x in slow blocks (2026-12-06, 80-85 µs:
#               the 60 µs target NOT met there); floor 0.28.
# request_by_read (the call, then every segment's value; no issue target) is a regression guard
# at 60 % of the lowest measured ratio, 0.127-0.134x (174-180 µs; 0.129-0.138x in slow blocks).
REQUEST_TARGET_SECONDS: dict[str, float] = {"request": 30e-6, "request_by": 60e-6}
REQUEST_FLOORS: dict[str, tuple[str, float]] = {
    "request": ("pyarrow", 0.5),
    "request_by": ("numpy", round(21e-6 / 60e-6 * 0.8, 3)),
    "request_by_read": ("numpy", 0.076),
}
