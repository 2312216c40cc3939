"""Regression tests for the hostile-input findings (issue 10): each reproducer, and the checks
that keep them fixed. Hangs and aborts run in a subprocess with a timeout, so a regression fails
the test instead of the suite."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import cxmetrics as cx
from cxmetrics import _engine, _native

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter; a hang fails the test after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


# --------------------------------------------------------------------------------------------
# item 8: the Student-t interval returns for any n, and its critical value is scipy's


def test_t_interval_returns_for_sixteen_million_rows() -> None:
    # Reproducer: this ran for more than 300 s (an unbounded loop behind t_critical).
    done = run_python("""
        import numpy as np, cxmetrics as cx
        r = cx.mean_score(np.tile(np.array([1, 5], np.int8), 8_000_000))
        print(r.value, r.ci_low, r.ci_high)
    """, timeout=120)
    assert done.returncode == 0, done.stderr
    value, low, high = map(float, done.stdout.split())
    # n = 16e6, sd = 2·sqrt(n/(n−1)): the half-width is t·sd/sqrt(n) with t ≈ z.
    n = 16_000_000
    half = stats.t.ppf(0.975, n - 1) * 2.0 * np.sqrt(n / (n - 1)) / np.sqrt(n)
    assert value == 3.0
    assert abs((high - low) / 2 - half) < 1e-12 * half


@pytest.mark.parametrize("n", [2, 3, 4, 7, 31, 101, 1_001, 2_001, 5_001, 100_001])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99])
def test_t_critical_value_is_scipys(n: int, confidence: float) -> None:
    # Scores −1 and 1 alternate on a wide scale (mean ≈ 0, nothing clipped: t·se ≤ 64):
    # the half-width over the se is the t quantile.
    scores = np.resize(np.array([-1, 1], np.int16), n)
    r = cx.mean_score(scores, ci="t", confidence=confidence, scale=cx.Scale(-500, 500))
    t = (r.ci_high - r.ci_low) / 2 / r.se
    assert t == pytest.approx(stats.t.ppf(0.5 + confidence / 2, n - 1), rel=1e-11)


# --------------------------------------------------------------------------------------------
# item 9: a huge n_resamples is refused before anything is allocated


def test_huge_n_resamples_is_refused_without_aborting() -> None:
    # Reproducer: SIGABRT, "memory allocation of 800000000000 bytes failed".
    done = run_python("""
        import cxmetrics as cx
        for call in (lambda: cx.nps([10, 0, 5], ci="bootstrap", n_resamples=10**11),
                     lambda: cx.nps([10, 0, 5], ci="bayes", n_resamples=10**11),
                     lambda: cx.nps([10, 0, 5], ci="bootstrap", n_resamples=2**64)):
            try:
                call()
            except cx.ArgumentError as e:
                print("refused:", e)
    """, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("refused:") == 3
    assert str(_native.MAX_RESAMPLES) in done.stdout


def test_compare_refuses_huge_n_resamples() -> None:
    a, b = cx.nps([10, 9, 0, 5]), cx.nps([10, 0, 0, 5])
    with pytest.raises(cx.ArgumentError, match="n_resamples"):
        cx.compare(a, b, ci="bootstrap", n_resamples=_native.MAX_RESAMPLES + 1)


# --------------------------------------------------------------------------------------------
# item 10: Ctrl-C stops long Rust work


LONG_BOOTSTRAP = """
    import sys, time
    import numpy as np, cxmetrics as cx
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 11, 200_000)
    ids = rng.integers(0, 2_000, 200_000)
    weights = rng.uniform(0.5, 2.0, 200_000)
    print("started", flush=True)
    t0 = time.monotonic()
    try:
        # About a minute of work or more on this machine (2,000 weighted segments, 10^6 each).
        cx.nps(scores, by=ids, weight=weights, ci="bootstrap", n_resamples=1_000_000, seed=1)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


LONG_DRIVERS_SETUP = """
    import sys, time
    import numpy as np, pyarrow as pa, cxmetrics as cx
    rng = np.random.default_rng(1)
"""

