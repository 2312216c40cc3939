"""Composite index: the mean over respondents of a weighted combination of several answers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

import cxmetrics as cx


def _survey(seed: int, n: int = 400) -> pa.Table:
    rng = np.random.default_rng(seed)
    q1 = rng.integers(1, 8, n)
    q2 = np.clip(q1 + rng.integers(-2, 3, n), 1, 7)
    q3 = rng.integers(1, 8, n)
    seg = rng.choice(["a", "b", "c"], n)
    q3_missing = rng.random(n) < 0.05
    return pa.table({
        "q1": q1, "q2": q2, "q3": pa.array(q3, mask=q3_missing), "seg": seg,
    })


@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_matches_numpy_per_respondent_combination(weights: list[float] | None) -> None:
    table = _survey(1)
    a = np.ones(3) if weights is None else np.array(weights)
    answers = np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in ("q1", "q2", "q3")])
    complete = ~np.isnan(answers.astype(float)).any(axis=1)
    combo = (answers[complete].astype(float) @ a) / a.sum()
    res = cx.composite(table, ["q1", "q2", "q3"], by="seg", question_weights=weights)
    assert res.overall.n == complete.sum() and res.overall.n_missing == (~complete).sum()
    assert res.overall.value == pytest.approx(combo.mean(), rel=1e-12)
    se = combo.std(ddof=1) / np.sqrt(len(combo))
    t = stats.t.ppf(0.975, len(combo) - 1)
    assert res.overall.ci_low == pytest.approx(combo.mean() - t * se, abs=1e-9)
    segs = np.asarray(table["seg"].to_pylist())[complete]
    for row in res:
        sub = combo[segs == row.segment[0]]
        assert row.n == len(sub) and row.value == pytest.approx(sub.mean(), rel=1e-12)


def test_bootstrap_is_seeded_and_close_to_t() -> None:
    table = _survey(2, 2000)
    t = cx.composite(table, ["q1", "q2"])
    boot = cx.composite(table, ["q1", "q2"], ci="bootstrap", seed=5, n_resamples=4000)
    again = cx.composite(table, ["q1", "q2"], ci="bootstrap", seed=5, n_resamples=4000)
    assert (boot.ci_low, boot.ci_high) == (again.ci_low, again.ci_high) and boot.seed == 5
    assert boot.ci_low == pytest.approx(t.ci_low, abs=0.03)
    assert boot.ci_high == pytest.approx(t.ci_high, abs=0.03)


def test_invalid_answers_name_their_column() -> None:
    table = pa.table({"q1": [1, 2, 3], "q2": [4, 9, 5]})
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.composite(table, ["q1", "q2"])
    assert (info.value.column, info.value.first_row, info.value.first_value) == ("q2", 1, 9)
    dropped = cx.composite(table, ["q1", "q2"], on_invalid="drop")
    assert dropped.n == 2 and dropped.n_invalid == 1 and dropped.value == pytest.approx(3.25)
    with pytest.raises(cx.ArgumentError):
        cx.composite(table, ["q1", "q2"], ci="wilson")  # type: ignore[arg-type]
