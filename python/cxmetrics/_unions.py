"""Estimates of unions of an aggregation's segments (the rest of the respondents, a rolling window,
an empty period), added exactly in the core: no pass over the rows again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _engine, _native
from ._engine import MetricDef
from ._results import MetricResult, rows_of

__all__ = ["ANALYTIC", "UnionOrigin", "estimate_complements", "estimate_unions", "set_statuses",
           "status_of"]

ANALYTIC = ("wald", "adjusted-wald", "score", "wilson", "t")


class UnionOrigin(int):
    """The origin token of a call whose results are unions of cells (a trend's periods and
    windows, its overall series): it equals the plain token, and it knows which two of its
    results share respondents, which the labels alone cannot say."""

    def overlap(self, a: tuple[Any, ...], b: tuple[Any, ...]) -> str | None:
        """Why results labelled ``a`` and ``b`` of this call share respondents, or None."""
        raise NotImplementedError


def estimate_unions(aggregation: _native.AccumulatorState, metric: MetricDef,
                    groups: Sequence[Sequence[int]], segments: Sequence[tuple[Any, ...]], *,
                    ci: str | None, confidence: float, bootstrap: str = "bca",
                    n_resamples: int = 10_000, seed: int | None = None,
                    origin: int | None = None) -> list[MetricResult]:
    """One result per group: the union of the listed segments (indices in result order),
    labelled ``segments[i]``."""
    if ci in ("bootstrap", "bayes"):
        name = f"bootstrap-{bootstrap}" if ci == "bootstrap" else "bayes"
        method = _engine._Method(name, float(confidence), n_resamples, seed)
    else:
        method = _engine._Method(ci, float(confidence))
    batch = _native.estimate_groups(aggregation, metric.native, [list(g) for g in groups], ci,
                                    float(confidence), bootstrap, n_resamples, seed or 0)
    return _labelled(batch, metric, segments, method, aggregation.weighted, origin)


def estimate_complements(aggregation: _native.AccumulatorState, metric: MetricDef,
                         universes: Sequence[Sequence[int]],
                         parts: Sequence[tuple[int, Sequence[int]]],
                         segments: Sequence[tuple[Any, ...]], *, ci: str | None,
                         confidence: float) -> list[MetricResult]:
    """One result per ``(u, part)``: the union of ``universes[u]`` minus the union of ``part``
    (a subset of it), labelled ``segments[i]`` — "the rest" of a segment, subtracted exactly in
    the core from a total added once (linear in the segments, not quadratic)."""
    method = _engine._Method(ci, float(confidence))
    batch = _native.estimate_complements(
        aggregation, metric.native, [list(u) for u in universes],
        [(u, list(part)) for u, part in parts], ci, float(confidence))
    return _labelled(batch, metric, segments, method, aggregation.weighted, None)


def _labelled(batch: Any, metric: MetricDef, segments: Sequence[tuple[Any, ...]],
              method: _engine._Method, weighted: bool, origin: int | None
              ) -> list[MetricResult]:
    rows = rows_of(metric, batch, method=method.name, confidence=method.confidence,
                   n_resamples=method.n_resamples, seed=method.seed,
                   weighted=weighted, origin=origin)
    for row, key in zip(rows, segments, strict=True):
        _set(row, "segment", tuple(key))
    return rows


def _set(row: MetricResult, name: str, value: Any) -> None:
    """Sets a field of a result that was just built here and is not shared yet (a frozen
    dataclass; ``dataclasses.replace`` would rebuild it, which costs ~50x more per row)."""
    object.__setattr__(row, name, value)


def set_statuses(rows: Sequence[MetricResult], statuses: Sequence[str]) -> None:
    """Statuses of results fresh from :func:`estimate_unions` (not shared yet)."""
    for row, status in zip(rows, statuses, strict=True):
        _set(row, "status", status)


def status_of(result: MetricResult, min_n: float | None) -> str:
    """``"empty"`` without responses, ``"small-base"`` below ``min_n`` (effective n), else
    ``"ok"``."""
    if result.n == 0 or not result.effective_n > 0:
        return "empty"
    if min_n is not None and result.effective_n < min_n:
        return "small-base"
    return "ok"


def check_min_n(min_n: float | None) -> float | None:
    from .errors import ArgumentError

    if min_n is None:
        return None
    if isinstance(min_n, bool) or not isinstance(min_n, int | float) or not min_n >= 0:
        raise ArgumentError(f"min_n must be a number ≥ 0 or None, got {min_n!r}")
    return float(min_n)
