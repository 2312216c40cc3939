"""Tests across a family of segments or periods, with multiple-comparison control.

``against="rest"`` tests each segment against everyone else: the complement's tallies are the
other segments added exactly (overall minus the segment), so the two groups are independent.
``"pairs"`` tests every pair of segments, ``"previous"`` each segment (or period) against the one
before it. Groups below ``min_n`` (effective n) stay in the table with a status and are left out
of the family.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from ._adjust import adjust_pvalues, describe, method_name
from ._arrow import to_pandas, to_polars
from ._compare import Alternative, CompareMethod, Comparison, TestMethod, compare
from ._engine import fresh_seed
from ._registry import DEFAULT_MIN_N
from ._results import MetricResult, SegmentedResult
from ._unions import ANALYTIC, check_min_n, estimate_complements, status_of
from .errors import ArgumentError

if TYPE_CHECKING:
    from ._trend import TrendResult

__all__ = ["SignificanceResult", "SignificanceRow", "significance"]

Against = Literal["rest", "previous", "pairs"]



@dataclass(frozen=True, slots=True)
class SignificanceRow:
    """One test of the family: ``a`` against ``b`` (segment keys, or ``"rest"``).

    ``status`` is ``"ok"`` when the test is in the family, ``"small-base"`` when a side's
    effective n is below ``min_n`` and ``"empty"`` when a side has no responses; tests left out
    have NaN p-values and ``significant=False``.
    """

    a: tuple[Any, ...]
    b: tuple[Any, ...] | str
    difference: float
    ci_low: float
    ci_high: float
    se: float
    p_value: float
    p_adjusted: float
    significant: bool
    status: str
    n_a: float
    n_b: float
    comparison: Comparison | None = None

    def __str__(self) -> str:
        mark = " *" if self.significant else ""
        return (f"{_label(self.a)} vs {_label(self.b)}: {self.difference:+.2f} "
                f"[{self.ci_low:.2f}, {self.ci_high:.2f}] p={self.p_value:.4g} "
                f"adj={self.p_adjusted:.4g} ({self.status}){mark}")


class SignificanceResult:
    """The family of tests, in order, with how they were adjusted.

    ``family`` says in words what was tested; ``family_size`` is the number of tests that the
    adjustment counted (those with status ``"ok"``).
    """

    __slots__ = ("adjust", "against", "alpha", "alternative", "by", "confidence", "family",
                 "family_size", "method", "metric", "min_n", "test", "tests")

    def __init__(self, *, metric: str, by: tuple[str, ...], against: str, adjust: str | None,
                 alpha: float, alternative: str, confidence: float, method: str,
                 min_n: float | None, tests: list[SignificanceRow], family: str,
                 test: str = "pooled") -> None:
        self.metric = metric
        self.by = by
        self.against = against
        self.adjust = adjust
        self.alpha = alpha
        self.alternative = alternative
        self.confidence = confidence
        self.method = method
        self.min_n = min_n
        self.tests = tests
        self.family = family
        self.test = test
        self.family_size = sum(t.status == "ok" for t in tests)

    def __len__(self) -> int:
        return len(self.tests)

    def __iter__(self) -> Iterator[SignificanceRow]:
        return iter(self.tests)

    def significant(self) -> list[SignificanceRow]:
        """The tests whose adjusted p-value is at most ``alpha``."""
        return [t for t in self.tests if t.significant]

    def to_arrow(self) -> pa.Table:
        """One row per test: ``a``, ``b`` (labels), difference, bounds, se, p-values,
        significant, status and the effective n of each side."""
        columns: dict[str, list[Any]] = {
            "a": [_label(t.a) for t in self.tests],
            "b": [_label(t.b) for t in self.tests],
        }
        for name in ("difference", "ci_low", "ci_high", "se", "p_value", "p_adjusted"):
            columns[name] = [float(getattr(t, name)) for t in self.tests]
        columns["significant"] = [t.significant for t in self.tests]
        columns["status"] = [t.status for t in self.tests]
        columns["n_a"] = [t.n_a for t in self.tests]
        columns["n_b"] = [t.n_b for t in self.tests]
        return pa.table(columns)

    def to_pandas(self) -> Any:
        """As :meth:`to_arrow`, converted to pandas (needs the ``pandas`` extra)."""
        return to_pandas(self.to_arrow())

    def to_polars(self) -> Any:
        """As :meth:`to_arrow`, converted to polars (needs the ``polars`` extra)."""
        return to_polars(self.to_arrow())

    def __repr__(self) -> str:
        lines = [f"SignificanceResult({self.family})"]
        lines += [f"  {t}" for t in self.tests[:30]]
        if len(self.tests) > 30:
            lines.append(f"  ... {len(self.tests) - 30} more")
        return "\n".join(lines)


def _label(key: tuple[Any, ...] | str) -> str:
    if isinstance(key, str):
        return key
    return " / ".join("(null)" if k is None else str(k) for k in key)


def significance(
    result: SegmentedResult | TrendResult,
    *,
    against: Against = "rest",
    adjust: str | None = "holm",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    min_n: float | None = DEFAULT_MIN_N,
    ci: CompareMethod = "wald",
    confidence: float | None = None,
    seed: int | None = None,
    test: TestMethod = "pooled",
) -> SignificanceResult:
    """Tests every segment (or period) of ``result`` and adjusts the family's p-values.

    ``against``: ``"rest"`` — each segment against all other respondents (the exact complement,
    an independent group); ``"pairs"`` — every pair of segments; ``"previous"`` — each segment
    against the one before it in key order (on a :class:`TrendResult`: each period against the
    previous period of the same segment). ``adjust``: ``"holm"`` (default), ``"bonferroni"``,
    ``"bh"``, ``"by"`` or None. ``min_n`` (default 30, on the effective n): smaller groups stay
    in the table with status ``"small-base"`` and are not tested. ``ci`` is the interval of
    each difference (see :func:`compare`); with ``ci="bootstrap"`` every test resamples from
    ``seed`` (a fresh one when None, recorded in each test's ``comparison``), each pair on its
    own stream. ``test``: ``"pooled"`` (default), the score-type z-test whose variance is
    estimated under no difference from both groups pooled — it keeps the familywise error at
    150 responses per segment, where ``"wald"`` (each group's own variance) does not.
    """
    from ._trend import TrendResult

    adjust = method_name(adjust)
    if not (isinstance(alpha, float | int) and 0 < alpha < 1):
        raise ArgumentError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
    min_n = check_min_n(min_n)
    if isinstance(result, TrendResult):
        if against == "previous":
            pairs, what, by, level = _trend_pairs(result, confidence)
        elif against == "rest":
            pairs, what, by, level = _trend_rest_pairs(result, confidence)
        else:
            raise ArgumentError("a TrendResult is tested against='previous' (each period "
                                "against the one before it) or 'rest' (each segment against "
                                "the other segments in the same period)")
        metric = result.metric
    elif isinstance(result, SegmentedResult):
        level = result.overall.confidence if confidence is None else confidence
        if against == "rest":
            pairs, what = _rest_pairs(result, level), "each segment against the rest"
        elif against == "pairs":
            rows = list(result)
            pairs = [(x, y) for i, x in enumerate(rows) for y in rows[i + 1:]]
            what = "every pair of segments"
        elif against == "previous":
            pairs, what = _previous_pairs(list(result)), "each segment against the previous one"
        else:
            raise ArgumentError(f"against must be 'rest', 'previous' or 'pairs', got {against!r}")
        by, metric = result.by, result.overall.metric
    else:
        raise ArgumentError(f"significance() takes a SegmentedResult or TrendResult, got "
                            f"{type(result).__name__}")
    if ci == "bootstrap" and seed is None:
        seed = fresh_seed()
    tests = [_test(a, b, ci, level, alternative, min_n, against, seed, test)
             for a, b in pairs]
    tests = _adjusted(tests, adjust, alpha)
    family = (f"{sum(t.status == 'ok' for t in tests)} tests of {metric}: {what}"
              f"{' by ' + ', '.join(by) if by else ''}; {test} z-tests, {describe(adjust)} at "
              f"alpha = {alpha:g}, "
              f"{alternative}; groups with effective n below {min_n:g} not tested"
              if min_n is not None else
              f"{sum(t.status == 'ok' for t in tests)} tests of {metric}: {what}; "
              f"{test} z-tests, {describe(adjust)} at alpha = {alpha:g}, {alternative}")
    return SignificanceResult(metric=metric, by=by, against=against, adjust=adjust,
                              alpha=float(alpha), alternative=alternative,
                              confidence=float(level), method=ci, min_n=min_n, tests=tests,
                              family=family, test=test)


Pair = tuple[MetricResult, MetricResult]


def _rest_pairs(result: SegmentedResult, confidence: float) -> list[Pair]:
    aggregation = result.tallies()
    rows = list(result)
    if aggregation is None:
        raise ArgumentError("this result does not carry its tallies, so the rest of the "
                            "respondents cannot be formed; compute it with a metric function "
                            "(cx.nps(..., by=...)) and pass that result")
    definition = rows[0].definition if rows else None
    if definition is None:
        return []
    # Every segment is one universe; each rest is it minus the segment, subtracted in the core.
    everyone = [list(range(len(rows)))]
    method = result.overall.method
    rest = estimate_complements(aggregation, definition, everyone,
                                [(0, [i]) for i in range(len(rows))], [("rest",)] * len(rows),
                                ci=method if method in ANALYTIC else None,
                                confidence=confidence)
    return list(zip(rows, rest, strict=True))


def _previous_pairs(rows: Sequence[MetricResult]) -> list[Pair]:
    """Each row against the row before it with the same leading keys (all but the last)."""
    pairs = []
    for before, after in itertools.pairwise(rows):
        if before.segment[:-1] == after.segment[:-1]:
            pairs.append((after, before))
    return pairs


def _trend_pairs(trend: TrendResult, confidence: float | None
                 ) -> tuple[list[Pair], str, tuple[str, ...], float]:
    pairs = [(row.result, row.previous) for row in trend if row.previous is not None]
    gap = "the previous period" if trend.window == 1 else (
        f"the {trend.window}-period window just before it (no shared periods)")
    what = f"each {trend.every} against {gap}"
    level = trend.confidence if confidence is None else confidence
    return pairs, what, trend.by, level


def _trend_rest_pairs(trend: TrendResult, confidence: float | None
                      ) -> tuple[list[Pair], str, tuple[str, ...], float]:
    level = trend.confidence if confidence is None else confidence
    tallies = trend._tallies
    if not trend.by or tallies is None:
        raise ArgumentError("against='rest' on a trend needs segments: call cx.trend(..., by=...)")
    position = {period: t for t, period in enumerate(trend.periods)}
    # Each period's (or window's) respondents are a universe; a row's rest is it minus the row.
    parts = [(position[row.period], tallies.row_members[i]) for i, row in enumerate(trend.rows)]
    method = trend.method
    rest = estimate_complements(tallies.aggregation, tallies.definition,
                                tallies.period_members, parts, [("rest",)] * len(parts),
                                ci=method if method in ANALYTIC else None, confidence=level)
    pairs = [(row.result, other) for row, other in zip(trend.rows, rest, strict=True)]
    what = f"each segment against the rest of the respondents in the same {trend.every}"
    return pairs, what, trend.by, level


def _test(a: MetricResult, b: MetricResult, ci: CompareMethod, confidence: float,
          alternative: Alternative, min_n: float | None, against: str,
          seed: int | None, test: TestMethod) -> SignificanceRow:
    status_a, status_b = status_of(a, min_n), status_of(b, min_n)
    status = "empty" if "empty" in (status_a, status_b) else (
        "small-base" if "small-base" in (status_a, status_b) else "ok")
    label_b: tuple[Any, ...] | str = "rest" if against == "rest" else b.segment
    nan = math.nan
    if status == "empty":
        return SignificanceRow(a.segment, label_b, nan, nan, nan, nan, nan, nan, False,
                               status, a.effective_n, b.effective_n)
    c = compare(a, b, ci=ci, confidence=confidence, alternative=alternative, seed=seed,
                test=test)
    # Left out of the family: the difference is shown, the test is not made.
    p = c.p_value if status == "ok" else nan
    return SignificanceRow(a.segment, label_b, c.difference, c.ci_low, c.ci_high, c.se, p,
                           nan, False, status, a.effective_n, b.effective_n, c)


def _adjusted(tests: list[SignificanceRow], adjust: str | None, alpha: float
              ) -> list[SignificanceRow]:
    tested = [i for i, t in enumerate(tests) if t.status == "ok" and not math.isnan(t.p_value)]
    raw = np.array([tests[i].p_value for i in tested])
    adjusted = raw if adjust is None else adjust_pvalues(raw, adjust)  # type: ignore[arg-type]
    out = list(tests)
    for i, q in zip(tested, adjusted, strict=True):
        t = tests[i]
        out[i] = SignificanceRow(t.a, t.b, t.difference, t.ci_low, t.ci_high, t.se, t.p_value,
                                 float(q), bool(q <= alpha), t.status, t.n_a, t.n_b,
                                 t.comparison)
    return out