# The row pass of an accumulator's update: continuous drivers have more distinct tuples than
# the histogram keeps, so 2,000 replicates are drawn per row (4·10⁹ Poisson draws). The
# interrupted update must leave the accumulator as it was.
LONG_DRIVERS_UPDATE = LONG_DRIVERS_SETUP + """
    x = rng.normal(size=(2_000_000, 4))
    table = pa.table({"y": x @ [0.5, 0.3, 0.2, 0.1] + rng.normal(size=len(x)),
                      **{f"x{i}": x[:, i] for i in range(4)}})
    acc = cx.DriversAccumulator("y", [f"x{i}" for i in range(4)], n_resamples=2_000, seed=1)
    acc.update(table.slice(0, 1_000))
    before = acc.to_bytes()
    print("started", flush=True)
    try:
        acc.update(table)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted" if acc.to_bytes() == before else "changed", flush=True)
"""

# The report: studentized Shapley intervals over 16 ratings (a gradient per replicate).
LONG_DRIVERS_REPORT = LONG_DRIVERS_SETUP + """
    common = rng.normal(size=20_000)
    columns = {f"x{i}": np.clip(np.rint(3 + common + rng.normal(size=20_000)), 1, 5)
               for i in range(16)}
    columns["y"] = np.clip(np.rint(sum(columns.values()) / 8), 0, 10)
    table = pa.table(columns)
    call = dict(outcome="y", drivers=[f"x{i}" for i in range(16)], method="shapley",
                bootstrap="studentized", n_resamples=10_000, seed=1)
"""

LONG_DRIVERS_CALL = """
    print("started", flush=True)
    try:
        cx.drivers(table, **call)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
"""


@pytest.mark.parametrize("script", [LONG_BOOTSTRAP, LONG_DRIVERS_UPDATE,
                                    LONG_DRIVERS_REPORT + LONG_DRIVERS_CALL],
                         ids=["bootstrap", "drivers-update", "drivers-report"])
def test_sigint_interrupts_long_work_within_two_seconds(script: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.5)  # well inside the Rust call
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.strip() == "interrupted", err
    assert elapsed < 2.0, f"KeyboardInterrupt took {elapsed:.2f} s"


# --------------------------------------------------------------------------------------------
# option vocabulary: one list, owned by Rust; every bad option is an ArgumentError


def test_literal_types_match_the_native_vocabulary() -> None:
    assert get_args(_engine.CiMethod) == tuple(_native.CI_METHODS)
    assert get_args(_engine.BootstrapMethod) == tuple(_native.BOOTSTRAP_METHODS)
    assert get_args(_engine.OnInvalid) == tuple(_native.ON_INVALID)


@pytest.mark.parametrize("kwargs", [
    {"ci": "wilsn"}, {"ci": 3}, {"confidence": 1.0}, {"confidence": 0}, {"confidence": "0.9"},
    {"confidence": True}, {"confidence": float("nan")}, {"on_invalid": "ignore"},
    {"ci": "bootstrap", "bootstrap": "bcaa"}, {"ci": "bootstrap", "n_resamples": 0},
    {"ci": "bootstrap", "n_resamples": True}, {"ci": "bootstrap", "n_resamples": 2.0},
    {"ci": "bootstrap", "n_resamples": -5}, {"ci": "bootstrap", "n_resamples": 2**64},
    {"ci": "bootstrap", "seed": -1}, {"ci": "bootstrap", "seed": 2**64},
    {"ci": "bootstrap", "seed": 1.5}, {"ci": "bayes", "seed": "x"},
])
def test_bad_options_raise_argument_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(cx.ArgumentError) as info:
        cx.nps([10, 9, 0], **kwargs)
    name = next(k for k in kwargs if k != "ci") if len(kwargs) > 1 else next(iter(kwargs))
    assert name in str(info.value)


def test_accumulator_options_raise_argument_error() -> None:
    acc = cx.Accumulator("nps")
    acc.update([10, 9, 0])
    with pytest.raises(cx.ArgumentError):
        acc.result(ci="bootstrap", n_resamples=10**12)
    with pytest.raises(cx.ArgumentError):
        acc.result(confidence=2.0)


# --------------------------------------------------------------------------------------------
# items 11, 13: typed, helpful errors


@pytest.mark.parametrize("role", ["score", "by", "weight"])
def test_big_endian_numpy_is_read_like_native(role: str) -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 11, 500).astype(np.int64)
    keys = rng.integers(0, 4, 500).astype(np.int32)
    weights = rng.uniform(0.5, 2.0, 500)
    native = cx.nps(scores, by=keys, weight=weights)
    swapped = {"score": scores, "by": keys, "weight": weights}
    swapped[role] = swapped[role].astype(swapped[role].dtype.newbyteorder(">"))
    got = cx.nps(swapped["score"], by=swapped["by"], weight=swapped["weight"])
    assert got.to_arrow().equals(native.to_arrow())


