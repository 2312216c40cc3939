"""``cx.trend``: per-period figures equal filtering each period and calling the metric.

The reference assigns each row its period in plain Python (``zoneinfo`` for zoned timestamps,
``date.isocalendar`` for ISO weeks), filters the rows of each period (or rolling window) and
calls the metric on them; every row of the trend, empty periods included, must match.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cxmetrics as cx

ZONES = [None, "UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland",
         "America/St_Johns"]
EVERY = ["day", "week", "month", "quarter", "year"]
FIELDS = ("value", "ci_low", "ci_high", "se", "n", "effective_n", "weighted_n")


def period_start(day: dt.date, every: str) -> dt.date:
    if every == "day":
        return day
    if every == "week":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if every == "month":
        return day.replace(day=1)
    if every == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return dt.date(day.year, 1, 1)


def local_days(seconds: np.ndarray, zone: str | None) -> list[dt.date]:
    """The calendar day of each epoch second, in ``zone`` (None: naive, i.e. as UTC)."""
    tz = ZoneInfo(zone) if zone else dt.timezone.utc
    return [dt.datetime.fromtimestamp(int(s), tz).date() for s in seconds]


def next_start(start: dt.date, every: str) -> dt.date:
    return period_start(start + dt.timedelta(days=366 if every == "year" else 93
                                             if every == "quarter" else 32
                                             if every == "month" else 7
                                             if every == "week" else 1), every)


def check_equal(got: cx.MetricResult, want: cx.MetricResult) -> None:
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert (math.isnan(a) and math.isnan(b)) or a == b, (name, a, b)
    assert got.distribution == want.distribution


def reference_rows(scores: np.ndarray, starts: list[dt.date], weights: np.ndarray | None,
                   periods: list[dt.date], window: int, **kwargs: Any) -> list[cx.MetricResult]:
    starts_arr = np.array(starts, dtype="datetime64[D]")
    out = []
    for t, _ in enumerate(periods):
        span = np.array(periods[max(0, t - window + 1):t + 1], dtype="datetime64[D]")
        mask = np.isin(starts_arr, span)
        w = None if weights is None else weights[mask]
        out.append(cx.nps(scores[mask], weight=w, **kwargs))
    return out


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), zone=st.sampled_from(ZONES),
       every=st.sampled_from(EVERY), window=st.sampled_from([None, 1, 2, 3]),
       weighted=st.booleans(), span_days=st.sampled_from([3, 40, 400, 1500]))
def test_trend_equals_filtering_each_period(seed: int, zone: str | None, every: str,
                                            window: int | None, weighted: bool,
                                            span_days: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    start = int(dt.datetime(2023, 12, 20, tzinfo=dt.timezone.utc).timestamp())
    seconds = start + rng.integers(0, span_days * 86_400, n)
    # Sparse data: leave a gap so that some periods are empty.
    seconds = np.where(rng.random(n) < 0.3, seconds[0], seconds)
    scores = rng.integers(0, 11, n)
    weights = rng.choice([0.25, 1.0, 1.5, 4.0], n) if weighted else None
    time = pa.array(seconds, pa.timestamp("s", tz=zone))
    res = cx.trend(scores, time=time, every=every, weight=weights, window=window)  # type: ignore[arg-type]
    starts = [period_start(d, every) for d in local_days(seconds, zone)]
    periods = [min(starts)]
    while periods[-1] < max(starts):
        periods.append(next_start(periods[-1], every))
    assert res.periods == periods
    assert [row.period for row in res] == periods
    k = window or 1
    for row, want in zip(res, reference_rows(scores, starts, weights, periods, k), strict=True):
        check_equal(row.result, want)
        if want.n == 0:
            assert row.status == "empty"
    # The change is compare() of the row and the one k periods before it.
    for t, row in enumerate(res):
        if t < k:
            assert row.previous is None and row.change_status == "first"
        elif row.change_status == "ok":
            assert row.previous is not None
            want = cx.compare(row.result, row.previous)
            assert (row.change, row.change_low, row.change_high, row.change_p) == (
                want.difference, want.ci_low, want.ci_high, want.p_value)
        elif row.change_status == "zero-variance":
            # Both periods answered alike (se = 0): no test is possible, and it says so.
            assert row.previous is not None and math.isnan(row.change_p)
            assert cx.compare(row.result, row.previous).se == 0


@pytest.mark.parametrize("kind", ["date32", "date64", "timestamp-naive"])
def test_dates_and_naive_timestamps_by_segment(kind: str) -> None:
    rng = np.random.default_rng(11)
    n = 3_000
    days = rng.integers(0, 800, n)
    base = np.datetime64("2022-11-15")
    dates = base + days.astype("timedelta64[D]")
    time = {
        "date32": pa.array(dates, pa.date32()),
        "date64": pa.array(dates, pa.date32()).cast(pa.date64()),
        "timestamp-naive": pa.array(dates.astype("datetime64[ms]")
                                    + rng.integers(0, 86_400_000, n).astype("timedelta64[ms]")),
    }[kind]
    region = rng.choice(["east", "west", "north"], n)
    scores = rng.integers(0, 11, n)
    table = pa.table({"score": scores, "when": time, "region": region})
    res = cx.trend(table, score="score", time="when", every="quarter", by="region",
                   ci="wald", min_n=100)
    assert res.by == ("region",)
    starts = [period_start(d.astype(dt.date), "quarter") for d in dates]
    assert len(res) == 3 * len(res.periods)
    for row in res:
        mask = (region == row.segment[0]) & np.array([s == row.period for s in starts])
        want = cx.nps(scores[mask], ci="wald")
        check_equal(row.result, want)
        assert row.status == ("ok" if want.effective_n >= 100 else "small-base")
    # The overall series adds every segment of the period.
    for row in res.overall:
        mask = np.array([s == row.period for s in starts])
        check_equal(row.result, cx.nps(scores[mask], ci="wald"))
    table_out = res.to_arrow()
    assert table_out.num_rows == len(res)
    assert table_out.column("period").type == pa.date32()


def test_days_follow_the_zone_across_dst() -> None:
    # 2024-03-10 02:00 is skipped in New York; 2024-11-03 01:00 happens twice.
    zone = ZoneInfo("America/New_York")
    local = [dt.datetime(2024, 3, 9, 23, 30), dt.datetime(2024, 3, 10, 0, 30),
             dt.datetime(2024, 3, 10, 3, 30), dt.datetime(2024, 3, 10, 23, 59),
             dt.datetime(2024, 11, 3, 0, 30), dt.datetime(2024, 11, 3, 1, 30),
             dt.datetime(2024, 11, 3, 23, 30), dt.datetime(2024, 11, 4, 0, 0)]
    instants = [d.replace(tzinfo=zone).astimezone(dt.timezone.utc) for d in local]
    seconds = np.array([int(i.timestamp()) for i in instants])
    time = pa.array(seconds, pa.timestamp("s", tz="America/New_York"))
    res = cx.trend([10, 9, 0, 7, 10, 10, 0, 8], time=time, every="day")
    counts = {row.period: row.n for row in res}
    assert counts[dt.date(2024, 3, 9)] == 1
    assert counts[dt.date(2024, 3, 10)] == 3
    assert counts[dt.date(2024, 11, 3)] == 3
    assert counts[dt.date(2024, 11, 4)] == 1
    # The same instants in UTC fall on other days.
    utc = cx.trend([10, 9, 0, 7, 10, 10, 0, 8], time=time.cast(pa.timestamp("s", tz="UTC")),
                   every="day")
    assert {row.period: row.n for row in utc if row.n} != {p: c for p, c in counts.items() if c}


def test_iso_weeks_across_the_new_year() -> None:
    days = [dt.date(2020, 12, 31), dt.date(2021, 1, 1), dt.date(2021, 1, 3),
            dt.date(2021, 1, 4), dt.date(2026, 12, 28), dt.date(2027, 1, 3)]
    res = cx.trend([10] * len(days), time=pa.array(days, pa.date32()), every="week", ci=None)
    labelled = {row.label: row.n for row in res if row.n}
    assert labelled == {"2020-W53": 3, "2021-W01": 1, "2026-W53": 2}
    assert all(row.period.weekday() == 0 for row in res)
    assert len(res) == len({row.period for row in res})


def test_window_change_compares_disjoint_windows_and_statuses() -> None:
    days = pa.array([dt.date(2024, m, 15) for m in range(1, 7) for _ in range(40)], pa.date32())
    scores = np.tile(np.arange(40) % 11, 6)
    res = cx.trend(scores, time=days, every="month", window=3)
    assert [row.status for row in res][:2] == ["partial-window", "partial-window"]
    rows = res.rows
    assert rows[3].previous is not None and rows[3].previous.segment == (dt.date(2024, 1, 1),)
    assert [row.change_status for row in rows] == (
        ["first"] * 3 + ["partial-window", "partial-window", "ok"])


def test_overlapping_rows_of_a_trend_are_refused() -> None:
    rng = np.random.default_rng(12)
    days = pa.array(np.datetime64("2024-01-01") + rng.integers(0, 150, 3_000)
                    .astype("timedelta64[D]"), pa.date32())
    region = pa.array(rng.choice(["a", "b"], 3_000))
    scores = rng.integers(0, 11, 3_000)
    res = cx.trend(scores, time=days, every="month", by=region)
    a, b = res.series("a"), res.series("b")
    overall = res.overall
    # The overall series holds every segment: same period overlaps, in both orders.
    for x, y in ((overall[2].result, a[2].result), (b[3].result, overall[3].result)):
        with pytest.raises(cx.OverlappingSamplesError, match="overall series"):
            cx.compare(x, y)
    with pytest.raises(cx.OverlappingSamplesError, match="same"):
        cx.compare(a[1].result, a[1].result)
    # Disjoint rows are fine: other periods, other segments, one segment over two periods.
    cx.compare(overall[2].result, a[1].result)
    cx.compare(a[2].result, b[2].result)
    cx.compare(a[2].result, a[1].result)
    # Windows of 2 months: a window overlaps the one a month before, not two months before.
    windows = cx.trend(scores, time=days, every="month", by=region, window=2)
    wa = windows.series("a")
    with pytest.raises(cx.OverlappingSamplesError, match="share periods"):
        cx.compare(wa[3].result, wa[2].result)
    with pytest.raises(cx.OverlappingSamplesError, match="overall series"):
        cx.compare(windows.overall[3].result, wa[2].result)
    cx.compare(wa[3].result, wa[1].result)
    cx.compare(windows.overall[3].result, wa[1].result)
    # Every change the trend and significance(..., "previous") report is between disjoint rows.
    assert len(cx.significance(windows, against="previous", min_n=None)) > 0


def test_bad_arguments_and_missing_times() -> None:
    with pytest.raises(cx.ArgumentError, match="every"):
        cx.trend([10], time=pa.array([dt.date(2024, 1, 1)]), every="fortnight")  # type: ignore[arg-type]
    with pytest.raises(cx.ArgumentError, match="window"):
        cx.trend([10], time=pa.array([dt.date(2024, 1, 1)]), window=0)
    with pytest.raises(cx.UnsupportedTypeError, match="date or timestamp"):
        cx.trend([10, 9], time=pa.array(["2024-01-01", "x"]))
    with pytest.raises(cx.ArgumentError, match="metric"):
        cx.trend([10], metric="loyalty", time=pa.array([dt.date(2024, 1, 1)]))
    with pytest.raises(cx.ArgumentError, match="change_ci"):
        cx.trend([10], time=pa.array([dt.date(2024, 1, 1)]), change_ci="magic")  # type: ignore[arg-type]
    res = cx.trend([10, 9, 0], time=pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 2, 1)]))
    assert res.n_without_time == 1
    assert [row.n for row in res] == [1, 1]


def test_other_metrics_and_significance_of_changes() -> None:
    rng = np.random.default_rng(4)
    days = pa.array(np.datetime64("2024-01-01") + rng.integers(0, 120, 2_000)
                    .astype("timedelta64[D]"), pa.date32())
    csat = rng.integers(1, 6, 2_000)
    res = cx.trend(csat, metric="csat", time=days, every="month")
    assert res.method == "wilson" and res.metric == "csat"
    family = cx.significance(res, against="previous", adjust="holm")
    assert len(family) == len(res) - 1
    raw = [t.p_value for t in family if t.status == "ok"]
    np.testing.assert_array_equal([t.p_adjusted for t in family if t.status == "ok"],
                                  cx.adjust_pvalues(raw, "holm"))
    assert "previous period" in family.family


@pytest.mark.parametrize("every", EVERY)
def test_periods_over_a_century(every: str) -> None:
    # Dates from 1950 to 2049, before and after the epoch: each period is the calendar's.
    from cxmetrics._periods import period_column

    rng = np.random.default_rng(0)
    days = np.datetime64("1950-01-01") + rng.integers(0, 36_500, 5_000).astype("timedelta64[D]")
    got = period_column(pa.chunked_array([pa.array(days, pa.date32())]), every, "t")
    assert got.to_pylist() == [period_start(d, every) for d in days.astype(dt.date)]


def test_rest_within_each_period_equals_compare_on_the_other_rows() -> None:
    rng = np.random.default_rng(17)
    n = 2_000
    days = np.datetime64("2024-01-01") + rng.integers(0, 90, n).astype("timedelta64[D]")
    region = rng.choice(["a", "b", "c"], n)
    scores = rng.integers(0, 11, n)
    weights = rng.choice([0.5, 1.0, 2.0], n)
    res = cx.trend(scores, time=pa.array(days, pa.date32()), every="month",
                   by=pa.array(region), weight=weights, window=2)
    family = cx.significance(res, against="rest", adjust="bh", min_n=None)
    assert len(family) == len(res) and "same month" in family.family
    starts = np.array([period_start(d, "month") for d in days.astype(dt.date)])
    for test, row in zip(family, res, strict=True):
        t = res.periods.index(row.period)
        span = res.periods[max(0, t - 1):t + 1]
        mask = np.isin(starts, span) & (region != row.segment[0])
        rest = cx.nps(scores[mask], weight=weights[mask])
        want = cx.compare(row.result, rest)
        assert test.b == "rest" and test.a == (*row.segment, row.period)
        assert (test.difference, test.se, test.p_value) == (want.difference, want.se,
                                                            want.p_value)


def test_time_from_numpy_pandas_and_polars() -> None:
    pl = pytest.importorskip("polars")
    pd = pytest.importorskip("pandas")
    days = np.array(["2024-01-03", "2024-02-05", "2024-02-06"], dtype="datetime64[D]")
    assert [r.n for r in cx.trend([10, 0, 9], time=days)] == [1, 2]
    assert [r.n for r in cx.trend([10, 0, 9], time=days.astype("datetime64[ns]"))] == [1, 2]
    # 23:30 in New York on 31 January is 1 February in UTC: the zone's calendar decides.
    frame = pl.DataFrame({"s": [10, 0, 9], "t": [dt.datetime(2024, 1, 31, 23, 30),
                                                dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1)]})
    frame = frame.with_columns(pl.col("t").dt.replace_time_zone("America/New_York"))
    assert [r.n for r in cx.trend(frame, score="s", time="t")] == [1, 1, 1]
    pdf = pd.DataFrame({"s": [10, 0, 9], "t": pd.to_datetime(
        ["2024-01-01", "2024-03-01", "2024-03-02"]).tz_localize("Europe/Berlin")})
    res = cx.trend(pdf, score="s", time="t")
    assert [r.n for r in res] == [1, 0, 2] and res.rows[1].status == "empty"


@pytest.mark.parametrize("change_ci", ["wald", "newcombe", "bootstrap"])
def test_change_methods_equal_compare(change_ci: str) -> None:
    rng = np.random.default_rng(23)
    days = pa.array(np.datetime64("2024-01-01") + rng.integers(0, 120, 1_500)
                    .astype("timedelta64[D]"), pa.date32())
    res = cx.trend(rng.integers(0, 11, 1_500), time=days, every="month",
                   change_ci=change_ci)  # type: ignore[arg-type]
    for row in res.rows[1:]:
        assert row.previous is not None
        want = cx.compare(row.result, row.previous, ci=change_ci)  # type: ignore[arg-type]
        if change_ci == "bootstrap":  # a fresh seed each call: the same estimate, other draws
            assert row.change == want.difference and row.change_low < row.change < row.change_high
        else:
            assert (row.change, row.change_low, row.change_high, row.change_p) == (
                want.difference, want.ci_low, want.ci_high, want.p_value)
