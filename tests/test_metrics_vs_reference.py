"""Property tests: the public cxmetrics API (docs/api.md) against the NumPy reference.

Every metric and every analytic interval, on random surveys: sizes from 0 up, missing values,
weights, segment layouts, and every input container the API accepts (Python lists, NumPy arrays
of every integer and float dtype, pyarrow arrays and randomly chunked arrays, polars and pandas
Series, pyarrow / polars / pandas tables, record batches and readers).  The expected numbers are
computed by ``tests/helpers/reference.py`` on the valid subset of each segment.

Tolerances: counts and n exactly; value to 1e-12 relative (1e-11 absolute floor, as NPS can be
0); se and interval bounds to 1e-9 absolute (1e-9 relative for Student-t bounds, whose critical
value grows without bound as Kish's n_eff approaches 1).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from helpers import reference as ref

Value = int | float | None
Key = int | str | None

# --------------------------------------------------------------------------------------------
# metric specifications: how to call the package, and what the reference computes


@dataclass(frozen=True)
class Spec:
    id: str
    metric: str  # MetricResult.metric
    call: Callable[..., Any]  # cx function with its metric-specific options bound
    expect: Callable[..., ref.RefResult]  # (scores, weights, ci, confidence) -> RefResult
    scale: tuple[int, int]
    cis: tuple[str | None, ...]
    kind: str  # "nps" | "share" | "mean"

    def __repr__(self) -> str:
        return self.id


NPS_CIS = (None, "wald", "adjusted-wald", "score")
SHARE_CIS = (None, "wilson", "wald")
MEAN_CIS = (None, "t", "wald")


def _share_ref(bucket: tuple[int, int], scale: tuple[int, int]) -> Callable[..., ref.RefResult]:
    return lambda x, w, ci, conf: ref.share(x, bucket, w, ci=ci, confidence=conf, scale=scale)


def _mean_ref(scale: tuple[int, int]) -> Callable[..., ref.RefResult]:
    return lambda x, w, ci, conf: ref.mean(x, w, ci=ci, confidence=conf, scale=scale)


SPECS = [
    Spec(
        "nps",
        "nps",
        lambda d, **kw: cx.nps(d, **kw),
        lambda x, w, ci, conf: ref.nps(x, w, ci=ci, confidence=conf),
        (0, 10),
        NPS_CIS,
        "nps",
    ),
    Spec(
        "nps-custom-1to7",
        "nps",
        lambda d, **kw: cx.nps(d, scale=cx.Scale(1, 7), promoters=(7, 7), detractors=(1, 4), **kw),
        lambda x, w, ci, conf: ref.nps(
            x, w, ci=ci, confidence=conf, promoters=(7, 7), detractors=(1, 4), scale=(1, 7)
        ),
        (1, 7),
        NPS_CIS,
        "nps",
    ),
    Spec("csat", "csat", lambda d, **kw: cx.csat(d, **kw), _share_ref((4, 5), (1, 5)),
         (1, 5), SHARE_CIS, "share"),
    Spec("csat-mean", "csat", lambda d, **kw: cx.csat(d, statistic="mean", **kw),
         _mean_ref((1, 5)), (1, 5), MEAN_CIS, "mean"),
    Spec("ces-2.0", "ces", lambda d, **kw: cx.ces(d, **kw), _share_ref((5, 7), (1, 7)),
         (1, 7), SHARE_CIS, "share"),
    Spec("ces-effort", "ces", lambda d, **kw: cx.ces(d, variant="effort", **kw),
         _mean_ref((1, 5)), (1, 5), MEAN_CIS, "mean"),
    Spec("ces-effort-share", "ces",
         lambda d, **kw: cx.ces(d, variant="effort", statistic="share", **kw),
         _share_ref((1, 2), (1, 5)), (1, 5), SHARE_CIS, "share"),
    Spec("top-box", "top_box", lambda d, **kw: cx.top_box(d, **kw),
         _share_ref((9, 10), (1, 10)), (1, 10), SHARE_CIS, "share"),
    Spec("top-box-0to4-top1", "top_box",
         lambda d, **kw: cx.top_box(d, scale=cx.Scale(0, 4), top=1, **kw),
         _share_ref((4, 4), (0, 4)), (0, 4), SHARE_CIS, "share"),
    Spec("bottom-box", "bottom_box", lambda d, **kw: cx.bottom_box(d, **kw),
         _share_ref((1, 2), (1, 10)), (1, 10), SHARE_CIS, "share"),
    Spec("bottom-box-1to5-bottom1", "bottom_box",
         lambda d, **kw: cx.bottom_box(d, scale=cx.Scale(1, 5), bottom=1, **kw),
         _share_ref((1, 1), (1, 5)), (1, 5), SHARE_CIS, "share"),
    Spec("mean", "mean", lambda d, **kw: cx.mean_score(d, **kw), _mean_ref((1, 5)),
         (1, 5), MEAN_CIS, "mean"),
    Spec("mean-0to10", "mean", lambda d, **kw: cx.mean_score(d, scale=cx.Scale(0, 10), **kw),
         _mean_ref((0, 10)), (0, 10), MEAN_CIS, "mean"),
]  # fmt: skip

# --------------------------------------------------------------------------------------------
# input containers

NUMPY_DTYPES = [
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64,
]  # fmt: skip
POLARS_DTYPES = [
    pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64,
    pl.Float32, pl.Float64,
]  # fmt: skip
TABLE_KINDS = ["pyarrow-table", "record-batch", "record-batch-reader", "polars-df", "pandas-df"]


@dataclass(frozen=True)
class Container:
    """How a survey is handed to the package."""

    kind: str  # list | numpy | pyarrow | chunked | polars | pandas | a TABLE_KINDS entry
    dtype: Any = None

    @property
    def nullable(self) -> bool:
        return self.kind != "numpy"

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    def __repr__(self) -> str:
        return f"{self.kind}[{getattr(self.dtype, '__name__', self.dtype)}]"


CONTAINERS = (
    [Container("list")]
    + [Container("numpy", d) for d in NUMPY_DTYPES]
    + [Container("pyarrow", d) for d in NUMPY_DTYPES]
    + [Container("chunked", d) for d in NUMPY_DTYPES]
    + [Container("polars", d) for d in POLARS_DTYPES]
    + [Container("pandas", "Int64"), Container("pandas", "float64")]
    + [Container(k, np.int16) for k in TABLE_KINDS]
)


def _arrow(values: Sequence[Value], dtype: Any) -> pa.Array:
    """An Arrow array of a NumPy dtype with nulls where the value is None."""
    mask = np.array([v is None for v in values], dtype=bool)
    filled = np.array([0 if v is None else v for v in values], dtype=dtype)
    return pa.array(filled, mask=mask if mask.any() else None)


def _keys_arrow(keys: Sequence[Key]) -> pa.Array:
    if any(isinstance(k, str) for k in keys):
        return pa.array(keys, type=pa.string())
    return pa.array(keys, type=pa.int64())


def _chunk(arr: pa.Array, cuts: Sequence[int]) -> pa.ChunkedArray:
    """Split at the given cut points (duplicates give empty chunks)."""
    bounds = [0, *sorted(min(c, len(arr)) for c in cuts), len(arr)]
    chunks = [arr.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    return pa.chunked_array(chunks, type=arr.type)


def make_column(
    c: Container, values: Sequence[Value], cuts: Sequence[int], role: str = "score"
) -> Any:
    """``values`` (scores, keys or weights) in the container's column type."""
    if role == "by":
        keys: Sequence[Key] = values  # type: ignore[assignment]
        if c.kind == "list":
            return list(keys)
        if c.kind == "numpy":
            return np.array(keys)
        if c.kind == "pyarrow":
            return _keys_arrow(keys)
        if c.kind == "chunked":
            return _chunk(_keys_arrow(keys), cuts)
        if c.kind == "polars":
            return pl.Series("seg", keys)
        if c.kind == "pandas":
            is_str = any(isinstance(k, str) for k in keys)
            return pd.Series(keys, dtype="string" if is_str else "Int64")
        raise AssertionError(c)
    dtype = np.float64 if role == "weight" else c.dtype
    if c.kind == "list":
        return list(values)
    if c.kind == "numpy":
        return np.array(values, dtype=dtype)
    if c.kind == "pyarrow":
        return _arrow(values, dtype)
    if c.kind == "chunked":
        return _chunk(_arrow(values, dtype), cuts)
    if c.kind == "polars":
        return pl.Series(role, values, dtype=pl.Float64 if role == "weight" else dtype)
    if c.kind == "pandas":
        return pd.Series(values, dtype="float64" if role == "weight" else dtype)
    raise AssertionError(c)


