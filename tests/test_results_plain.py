"""Results are plain data: they pickle, deep-copy, compare equal, convert with ``asdict`` and export
to Arrow exactly — for every key type, with nulls and NaN — and hold nothing native."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
import json
import math
import pickle
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from cxmetrics import _results

KEY_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "int32": pa.int32(),
    "uint8": pa.uint8(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "dictionary": pa.dictionary(pa.int32(), pa.string()),
    "bool": pa.bool_(),
    "date": pa.date32(),
}


def _key_values(kind: str, codes: list[int | None]) -> pa.Array:
    def value(c: int) -> object:
        if kind in ("string", "large_string", "dictionary"):
            return f"k{c}"
        if kind == "bool":
            return c % 2 == 0
        if kind == "date":
            return dt.date(2024, 1, 1) + dt.timedelta(days=31 * c)
        return c

    values = [None if c is None else value(c) for c in codes]
    if kind == "dictionary":
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, KEY_TYPES[kind])


@st.composite
def surveys(draw: st.DrawFn) -> tuple[pa.Table, list[str], dict[str, Any]]:
    n = draw(st.integers(0, 60))
    scores = draw(st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=n, max_size=n))
    n_keys = draw(st.integers(1, 2))
    columns: dict[str, pa.Array] = {"score": pa.array(scores, pa.int64())}
    by = []
    for k in range(n_keys):
        kind = draw(st.sampled_from(sorted(KEY_TYPES)))
        codes = draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=n, max_size=n))
        # A key named like a statistic must not shadow it.
        name = draw(st.sampled_from([f"key{k}", "n", "value", "method"]))
        if name in columns:
            name = f"{name}{k}"
        columns[name] = _key_values(kind, codes)
        by.append(name)
    options: dict[str, Any] = draw(st.sampled_from([
        {"ci": "wald"}, {"ci": None}, {"ci": "score"}, {"ci": "adjusted-wald"},
        {"ci": "bootstrap", "n_resamples": 200, "seed": 7},
    ]))
    if draw(st.booleans()):
        columns["w"] = pa.array(draw(st.lists(st.floats(0.5, 3.0), min_size=n, max_size=n)),
                                pa.float64())
        options["weight"] = "w"
    return pa.table(columns), by, options


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _nps(table: pa.Table, by: list[str], options: dict[str, Any]) -> cx.SegmentedResult:
    return cx.nps(table, score="score", by=by, **options)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(surveys())
def test_results_pickle_copy_and_compare_exactly(case: tuple[pa.Table, list[str], dict[str, Any]]
                                                 ) -> None:
    table, by, options = case
    res = _nps(table, by, options)
    for copied in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res), copy.copy(res)):
        assert isinstance(copied, cx.SegmentedResult)
        assert copied == res
        assert copied.overall == res.overall
        assert copied.keys() == res.keys()
        assert list(copied) == list(res)
        for key in res.keys():
            wanted = key if len(by) > 1 else key[0]
            if all(not (isinstance(k, float) and math.isnan(k)) for k in key):
                assert copied[wanted] == res[wanted]
    for one in [res.overall, *res]:
        assert pickle.loads(pickle.dumps(one)) == one
        assert copy.deepcopy(one) == one
        plain = dataclasses.asdict(one)
        assert all(_same(plain[f.name], getattr(one, f.name)) for f in dataclasses.fields(one)
                   if f.name not in ("scale", "definition", "counts"))
        assert plain["scale"] == {"low": 0, "high": 10}
        assert plain["definition"]["bucket_names"] == ("detractors", "passives", "promoters")
    whole = dataclasses.asdict(res)
    assert whole["by"] == tuple(by) and _results._tables_equal(whole["segments"], res.segments)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(surveys())
def test_arrow_export_round_trips_every_field(case: tuple[pa.Table, list[str], dict[str, Any]]
                                              ) -> None:
    table, by, options = case
    res = _nps(table, by, options)
    out = res.to_arrow(include_overall=True, distribution=True)
    segments = list(res)
    assert out.num_rows == len(res) + 1
    key_columns = res.key_columns
    for name, column in zip(by, key_columns, strict=True):
        # Keys keep their logical type — the core groups integers as int64 and a dictionary
        # by its values; a key named like a statistic gets a suffix.
        given_type = table.schema.field(name).type
        if pa.types.is_dictionary(given_type):
            given_type = given_type.value_type
        if pa.types.is_integer(given_type):
            given_type = pa.int64()
        if pa.types.is_large_string(given_type):
            given_type = pa.string()
        assert out.schema.field(column).type == given_type
        assert column == name or column == f"{name}_segment"
    for name in ("n", "n_missing", "n_invalid", "detractors", "passives", "promoters"):
        assert out.schema.field(name).type == pa.int64()
    rows = out.to_pylist()
    for row, seg in zip(rows, [*segments, res.overall], strict=True):
        is_overall = seg is res.overall
        assert row["overall"] is is_overall
        keys = tuple(row[c] for c in key_columns)
        assert keys == ((None,) * len(by) if is_overall else seg.segment)
        for name in ("value", "ci_low", "ci_high", "se", "weighted_n", "effective_n",
                     "confidence"):
            assert _same(row[name], getattr(seg, name)), name
        for name in ("n", "n_missing", "n_invalid", "method", "metric"):
            assert row[name] == getattr(seg, name), name
        assert {b: row[b] for b in seg.counts} == dict(seg.counts)
        assert tuple(row["distribution"]) == seg.distribution
        if seg.n_resamples is not None:
            assert (row["n_resamples"], row["seed"]) == (seg.n_resamples, seg.seed)
    # The default export is flat: CSV takes it as it is.
    flat = res.to_arrow(include_overall=True)
    assert "distribution" not in flat.column_names
    sink = io.BytesIO()
    pacsv.write_csv(flat, sink)
    assert sink.getvalue().count(b"\n") == len(res) + 2
    assert _results._tables_equal(pa.table(res), res.to_arrow())
    dicts = res.to_dicts()
    assert len(dicts) == len(res) and all(
        _same(d[k], v) for d, row in zip(dicts, res.to_arrow().to_pylist(), strict=True)
        for k, v in row.items())
    assert len(json.loads(res.to_json(include_overall=True))) == len(res) + 1


def test_results_hold_nothing_native() -> None:
    res = cx.nps(np.array([0, 9, 10, 7, 3]), by=np.array(["a", "b", "a", "b", "a"]))
    seen: list[object] = []

    def walk(value: object) -> None:
        assert type(value).__module__ != "cxmetrics._native", value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, tuple | list):
            for v in value:
                walk(v)
        seen.append(value)

    walk(res)
    walk(res["a"])
    assert len(seen) > 20


def test_compare_works_on_unpickled_results() -> None:
    rng = np.random.default_rng(1)
    a = cx.nps(rng.integers(0, 11, 300))
    b = cx.nps(rng.integers(0, 11, 300))
    direct = cx.compare(a, b, ci="newcombe")
    again = cx.compare(pickle.loads(pickle.dumps(a)), pickle.loads(pickle.dumps(b)),
                       ci="newcombe")
    assert again == direct
    assert pickle.loads(pickle.dumps(direct)) == direct


def test_construction_makes_no_per_segment_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    original = _results.MetricResult

    def counting(*args: Any, **kwargs: Any) -> _results.MetricResult:
        made.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_results, "MetricResult", counting)
    segments = 20_000
    keys = np.arange(2 * segments) % segments
    res = cx.nps(np.arange(2 * segments) % 11, by=keys)
    assert len(res) == segments and len(made) == 1  # the overall result only
    assert "_key_index" not in vars(res)
    assert res.to_arrow().num_rows == segments and len(made) == 1
    seg = res[123]
    assert seg.segment == (123,) and len(made) == 2
    assert sum(1 for _ in res) == segments and len(made) == 2 + segments


def test_key_named_like_a_new_export_column_keeps_a_suffix() -> None:
    res = cx.nps(pa.table({"s": [9, 0, 10], "metric": ["a", "b", "a"]}), score="s", by="metric")
    out = res.to_arrow()
    assert out.column_names[:2] == ["metric_segment", "metric"]
    assert out.column("metric").to_pylist() == ["nps", "nps"]
    assert res["a"].n == 2
