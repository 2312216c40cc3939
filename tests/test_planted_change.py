"""The sample survey's planted change: South's NPS drops from November 2025, drawn from its own
random stream; every other column and every other answer is what it is without the change."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import cxmetrics as cx
from cxmetrics import datasets


def test_only_souths_november_and_december_nps_answers_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    planted = datasets.sample_survey()
    monkeypatch.setattr(datasets, "_PLANTED_PROBABILITY", 0.0)
    plain = datasets.sample_survey()
    for name in plain.column_names:
        if name != "nps":
            assert planted[name].equals(plain[name]), name
    before = plain["nps"].to_numpy(zero_copy_only=False)
    after = planted["nps"].to_numpy(zero_copy_only=False)
    changed = ~((before == after) | (np.isnan(before) & np.isnan(after)))
    region = np.asarray(planted["region"].to_pylist())
    day = planted["submitted"].to_numpy()
    assert changed.sum() == 1_026
    assert set(region[changed]) == {"South"}
    assert day[changed].min() >= np.datetime64("2025-11-01")
    assert np.all(after[changed] == np.maximum(before[changed] - 2, 0))


def test_the_change_is_found_and_the_null_region_is_not() -> None:
    survey = datasets.sample_survey()
    trend = cx.trend(survey, score="nps", time="submitted", every="month", by="region")
    family = cx.significance(trend, against="previous", adjust="holm")
    november = {t.a[0]: t for t in family if t.a[-1] == dt.date(2025, 11, 1)}
    assert november["South"].significant and november["South"].difference < -10
    assert not november["East"].significant
    # Before the change, East (no region effect) is not different from the rest; the regions
    # with built-in effects are. (From November the rest includes South's drop, so East vs the
    # rest is no longer a null comparison.)
    early = survey.filter(np.asarray(survey["submitted"].to_numpy() < np.datetime64(
        "2025-11-01")))
    rest = cx.significance(cx.nps(early, score="nps", by="region"), against="rest")
    assert {t.a[0] for t in rest if t.significant} == {"Central", "North", "South", "West"}