def make_table(
    c: Container,
    scores: Sequence[Value],
    keys: Sequence[Key] | None,
    weights: Sequence[float] | None,
) -> Any:
    cols: dict[str, pa.Array] = {"score": _arrow(scores, c.dtype)}
    if keys is not None:
        cols["seg"] = _keys_arrow(keys)
    if weights is not None:
        cols["w"] = pa.array(np.asarray(weights, dtype=np.float64))
    table = pa.table(cols)
    if c.kind == "pyarrow-table":
        return table
    if c.kind == "record-batch":
        return pa.RecordBatch.from_arrays(list(cols.values()), names=list(cols))
    if c.kind == "record-batch-reader":
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=7))
    if c.kind == "polars-df":
        return pl.from_arrow(table)
    if c.kind == "pandas-df":
        return table.to_pandas()  # NumPy-backed: nulls in integer columns become NaN (missing)
    raise AssertionError(c)


# --------------------------------------------------------------------------------------------
# comparing one result


def _close(got: float, want: float, *, rel: float, abs_: float) -> bool:
    if math.isnan(want):
        return math.isnan(got)
    return math.isclose(got, want, rel_tol=rel, abs_tol=abs_)


def check_result(
    got: Any,
    want: ref.RefResult,
    spec: Spec,
    *,
    ci: str | None,
    confidence: float,
    n_missing: int,
    n_invalid: int = 0,
    segment: tuple[Key, ...] = (),  # docs/api.md: () for an unsegmented or overall result
    weighted: bool = False,
) -> None:
    ctx = f"{spec.id} ci={ci} segment={segment}: got {got}, want {want}"
    assert isinstance(got, cx.MetricResult), ctx
    assert got.metric == spec.metric, ctx
    assert got.n == want.n, ctx
    assert got.n_missing == n_missing, ctx
    assert got.n_invalid == n_invalid, ctx
    assert got.segment == segment, ctx
    assert got.confidence == confidence, ctx
    assert got.method == ci, ctx
    assert tuple(got.distribution) == want.distribution, ctx
    if spec.kind == "nps":
        assert dict(got.counts) == want.counts, ctx
    elif spec.kind == "share":
        # key names are the package's; the in-box and out-of-box row counts are not
        assert sorted(got.counts.values()) == sorted(want.counts.values()), ctx
    assert _close(got.weighted_n, want.weighted_n, rel=1e-12, abs_=1e-12), ctx
    if want.n > 0:  # Kish's (Σw)²/Σw² is 0/0 for an empty segment: 0 and NaN both acceptable
        assert _close(got.effective_n, want.effective_n, rel=1e-12, abs_=1e-12), ctx
    if not weighted:
        assert got.weighted_n == want.n and got.effective_n == want.n, ctx
    assert _close(got.value, want.value, rel=1e-12, abs_=1e-11), ctx
    assert _close(got.se, want.se, rel=1e-12, abs_=1e-9), ctx
    rel = 1e-9 if ci == "t" else 1e-12
    # A bound is about value ∓ critical value × se, so the se's tolerance reaches the bounds
    # times that critical value: with an effective n near 1 the t quantile is in the millions,
    # and the reference's round-off se (1.7e-15 for ten equal scores, where ours is exactly 0)
    # moved its bounds by 2e-8.
    width = want.ci_high - want.ci_low
    scale = width / (2 * want.se) if want.se > 0 and math.isfinite(width) else 1.0
    bound_abs = 1e-9 * max(1.0, scale)
    assert _close(got.ci_low, want.ci_low, rel=rel, abs_=bound_abs), ctx
    assert _close(got.ci_high, want.ci_high, rel=rel, abs_=bound_abs), ctx


