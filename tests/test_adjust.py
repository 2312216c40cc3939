"""``cx.adjust_pvalues`` against statsmodels' ``multipletests`` (the reference implementation),
on random p-vectors with ties, zeros and ones, for every method and its alias."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

import cxmetrics as cx

STATSMODELS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "fdr_bh": "fdr_bh",
               "by": "fdr_by", "fdr_by": "fdr_by"}

# Values drawn from a small pool make ties frequent; 0 and 1 are always possible.
p_values = st.lists(
    st.one_of(st.sampled_from([0.0, 1.0, 0.01, 0.05, 0.2, 0.5]),
              st.floats(0, 1, allow_nan=False)),
    min_size=1, max_size=40,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(p=p_values, method=st.sampled_from(sorted(STATSMODELS)))
def test_equals_statsmodels(p: list[float], method: str) -> None:
    want = multipletests(np.array(p), method=STATSMODELS[method])[1]
    got = cx.adjust_pvalues(p, method)  # type: ignore[arg-type]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("method", sorted(STATSMODELS))
def test_adjusted_is_monotone_in_sorted_order_and_capped(method: str) -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(size=200) ** 3
    adjusted = cx.adjust_pvalues(p, method)  # type: ignore[arg-type]
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted <= 1) and np.all(adjusted >= p)


def test_issue_example_holm_turns_a_nominal_hit_into_a_miss() -> None:
    # 15 regions, one at p = 0.020: Holm multiplies the smallest p by 15 when it is alone.
    p = [0.020] + [0.5] * 14
    assert cx.adjust_pvalues(p, "holm")[0] == pytest.approx(0.30)


@pytest.mark.parametrize("bad", [[0.5, float("nan")], [1.2], [-0.1]])
def test_bad_p_values_raise_a_typed_error(bad: list[float]) -> None:
    with pytest.raises(cx.ArgumentError, match="position"):
        cx.adjust_pvalues(bad, "holm")


def test_unknown_method_and_empty_input() -> None:
    with pytest.raises(cx.ArgumentError, match="adjust must be one of"):
        cx.adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]
    assert cx.adjust_pvalues([], "bh").size == 0
