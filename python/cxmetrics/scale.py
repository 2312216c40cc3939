"""Integer rating scales."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CES2_SCALE", "CES_EFFORT_SCALE", "CSAT_SCALE", "NPS_SCALE", "Scale"]


@dataclass(frozen=True, slots=True)
class Scale:
    """An inclusive integer scale ``low..high``, e.g. ``Scale(0, 10)`` for NPS."""

    low: int
    high: int

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Scale.{name} must be an int, got {value!r}")
        if self.high < self.low:
            raise ValueError(f"Scale high ({self.high}) is below low ({self.low})")

    @property
    def points(self) -> int:
        """How many values the scale has."""
        return self.high - self.low + 1

    def values(self) -> range:
        return range(self.low, self.high + 1)


NPS_SCALE = Scale(0, 10)
CSAT_SCALE = Scale(1, 5)
CES2_SCALE = Scale(1, 7)
CES_EFFORT_SCALE = Scale(1, 5)
