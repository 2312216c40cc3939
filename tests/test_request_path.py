"""The request-sized path: a one-shot call's per-segment table is imported from the core on first
use, and that deferral is invisible — the result equals, pickles, copies and reads as one whose
table was built eagerly, also when threads read it at once."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import threading

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics import _engine, _native, _results
from cxmetrics.errors import ArgumentError


def _rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.integers(0, 11, 100), rng.choice(np.array(["web", "app", "mail"]), 100)


def _eager(scores: np.ndarray, keys: np.ndarray) -> cx.SegmentedResult:
    """The same call with the table built up front (the accumulators' path)."""
    metric = _engine.net("nps", cx.Scale(0, 10), (9, 10), (0, 6),
                         ("detractors", "passives", "promoters"))
    agg = _native.AccumulatorState(0, 10, 1, False)
    agg.update(pa.array(scores), [pa.array(keys)], None, "raise", "score", ["by"], None)
    segments, overall = agg.estimate(metric.native, _results.public_key_names(metric, ["by"]),
                                     "wald", 0.95)
    result = _results.result_rows(metric, segments, overall, ("by",), segmented=True,
                                  method="wald", confidence=0.95, n_resamples=None, seed=None,
                                  weighted=False, origin=0)
    assert isinstance(result, cx.SegmentedResult)
    return result


def test_deferred_table_is_not_built_until_read() -> None:
    scores, keys = _rows()
    res = cx.nps(scores, by=keys, ci="wald")
    assert "segments" not in res.__dict__
    assert len(res) == 3 and "segments" not in res.__dict__  # the length needs no import
    table = res.segments
    assert isinstance(table, pa.Table) and res.segments is table
    assert "_batch" not in res.__dict__


@pytest.mark.parametrize("use", ["eq", "pickle", "deepcopy", "asdict", "iter", "lookup",
                                 "to_arrow", "repr", "keys"])
def test_deferred_result_reads_like_an_eager_one(use: str) -> None:
    scores, keys = _rows()
    res, eager = cx.nps(scores, by=keys, ci="wald"), _eager(scores, keys)
    if use == "eq":
        assert res == eager
    elif use == "pickle":
        assert pickle.loads(pickle.dumps(res)) == eager
    elif use == "deepcopy":
        assert copy.deepcopy(res) == eager
    elif use == "asdict":
        assert _results._tables_equal(dataclasses.asdict(res)["segments"], eager.segments)
    elif use == "iter":
        assert [s.value for s in res] == [s.value for s in eager]
    elif use == "lookup":
        assert res["web"].n == eager["web"].n == int(np.sum(keys == "web"))
    elif use == "to_arrow":
        assert res.to_arrow().equals(eager.to_arrow())
    elif use == "repr":
        assert repr(res).splitlines()[1:] == repr(eager).splitlines()[1:]
    else:
        assert res.keys() == eager.keys() == [("app",), ("mail",), ("web",)]


def test_threads_reading_a_deferred_table_get_one_table() -> None:
    scores, keys = _rows()
    for _ in range(20):
        res = cx.nps(scores, by=keys, ci="wald")
        seen: list[pa.Table] = []
        barrier = threading.Barrier(4)
        threads = [threading.Thread(target=_read_together, args=(res, barrier, seen))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(seen) == 4 and all(t is seen[0] for t in seen)


def _read_together(res: cx.SegmentedResult, barrier: threading.Barrier,
                   seen: list[pa.Table]) -> None:
    barrier.wait()
    seen.append(res.segments)


def test_missing_attributes_stay_attribute_errors() -> None:
    scores, keys = _rows()
    res = cx.nps(scores, by=keys, ci="wald")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = res.nope  # type: ignore[attr-defined]
    assert not hasattr(res, "nope")


def test_estimate_output_is_checked() -> None:
    agg = _native.AccumulatorState(0, 10, 0, False)
    agg.update(pa.array([1, 9, 10]), [], None, "raise", "score", [], None)
    metric = _engine.net("nps", cx.Scale(0, 10), (9, 10), (0, 6),
                         ("detractors", "passives", "promoters"))
    none, row = agg.estimate(metric.native, [], "wald", 0.95, output="overall")
    assert none is None and row["n"] == 3
    with pytest.raises(ArgumentError, match="output must be"):
        agg.estimate(metric.native, [], "wald", 0.95, output="table")


def test_cached_definitions_follow_their_arguments() -> None:
    scores, _ = _rows()
    plain = cx.nps(scores, ci="wald")
    # Lists do not hash (built each time); floats equal to the ints are the same rule.
    assert cx.nps(scores, ci="wald", promoters=[9, 10], detractors=[0, 6]) == plain
    assert cx.nps(scores, ci="wald", promoters=(9.0, 10.0)).value == plain.value
    shifted = cx.nps(scores, ci="wald", promoters=(8, 10), detractors=(0, 5))
    assert shifted.value != plain.value
    with pytest.raises(ArgumentError):
        cx.nps(scores, promoters=(9, 11))