def _subset(
    scores: Sequence[Value], weights: Sequence[float] | None, mask: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Valid scores (and their weights) of the rows in ``mask``, and the missing count."""
    rows = [i for i, m in enumerate(mask) if m]
    valid = [i for i in rows if scores[i] is not None]
    x = np.array([int(scores[i]) for i in valid], dtype=np.int64)  # type: ignore[arg-type]
    w = None if weights is None else np.array([weights[i] for i in valid], dtype=np.float64)
    return x, w, len(rows) - len(valid)


def _sort_keys(keys: Sequence[Key]) -> list[Key]:
    present = sorted({k for k in keys if k is not None})  # type: ignore[type-var]
    return present + ([None] if None in keys else [])


# --------------------------------------------------------------------------------------------
# strategies


@st.composite
def surveys(draw: st.DrawFn, spec: Spec) -> dict[str, Any]:
    container = draw(st.sampled_from(CONTAINERS))
    lo, hi = spec.scale
    n = draw(st.integers(0, 40))
    values: st.SearchStrategy[Value] = st.integers(lo, hi)
    if draw(st.booleans()):
        # one or two distinct values: the one-bucket edge cases (se = 0, closed-form score)
        values = st.sampled_from(draw(st.lists(st.integers(lo, hi), min_size=1, max_size=2)))
    if container.nullable and draw(st.booleans()):
        values = st.one_of(values, st.none())
    scores = draw(st.lists(values, min_size=n, max_size=n))
    weights = None
    if draw(st.booleans()):
        weights = draw(st.lists(st.floats(0.25, 4.0), min_size=n, max_size=n))
    keys = None
    if draw(st.booleans()):
        pool = draw(st.sampled_from([[0, 1, 2, 3], [7, -2], ["a", "b", "c"], ["x"]]))
        key_values: st.SearchStrategy[Key] = st.sampled_from(pool)
        if container.nullable and draw(st.booleans()):
            key_values = st.one_of(key_values, st.none())
        keys = draw(st.lists(key_values, min_size=n, max_size=n))
    return {
        "container": container,
        "scores": scores,
        "weights": weights,
        "keys": keys,
        "ci": draw(st.sampled_from(spec.cis)),
        "confidence": draw(st.sampled_from([0.95, 0.9, 0.99, 0.8])),
        "cuts": [draw(st.lists(st.integers(0, n), max_size=4)) for _ in range(3)],
    }


def call_package(spec: Spec, s: dict[str, Any], **extra: Any) -> Any:
    c: Container = s["container"]
    kw: dict[str, Any] = {"ci": s["ci"], "confidence": s["confidence"], **extra}
    if c.is_table:
        data = make_table(c, s["scores"], s["keys"], s["weights"])
        if s["keys"] is not None:
            kw["by"] = "seg"
        if s["weights"] is not None:
            kw["weight"] = "w"
        return spec.call(data, score="score", **kw)
    data = make_column(c, s["scores"], s["cuts"][0])
    if s["keys"] is not None:
        kw["by"] = make_column(c, s["keys"], s["cuts"][1], role="by")
    if s["weights"] is not None:
        kw["weight"] = make_column(c, s["weights"], s["cuts"][2], role="weight")
    return spec.call(data, **kw)


SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------------------------
# the properties


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@SETTINGS
@given(data=st.data())
def test_matches_reference(spec: Spec, data: st.DataObject) -> None:
    s = data.draw(surveys(spec), label="survey")
    scores, weights, keys = s["scores"], s["weights"], s["keys"]
    common = {"ci": s["ci"], "confidence": s["confidence"], "weighted": weights is not None}
    res = call_package(spec, s)

    def expected(mask: Sequence[bool]) -> tuple[ref.RefResult, int]:
        x, w, n_missing = _subset(scores, weights, mask)
        return spec.expect(x, w, s["ci"], s["confidence"]), n_missing

    if keys is None:
        want, n_missing = expected([True] * len(scores))
        check_result(res, want, spec, n_missing=n_missing, **common)
        return

    assert isinstance(res, cx.SegmentedResult)
    order = _sort_keys(keys)
    assert len(res) == len(order)
    assert [r.segment for r in res] == [(k,) for k in order]
    for k in order:
        want, n_missing = expected([kk == k for kk in keys])
        got = res[k]
        check_result(got, want, spec, n_missing=n_missing, segment=(k,), **common)
    want, n_missing = expected([True] * len(scores))
    check_result(res.overall, want, spec, n_missing=n_missing, **common)
    if s["container"].is_table:
        assert tuple(res.by) == ("seg",)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, 10), st.sampled_from([1, 2]), st.sampled_from(["u", "v"])),
        max_size=40,
    ),
    st.sampled_from(NPS_CIS),
)
def test_two_by_columns(rows: list[tuple[int, int, str]], ci: str | None) -> None:
    scores = [r[0] for r in rows]
    a = np.array([r[1] for r in rows], dtype=np.int32)
    b = pa.array([r[2] for r in rows], type=pa.string())
    res = cx.nps(np.array(scores, dtype=np.int64), by=[a, b], ci=ci)
    order = sorted({(r[1], r[2]) for r in rows})
    assert [r.segment for r in res] == order
    for key in order:
        x = np.array([r[0] for r in rows if (r[1], r[2]) == key])
        check_result(res[key], ref.nps(x, ci=ci), SPECS[0], ci=ci, confidence=0.95, n_missing=0,
                     segment=key)  # fmt: skip
    check_result(res.overall, ref.nps(np.array(scores), ci=ci), SPECS[0], ci=ci,
                 confidence=0.95, n_missing=0)  # fmt: skip


@pytest.mark.parametrize("ci", NPS_CIS)
@pytest.mark.parametrize("score", [0, 6, 7, 8, 9, 10])
@pytest.mark.parametrize("n", [1, 2, 30])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_bucket_nps(ci: str | None, score: int, n: int, weighted: bool) -> None:
    """Every response in one bucket: v = 0, and the score interval takes its closed form."""
    x = np.full(n, score, dtype=np.int64)
    w = np.linspace(0.5, 2.0, n) if weighted else None
    res = cx.nps(x, weight=w, ci=ci)
    want = ref.nps(x, w, ci=ci)
    check_result(res, want, SPECS[0], ci=ci, confidence=0.95, n_missing=0, weighted=weighted)


# --------------------------------------------------------------------------------------------
# invalid values

INVALID_SPECS = [s for s in SPECS if s.id in ("nps", "csat", "mean", "top-box-0to4-top1")]
FLOAT_INVALID = [0.5, 2.5, -1.0, 11.0, 1e9, float("nan"), float("inf"), float("-inf")]
INT_INVALID = [-1, -300, 11, 12, 1000, 2**40]
DIRTY_KINDS = [
    "list-float", "list-int", "numpy-f64", "numpy-f32", "numpy-i64", "pyarrow-f64", "chunked-f64",
    "polars-f64", "pyarrow-i64",
]  # fmt: skip


@st.composite
def dirty_surveys(draw: st.DrawFn, spec: Spec) -> dict[str, Any]:
    kind = draw(st.sampled_from(DIRTY_KINDS))
    lo, hi = spec.scale
    is_float = kind.endswith(("float", "f64", "f32"))
    pool = FLOAT_INVALID if is_float else INT_INVALID
    invalid_pool = [v for v in pool if not _is_valid(v, spec.scale)]
    cell = st.one_of(
        st.integers(lo, hi).map(float if is_float else int),
        st.sampled_from(invalid_pool),
        *([st.none()] if not kind.startswith("numpy") else []),
    )
    values = draw(st.lists(cell, max_size=40))
    keys = draw(st.none() | st.lists(st.sampled_from(["a", "b"]), min_size=len(values),
                                      max_size=len(values)))  # fmt: skip
    return {"kind": kind, "values": values, "keys": keys,
            "cuts": draw(st.lists(st.integers(0, len(values)), max_size=3))}  # fmt: skip


def _column(kind: str, values: list[Value], cuts: list[int]) -> Any:
    if kind.startswith("list"):
        return values
    dtype = {"f64": np.float64, "f32": np.float32, "i64": np.int64}[kind.split("-")[1]]
    if kind.startswith("numpy"):
        return np.array(values, dtype=dtype)
    if kind.startswith("polars"):
        return pl.Series("score", values, dtype=pl.Float64)
    arr = _arrow(values, dtype)
    return _chunk(arr, cuts) if kind.startswith("chunked") else arr


def _is_valid(v: Value, scale: tuple[int, int]) -> bool:
    return v is not None and math.isfinite(v) and v == int(v) and scale[0] <= v <= scale[1]


def _stored(kind: str, v: float) -> float:
    """The value as the column stores it (float32 rounds)."""
    return float(np.float32(v)) if kind.endswith("f32") else float(v)


@pytest.mark.parametrize("spec", INVALID_SPECS, ids=lambda s: s.id)
@SETTINGS
@given(data=st.data())
def test_invalid_values(spec: Spec, data: st.DataObject) -> None:
    s = data.draw(dirty_surveys(spec), label="survey")
    values, keys, kind = s["values"], s["keys"], s["kind"]
    bad = [i for i, v in enumerate(values) if v is not None and not _is_valid(v, spec.scale)]
    column = _column(kind, values, s["cuts"])
    by = None if keys is None else list(keys)

    if bad:
        with pytest.raises(cx.InvalidScoreError) as info:
            spec.call(column, by=by)
        err = info.value
        assert isinstance(err, ValueError) and isinstance(err, cx.CxError)
        assert err.count == len(bad)
        assert err.first_row == bad[0]
        first = _stored(kind, values[bad[0]])  # type: ignore[arg-type]
        got_first = float(err.first_value)
        assert (math.isnan(first) and math.isnan(got_first)) or got_first == first
    else:
        spec.call(column, by=by)  # must not raise

    ci = spec.cis[1]
    res = spec.call(column, by=by, on_invalid="drop", ci=ci)

    def expected(rows: list[int]) -> tuple[ref.RefResult, int, int]:
        good = [int(values[i]) for i in rows if _is_valid(values[i], spec.scale)]  # type: ignore[arg-type]
        n_missing = sum(values[i] is None for i in rows)
        n_invalid = sum(i in bad for i in rows)
        return spec.expect(np.array(good, dtype=np.int64), None, ci, 0.95), n_missing, n_invalid

    groups: list[tuple[tuple[Key, ...], list[int]]] = [((), list(range(len(values))))]
    if keys is not None:
        assert [r.segment for r in res] == [(k,) for k in _sort_keys(keys)]
        groups += [((k,), [i for i, kk in enumerate(keys) if kk == k]) for k in _sort_keys(keys)]
    for segment, rows in groups:
        got = res if keys is None else (res.overall if segment == () else res[segment[0]])
        want, n_missing, n_invalid = expected(rows)
        check_result(got, want, spec, ci=ci, confidence=0.95, n_missing=n_missing,
                     n_invalid=n_invalid, segment=segment)  # fmt: skip


def test_invalid_score_error_names_the_table_column() -> None:
    table = pa.table({"id": [1, 2, 3, 4], "ltr": pa.array([10, 3, 11, 12], type=pa.int8())})
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(table, "ltr")
    err = info.value
    assert (err.column, err.count, err.first_row, int(err.first_value)) == ("ltr", 2, 2, 11)
    res = cx.nps(table, "ltr", on_invalid="drop")
    assert (res.n, res.n_invalid, res.n_missing) == (2, 2, 0)
    assert res.value == pytest.approx(0.0, abs=1e-12)


def test_polars_nan_is_invalid_and_null_is_missing() -> None:
    s = pl.Series("ltr", [10.0, None, float("nan"), 3.0, None])
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.nps(s)
    assert (info.value.count, info.value.first_row) == (1, 2)
    res = cx.nps(s, on_invalid="drop")
    assert (res.n, res.n_missing, res.n_invalid) == (2, 2, 1)


def test_pandas_missing_values_are_missing() -> None:
    # docs/api.md: "Nulls (and pandas' missing values) are missing", so NaN in a pandas float
    # Series, None in an object Series and pd.NA in a nullable one are all missing.
    for s in (
        pd.Series([10.0, np.nan, 3.0, 9.0]),
        pd.Series([10, None, 3, 9], dtype="Int64"),
        pd.Series([10, pd.NA, 3, 9], dtype="Int16"),
    ):
        res = cx.nps(s)
        assert (res.n, res.n_missing, res.n_invalid) == (3, 1, 0), s.dtype
        assert res.value == pytest.approx(100 / 3, rel=1e-12)


# --------------------------------------------------------------------------------------------
# empty input and other contract points


EMPTY_INPUTS: list[Any] = [
    [],
    np.array([], dtype=np.int64),
    np.array([], dtype=np.float32),
    pa.array([], type=pa.int8()),
    pa.chunked_array([], type=pa.int64()),
    pl.Series("x", [], dtype=pl.Int64),
    pd.Series([], dtype="Int64"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@pytest.mark.parametrize("empty", EMPTY_INPUTS, ids=lambda e: type(e).__name__)
def test_empty_input(spec: Spec, empty: Any) -> None:
    res = spec.call(empty, ci=spec.cis[1])
    assert res.n == 0 and res.n_missing == 0 and res.n_invalid == 0
    assert res.weighted_n == 0
    assert math.isnan(res.value) and math.isnan(res.se)
    assert math.isnan(res.ci_low) and math.isnan(res.ci_high)
    assert sum(res.distribution) == 0


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_all_null_input(spec: Spec) -> None:
    res = spec.call(pa.array([None, None, None], type=pa.int64()), ci=spec.cis[1])
    assert (res.n, res.n_missing) == (0, 3)
    assert math.isnan(res.value) and math.isnan(res.ci_low)
    valid = spec.scale[1]
    seg = spec.call(
        pa.array([None, valid], type=pa.int64()), by=pa.array(["a", "b"]), ci=spec.cis[1]
    )
    assert (seg["a"].n, seg["a"].n_missing) == (0, 1)
    assert math.isnan(seg["a"].value)


def test_empty_segmented() -> None:
    res = cx.nps(np.array([], dtype=np.int64), by=np.array([], dtype=np.int64))
    assert len(res) == 0 and list(res) == []
    assert res.overall.n == 0 and math.isnan(res.overall.value)


def test_domain_reference_numbers_through_the_package() -> None:
    res = cx.nps([10] * 50 + [8] * 30 + [0] * 20, ci="wald")
    assert res.value == pytest.approx(30.0, abs=1e-12)
    assert round(res.se, 2) == 7.81
    assert (round(res.ci_low, 2), round(res.ci_high, 2)) == (14.69, 45.31)
    assert dict(res.counts) == {"promoters": 50, "passives": 30, "detractors": 20}
    res = cx.nps([9] * 9 + [6] * 2)
    assert (round(res.value, 2), round(res.se, 2)) == (63.64, 23.26)


def test_results_are_frozen() -> None:
    res = cx.nps([10, 9, 3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.value = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("call", "ci"),
    [(cx.nps, "wilson"), (cx.nps, "t"), (cx.csat, "score"), (cx.csat, "adjusted-wald"),
     (cx.mean_score, "wilson"), (cx.mean_score, "score"), (cx.nps, "bogus")],
)  # fmt: skip
def test_interval_method_must_fit_the_metric(call: Callable[..., Any], ci: str) -> None:
    with pytest.raises(ValueError):
        call([1, 2, 3, 4, 5], ci=ci)


def test_length_mismatch_and_bad_weights() -> None:
    with pytest.raises(cx.LengthMismatchError):
        cx.nps([10, 9, 3], by=["a", "b"])
    with pytest.raises(cx.LengthMismatchError):
        cx.nps([10, 9, 3], weight=[1.0, 2.0])
    with pytest.raises(cx.InvalidWeightError):
        cx.nps([10, 9, 3], weight=[1.0, -2.0, 1.0])
    with pytest.raises(cx.InvalidWeightError):
        cx.nps([10, 9, 3], weight=[1.0, float("nan"), 1.0])
    with pytest.raises(cx.ColumnError):
        cx.nps(pa.table({"ltr": [10, 9]}), "nope")
