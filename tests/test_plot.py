"""Charts: real PNGs rendered with matplotlib's Agg canvas, checked through their Axes (bars,
whisker ends, reference line, band limits, markers), and matplotlib never imported by
``import cxmetrics``."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx

matplotlib = pytest.importorskip("matplotlib")


def segmented() -> cx.SegmentedResult:
    rng = np.random.default_rng(5)
    sizes = {"a": 300, "b": 400, "c": 12, "d": 500}
    region = np.repeat(list(sizes), list(sizes.values()))
    scores = rng.integers(0, 11, region.size)
    return cx.nps(scores, by=pa.array(region), min_n=30)


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, cxmetrics; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_segments_chart(tmp_path: Path) -> None:
    res = segmented()
    ax = res.plot()
    bars = ax.patches
    assert len(bars) == len(res)
    # Sorted by estimate, each bar as long as its segment's value.
    widths = [bar.get_width() for bar in bars]
    assert widths == sorted(r.value for r in res)
    # Small bases grey, the others not.
    by_width = {bar.get_width(): bar for bar in bars}
    for row in res:
        colour = matplotlib.colors.to_hex(by_width[row.value].get_facecolor())
        assert (colour == "#b0b0b0") == (row.status == "small-base")
    # Whiskers end at the interval bounds.
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    ends = sorted((round(s[0][0], 9), round(s[1][0], 9)) for s in segments)
    assert ends == sorted((round(r.ci_low, 9), round(r.ci_high, 9)) for r in res)
    # The overall as a vertical reference line.
    assert any(list(line.get_xdata()) == [res.overall.value] * 2 for line in ax.lines)
    path = tmp_path / "segments.png"
    ax.get_figure().savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_segments_chart_on_a_given_axes() -> None:
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    assert segmented().plot(ax=ax) is ax


def trend(by: bool, segments: int = 3) -> cx.TrendResult:
    rng = np.random.default_rng(9)
    n = 6_000
    days = np.datetime64("2024-01-01") + rng.integers(0, 180, n).astype("timedelta64[D]")
    region = rng.integers(0, segments, n)
    scores = rng.integers(0, 11, n)
    # Region 0 drops sharply from April: a significant change to be marked.
    late = (region == 0) & (days >= np.datetime64("2024-04-01"))
    scores = np.where(late, np.minimum(scores, 6), scores)
    return cx.trend(scores, time=pa.array(days, pa.date32()), every="month",
                    by=pa.array(region) if by else None)


def test_trend_chart_bands_and_marks(tmp_path: Path) -> None:
    res = trend(by=True)
    ax = res.plot()
    lines = [line for line in ax.lines if line.get_label() in {"0", "1", "2"}]
    assert len(lines) == 3
    bands = [c for c in ax.collections
             if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
    assert len(bands) == 3
    for band, segment in zip(bands, res.segments(), strict=True):
        rows = res.series(segment)
        ys = band.get_paths()[0].vertices[:, 1]
        assert np.isclose(ys.max(), max(r.ci_high for r in rows))
        assert np.isclose(ys.min(), min(r.ci_low for r in rows))
    stars = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    family = cx.significance(res, against="previous")
    assert sum(len(c.get_offsets()) for c in stars) == len(family.significant()) >= 1
    ax.get_figure().savefig(tmp_path / "trend.svg")
    assert (tmp_path / "trend.svg").read_text().lstrip().startswith("<?xml")


def test_many_segments_become_small_multiples() -> None:
    res = trend(by=True, segments=6)
    figure = res.plot()
    visible = [a for a in figure.axes if a.get_visible()]
    assert len(visible) == 6
    assert all(len(a.lines) == 1 for a in visible)


def test_unsegmented_trend_chart() -> None:
    ax = trend(by=False).plot()
    assert len(ax.lines) == 1
    xs = ax.lines[0].get_xdata()
    assert xs[0] == dt.date(2024, 1, 1)
