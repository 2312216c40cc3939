"""The bad-input matrix: every public metric function × many Arrow (and NumPy) types for the
scores, the segment keys and the weights. Each call either gives the plain NumPy reference's
numbers (tests/helpers/reference.py) on the values the input holds, or raises a
``cx.CxError``; any other exception type, or a different number, fails.

The oracle reads the values back with ``to_pylist()`` (nulls are missing), so it does not share
the package's conversion path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from helpers import reference as ref

SCORES = [5, 1, 4, None, 3, 5, 2, 4, 1, 5, 5, 3]  # valid on every scale used below


def _with_empty_chunks(arr: pa.Array) -> pa.ChunkedArray:
    empty = arr.slice(0, 0)
    return pa.chunked_array([empty, arr.slice(0, 5), empty, arr.slice(5), empty], type=arr.type)


def _sliced(values: list[Any], typ: pa.DataType) -> pa.Array:
    padded = pa.array([values[0], *values, values[-1]], type=typ)
    return padded.slice(1, len(values))


def _dictionary(values: list[Any], typ: pa.DataType) -> pa.Array:
    return pa.array(values, type=typ).dictionary_encode()


def _dictionary_with_null_values(values: list[Any]) -> pa.Array:
    """Dictionary whose *dictionary* holds a null, referenced by the null rows."""
    uniq = [v for v in dict.fromkeys(values) if v is not None]
    dictionary = pa.array([*uniq, None], type=pa.int64())
    index = [len(uniq) if v is None else uniq.index(v) for v in values]
    return pa.DictionaryArray.from_arrays(pa.array(index, pa.int32()), dictionary)


def _big_endian(values: list[Any], dtype: str) -> np.ndarray:
    return np.array([0 if v is None else v for v in values], dtype=dtype)


def score_columns() -> dict[str, Callable[[], object]]:
    v = SCORES
    out: dict[str, Callable[[], object]] = {}
    for typ in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
                pa.uint32(), pa.uint64(), pa.float32(), pa.float64()):
        out[str(typ)] = lambda typ=typ: pa.array(v, type=typ)
        out[f"{typ} sliced"] = lambda typ=typ: _sliced(v, typ)
        out[f"{typ} chunked+empty"] = lambda typ=typ: _with_empty_chunks(pa.array(v, type=typ))
    out["float16"] = lambda: pa.array(np.array([np.nan if x is None else x for x in v],
                                               dtype=np.float16))
    out["decimal128(10,0)"] = lambda: pa.array(
        [None if x is None else decimal.Decimal(x) for x in v], pa.decimal128(10, 0))
    out["decimal128(20,3)"] = lambda: pa.array(
        [None if x is None else decimal.Decimal(x) for x in v], pa.decimal128(20, 3))
    out["dictionary int64"] = lambda: _dictionary(v, pa.int64())
    out["dictionary null values"] = lambda: _dictionary_with_null_values(v)
    out["numpy >i8"] = lambda: _big_endian([x or 3 for x in v], ">i8")
    out["numpy >f8"] = lambda: _big_endian([x or 3 for x in v], ">f8")
    out["numpy <i2"] = lambda: _big_endian([x or 3 for x in v], "<i2")
    # Types that cannot hold scores: a CxError, never another exception.
    out["string"] = lambda: pa.array([None if x is None else str(x) for x in v])
    out["bool"] = lambda: pa.array([None if x is None else x > 2 for x in v])
    out["timestamp[s, tz]"] = lambda: pa.array(v, pa.int64()).cast(pa.timestamp("s", "UTC"))
    out["date32"] = lambda: pa.array(v, pa.int32()).cast(pa.date32())
    out["binary"] = lambda: pa.array([None if x is None else bytes([x]) for x in v])
    out["null"] = lambda: pa.nulls(len(v))
    out["list<int64>"] = lambda: pa.array([[x] for x in v])
    out["numpy complex"] = lambda: np.array([complex(x or 0) for x in v])
    return out


def _plain_scores(column: object) -> list[float | None] | None:
    """What the column holds, as numbers (None: missing); None when it holds no numbers."""
    if isinstance(column, np.ndarray):
        if column.dtype.kind not in "iuf":
            return None
        return [float(x) for x in column.tolist()]
    arr = column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])
    typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if pa.types.is_null(typ):
        return [None] * len(arr)
    if not (pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)):
        return None
    out: list[float | None] = []
    for x in arr.to_pylist():
        out.append(None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x))
    return out


METRICS: dict[str, tuple[Callable[..., Any], Callable[..., ref.RefResult]]] = {
    # Wald, as the reference computes it (the default is the score interval).
    "nps": (lambda d, **k: cx.nps(d, ci="wald", **k), lambda s, w: ref.nps(s, w)),
    "csat": (lambda d, **k: cx.csat(d, **k), lambda s, w: ref.csat(s, w)),
    "ces": (lambda d, **k: cx.ces(d, **k), lambda s, w: ref.ces(s, w)),
    "top_box": (lambda d, **k: cx.top_box(d, scale=cx.Scale(1, 5), top=2, **k),
                lambda s, w: ref.top_box(s, w, scale=(1, 5), top=2)),
    "bottom_box": (lambda d, **k: cx.bottom_box(d, scale=cx.Scale(1, 5), bottom=2, **k),
                   lambda s, w: ref.bottom_box(s, w, scale=(1, 5), bottom=2)),
    "mean_score": (lambda d, **k: cx.mean_score(d, **k), lambda s, w: ref.mean(s, w)),
}


def _check_against_reference(got: Any, want: ref.RefResult) -> None:
    assert got.n == want.n
    for name in ("value", "se", "ci_low", "ci_high"):
        g, w = getattr(got, name), getattr(want, name)
        assert (math.isnan(g) and math.isnan(w)) or g == pytest.approx(w, rel=1e-9, abs=1e-9), name


def _run_or_cx_error(call: Callable[[], Any]) -> Any:
    """The call's result, or None when it raised a CxError; any other exception propagates."""
    try:
        return call()
    except cx.CxError:
        return None


