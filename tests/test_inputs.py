"""Every input kind gives the same answer, NumPy and Arrow inputs are not copied, and the import
stays light."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics._inputs import as_column

SCORES = [10, 9, 7, 0, 6, 10, 3, None, 8, 9]
KEYS = ["a", "b", "a", "b", "c", "a", None, "a", "c", "b"]


def _expected() -> cx.SegmentedResult:
    table = pa.table({"s": pa.array(SCORES, pa.int64()), "k": pa.array(KEYS)})
    return cx.nps(table, score="s", by="k")


def _summary(res: cx.SegmentedResult) -> list[tuple[object, ...]]:
    return [(r.segment, r.n, r.n_missing, r.value, r.ci_low, r.ci_high) for r in res] + [
        ((), res.overall.n, res.overall.n_missing, res.overall.value)
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.table({"s": SCORES, "k": KEYS}),
        lambda: pa.table({"s": SCORES, "k": pa.array(KEYS).dictionary_encode()}),
        lambda: pa.table(
            {"s": pa.array(SCORES, pa.float32()), "k": pa.array(KEYS, pa.large_string())}
        ),
        lambda: pa.table(
            {"s": pa.array(SCORES, pa.uint8()), "k": pa.array(KEYS, pa.string_view())}
        ),
        lambda: pa.table({"s": SCORES, "k": KEYS}).to_batches()[0],
        lambda: pa.RecordBatchReader.from_batches(
            pa.table({"s": SCORES, "k": KEYS}).schema,
            pa.table({"s": SCORES, "k": KEYS}).to_batches(max_chunksize=3),
        ),
        lambda: pl.DataFrame({"s": SCORES, "k": KEYS}),
        lambda: pl.DataFrame({"s": SCORES, "k": KEYS}, schema_overrides={"k": pl.Categorical}),
        lambda: pd.DataFrame({"s": SCORES, "k": KEYS}),
        lambda: pd.DataFrame({"s": pd.array(SCORES, dtype="Int8"), "k": pd.Categorical(KEYS)}),
    ],
    ids=[
        "arrow",
        "arrow-dict",
        "float32-large-string",
        "uint8-string-view",
        "record-batch",
        "reader-chunked",
        "polars",
        "polars-categorical",
        "pandas",
        "pandas-nullable-categorical",
    ],
)
def test_table_inputs_agree(make: object) -> None:
    got = cx.nps(make(), score="s", by="k")  # type: ignore[operator]
    assert _summary(got) == _summary(_expected())


@pytest.mark.parametrize(
    "scores,keys",
    [
        (pa.array(SCORES), pa.array(KEYS)),
        (pa.chunked_array([SCORES[:4], SCORES[4:]]), pa.chunked_array([KEYS[:7], KEYS[7:]])),
        (SCORES, KEYS),
        (pl.Series("s", SCORES), pl.Series("k", KEYS)),
        (pd.Series(SCORES, dtype="float64"), pd.Series(KEYS)),
        (np.array([np.nan if s is None else s for s in SCORES]), np.array(KEYS, dtype=object)),
    ],
    ids=["arrow", "chunked-misaligned", "lists", "polars", "pandas", "numpy"],
)
def test_column_inputs_agree(scores: object, keys: object) -> None:
    if isinstance(scores, np.ndarray):
        # A NumPy NaN is an invalid score, not a missing one: drop it and count it.
        got = cx.nps(scores, by=keys, on_invalid="drop")
        assert got.overall.n_invalid == 1 and got.overall.n_missing == 0
        assert [(r.segment, r.n, r.value) for r in got] == [
            (r.segment, r.n, r.value) for r in _expected()
        ]
        return
    assert _summary(cx.nps(scores, by=keys)) == _summary(_expected())


@pytest.mark.parametrize(
    "dtype",
    [
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float32",
        "float64",
    ],
)
def test_numpy_dtypes_zero_copy(dtype: str) -> None:
    values = np.array([10, 9, 0, 7, 5] * 20, dtype=dtype)
    column = as_column(values, "score")
    # The Arrow data buffer is the NumPy buffer itself.
    assert column.chunk(0).buffers()[1].address == values.ctypes.data
    res = cx.nps(values)
    assert res.n == 100 and res.value == pytest.approx(100 * (40 - 40) / 100)


def test_float16_and_decimal_scores() -> None:
    half = pa.array(np.array([10, 0, 9], dtype=np.float16))
    assert cx.nps(half).value == pytest.approx(100 / 3)
    dec = pa.array([10, 0, 9], pa.decimal128(5, 1))
    assert cx.nps(dec).value == pytest.approx(100 / 3)


def test_several_keys_of_mixed_types() -> None:
    table = pa.table(
        {
            "s": [10, 0, 9, 9, 7, 1],
            "region": pa.array(["n", "n", "s", "s", None, "n"]).dictionary_encode(),
            "vip": [True, False, True, True, None, False],
            "year": [2024, 2024, 2025, 2025, 2025, 2024],
        }
    )
    res = cx.nps(table, score="s", by=["region", "vip", "year"])
    assert res.keys() == [
        ("n", False, 2024),
        ("n", True, 2024),
        ("s", True, 2025),
        (None, None, 2025),
    ]
    assert res[("n", False, 2024)].n == 2 and res[("n", False, 2024)].value == -100
    assert res.to_arrow().column_names[:3] == ["region", "vip", "year"]
    assert len(res.to_pandas()) == 4 and res.to_polars().height == 4


def test_wide_integer_and_date_keys() -> None:
    keys = pa.array([10**12, -(10**12), 10**12, 5])
    dates = pa.array([0, 1, 0, 400], pa.date32())
    scores = [10, 0, 9, 7]
    res = cx.nps(scores, by=keys)
    assert res[10**12].n == 2 and res[-(10**12)].value == -100
    by_date = cx.nps(scores, by=dates)
    assert [r.n for r in by_date] == [2, 1, 1]


def test_segment_with_only_missing_scores_is_reported() -> None:
    res = cx.nps([10, None, None], by=["a", "b", "b"])
    assert res["b"].n == 0 and res["b"].n_missing == 2 and np.isnan(res["b"].value)
    empty = cx.nps(pa.array([], pa.int8()))
    assert empty.n == 0 and np.isnan(empty.value) and np.isnan(empty.ci_low)


def test_weights_use_kish_effective_n() -> None:
    res = cx.nps([10, 0, 7, 10], weight=[1.0, 3.0, 1.0, 1.0])
    assert res.value == pytest.approx(100 * (2 - 3) / 6)
    assert res.weighted_n == 6 and res.effective_n == pytest.approx(36 / 12)


def test_import_is_light() -> None:
    code = (
        "import sys, cxmetrics; "
        "heavy = [m for m in ('pandas', 'polars', 'scipy', 'matplotlib', 'pyspark', 'dask') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gil_released_threads_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(7)
    scores = rng.integers(0, 11, 400_000).astype(np.int8)
    keys = pa.array(rng.integers(0, 20, 400_000).astype(np.int32))
    expected = cx.nps(scores, by=keys)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cx.nps(scores, by=keys), range(8)))
    for res in results:
        assert [(r.segment, r.n, r.value) for r in res] == [
            (r.segment, r.n, r.value) for r in expected
        ]


def test_misaligned_numpy_is_copied_and_misaligned_arrow_is_an_error() -> None:
    raw = b"\x00" + (np.ones(100, np.int64) * 10).tobytes()
    misaligned = np.frombuffer(raw, np.int64, count=100, offset=1)
    assert not misaligned.flags.aligned
    assert cx.nps(misaligned).value == 100
    with pytest.raises(cx.UnsupportedTypeError, match="misaligned"):
        cx.nps(pa.array(misaligned))


def test_key_named_like_a_result_column() -> None:
    table = pa.table({"s": [10, 0, 9], "n": ["x", "y", "x"], "value": [1, 1, 2]})
    res = cx.nps(table, score="s", by=["n", "value"])
    assert res.keys() == [("x", 1), ("x", 2), ("y", 1)]
    assert res[("x", 1)].n == 1 and res[("y", 1)].value == -100
    out = res.to_arrow()
    assert out.column("n_segment").to_pylist() == ["x", "x", "y"]
    assert out.column("n").to_pylist() == [1, 1, 1]


def test_zero_chunk_key_column_keeps_its_type() -> None:
    empty_keys = pa.chunked_array([], pa.string())
    empty_scores = pa.chunked_array([], pa.int8())
    acc = cx.Accumulator("nps")
    acc.update(empty_scores, by=empty_keys)
    acc.update(pa.array([10, 0], pa.int8()), by=pa.array(["a", "b"]))
    assert [r.segment for r in acc.result()] == [("a",), ("b",)]