def test_complex_numpy_is_an_unsupported_type() -> None:
    with pytest.raises(cx.UnsupportedTypeError, match="complex"):
        cx.nps(np.array([10, 9], dtype=np.complex128))


def test_integers_beyond_int64_are_a_typed_error() -> None:
    with pytest.raises(cx.CxError):
        cx.nps([10**30, 9])


def test_duplicate_column_names_are_a_column_error() -> None:
    table = pa.table([pa.array([10, 9]), pa.array([1, 2])], names=["s", "s"])
    with pytest.raises(cx.ColumnError, match="2 columns named 's'"):
        cx.nps(table, score="s")


def test_invalid_score_message_says_rows_count_from_zero_and_how_to_drop() -> None:
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps([10, 11])
    message = str(info.value)
    assert "row 1 (rows count from 0)" in message
    assert 'on_invalid="drop"' in message and "--on-invalid drop" in message


def test_dropping_most_rows_warns() -> None:
    with pytest.warns(cx.MostlyDroppedWarning, match="dropped 3 of 4"):
        res = cx.nps([10, 11, 12, 13], on_invalid="drop")
    assert (res.n, res.n_invalid) == (1, 3)


def test_dropping_a_few_rows_does_not_warn() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = cx.nps([10, 9, 8, 13], on_invalid="drop")
    assert res.n_invalid == 1


def test_polars_lazyframe_is_collected() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"s": [10, 9, 0, 7], "g": ["a", "a", "b", "b"]})
    got = cx.nps(frame.lazy(), score="s", by="g")
    assert got.to_arrow().equals(cx.nps(frame, score="s", by="g").to_arrow())


def test_pyarrow_dataset_is_scanned() -> None:
    import pyarrow.dataset as ds

    table = pa.table({"s": [10, 9, 0, 7], "g": ["a", "a", "b", "b"]})
    got = cx.nps(ds.dataset(table), score="s", by="g")
    assert got.to_arrow().equals(cx.nps(table, score="s", by="g").to_arrow())


def test_pandas_period_keys_keep_their_labels() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"s": [10, 9, 0, 7],
                          "month": pd.period_range("2024-01", periods=2, freq="M").repeat(2)})
    res = cx.nps(frame, score="s", by="month")
    assert sorted(r.segment[0] for r in res) == ["2024-01", "2024-02"]
    series = cx.nps(frame["s"], by=frame["month"])
    assert sorted(r.segment[0] for r in series) == ["2024-01", "2024-02"]


# --------------------------------------------------------------------------------------------
# item 7: the CLI refuses a CSV with an unterminated quote


def test_cli_unterminated_quote_is_an_error(tmp_path: Path) -> None:
    from cxmetrics.cli import main

    path = tmp_path / "broken.csv"
    path.write_text('score,team\n10,"a\n9,b\n0,b\n7,a\n')
    assert main(["report", str(path), "--score", "score", "--by", "team"]) == 2


