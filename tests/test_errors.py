"""Bad input raises typed errors that name the column, the count, and the first bad row."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx


@pytest.mark.parametrize(
    "values,first_row,first_value,count",
    [
        ([10, 11, 3, -1], 1, 11, 2),
        ([1.0, 2.5, 3.0], 1, 2.5, 1),
        ([1.0, 2.0, float("nan")], 2, "nan", 1),
        ([float("inf"), 1.0], 0, math.inf, 1),
        (np.array([3, 4, 200], dtype=np.uint8), 2, 200, 1),
    ],
)
def test_invalid_scores_raise_with_details(
    values: object, first_row: int, first_value: object, count: int
) -> None:
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(values)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, cx.CxError)
    assert err.column == "score" and err.count == count and err.first_row == first_row
    if first_value == "nan":
        assert isinstance(err.first_value, float) and math.isnan(err.first_value)
    else:
        assert err.first_value == first_value
    assert str(first_row) in str(err) and "score" in str(err)


def test_invalid_row_index_counts_across_chunks_and_names_table_column() -> None:
    scores = pa.chunked_array([[10, 9, 8], [7, 42, 0, 43]])
    table = pa.table({"likelihood": scores})
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(table, score="likelihood")
    assert (info.value.column, info.value.count, info.value.first_row) == ("likelihood", 2, 4)


def test_drop_counts_invalid_per_segment() -> None:
    res = cx.nps([10, 11, 0, 12.5], by=["a", "a", "b", "b"], on_invalid="drop")
    assert (res["a"].n, res["a"].n_invalid, res["b"].n, res["b"].n_invalid) == (1, 1, 1, 1)
    assert res.overall.n_invalid == 2


@pytest.mark.parametrize(
    "weights,count,first_row",
    [([1.0, -1.0, 2.0], 1, 1), ([1.0, float("nan"), float("inf")], 2, 1), ([1.0, None, 1.0], 1, 1),
     # Outside 2^-38..2^32 (the range in which weight sums are kept exactly); zero is fine.
     ([0.0, 2.0**32, 1e-13, 2.0**-38, 2.0**32 - 1], 2, 1)],
)
def test_bad_weights(weights: list[float | None], count: int, first_row: int) -> None:
    with pytest.raises(cx.InvalidWeightError) as info:
        cx.nps([1, 2, 3, 4, 5][: len(weights)], weight=pa.array(weights, pa.float64()))
    assert (info.value.column, info.value.count, info.value.first_row) == (
        "weight",
        count,
        first_row,
    )
    assert "2^-38" in str(info.value) and "2^32" in str(info.value)


def test_column_errors() -> None:
    table = pa.table({"s": [1, 2], "k": ["a", "b"]})
    with pytest.raises(cx.ColumnError, match="no column 'nope'"):
        cx.nps(table, score="nope")
    with pytest.raises(cx.ColumnError, match="score="):
        cx.nps(table)
    with pytest.raises(cx.ColumnError):
        cx.nps(table, score="s", by="missing")
    with pytest.raises(cx.LengthMismatchError) as info:
        cx.nps([1, 2, 3], by=["a", "b"])
    assert info.value.column == "by"


def test_unsupported_types() -> None:
    with pytest.raises(cx.UnsupportedTypeError) as info:
        cx.nps(pa.array(["10", "9"]))
    assert isinstance(info.value, TypeError) and info.value.column == "score"
    with pytest.raises(cx.UnsupportedTypeError):
        cx.nps([1, 2], weight=pa.array(["x", "y"]))
    with pytest.raises(cx.UnsupportedTypeError):
        cx.nps([1, 2], by=pa.array([[1], [2]]))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="ci must be"):
        cx.nps([1], ci="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        cx.nps([1], confidence=1.5)
    with pytest.raises(cx.CxError, match="does not apply"):
        cx.nps([1], ci="wilson")
    with pytest.raises(cx.CxError, match="does not apply"):
        cx.csat([1], ci="score")
    with pytest.raises(ValueError):
        cx.top_box([1], top=0)
    with pytest.raises(cx.CxError, match="overlap"):
        cx.nps([1], promoters=(5, 10), detractors=(0, 6))


def test_corrupt_dictionary_indices_do_not_crash() -> None:
    # Dictionary indices past the dictionary: Arrow's own validation or our bounds checks must
    # turn this into an exception, never a crash or a wrong answer.
    indices = pa.array([0, 1, 7], pa.int32())
    dictionary = pa.array(["a", "b"])
    broken = pa.DictionaryArray.from_buffers(
        pa.dictionary(pa.int32(), pa.string()), 3, indices.buffers(), dictionary
    )
    with pytest.raises(Exception) as info:
        cx.nps([1, 2, 3], by=broken)
    # A Rust panic would surface as pyo3's PanicException (a BaseException, not an Exception).
    assert isinstance(info.value, cx.CxError | pa.ArrowException)
