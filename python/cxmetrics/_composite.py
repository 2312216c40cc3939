"""Composite indices: a per-respondent combination of several questions, averaged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

from . import _native
from ._engine import (
    BootstrapMethod,
    OnInvalid,
    check_options,
    check_seed,
    fresh_seed,
    internal_key_names,
    mean,
    result_rows,
)
from ._inputs import resolve_columns
from ._results import MetricResult, SegmentedResult
from .errors import ArgumentError
from .scale import CES2_SCALE, Scale

__all__ = ["composite"]


@overload
def composite(
    data: object,
    scores: Sequence[Any] | None = None,
    *,
    by: None = None,
    question_weights: Sequence[float] | None = None,
    scale: Scale = CES2_SCALE,
    ci: Literal["t", "wald", "bootstrap"] | None = "t",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    bootstrap: BootstrapMethod = "bca",
    seed: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> MetricResult: ...
@overload
def composite(
    data: object,
    scores: Sequence[Any] | None = None,
    *,
    by: Any,
    question_weights: Sequence[float] | None = None,
    scale: Scale = CES2_SCALE,
    ci: Literal["t", "wald", "bootstrap"] | None = "t",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    bootstrap: BootstrapMethod = "bca",
    seed: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> SegmentedResult: ...
def composite(
    data: object,
    scores: Sequence[Any] | None = None,
    *,
    by: Any = None,
    question_weights: Sequence[float] | None = None,
    scale: Scale = CES2_SCALE,
    ci: Literal["t", "wald", "bootstrap"] | None = "t",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    bootstrap: BootstrapMethod = "bca",
    seed: int | None = None,
    on_invalid: OnInvalid = "raise",
) -> MetricResult | SegmentedResult:
    """Mean over respondents of Σ aᵢ·xᵢ / Σ aᵢ, the weighted combination of several answers.

    ``data`` is a table and ``scores`` names its question columns (``by`` names key columns),
    or ``data`` is a list of question columns (``scores=None``, ``by`` a column). A respondent
    with any missing answer is missing; any answer off ``scale`` is invalid (raised, or dropped
    and counted with ``on_invalid="drop"``). The interval is Student t, Wald, or the exact
    bootstrap over the joint histogram of distinct answer tuples.
    """
    check_options(None if ci is None else ci, confidence, on_invalid, bootstrap, n_resamples)
    if ci not in (None, "t", "wald", "bootstrap"):
        raise ArgumentError(f"ci={ci!r} does not apply to a composite index (t, wald, bootstrap)")
    if scores is None:
        if not isinstance(data, list | tuple) or len(data) < 1:
            raise ArgumentError("give scores= (column names) or data as a list of columns")
        questions = [resolve_columns(column, None, by, None) for column in data]
    else:
        if len(scores) < 1:
            raise ArgumentError("a composite needs at least one question")
        questions = [resolve_columns(data, name, by, None) for name in scores]
    weights = [1.0] * len(questions) if question_weights is None else list(question_weights)
    if len(weights) != len(questions):
        raise ArgumentError(f"{len(weights)} question weights for {len(questions)} questions")
    first = questions[0]
    if on_invalid == "raise":
        # One fast pass per question so a bad answer is reported with its column and row.
        for q in questions:
            check = _native.AccumulatorState(scale.low, scale.high, 0, False)
            check.update(q.score, [], None, "raise", q.score_name, [], None)
    cells = _native.AccumulatorState(scale.low, scale.high, len(first.keys) + len(questions), False)
    cells.update(
        first.score,
        [*first.keys, *(q.score for q in questions)],
        None,
        "drop",
        first.score_name,
        [*first.key_names, *(q.score_name for q in questions)],
        None,
    )
    used_seed = None
    if ci == "bootstrap":
        used_seed = fresh_seed() if seed is None else check_seed(seed)
    segments, overall = _native.composite_estimate(
        cells, len(first.keys), [float(w) for w in weights],
        internal_key_names(first.key_names), ci,
        float(confidence), bootstrap, n_resamples, used_seed or 0,
    )
    metric = mean("composite", scale)
    method_name = f"bootstrap-{bootstrap}" if ci == "bootstrap" else ci
    resamples = n_resamples if ci == "bootstrap" else None
    return result_rows(metric, segments, overall, first.key_names, segmented=by is not None,
                       method=method_name, confidence=float(confidence),
                       n_resamples=resamples, seed=used_seed, weighted=False)
