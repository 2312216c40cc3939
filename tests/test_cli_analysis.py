"""``cxmetrics trend`` and ``cxmetrics significance``, and the options shared with ``report``:
``--filter COL=VALUE``, ``-`` for stdin, ``--ci bayes`` with the seed printed, ``--plot``."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import cxmetrics as cx
from cxmetrics.cli import main


@pytest.fixture(scope="module")
def table() -> pa.Table:
    rng = np.random.default_rng(21)
    n = 3_000
    days = np.datetime64("2024-01-01") + rng.integers(0, 150, n).astype("timedelta64[D]")
    return pa.table({
        "score": rng.integers(0, 11, n),
        "when": pa.array(days, pa.date32()),
        "team": rng.choice(["red", "blue", "green"], n),
        "site": rng.choice(["x", "y"], n),
    })


@pytest.fixture(scope="module")
def csv_file(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_analysis") / "survey.csv"
    pcsv.write_csv(table, path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_trend_json_equals_the_api(capsys: pytest.CaptureFixture[str], csv_file: Path,
                                   table: pa.Table) -> None:
    code, out, err = run(capsys, "trend", csv_file, "--score", "score", "--time", "when",
                         "--every", "month", "--by", "team", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    api = cx.trend(table, score="score", time="when", every="month", by="team")
    assert len(doc["rows"]) == len(api)
    for got, want in zip(doc["rows"], api, strict=True):
        assert got["team"] == want.segment[0]
        assert got["period"] == want.period.isoformat()
        assert got["value"] == pytest.approx(want.value, rel=1e-12)
        assert got["n"] == want.n


def test_trend_table_and_filter(capsys: pytest.CaptureFixture[str], csv_file: Path,
                                table: pa.Table) -> None:
    code, out, err = run(capsys, "trend", csv_file, "--score", "score", "--time", "when",
                         "--every", "month", "--filter", "site=x", "--window", "2")
    assert code == 0, err
    assert "rolling 2" in out and "2024-05" in out
    kept = table.filter(pa.compute.equal(table["site"], "x"))
    api = cx.trend(kept, score="score", time="when", every="month", window=2)
    last = api.rows[-1]
    assert f"{last.n:,}" in out.splitlines()[-1]


def test_significance_csv_equals_the_api(capsys: pytest.CaptureFixture[str], csv_file: Path,
                                         table: pa.Table) -> None:
    code, out, err = run(capsys, "significance", csv_file, "--score", "score", "--by", "team",
                         "--against", "pairs", "--adjust", "bh", "--format", "csv")
    assert code == 0, err
    lines = out.strip().splitlines()
    family = cx.significance(cx.nps(table, score="score", by="team"), against="pairs",
                             adjust="bh")
    assert len(lines) == 1 + len(family)
    header = lines[0].split(",")
    for line, test in zip(lines[1:], family, strict=True):
        cells = dict(zip(header, line.split(","), strict=True))
        assert float(cells["p_adjusted"]) == pytest.approx(test.p_adjusted, rel=1e-12)


def test_significance_table_on_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "significance", "--sample", "--by", "region")
    assert code == 0, err
    assert "each segment against the rest" in out and "Holm" in out
    assert "South" in out and "yes" in out


def test_stdin_dash(csv_file: Path) -> None:
    data = csv_file.read_bytes()
    out = subprocess.run(
        [sys.executable, "-m", "cxmetrics", "report", "-", "--score", "score", "--by", "team",
         "--format", "json"], input=data, capture_output=True, check=True)
    doc = json.loads(out.stdout)
    want = cx.nps(pcsv.read_csv(io.BytesIO(data)), score="score", by="team")
    assert doc["overall"]["value"] == pytest.approx(want.overall.value, rel=1e-12)


def test_bayes_prints_its_seed(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    code, out, err = run(capsys, "report", csv_file, "--score", "score", "--ci", "bayes")
    assert code == 0, err
    assert "resampling seed" in err
    seed = int(err.split("resampling seed ")[1].split()[0])
    code2, out2, _ = run(capsys, "report", csv_file, "--score", "score", "--ci", "bayes",
                         "--seed", seed)
    assert code2 == 0 and out2 == out
    code3, _, err3 = run(capsys, "report", csv_file, "--score", "score", "--ci", "wald")
    assert code3 == 0 and "seed" not in err3


def test_plot_option_writes_charts(capsys: pytest.CaptureFixture[str], csv_file: Path,
                                   tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "report.png"
    assert run(capsys, "report", csv_file, "--score", "score", "--by", "team",
               "--plot", png)[0] == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    svg = tmp_path / "trend.svg"
    assert run(capsys, "trend", csv_file, "--score", "score", "--time", "when",
               "--plot", svg)[0] == 0
    assert b"<svg" in svg.read_bytes()
    code, _, err = run(capsys, "report", csv_file, "--score", "score", "--by", "team",
                       "--plot", tmp_path / "x.pdf")
    assert code == 2 and ".png or .svg" in err


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], csv_file: Path) -> None:
    code, _, err = run(capsys, "trend", csv_file, "--score", "score", "--time", "team")
    assert code == 2 and err.startswith("cxmetrics trend: error:") and "date or timestamp" in err
    code, _, err = run(capsys, "report", csv_file, "--score", "score", "--filter", "nope=1")
    assert code == 2 and "no column 'nope'" in err
    code, _, err = run(capsys, "significance", csv_file, "--score", "score", "--by", "team",
                       "--filter", "team")
    assert code == 2 and "COL=VALUE" in err
    assert dt.date(2024, 1, 1)  # keep the import used for readers of the fixture
