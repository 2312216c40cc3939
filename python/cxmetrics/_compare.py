"""Comparing one metric between two independent groups, and planning sample sizes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import _native
from ._engine import BootstrapMethod, check_options, check_seed, fresh_seed
from ._results import MetricResult
from ._unions import UnionOrigin
from .errors import ArgumentError, OverlappingSamplesError

__all__ = ["Alternative", "Comparison", "TestMethod", "compare"]

CompareMethod = Literal["wald", "newcombe", "bootstrap"]
Alternative = Literal["two-sided", "greater", "less"]
TestMethod = Literal["pooled", "wald"]
_ALTERNATIVES = ("two-sided", "greater", "less")
_TESTS = ("pooled", "wald")


@dataclass(frozen=True, slots=True)
class Comparison:
    """``a.value − b.value`` with its interval and the z-test of no difference (two-sided, or
    one-sided as ``alternative`` says; the interval is two-sided at ``confidence`` either way).

    ``se`` is the interval's standard error (each group's own variance); ``z`` is the test's
    statistic: with ``test="pooled"`` the difference over its se under no difference (the two
    groups pooled), with ``test="wald"`` the difference over ``se``. ``note`` says when the test
    and the interval disagree about 0 (a borderline difference) or why an interval degenerated.
    """

    metric: str
    difference: float
    ci_low: float
    ci_high: float
    se: float
    z: float
    p_value: float
    confidence: float
    method: str
    a: MetricResult
    b: MetricResult
    n_resamples: int | None = None
    seed: int | None = None
    note: str | None = None
    alternative: str = "two-sided"
    test: str = "pooled"

    def __str__(self) -> str:
        return (
            f"{self.metric} difference = {self.difference:.2f} "
            f"[{self.ci_low:.2f}, {self.ci_high:.2f}] ({self.confidence:.0%} {self.method}, "
            f"p = {self.p_value:.4g})"
        )


def compare(
    a: MetricResult,
    b: MetricResult,
    *,
    ci: CompareMethod = "wald",
    confidence: float | None = None,
    n_resamples: int = 10_000,
    bootstrap: BootstrapMethod = "bca",
    seed: int | None = None,
    alternative: Alternative = "two-sided",
    test: TestMethod = "pooled",
) -> Comparison:
    """The difference ``a − b`` of two independent results of the same metric.

    ``ci``: ``"wald"`` (se = sqrt(se_a² + se_b²)), ``"newcombe"`` (Newcombe's hybrid score
    interval for shares; for NPS the same construction on Tango's score intervals), or
    ``"bootstrap"`` (each group resampled independently from its histogram). The p-value is a
    z-test of no difference: two-sided, or with ``alternative="greater"`` (``"less"``) the
    one-sided test of a > b (a < b). ``test="pooled"`` (default) is the score-type test, its
    variance estimated under no difference from both groups pooled (for NPS the three-category
    pooled variance, for a share the pooled proportion, on effective n's); ``test="wald"`` is
    the z-test on each group's own variance, too liberal in the far tail at a few hundred
    responses. ``confidence`` defaults to ``a.confidence``.
    Compare two segments with ``compare(res["North"], res["South"])``.

    The groups must not share respondents: a segment against its own overall, or a result
    against itself, raises :class:`OverlappingSamplesError` — test a segment against the rest
    of the respondents with ``cx.significance(result, against="rest")``.
    """
    if not isinstance(a, MetricResult) or not isinstance(b, MetricResult):
        wrong = type(b if isinstance(a, MetricResult) else a).__name__
        raise ArgumentError(
            f"compare() takes two MetricResults (one segment each, e.g. res['North']), got a "
            f"{wrong}; to test every segment of a SegmentedResult use cx.significance(result)"
        )
    definition = a.definition
    if definition is None or b.definition is None:
        raise ArgumentError("compare() takes results returned by cxmetrics' metric functions")
    if alternative not in _ALTERNATIVES:
        raise ArgumentError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    if test not in _TESTS:
        raise ArgumentError(f"test must be one of {_TESTS}, got {test!r}")
    check_independent(a, b)
    if (a.metric, a.scale, definition.bucket_names) != (
        b.metric, b.scale, b.definition.bucket_names,
    ):
        raise ArgumentError(f"cannot compare {a.metric} on {a.scale} with {b.metric} on {b.scale}")
    level = a.confidence if confidence is None else confidence
    check_options(None, level, "raise", bootstrap, n_resamples)
    used_seed = None
    if ci == "bootstrap":
        used_seed = fresh_seed() if seed is None else check_seed(seed)
    value, se, low, high, z, p, note = _native.compare(
        definition.native,
        _side(a),
        _side(b),
        ci,
        float(level),
        test,
        alternative,
        bootstrap,
        n_resamples,
        used_seed or 0,
        _stream(a, b) if ci == "bootstrap" else 0,
    )
    return Comparison(
        metric=a.metric,
        difference=value,
        ci_low=low,
        ci_high=high,
        se=se,
        z=z,
        p_value=p,
        confidence=float(level),
        method=f"bootstrap-{bootstrap}" if ci == "bootstrap" else ci,
        a=a,
        b=b,
        n_resamples=n_resamples if ci == "bootstrap" else None,
        seed=used_seed,
        note=note,
        alternative=alternative,
        test=test,
    )


def check_independent(a: MetricResult, b: MetricResult) -> None:
    """Refuses two results that share respondents (a z-test for independent groups would
    understate the difference's variance)."""
    same_call = a.origin is not None and a.origin == b.origin
    if a is not b and same_call and isinstance(a.origin, UnionOrigin):
        # Results made of unions of cells (a trend's periods and windows): the call knows.
        why = a.origin.overlap(a.segment, b.segment)
        if why is not None:
            raise OverlappingSamplesError(why)
        return
    if a is b or (same_call and a.segment == b.segment):
        raise OverlappingSamplesError(
            "a and b are the same result (the same respondents twice); a comparison needs two "
            "independent groups"
        )
    if same_call and (a.segment == () or b.segment == ()):
        part = a.segment if a.segment else b.segment
        raise OverlappingSamplesError(
            f"segment {part!r} is part of the overall it is compared with, so the two samples "
            "overlap and the test would be invalid; compare the segment with the rest of the "
            "respondents (its exact complement) instead: cx.significance(result, "
            "against='rest'), or compare it with a result computed on the other rows"
        )


def difference(a: MetricResult, b: MetricResult, ci: CompareMethod, confidence: float,
               test: TestMethod = "pooled"
               ) -> tuple[float, float, float, float, float, float, str | None]:
    """(value, se, low, high, z, p, note) of a − b by an analytic method, for callers that
    have already checked the pair (one metric, independent groups), e.g. the periods of one
    trend; the same numbers as :func:`compare`."""
    assert a.definition is not None and ci != "bootstrap"
    return _native.compare(a.definition.native, _side(a), _side(b), ci, float(confidence), test)


def _side(r: MetricResult) -> tuple[list[int], float, float, float, bool]:
    return (list(r.distribution), r.value, r.se, r.effective_n, r.weighted)


def _stream(a: MetricResult, b: MetricResult) -> int:
    """A bootstrap stream from both segments' keys (the core's key-stream derivation), so the
    draws do not depend on call order elsewhere."""
    return _native.key_stream(repr((a.segment, b.segment)).encode())
