"""Topic impact, the sample survey's driver columns, charts and the ``drivers`` CLI."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics.cli import main
from helpers import drivers_reference as ref

ORIGINAL_COLUMNS = ["response_id", "submitted", "region", "channel", "touchpoint", "tier", "nps",
                    "csat", "ces", "weight"]
DRIVER_COLUMNS = ["product", "delivery", "support", "price", "app", "topic_delay",
                  "topic_billing_error", "topic_friendly_staff"]


def _digest(t: pa.Table) -> str:
    cols = [(n, str(t.column(n).type), t.column(n).to_pylist()) for n in t.column_names]
    return hashlib.sha256(repr(cols).encode()).hexdigest()


@pytest.mark.parametrize(("n", "seed", "digest"), [
    # Digests of the survey as generated before the driver columns were added (by the commit
    # that planted the South NPS change, 074a27b).
    (5000, 1, "05b0d60138a9d9129a9dec67c6d0d1dd9f6c65c09c734fa6ae5d3be46895cbbe"),
    (30_000, 2026, "c8004827361ee83a7c263aa11e5072667274f7b426b52349098a2d09af0200e4"),
])
def test_existing_survey_columns_are_unchanged(n: int, seed: int, digest: str) -> None:
    survey = cx.datasets.sample_survey(n, seed)
    assert survey.column_names == ORIGINAL_COLUMNS + DRIVER_COLUMNS
    assert _digest(survey.select(ORIGINAL_COLUMNS)) == digest


def test_planted_driver_order_is_recovered() -> None:
    survey = cx.datasets.sample_survey(60_000)
    attrs = DRIVER_COLUMNS[:5]
    for name in attrs:
        values = np.asarray(survey.column(name))
        assert values.min() == 1 and values.max() == 5
    for method in ("relative-weights", "shapley"):
        res = cx.drivers(survey, "nps", attrs, method=method, ci=None)  # type: ignore[arg-type]
        assert res.ranking() == attrs
        assert all(r.sign == 1 for r in res)


def test_topic_impact_compares_with_and_without() -> None:
    survey = cx.datasets.sample_survey(30_000)
    topics = DRIVER_COLUMNS[5:]
    impact = cx.topic_impact(survey, "nps", topics)
    for t in impact:
        flag = np.asarray(survey.column(t.topic))
        with_ = cx.nps(survey.filter(pa.array(flag == 1)), "nps")
        without = cx.nps(survey.filter(pa.array(flag == 0)), "nps")
        assert isinstance(with_, cx.MetricResult) and isinstance(without, cx.MetricResult)
        assert t.with_topic == pytest.approx(with_.value, abs=1e-12)
        assert t.difference == pytest.approx(with_.value - without.value, abs=1e-9)
        assert t.ci_low < t.difference < t.ci_high
        assert t.p_adjusted >= t.p_value
    assert impact[0].difference < 0 < impact[2].difference
    assert impact[0].significant and impact[2].significant
    bad = survey.set_column(survey.column_names.index("topic_delay"), "topic_delay",
                            pa.array([2] + [0] * (survey.num_rows - 1), pa.int8()))
    with pytest.raises(cx.InvalidScoreError) as info:
        cx.topic_impact(bad, "nps", ["topic_delay"])
    assert (info.value.column, info.value.first_row, info.value.first_value) == (
        "topic_delay", 0, 2)


def test_population_truth_matches_the_sample_reference() -> None:
    # The population helper and the sample reference agree on a large sample.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200_000, 3)) @ np.array([[1, 0.3, 0], [0, 1, 0.2], [0, 0, 1.0]])
    y = x @ [0.5, 0.2, 0.1] + rng.normal(size=200_000)
    rw, shap, r2 = ref.population_importances(np.corrcoef(np.column_stack([y, x]).T))
    np.testing.assert_allclose(rw, ref.relative_weights(y, x), atol=1e-12)
    assert r2 == pytest.approx(ref.full_r2(y, x), abs=1e-12)
    assert shap.sum() == pytest.approx(r2, abs=1e-12)


def test_charts() -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    survey = cx.datasets.sample_survey(10_000)
    attrs = DRIVER_COLUMNS[:5]
    res = cx.drivers(survey, "nps", attrs, n_resamples=100, seed=1)
    ax = res.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == attrs[::-1]
    means = {a: float(np.mean(np.asarray(survey.column(a)))) for a in attrs}
    ax2 = res.priority_matrix(means)
    assert len(ax2.collections[0].get_offsets()) == 5
    with pytest.raises(cx.ArgumentError):
        res.priority_matrix({"product": 3.0})


def test_cli_drivers(tmp_path: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    survey = cx.datasets.sample_survey(5_000)
    path = f"{tmp_path}/s.parquet"
    import pyarrow.parquet as pq

    pq.write_table(survey, path)
    assert main(["drivers", path, "--outcome", "nps", "--drivers", "product", "price",
                 "--by", "tier", "--n-resamples", "50", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Key drivers of 'nps'" in out and out.count("product") == 3
    assert main(["drivers", path, "--outcome", "nps", "--drivers", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["drivers", "--sample", "--no-ci", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("driver,importance") and len(lines) == 6
    # --bootstrap picks the interval: the API's BCa bounds, not the percentile ones.
    args = ["drivers", path, "--outcome", "nps", "--drivers", "product", "price",
            "--n-resamples", "200", "--seed", "3", "--format", "csv"]
    assert main([*args, "--bootstrap", "bca"]) == 0
    header, *bca_rows = csv.reader(io.StringIO(capsys.readouterr().out))
    assert all(len(line) == len(header) for line in bca_rows)
    at = header.index("ci_low")
    expected = cx.drivers(survey, "nps", ["product", "price"], n_resamples=200, seed=3,
                          bootstrap="bca")
    assert [r.ci_low for r in expected] != [
        r.ci_low for r in cx.drivers(survey, "nps", ["product", "price"], n_resamples=200,
                                     seed=3)]
    for line, row in zip(bca_rows, expected, strict=True):
        low, high = float(line[at]), float(line[at + 1])
        assert (low, high) == pytest.approx((row.ci_low, row.ci_high), abs=5e-4)
    assert main([*args, "--bootstrap", "wide"]) == 2
