"""Survey planning: ``cx.margin_of_error`` and ``cx.sample_size``.

NPS: margin = z·100·sqrt(v/n), v = p₊ + p₋ − (p₊ − p₋)² (worst case v = 1); shares:
v = p(1 − p) (worst case ½·½). ``sample_size`` is the smallest n whose margin is ≤ the target:
n = ⌈z²·v / (m/100)²⌉ (DOMAIN.md: 1,537 for ±5 points at 95%).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import cxmetrics as cx


def z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def nps_v(p: float, d: float) -> float:
    return p + d - (p - d) ** 2


def test_domain_reference_numbers() -> None:
    assert cx.sample_size(5) == 1537
    assert cx.sample_size(5, metric="share") == 385  # the classic 384.16 → 385
    # DOMAIN.md: 100 responses, 50 P / 20 D: se 7.81, Wald [14.69, 45.31].
    m = cx.margin_of_error(100, promoters=0.5, detractors=0.2)
    assert m == pytest.approx(1.959963984540054 * 100 * math.sqrt(0.61 / 100), rel=1e-12)
    r = cx.nps([10] * 50 + [7] * 30 + [0] * 20, ci="wald")
    assert m == pytest.approx(r.margin, rel=1e-12)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("n", [1, 30, 100, 1537, 10**6])
def test_margin_of_error_matches_the_formula(n: int, confidence: float) -> None:
    worst = cx.margin_of_error(n, confidence=confidence)
    assert worst == pytest.approx(z(confidence) * 100 * math.sqrt(1 / n), rel=1e-12)
    got = cx.margin_of_error(n, confidence=confidence, promoters=0.6, detractors=0.15)
    assert got == pytest.approx(z(confidence) * 100 * math.sqrt(nps_v(0.6, 0.15) / n),
                                rel=1e-12)
    share = cx.margin_of_error(n, metric="share", confidence=confidence, share=0.8)
    assert share == pytest.approx(z(confidence) * 100 * math.sqrt(0.16 / n), rel=1e-12)
    assert cx.margin_of_error(n, metric="share", confidence=confidence) == pytest.approx(
        z(confidence) * 50 / math.sqrt(n), rel=1e-12)


def test_margin_matches_the_wald_half_width_of_a_share() -> None:
    r = cx.csat([5] * 80 + [2] * 20, ci="wald")
    assert cx.margin_of_error(100, metric="share", share=0.8) == pytest.approx(r.margin)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(margin=st.floats(0.5, 40), confidence=st.floats(0.5, 0.999),
       shares=st.tuples(st.floats(0, 1), st.floats(0, 1)).filter(lambda s: s[0] + s[1] <= 1))
def test_sample_size_is_the_smallest_n_meeting_the_margin(
        margin: float, confidence: float, shares: tuple[float, float]) -> None:
    p, d = shares
    n = cx.sample_size(margin, confidence=confidence, promoters=p, detractors=d)
    assert isinstance(n, int) and n >= 1
    exact = z(confidence) ** 2 * nps_v(p, d) / (margin / 100) ** 2
    if abs(exact - round(exact)) > 1e-6:  # away from float ties, the formula's ceiling
        assert n == max(1, math.ceil(exact))
    if nps_v(p, d) > 0:
        # Round trip: n meets the margin, n − 1 does not.
        achieved = cx.margin_of_error(n, confidence=confidence, promoters=p, detractors=d)
        assert achieved <= margin * (1 + 1e-12)
        if n > 1:
            assert cx.margin_of_error(n - 1, confidence=confidence, promoters=p,
                                      detractors=d) > margin * (1 - 1e-12)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(margin=st.floats(0.5, 40), share=st.floats(0.01, 0.99))
def test_share_round_trip(margin: float, share: float) -> None:
    n = cx.sample_size(margin, metric="share", share=share)
    assert cx.margin_of_error(n, metric="share", share=share) <= margin * (1 + 1e-12)
    if n > 1:
        assert cx.margin_of_error(n - 1, metric="share", share=share) > margin * (1 - 1e-12)


def test_worst_case_is_the_largest() -> None:
    worst = cx.sample_size(3)
    for p, d in ((0.5, 0.5), (0.2, 0.2), (0.7, 0.05), (0.0, 0.0)):
        assert cx.sample_size(3, promoters=p, detractors=d) <= worst
    assert cx.sample_size(3, promoters=0.5, detractors=0.5) == worst  # v = 1 exactly


@pytest.mark.parametrize("call", [
    lambda: cx.margin_of_error(0),
    lambda: cx.margin_of_error(-5),
    lambda: cx.margin_of_error(float("nan")),
    lambda: cx.margin_of_error(10, confidence=1.0),
    lambda: cx.margin_of_error(10, metric="csat"),  # type: ignore[arg-type]
    lambda: cx.margin_of_error(10, promoters=0.7, detractors=0.5),
    lambda: cx.margin_of_error(10, metric="share", share=1.5),
    lambda: cx.sample_size(0),
    lambda: cx.sample_size(-1),
    lambda: cx.sample_size(float("inf")),
    lambda: cx.sample_size(float("nan")),
    lambda: cx.sample_size(5, confidence=0.0),
])
def test_invalid_arguments_raise(call: object) -> None:
    with pytest.raises(cx.ArgumentError):
        call()  # type: ignore[operator]


def test_partial_shares_are_rejected() -> None:
    """Minimal reproducer: ``cx.margin_of_error(10, promoters=0.5)`` returns the worst case
    (61.98) as if no share had been given."""
    with pytest.raises(cx.ArgumentError):
        cx.margin_of_error(10, promoters=0.5)


def test_huge_sample_sizes_are_not_silently_saturated() -> None:
    """Minimal reproducer: ``cx.sample_size(1e-9)`` returns 18446744073709551615 (u64::MAX);
    the answer is ≈ 3.84e22."""
    exact = z(0.95) ** 2 / (1e-9 / 100) ** 2
    try:
        n = cx.sample_size(1e-9)
    except cx.ArgumentError:
        return
    assert n == pytest.approx(exact, rel=1e-9)
