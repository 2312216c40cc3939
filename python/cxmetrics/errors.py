"""Typed exceptions. Every error cxmetrics raises on purpose derives from :class:`CxError`."""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ColumnError",
    "CorruptStateError",
    "CxError",
    "IncompatibleAccumulatorError",
    "InvalidScoreError",
    "InvalidWeightError",
    "LengthMismatchError",
    "MostlyDroppedWarning",
    "OverlappingSamplesError",
    "UnsupportedTypeError",
]


class CxError(Exception):
    """Base class of cxmetrics' errors."""


class _BadValues(CxError, ValueError):
    """Rows whose values cannot be used; names the column, how many, and the first one."""

    column: str
    count: int
    first_row: int
    first_value: object

    def __init__(
        self, message: str, *, column: str, count: int, first_row: int, first_value: object
    ) -> None:
        super().__init__(message)
        self.column = column
        self.count = count
        self.first_row = first_row
        self.first_value = _as_number(first_value)


class InvalidScoreError(_BadValues):
    """Scores off the scale, fractional, NaN or infinite (with ``on_invalid="raise"``)."""


class InvalidWeightError(_BadValues):
    """Weights that are negative, NaN, infinite or null."""


class ColumnError(CxError, ValueError):
    """A column that is unknown, missing, or unusable for its role."""

    column: str | None

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class UnsupportedTypeError(ColumnError, TypeError):
    """A column whose data type cannot hold scores, segment keys or weights."""


class LengthMismatchError(ColumnError):
    """``by`` or ``weight`` columns whose length differs from the scores'."""


class ArgumentError(CxError, ValueError):
    """An option that does not fit, e.g. ``ci="wilson"`` for NPS or buckets that overlap."""


class IncompatibleAccumulatorError(ArgumentError):
    """Accumulators of different metrics, options, columns or weighting cannot be merged."""


class OverlappingSamplesError(ArgumentError):
    """Two results that share respondents (a segment and its own overall, or a result and
    itself) given to a test that assumes independent groups."""


class CorruptStateError(CxError, ValueError):
    """Bytes that are not a valid, intact accumulator state."""


class MostlyDroppedWarning(UserWarning):
    """``on_invalid="drop"`` dropped most of the scored rows: likely a wrong column or scale."""


def _as_number(value: object) -> object:
    """The core reports offending values as text; give users the number back where it is one."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value
