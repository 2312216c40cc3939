"""Topic impact: the score of respondents who mention a topic against the others', per topic,
with p-values adjusted across topics.

Each topic is a 0/1 flag column. The metric is computed with the flag as the segment (the
ordinary metric functions, so every metric, weight and interval option applies) and the two
groups are compared with :func:`cx.compare` (Wald by default). The family of p-values is
adjusted by Holm's step-down method (Holm 1979), which controls the family-wise error rate, or
by Bonferroni; the intervals are per topic (unadjusted).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ._adjust import adjust_pvalues
from ._compare import compare
from ._inputs import as_table
from ._metrics import csat, mean_score, nps
from ._results import SegmentedResult
from .errors import ArgumentError, ColumnError, InvalidScoreError

__all__ = ["TopicImpact", "topic_impact"]

_METRICS: dict[str, Callable[..., Any]] = {"nps": nps, "csat": csat, "mean": mean_score}


@dataclass(frozen=True, slots=True)
class TopicImpact:
    """The metric with and without one topic, their difference (with − without), its
    interval, and the raw and adjusted p-values of no difference."""

    topic: str
    with_topic: float
    without_topic: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    n_with: int
    n_without: int
    significant: bool


def _flag(table: pa.Table, name: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise ColumnError(f"topics: no column {name!r}; the table has {table.column_names}",
                          column=name)
    column = table.column(name)
    if pa.types.is_boolean(column.type):
        return pc.cast(column, pa.int8())
    if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
        raise ColumnError(f"topic column {name!r} must hold 0/1 flags, got {column.type}",
                          column=name)
    bad = pc.invert(pc.fill_null(pc.is_in(pc.cast(column, pa.float64()),
                                          value_set=pa.array([0.0, 1.0])), True))
    count = pc.sum(bad).as_py() or 0
    if count:
        flat = bad.combine_chunks() if isinstance(bad, pa.ChunkedArray) else bad
        first = pc.index(flat, True).as_py()
        value = column[first].as_py()
        raise InvalidScoreError(
            f"column {name!r}: {count} value(s) are not 0/1 topic flags; first at row {first}: "
            f"{value}", column=name, count=count, first_row=first, first_value=value)
    return pc.cast(column, pa.int8())


def topic_impact(
    data: object,
    outcome: str,
    topics: Sequence[str],
    *,
    metric: Literal["nps", "csat", "mean"] = "nps",
    weight: str | None = None,
    ci: Literal["wald", "bootstrap"] = "wald",
    confidence: float = 0.95,
    adjust: Literal["holm", "bonferroni"] = "holm",
    alpha: float = 0.05,
    seed: int | None = None,
    **options: Any,
) -> list[TopicImpact]:
    """For each 0/1 topic flag, the metric of the rows with the topic minus the rows without.

    ``metric`` is ``"nps"`` (default), ``"csat"`` or ``"mean"`` (``options`` go to that metric
    function, e.g. ``scale=``). Rows with a null flag are in neither group. ``significant`` is
    ``p_adjusted < alpha``.
    """
    if metric not in _METRICS:
        raise ArgumentError(f"metric={metric!r} is not one of {sorted(_METRICS)}")
    if adjust not in ("holm", "bonferroni"):
        raise ArgumentError(f"adjust={adjust!r} is not 'holm' or 'bonferroni'")
    if not topics:
        raise ArgumentError("topics must name at least one flag column")
    table = as_table(data)
    if table is None:
        raise ColumnError("topic impact needs a table with the outcome and topic columns")
    function = _METRICS[metric]
    rows = []
    for topic in topics:
        flagged = table.select([c for c in {outcome, *( [weight] if weight else [])}
                                if c in table.column_names])
        flagged = flagged.append_column("__topic__", _flag(table, topic))
        result = function(flagged, outcome, by="__topic__", weight=weight, ci=None, **options)
        assert isinstance(result, SegmentedResult)
        if 1 not in result or 0 not in result:
            raise ArgumentError(f"topic {topic!r}: every row has the same flag, nothing to "
                                "compare")
        with_, without = result[1], result[0]
        diff = compare(with_, without, ci=ci, confidence=confidence, seed=seed)
        rows.append((topic, with_, without, diff))
    raw = [d.p_value for *_, d in rows]
    adjusted = adjust_pvalues(raw, adjust).tolist() if raw else []
    return [
        TopicImpact(topic=t, with_topic=w.value, without_topic=wo.value,
                    difference=d.difference, ci_low=d.ci_low, ci_high=d.ci_high,
                    p_value=d.p_value, p_adjusted=p_adj, n_with=w.n, n_without=wo.n,
                    significant=p_adj < alpha)
        for (t, w, wo, d), p_adj in zip(rows, adjusted, strict=True)
    ]
