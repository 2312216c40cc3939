"""Calendar periods of a time column: the day, ISO week, month, quarter or year each row falls in.

Timestamps with a time zone are read in that zone's calendar (a response at 23:30 in New York is
on the New York day, whatever UTC says); naive timestamps and dates are taken as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from .errors import ArgumentError, UnsupportedTypeError

__all__ = ["EVERY", "Every", "period_column", "period_label", "period_range"]

Every = Literal["day", "week", "month", "quarter", "year"]
EVERY: tuple[str, ...] = ("day", "week", "month", "quarter", "year")


def check_every(every: str) -> None:
    if every not in EVERY:
        raise ArgumentError(f"every must be one of {EVERY}, got {every!r}")


def period_column(time: pa.ChunkedArray, every: str, name: str) -> pa.ChunkedArray:
    """The first day (date32) of the period of each row; null where the time is null."""
    check_every(every)
    kind = time.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            # Wall-clock time in the column's zone: its calendar decides the day.
            time = pc.local_timestamp(time)
    elif pa.types.is_date32(kind) or pa.types.is_date64(kind):
        time = time.cast(pa.timestamp("ms"))
    else:
        raise UnsupportedTypeError(
            f"time column {name!r} must be a date or timestamp, got {kind}", column=name)
    floored = pc.floor_temporal(time, unit=every, week_starts_monday=True)
    return floored.cast(pa.date32())


def next_period(start: dt.date, every: str) -> dt.date:
    if every == "day":
        return start + dt.timedelta(days=1)
    if every == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[every]
    total = start.year * 12 + start.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def period_range(first: dt.date, last: dt.date, every: str) -> list[dt.date]:
    """Every period start from ``first`` to ``last`` inclusive."""
    out = []
    current = first
    while current <= last:
        out.append(current)
        current = next_period(current, every)
    return out


def period_label(start: dt.date, every: str) -> str:
    """``2024-03-05``, ``2024-W10`` (ISO week), ``2024-03``, ``2024-Q1`` or ``2024``."""
    if every == "day":
        return start.isoformat()
    if every == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if every == "month":
        return f"{start.year}-{start.month:02d}"
    if every == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)
