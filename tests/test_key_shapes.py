"""Every segment-key shape against the plain NumPy reference (tests/helpers/reference.py).

Hypothesis draws 1–3 key columns of any supported layout — narrow and wide integers of several
widths, dates, booleans, utf8 / large_utf8 / utf8_view strings, dictionaries — with nulls,
cut into chunks independently per column (so chunking changes mid-table), with empty chunks and
sliced arrays, and checks each segment's counts, n and NPS against the reference computed on
that segment's rows. The grouping routes (a dictionary's indices, integer offsets read in
place, hashing) must also give bit-identical results for the same keys.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from helpers.reference import nps as ref_nps

KEY_KINDS = ("int32", "int64", "int64_wide", "int16", "uint8", "date32", "date64", "bool",
             "utf8", "large_string", "string_view", "dictionary", "utf8_long",
             "string_view_long")


def _long_name(c: int) -> str:
    """A name of 4 to 70 bytes: short ones packed into a word, long ones told apart at the
    start, in the middle or only at the end (the long-key table reads 16-byte blocks)."""
    if c % 4 == 0:
        return f"k{c}"
    middle = "m" * (c * 7 % 41)
    return f"region-{middle}/{c}/-customer-care" if c % 4 != 3 else f"{'z' * 50}{c:03d}"


def _values(kind: str, codes: list[int | None]) -> pa.Array:
    """The key column of one kind for integer codes (None = null)."""
    if kind == "int64_wide":  # a range too wide for offsets: hashed
        return pa.array([None if c is None else c * 10**12 - 7 for c in codes], pa.int64())
    if kind in ("int32", "int64", "int16", "uint8"):
        return pa.array([None if c is None else c + 3 for c in codes], getattr(pa, kind)())
    if kind == "date32":
        return pa.array([None if c is None else dt.date(2024, 1, 1) + dt.timedelta(days=31 * c)
                         for c in codes], pa.date32())
    if kind == "date64":
        return pa.array([None if c is None else dt.date(2020, 5, 1) + dt.timedelta(days=c)
                         for c in codes], pa.date64())
    if kind == "bool":
        return pa.array([None if c is None else c % 2 == 1 for c in codes], pa.bool_())
    if kind in ("utf8_long", "string_view_long"):
        names = pa.array([None if c is None else _long_name(c) for c in codes], pa.string())
        return names if kind == "utf8_long" else names.cast(pa.string_view())
    strings = pa.array([None if c is None else f"k{c}" for c in codes], pa.string())
    if kind == "large_string":
        return strings.cast(pa.large_string())
    if kind == "string_view":
        return strings.cast(pa.string_view())
    if kind == "dictionary":
        return pc.dictionary_encode(strings)
    return strings


def _chunked(array: pa.Array, cuts: list[int], pad: int) -> pa.ChunkedArray:
    """``array`` cut at ``cuts`` (empty chunks allowed), each piece a slice of a longer array
    (``pad`` extra rows before it), so offsets are non-zero."""
    bounds = [0, *sorted(min(c, len(array)) for c in cuts), len(array)]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        piece = array.slice(lo, hi - lo)
        if pad:
            padded = pa.concat_arrays([array.slice(0, min(pad, len(array))), piece])
            piece = padded.slice(min(pad, len(array)), hi - lo)
        pieces.append(piece)
    return pa.chunked_array(pieces, type=array.type)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, list[str], list[list[Any]], np.ndarray]:
    rows = draw(st.integers(0, 120))
    n_keys = draw(st.integers(1, 3))
    scores = draw(st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=rows,
                           max_size=rows))
    columns: dict[str, pa.ChunkedArray] = {}
    names, python_keys = [], []
    for j in range(n_keys):
        kind = draw(st.sampled_from(KEY_KINDS))
        cardinality = draw(st.integers(1, 6))
        codes = draw(st.lists(st.one_of(st.none(), st.integers(0, cardinality - 1)),
                              min_size=rows, max_size=rows))
        array = _values(kind, codes)
        cuts = draw(st.lists(st.integers(0, rows), max_size=3))
        name = f"k{j}_{kind}"
        columns[name] = _chunked(array, cuts, draw(st.integers(0, 3)))
        names.append(name)
        python_keys.append(array.to_pylist())
    score_array = pa.array(scores, pa.int8())
    columns["nps"] = _chunked(score_array, draw(st.lists(st.integers(0, rows), max_size=2)), 0)
    score_values = np.array([-1 if s is None else s for s in scores], dtype=np.int64)
    return pa.table(columns), names, python_keys, score_values


def _text(value: Any) -> Any:
    # Our dates come back as datetime.date for date64 too; compare dates by their day.
    if isinstance(value, dt.datetime):
        return value.date()
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_every_key_shape_matches_the_reference(
        case: tuple[pa.Table, list[str], list[list[Any]], np.ndarray]) -> None:
    table, names, python_keys, scores = case
    by: str | list[str] = names[0] if len(names) == 1 else names
    result = cx.nps(table, score="nps", by=by, ci="wald")
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i in range(table.num_rows):
        groups[tuple(_text(k[i]) for k in python_keys)].append(i)
    ours = {tuple(_text(v) for v in r.segment): r for r in result}
    assert set(ours) == set(groups)
    for key, rows in groups.items():
        got = ours[key]
        valid = scores[rows]
        valid = valid[valid >= 0]
        assert got.n == len(valid), key
        assert got.n_missing == len(rows) - len(valid), key
        if len(valid) == 0:
            assert math.isnan(got.value)
            continue
        want = ref_nps(valid, ci="wald")
        assert got.counts["promoters"] == want.counts["promoters"], key
        assert got.counts["detractors"] == want.counts["detractors"], key
        assert got.value == pytest.approx(want.value, rel=1e-12, abs=1e-12), key
        assert got.ci_low == pytest.approx(want.ci_low, rel=1e-9, abs=1e-9), key


# `0x9e37_79b9_7f4a_7c15` as an int64: the key of an empty slot in the Rust integer table.
EMPTY_SLOT_KEY = 0x9E3779B97F4A7C15 - 2**64


def _bits(result: cx.SegmentedResult) -> list[tuple[Any, ...]]:
    return [(r.n, r.n_missing, r.value.hex(), r.ci_low.hex(), r.ci_high.hex(), r.se.hex())
            for r in result]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=200),
       st.lists(st.integers(0, 10), min_size=200, max_size=200))
def test_grouping_routes_are_bit_identical(codes: list[int | None], score_list: list[int]
                                           ) -> None:
    """The same keys through offsets read in place (int32, int64, date32), hashing (the same
    integers spread wide; strings) and a dictionary's indices give the same bits per segment,
    in the same order of segments."""
    scores = pa.array(score_list[: len(codes)], pa.int8())

    def run(key: pa.Array) -> list[tuple[Any, ...]]:
        return _bits(cx.nps(pa.table({"k": key, "nps": scores}), score="nps", by="k",
                            ci="wald"))

    narrow = run(pa.array(codes, pa.int64()))
    assert run(pa.array(codes, pa.int32())) == narrow
    assert run(pa.array([None if c is None else c * 10**12 for c in codes], pa.int64())) \
        == narrow
    assert run(pc.dictionary_encode(pa.array(codes, pa.int64()))) == narrow
    # Hashed int32, and int64 keys around (code 0: equal to) the value the integer hash table
    # marks its empty slots with, which it keeps apart.
    assert run(pa.array([None if c is None else c * 10**7 for c in codes], pa.int32())) \
        == narrow
    assert run(pa.array([None if c is None else c * 10**12 + EMPTY_SLOT_KEY for c in codes],
                        pa.int64())) == narrow
    assert run(_values("date32", codes)) == narrow
    # Strings sort differently from integers ("k10" < "k2"): compare as sets of segments.
    assert sorted(run(_values("utf8", codes))) == sorted(narrow)
    assert sorted(run(_values("utf8_long", codes))) == sorted(narrow)
    assert sorted(run(_values("string_view_long", codes))) == sorted(narrow)
