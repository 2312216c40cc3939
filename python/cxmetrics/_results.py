"""Typed results: one estimate (``MetricResult``) and one per segment (``SegmentedResult``)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from .scale import Scale

if TYPE_CHECKING:
    import pandas
    import polars

    from ._engine import MetricDef

__all__ = ["MetricResult", "SegmentedResult"]

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One estimate with its interval and the counts behind it.

    ``value``, ``se`` and the bounds are in the metric's units: NPS in points (-100 to 100), shares
    in percent (0 to 100), means in scale units. They are NaN when there are no valid responses;
    the bounds are NaN when no interval was asked for.
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str | None
    se: float
    n: int
    n_missing: int
    n_invalid: int
    weighted_n: float
    effective_n: float
    counts: Mapping[str, int]
    distribution: tuple[int, ...]
    scale: Scale
    segment: Key = ()
    n_resamples: int | None = None
    seed: int | None = None
    note: str | None = field(default=None, compare=False)
    weighted: bool = False
    definition: MetricDef | None = field(default=None, compare=False, repr=False)
    # "ok", or why the row is left out of tests: "small-base" (effective n below ``min_n``),
    # "empty" (no responses).
    status: str = "ok"
    # Token of the call that produced this result: results of one call overlap (a segment is
    # inside its overall), so ``compare`` refuses such pairs.
    origin: int | None = field(default=None, compare=False, repr=False)

    @property
    def margin(self) -> float:
        """Half the interval's width (NaN without an interval)."""
        return (self.ci_high - self.ci_low) / 2

    def __str__(self) -> str:
        where = f"{self.segment!r}: " if self.segment else ""
        if math.isnan(self.ci_low):
            return f"{where}{self.metric} = {self.value:.2f} (n={self.n})"
        return (
            f"{where}{self.metric} = {self.value:.2f} "
            f"[{self.ci_low:.2f}, {self.ci_high:.2f}] "
            f"({self.confidence:.0%} {self.method}, n={self.n})"
        )


class SegmentedResult:
    """Estimates per segment, sorted by key (nulls last), plus the overall estimate.

    ``len()`` counts segments, iteration yields each segment's :class:`MetricResult`, and
    ``result[key]`` looks one up (a scalar for one ``by`` column, a tuple for several).
    """

    __slots__ = ("_aggregation", "_index", "_rows", "_table", "by", "overall")

    def __init__(
        self,
        by: tuple[str, ...],
        rows: list[MetricResult],
        overall: MetricResult,
        table: pa.Table,
        aggregation: Any = None,
    ) -> None:
        self.by = by
        self.overall = overall
        self._rows = rows
        self._table = table
        self._index = {row.segment: i for i, row in enumerate(rows)}
        # The tallies behind the rows (a native Aggregation, segments in row order), so exact
        # unions of segments (the rest of the respondents, windows) can be estimated later.
        self._aggregation = aggregation

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[MetricResult]:
        return iter(self._rows)

    def __getitem__(self, key: Any) -> MetricResult:
        wanted = key if isinstance(key, tuple) and len(self.by) > 1 else (key,)
        try:
            return self._rows[self._index[wanted]]
        except KeyError:
            raise KeyError(f"no segment {key!r} in {self.by}") from None

    def __contains__(self, key: object) -> bool:
        wanted = key if isinstance(key, tuple) and len(self.by) > 1 else (key,)
        return wanted in self._index

    def keys(self) -> list[Key]:
        """Segment keys in order, each a tuple with one value per ``by`` column."""
        return [row.segment for row in self._rows]

    def to_arrow(self) -> pa.Table:
        """One row per segment: key columns, then value, bounds, se, counts."""
        return self._table

    def to_pandas(self) -> pandas.DataFrame:
        """As :meth:`to_arrow`, converted to pandas (needs the ``pandas`` extra)."""
        frame: pandas.DataFrame = self._table.to_pandas()
        return frame

    def to_polars(self) -> polars.DataFrame:
        """As :meth:`to_arrow`, converted to polars (needs the ``polars`` extra)."""
        try:
            import polars as pl
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_polars() needs polars: pip install 'cxmetrics[polars]'") from exc
        return pl.from_arrow(self._table)  # type: ignore[return-value]

    def plot(self, ax: Any = None, **options: Any) -> Any:
        """Estimates with interval whiskers, sorted, the overall as a reference line and small
        bases greyed (needs the ``plot`` extra); returns the matplotlib Axes."""
        from ._plot import plot_segments

        return plot_segments(self, ax=ax, **options)

    def __repr__(self) -> str:
        lines = [f"SegmentedResult(by={list(self.by)}, segments={len(self)})"]
        lines += [f"  {row}" for row in self._rows[:20]]
        if len(self) > 20:
            lines.append(f"  ... {len(self) - 20} more")
        lines.append(f"  overall: {self.overall}")
        return "\n".join(lines)