SCORE_COLUMNS = score_columns()


@pytest.mark.parametrize("metric", sorted(METRICS))
@pytest.mark.parametrize("kind", sorted(SCORE_COLUMNS))
def test_score_types(metric: str, kind: str) -> None:
    column = SCORE_COLUMNS[kind]()
    func, reference = METRICS[metric]
    got = _run_or_cx_error(lambda: func(column))
    plain = _plain_scores(column)
    if got is None:
        # Refusing is fine for a type that holds no numbers, and for encodings the core does not
        # read (dictionary, half floats); plain numbers must be computed.
        assert plain is None or kind.startswith(("float16", "dictionary")), f"{kind} refused"
        return
    assert plain is not None, f"{kind} is not numeric but was accepted"
    valid = np.array([x for x in plain if x is not None], dtype=np.int64)
    _check_against_reference(got, reference(valid, None))
    assert got.n_missing == sum(x is None for x in plain)


def _key_columns() -> dict[str, Callable[[], object]]:
    labels = ["a", "b", None, "a", "c", "b", "a", None, "c", "c", "b", "a"]
    codes = [None if x is None else "abc".index(x) for x in labels]
    out: dict[str, Callable[[], object]] = {
        "string": lambda: pa.array(labels),
        "large_string": lambda: pa.array(labels, pa.large_string()),
        "dictionary string": lambda: pa.array(labels).dictionary_encode(),
        "dictionary null values": lambda: _dictionary_with_null_values(codes),
        "string chunked+empty": lambda: _with_empty_chunks(pa.array(labels)),
        "string sliced": lambda: _sliced(labels, pa.string()),
        "binary": lambda: pa.array([None if x is None else x.encode() for x in labels]),
        "bool": lambda: pa.array([None if c is None else c > 0 for c in codes]),
        "float64 NaN": lambda: pa.array([math.nan if c is None else float(c) for c in codes]),
        "decimal128": lambda: pa.array([None if c is None else decimal.Decimal(c)
                                        for c in codes], pa.decimal128(5, 0)),
        "timestamp[ms, tz]": lambda: pa.array(
            [None if c is None else dt.datetime(2024, 1, 1 + c, tzinfo=dt.UTC) for c in codes],
            pa.timestamp("ms", "Europe/London")),
        "date32": lambda: pa.array([None if c is None else dt.date(2024, 1, 1 + c)
                                    for c in codes]),
        "numpy >i4": lambda: np.array([-1 if c is None else c for c in codes], dtype=">i4"),
    }
    for typ in (pa.int8(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()):
        out[str(typ)] = lambda typ=typ: pa.array(codes, typ)
    return out


KEY_COLUMNS = _key_columns()
KEY_SCORES = [10, 9, 0, 7, 5, 10, 3, 9, 9, 0, 8, 10]


def _group(keys: list[Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = {}
    for key, score in zip(keys, KEY_SCORES, strict=True):
        if isinstance(key, float) and math.isnan(key):
            key = "nan"
        groups.setdefault(key, []).append(score)
    return groups


@pytest.mark.parametrize("kind", sorted(KEY_COLUMNS))
def test_key_types(kind: str) -> None:
    keys = KEY_COLUMNS[kind]()
    got = _run_or_cx_error(lambda: cx.nps(KEY_SCORES, by=keys, ci="wald"))
    if got is None:
        return
    values = keys.tolist() if isinstance(keys, np.ndarray) else keys.to_pylist()
    groups = _group(values)
    assert len(got) == len(groups), f"{kind}: {[r.segment for r in got]} vs {list(groups)}"
    sizes = sorted(r.n for r in got)
    assert sizes == sorted(len(s) for s in groups.values())
    for row in got:
        want = ref.nps(np.array(groups_for(row, groups)), None)
        assert row.value == pytest.approx(want.value)
    _check_against_reference(got.overall, ref.nps(np.array(KEY_SCORES), None))


def groups_for(row: Any, groups: dict[Any, list[int]]) -> list[int]:
    key = row.segment[0]
    if isinstance(key, float) and math.isnan(key):
        key = "nan"
    if key in groups:
        return groups[key]
    # Keys come back in their Python form (e.g. a datetime with its zone): match by value.
    matches = [k for k in groups if k == key]
    assert matches, f"segment {key!r} is not one of {list(groups)}"
    return groups[matches[0]]


WEIGHTS = [1.0, 2.0, 0.5, 1.5, 1.0, 3.0, 0.25, 1.0, 2.0, 1.0, 0.75, 1.0]


def _weight_columns() -> dict[str, Callable[[], object]]:
    return {
        "float64": lambda: pa.array(WEIGHTS),
        "float32": lambda: pa.array(WEIGHTS, pa.float32()),
        "float64 chunked+empty": lambda: _with_empty_chunks(pa.array(WEIGHTS)),
        "float64 sliced": lambda: _sliced(WEIGHTS, pa.float64()),
        "numpy >f8": lambda: np.array(WEIGHTS, dtype=">f8"),
        "int64": lambda: pa.array([round(w) for w in WEIGHTS]),
        "decimal128": lambda: pa.array([decimal.Decimal(str(w)) for w in WEIGHTS],
                                       pa.decimal128(6, 2)),
        "dictionary float64": lambda: pa.array(WEIGHTS).dictionary_encode(),
        "string": lambda: pa.array([str(w) for w in WEIGHTS]),
        "null": lambda: pa.nulls(len(WEIGHTS)),
        "with a null": lambda: pa.array([None, *WEIGHTS[1:]]),
    }


WEIGHT_COLUMNS = _weight_columns()


@pytest.mark.parametrize("metric", ["nps", "csat", "mean_score"])
@pytest.mark.parametrize("kind", sorted(WEIGHT_COLUMNS))
def test_weight_types(metric: str, kind: str) -> None:
    weights = WEIGHT_COLUMNS[kind]()
    scores = [s if metric == "nps" else 1 + s % 5 for s in KEY_SCORES]
    func, reference = METRICS[metric]
    got = _run_or_cx_error(lambda: func(scores, weight=weights))
    values = weights.tolist() if isinstance(weights, np.ndarray) else weights.to_pylist()
    if got is None:
        return
    assert all(v is not None for v in values), f"{kind}: a null weight was accepted"
    w = np.array([float(v) for v in values])
    _check_against_reference(got, reference(np.array(scores), w))


@pytest.mark.parametrize("kind", sorted(SCORE_COLUMNS))
def test_accumulator_agrees_with_the_function(kind: str) -> None:
    column = SCORE_COLUMNS[kind]()
    direct = _run_or_cx_error(lambda: cx.csat(column))
    acc = cx.Accumulator("csat")
    fed = _run_or_cx_error(lambda: acc.update(column) or acc.result())
    assert (direct is None) == (fed is None), kind
    if direct is not None:
        assert (fed.value, fed.n, fed.n_missing) == (direct.value, direct.n, direct.n_missing) or (
            math.isnan(fed.value) and math.isnan(direct.value))
