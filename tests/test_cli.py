"""The ``cxmetrics report`` command line, driven through ``main([...])``."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from cxmetrics.cli import main

REGIONS = ["North", "South", "East", "West", "Central"]


@pytest.fixture(scope="module")
def survey() -> pa.Table:
    """A small survey with nulls in scores and keys, and known answers."""
    rng = np.random.default_rng(11)
    n = 600
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.05] = np.nan
    team = rng.choice(["alpha", "beta", "gamma"], n).astype(object)
    team[rng.random(n) < 0.03] = None
    return pa.table(
        {
            "nps": pa.array(nps, mask=np.isnan(nps)).cast(pa.int64()),
            "csat": pa.array(rng.integers(1, 6, n)),
            "team": pa.array(team, type=pa.string()),
            "site": pa.array(rng.choice(["x", "y"], n)),
            "w": pa.array(rng.uniform(0.5, 2.0, n)),
        }
    )


@pytest.fixture(scope="module")
def csv_file(survey: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "survey.csv"
    pcsv.write_csv(survey, path)
    return path


@pytest.fixture(scope="module")
def parquet_file(survey: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "survey.parquet"
    pq.write_table(survey, path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: Any) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def plain_nps(scores: list[Any], weights: list[float] | None = None) -> float:
    x = np.array([np.nan if s is None else s for s in scores], dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    ok = ~np.isnan(x)
    signed = (x[ok] >= 9).astype(float) - (x[ok] <= 6)
    return float(100 * np.sum(w[ok] * signed) / np.sum(w[ok]))


def assert_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if line.startswith("cxmetrics")]
    assert len(message) == 1, err
    for needle in needles:
        assert needle in message[0]


# --- the sample survey ----------------------------------------------------------------------


def test_sample_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sample")
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert "NPS" in lines[0] and "region" in lines[0]
    header = lines[2].split()
    assert header[:3] == ["region", "n", "NPS"]
    assert "se" in header and "missing" in header
    body = [line for line in lines[4:] if not line.startswith("---")]
    firsts = [line.split()[0] for line in body]
    assert sorted(firsts[:-1]) == sorted(REGIONS)
    assert firsts[-1] == "overall"
    # Aligned: the value column ends at the same character on every row.
    end = lines[2].index("NPS") + len("NPS")
    for line in body:
        value = line[:end].split()[-1]
        assert line[end - len(value) : end] == value
        assert len(value.split(".")[1]) == 1  # one decimal


def test_sample_json_matches_numpy(capsys: pytest.CaptureFixture[str]) -> None:
    from cxmetrics.datasets import sample_survey

    doc = run_json(capsys, "--sample")
    assert doc["metric"] == "nps" and doc["by"] == ["region"]
    table = sample_survey()
    scores = table["nps"].to_pylist()
    assert doc["overall"]["value"] == pytest.approx(plain_nps(scores))
    assert doc["overall"]["n_missing"] == table["nps"].null_count
    region = table["region"].cast(pa.string()).to_pylist()
    assert sorted(s["segment"]["region"] for s in doc["segments"]) == sorted(REGIONS)
    for seg in doc["segments"]:
        key = seg["segment"]["region"]
        mine = [s for s, r in zip(scores, region, strict=True) if r == key]
        assert seg["value"] == pytest.approx(plain_nps(mine))
        assert seg["ci_low"] < seg["value"] < seg["ci_high"]
        assert seg["confidence"] == pytest.approx(0.95)


def test_sample_by_override_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--sample", "--by", "tier", "channel", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * 5 + 1
    assert rows[-1]["tier"] == "overall"
    assert {r["tier"] for r in rows[:-1]} == {"basic", "plus", "premium"}
    for r in rows:
        assert float(r["ci_low"]) < float(r["value"]) < float(r["ci_high"])
        assert int(r["n"]) > 0
    # Repeated and comma-separated --by mean the same.
    for argv in (("--by", "tier", "--by", "channel"), ("--by", "tier,channel")):
        assert run(capsys, "--sample", *argv, "--format", "csv")[1] == out


def test_sample_without_segments(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "--sample", "--by")
    assert doc["by"] == [] and "segments" not in doc
    assert doc["overall"]["n"] > 100_000


@pytest.mark.parametrize(
    ("argv", "low", "high"),
    [
        (("--metric", "csat"), 0, 100),
        (("--metric", "ces"), 0, 100),
        (("--metric", "top_box", "--score", "nps", "--top", "3"), 0, 100),
        (("--metric", "bottom_box", "--score", "csat", "--bottom", "1"), 0, 100),
        (("--metric", "mean", "--score", "ces"), 1, 7),
        (("--metric", "mean", "--score", "nps", "--scale", "0", "10"), 0, 10),
    ],
)
def test_sample_other_metrics(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], low: float, high: float
) -> None:
    doc = run_json(capsys, "--sample", *argv)
    for res in [*doc["segments"], doc["overall"]]:
        assert low < res["value"] < high
    code, out, err = run(capsys, "--sample", *argv)
    assert code == 0, err
    assert "overall" in out


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cxmetrics", "report", "--sample", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["by"] == ["region"]


# --- files ----------------------------------------------------------------------------------


def test_csv_file(capsys: pytest.CaptureFixture[str], csv_file: Path, survey: pa.Table) -> None:
    doc = run_json(capsys, csv_file, "--score", "nps", "--by", "team")
    scores = survey["nps"].to_pylist()
    teams = survey["team"].to_pylist()
    assert doc["overall"]["value"] == pytest.approx(plain_nps(scores))
    assert doc["overall"]["n"] == sum(s is not None for s in scores)
    assert doc["overall"]["n_missing"] == survey["nps"].null_count
    keys = [s["segment"]["team"] for s in doc["segments"]]
    # Sorted by key with the null segment (empty CSV cells) last.
    assert keys == ["alpha", "beta", "gamma", None]
    for seg, key in zip(doc["segments"], keys, strict=True):
        mine = [s for s, t in zip(scores, teams, strict=True) if t == key]
        assert seg["value"] == pytest.approx(plain_nps(mine))


def test_csv_file_table_shows_null_segment(
    capsys: pytest.CaptureFixture[str], csv_file: Path
) -> None:
    code, out, err = run(capsys, csv_file, "--score", "nps", "--by", "team")
    assert code == 0, err
    assert "(null)" in out and "overall" in out
    assert str(csv_file) in out.splitlines()[0]


def test_parquet_file_two_keys_weighted(
    capsys: pytest.CaptureFixture[str], parquet_file: Path, survey: pa.Table
) -> None:
    doc = run_json(capsys, parquet_file, "--score", "nps", "--by", "team", "site", "--weight", "w")
    scores, weights = survey["nps"].to_pylist(), survey["w"].to_pylist()
    assert doc["weight"] == "w"
    assert doc["overall"]["value"] == pytest.approx(plain_nps(scores, weights))
    assert len(doc["segments"]) == 4 * 2
    assert all(set(s["segment"]) == {"team", "site"} for s in doc["segments"])
    code, out, err = run(capsys, parquet_file, "--score", "nps", "--weight", "w")
    assert code == 0, err
    assert "n_eff" in out


def test_file_after_by(capsys: pytest.CaptureFixture[str], parquet_file: Path) -> None:
    code, out, err = run(capsys, "--score", "nps", "--by", "team", parquet_file)
    assert code == 0, err
    assert "alpha" in out


def test_no_interval(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    doc = run_json(capsys, csv_file, "--score", "nps", "--ci", "none")
    assert doc["overall"]["ci_low"] is None and doc["overall"]["ci_high"] is None
    assert doc["overall"]["se"] > 0
    code, out, _ = run(capsys, csv_file, "--score", "nps", "--ci", "none")
    assert code == 0 and "CI" not in out.splitlines()[2]


def test_confidence_narrows(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    wide = run_json(capsys, csv_file, "--score", "nps")["overall"]
    narrow = run_json(capsys, csv_file, "--score", "nps", "--confidence", "0.8")["overall"]
    assert narrow["confidence"] == pytest.approx(0.8)
    assert narrow["value"] == pytest.approx(wide["value"])
    assert narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]


@pytest.mark.parametrize("method", ["wald", "adjusted-wald", "score"])
def test_nps_interval_methods(
    capsys: pytest.CaptureFixture[str], csv_file: Path, method: str
) -> None:
    res = run_json(capsys, csv_file, "--score", "nps", "--ci", method)["overall"]
    assert res["ci_low"] < res["ci_high"]
    assert method in (res["method"] or "")


def test_bootstrap_is_reproducible(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    argv: tuple[Any, ...] = (csv_file, "--score", "nps", "--by", "site", "--ci", "bootstrap")
    argv += ("--bootstrap", "percentile", "--n-resamples", "500", "--seed", "3")
    first = run_json(capsys, *argv)
    assert first == run_json(capsys, *argv)
    assert "bootstrap" in first["overall"]["method"]


def test_invalid_scores(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("nps\n10\n11\n3\n\n7\n")
    code, out, err = run(capsys, path, "--score", "nps")
    assert_error(code, out, err, "nps")
    doc = run_json(capsys, path, "--score", "nps", "--on-invalid", "drop")
    assert doc["overall"]["n_invalid"] == 1
    assert doc["overall"]["n"] == 3


# --- errors ---------------------------------------------------------------------------------


def test_unknown_column(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    assert_error(*run(capsys, csv_file, "--score", "nps", "--by", "nope"), "nope")
    assert_error(*run(capsys, csv_file, "--score", "nope"), "nope")


def test_unknown_column_parquet(capsys: pytest.CaptureFixture[str], parquet_file: Path) -> None:
    assert_error(*run(capsys, parquet_file, "--score", "nps", "--weight", "nope"), "nope")


def test_unknown_column_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert_error(*run(capsys, "--sample", "--by", "nope"), "nope")


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert_error(*run(capsys, tmp_path / "absent.csv", "--score", "nps"), "absent.csv")


def test_unknown_file_type(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "survey.xlsx"
    path.write_bytes(b"not a spreadsheet")
    assert_error(*run(capsys, path, "--score", "nps"), "survey.xlsx")


def test_corrupt_parquet(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    code, out, err = run(capsys, path, "--score", "nps")
    assert_error(code, out, err)


@pytest.mark.parametrize(
    "argv",
    [
        (),  # neither FILE nor --sample
        ("--sample", "x.csv"),
        ("x.csv",),  # no --score
        ("--sample", "--ci", "magic"),
        ("--sample", "--metric", "median"),
        ("--sample", "--confidence", "95"),
        ("--sample", "--scale", "1", "5"),  # only for top_box/bottom_box/mean
        ("--sample", "--metric", "mean", "--score", "nps", "--scale", "5", "1"),
        ("--sample", "--metric", "top_box"),  # the sample needs --score for top_box
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    assert_error(*run(capsys, *argv))


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "report" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--help"]) == 0
    assert "--score" in capsys.readouterr().out


def test_nan_free_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A segment with no valid answers has NaN value and interval; JSON carries them as null."""
    path = tmp_path / "empty_segment.csv"
    path.write_text("nps,team\n10,a\n,b\n3,a\n")
    code, out, err = run(capsys, path, "--score", "nps", "--by", "team", "--format", "json")
    assert code == 0, err
    seg_b = json.loads(out)["segments"][1]
    assert seg_b["segment"] == {"team": "b"}
    assert seg_b["n"] == 0 and seg_b["n_missing"] == 1
    assert seg_b["value"] is None and seg_b["ci_low"] is None