def test_cli_warns_when_drop_removes_most_rows(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cxmetrics.cli import main

    path = tmp_path / "mostly_bad.csv"
    path.write_text("score\n10\n20\n30\n40\n")
    status = main(["report", str(path), "--score", "score", "--on-invalid", "drop"])
    assert status == 0
    assert "warning:" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# items 1-6, 14: wrong numbers or lost data, silently


def test_uint64_keys_beyond_int64_are_refused_not_counted_as_null() -> None:
    # Reproducer: 2**63 landed in the null segment (2 segments instead of 3).
    keys = pa.array([2**63, 0, None], pa.uint64())
    with pytest.raises(cx.UnsupportedTypeError, match="2\\^63"):
        cx.nps([10, 0, 5], by=keys)
    acc = cx.Accumulator("nps")
    with pytest.raises(cx.UnsupportedTypeError):
        acc.update([10, 0, 5], by=keys)
    fits = cx.nps([10, 0, 5], by=pa.array([2**63 - 1, 0, None], pa.uint64()))
    assert sorted((r.segment[0] is None, r.n) for r in fits) == [(False, 1), (False, 1), (True, 1)]


@pytest.mark.parametrize("first,second", [
    (pa.array([1, 2]), pa.array(["a", "b"])),
    (pa.array([1, 2], pa.timestamp("s")), pa.array([1500, 2500], pa.timestamp("ms"))),
    (pa.array([0.1, 0.2], pa.float32()), pa.array([0.1, 0.2], pa.float64())),
])
def test_update_never_casts_keys_to_the_first_batch_type(first: pa.Array, second: pa.Array) -> None:
    # Reproducer: strings became null, ms timestamps truncated into one segment, 0.1 became
    # 0.100000001. The same data through merge raised; update now does too.
    acc = cx.Accumulator("nps")
    acc.update([10, 9], by=first)
    before = acc.to_bytes()
    with pytest.raises(cx.UnsupportedTypeError, match="earlier batches"):
        acc.update([8, 7], by=second)
    assert acc.to_bytes() == before  # all-or-nothing


def test_null_typed_first_batch_takes_the_later_type() -> None:
    # Reproducer: "Casting from Utf8 to Null not supported".
    acc = cx.Accumulator("nps")
    acc.update([10, 9], by=pa.nulls(2))
    acc.update([0, 10, 10], by=pa.array(["a", "b", "b"]))
    res = acc.result()
    assert sorted((str(r.segment[0]), r.n) for r in res) == [("None", 2), ("a", 1), ("b", 2)]
    assert res.overall.n == 5


def test_merge_refuses_counts_past_2_to_the_64() -> None:
    # Reproducer: counts wrapped silently (and the bytes were then refused by from_bytes).
    # A state holding 2^63 rows is built by merging a real state with itself 63 times.
    acc = cx.Accumulator("nps")
    acc.update([10])
    for _ in range(63):
        acc = acc.merge(acc)
    assert acc.result().n == 2**63
    with pytest.raises(cx.CxError, match="2\\^64"):
        acc.merge(acc)
    assert cx.Accumulator.from_bytes(acc.to_bytes()).result().n == 2**63


def test_decimal_scores_with_any_fraction_are_invalid() -> None:
    import decimal

    scores = pa.array([decimal.Decimal("9.0000000000000000001"), decimal.Decimal("9")],
                      pa.decimal128(38, 19))
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(scores)
    assert (info.value.count, info.value.first_row) == (1, 0)
    dropped = cx.nps(scores, on_invalid="drop")
    assert (dropped.n, dropped.n_invalid) == (1, 1)


def test_nan_keys_with_different_payloads_are_one_segment() -> None:
    payloads = np.array([0x7FF8000000000000, 0x7FF8000000000001, 0xFFF8000000000000],
                        dtype=np.uint64).view(np.float64)
    keys = np.concatenate([payloads, [0.0, -0.0]])
    res = cx.nps([10, 9, 0, 5, 10], by=keys)
    assert sorted(r.n for r in res) == [2, 3]
    acc = cx.Accumulator("nps")
    acc.update([10], by=payloads[:1])
    acc.update([0], by=payloads[1:2])
    assert len(acc.result()) == 1


@pytest.mark.parametrize("call", [
    lambda: cx.nps([10], scale=(0, 10)),
    lambda: cx.nps([10], scale=cx.Scale(2**63, 2**63 + 10)),
    lambda: cx.nps([10], promoters=(9, 2**70)),
])
def test_bad_scales_and_buckets_are_argument_errors(call: Any) -> None:
    with pytest.raises(cx.ArgumentError):
        call()


def test_keys_outside_pythons_date_range_are_a_typed_error() -> None:
    keys = pa.array([10**7, 0], pa.int32()).cast(pa.date32())  # year ≈ 29349
    with pytest.raises(cx.UnsupportedTypeError, match="cast the key column"):
        # Results keep keys as Arrow; they become Python values when a segment is asked for.
        list(cx.nps([10, 0], by=keys))


def test_to_pandas_without_pandas_names_the_extra() -> None:
    # A fresh interpreter where importing pandas fails, as on an install without the extra.
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import cxmetrics as cx\n"
        "res = cx.nps([10, 0, 9], by=['a', 'b', 'a'])\n"
        "try:\n"
        "    res.to_pandas()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert "pip install 'cxmetrics[pandas]'" in out.stdout
