"""The bundled sample survey: deterministic, well-typed and carrying its documented effects."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from cxmetrics.datasets import sample_survey

SEGMENTS = {
    "region": ["North", "South", "East", "West", "Central"],
    "channel": ["web", "app", "phone", "email", "store"],
    "touchpoint": ["onboarding", "billing", "support", "delivery", "returns"],
    "tier": ["basic", "plus", "premium"],
}
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


@pytest.fixture(scope="module")
def survey() -> Any:
    return sample_survey()


def scores(table: Any, name: str) -> npt.NDArray[np.float64]:
    """A score column as float with NaN for nulls."""
    return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)


def labels(table: Any, name: str) -> npt.NDArray[np.str_]:
    return np.asarray(table[name].cast(pa.string()).to_pylist())


def nps(x: npt.NDArray[np.float64], w: npt.NDArray[np.float64] | None = None) -> float:
    valid = ~np.isnan(x)
    x = x[valid]
    w = np.ones_like(x) if w is None else w[valid]
    signed = (x >= 9).astype(np.float64) - (x <= 6)
    return float(100 * np.sum(w * signed) / np.sum(w))


def test_same_seed_same_table(survey: Any) -> None:
    assert sample_survey().equals(survey)
    assert sample_survey(500, seed=7).equals(sample_survey(500, seed=7))


def test_other_seed_other_table() -> None:
    assert not sample_survey(2_000, seed=1).equals(sample_survey(2_000, seed=2))


@pytest.mark.parametrize("n", [0, 1, 17, 5_000])
def test_size(n: int) -> None:
    table = sample_survey(n)
    assert table.num_rows == n
    assert table.column("response_id").to_pylist() == list(range(1, n + 1))


def test_default_size(survey: Any) -> None:
    assert survey.num_rows == 120_000


def test_negative_size_rejected() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        sample_survey(-1)


def test_schema(survey: Any) -> None:
    dictionary = pa.dictionary(pa.int32(), pa.string())
    assert survey.schema == pa.schema(
        [
            ("response_id", pa.int64()),
            ("submitted", pa.date32()),
            ("region", dictionary),
            ("channel", dictionary),
            ("touchpoint", dictionary),
            ("tier", dictionary),
            ("nps", pa.int8()),
            ("csat", pa.int8()),
            ("ces", pa.int8()),
            ("weight", pa.float64()),
            # Key drivers (tests/test_drivers_extras.py): ratings 1-5 and topic flags 0/1.
            *((name, pa.int8()) for name in ("product", "delivery", "support", "price", "app",
                                             "topic_delay", "topic_billing_error",
                                             "topic_friendly_staff")),
        ]
    )


@pytest.mark.parametrize("column", sorted(SEGMENTS))
def test_segment_levels(survey: Any, column: str) -> None:
    assert survey[column].null_count == 0
    found = set(labels(survey, column))
    assert found == set(SEGMENTS[column])
    # Every level is a sizeable share, so per-segment intervals are meaningful.
    shares = [float(np.mean(labels(survey, column) == level)) for level in SEGMENTS[column]]
    assert min(shares) > 0.05


@pytest.mark.parametrize(
    ("column", "low", "high"), [("nps", 0.02, 0.04), ("csat", 0.04, 0.06), ("ces", 0.065, 0.095)]
)
def test_null_fractions(survey: Any, column: str, low: float, high: float) -> None:
    assert low < survey[column].null_count / survey.num_rows < high


@pytest.mark.parametrize("column", sorted(SCALES))
def test_scores_on_scale_and_every_point_used(survey: Any, column: str) -> None:
    x = scores(survey, column)
    x = x[~np.isnan(x)]
    low, high = SCALES[column]
    assert set(np.unique(x).astype(int)) == set(range(low, high + 1))


def test_no_nulls_outside_scores(survey: Any) -> None:
    for name in ("response_id", "submitted", "weight"):
        assert survey[name].null_count == 0


def test_dates_cover_2025_with_weekly_seasonality(survey: Any) -> None:
    days = survey["submitted"].to_numpy().astype("datetime64[D]")
    assert days.min() >= np.datetime64("2025-01-01")
    assert days.max() <= np.datetime64("2025-12-31")
    assert len(np.unique(days)) > 350
    # Submission order: ids increase with the date.
    assert np.all(np.diff(days.astype(np.int64)) >= 0)
    weekday = (days.astype(np.int64) + dt.date(1970, 1, 1).weekday()) % 7  # 0 = Monday
    per_day = np.bincount(weekday, minlength=7)
    assert per_day[5:].max() < 0.8 * per_day[:5].min()


def test_weights(survey: Any) -> None:
    w = survey["weight"].to_numpy()
    assert np.all(w > 0) and np.all(np.isfinite(w))
    assert w.mean() == pytest.approx(1.0)
    assert w.min() > 0.1
    assert w.max() < 10
    # Premium is over-represented in the sample, so its weights are lower.
    tier = labels(survey, "tier")
    assert w[tier == "premium"].mean() < 0.8
    assert w[tier == "basic"].mean() > 1.0


def test_answers_correlate_within_respondent(survey: Any) -> None:
    x = np.vstack([scores(survey, name) for name in ("nps", "csat", "ces")])
    x = x[:, ~np.isnan(x).any(axis=0)]
    corr = np.asarray(np.corrcoef(x))
    assert corr[np.triu_indices(3, 1)].min() > 0.4


def test_segment_effects(survey: Any) -> None:
    x = scores(survey, "nps")

    def by(column: str) -> dict[str, float]:
        keys = labels(survey, column)
        return {level: nps(x[keys == level]) for level in SEGMENTS[column]}

    tier, channel, touch = by("tier"), by("channel"), by("touchpoint")
    assert tier["premium"] > tier["plus"] + 5 > tier["basic"] + 10
    assert channel["app"] > channel["web"] + 5
    assert channel["web"] > channel["phone"] + 5
    assert max(touch["billing"], touch["returns"]) + 10 < min(
        touch["onboarding"], touch["delivery"]
    )
    assert 15 < nps(x) < 35


def test_q3_dip(survey: Any) -> None:
    x = scores(survey, "nps")
    quarter = (survey["submitted"].to_numpy().astype("datetime64[M]").astype(np.int64) % 12) // 3
    by_quarter = [nps(x[quarter == q]) for q in range(4)]
    assert by_quarter[2] + 5 < min(by_quarter[0], by_quarter[1], by_quarter[3])


def test_weighting_lowers_nps(survey: Any) -> None:
    x = scores(survey, "nps")
    w = survey["weight"].to_numpy()
    assert nps(x, w) < nps(x) - 1


def test_fast() -> None:
    sample_survey(1_000)  # warm up imports and caches
    start = time.perf_counter()
    sample_survey()
    # Well under a second on a laptop; generous here so a busy CI machine does not flake.
    assert time.perf_counter() - start < 3.0


def test_api_reads_sample(survey: Any) -> None:
    """The dictionary-encoded segments and int8 scores go through the public API as they are."""
    import cxmetrics as cx

    res = cx.nps(survey, score="nps", by="tier")
    x = scores(survey, "nps")
    tier = labels(survey, "tier")
    assert res.overall.value == pytest.approx(nps(x))
    assert res.overall.n_missing == survey["nps"].null_count
    for row in res:
        assert row.segment is not None
        (key,) = row.segment
        assert row.value == pytest.approx(nps(x[tier == key]))
