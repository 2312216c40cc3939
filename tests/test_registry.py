"""The metric registry is the one place a metric default lives: the functions, the accumulator
and the distributed adapters read it, and the option names it gives agree with the binding's."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest

import cxmetrics as cx
from cxmetrics import _native, _registry
from cxmetrics._distributed import MetricFunctions


def test_option_names_match_the_binding() -> None:
    assert list(_registry.OPTIONS) == list(_native.METRIC_OPTIONS) == list(_registry.METRICS)
    assert get_args(_registry.MetricName) == _registry.METRICS
    for metric, names in _native.METRIC_OPTIONS.items():
        assert list(_registry.OPTIONS[metric]) == names, metric


@pytest.mark.parametrize("metric", _registry.METRICS)
def test_function_defaults_are_the_registry_defaults(metric: str) -> None:
    function = getattr(cx, _registry.FUNCTIONS[metric])
    adapter = getattr(MetricFunctions, _registry.FUNCTIONS[metric])
    for f in (function, adapter):
        params = inspect.signature(f).parameters
        for name, default in _registry.OPTIONS[metric].items():
            assert params[name].default == default, (f, name)
        assert params["n_resamples"].default == _registry.N_RESAMPLES
        assert params["bootstrap"].default == _registry.BOOTSTRAP
        _, ci = _registry.definition_of(metric, {})
        assert params["ci"].default in (ci, "auto"), (f, metric)


def test_accumulator_options_are_the_registry_defaults() -> None:
    for metric in _registry.METRICS:
        options = cx.Accumulator(metric).options
        expected = _registry.with_defaults(metric, {})
        assert list(options) == list(expected)
        for name, value in expected.items():
            if isinstance(value, cx.Scale):
                value = [value.low, value.high]
            elif isinstance(value, tuple):
                value = list(value)
            assert options[name] == value, (metric, name)


@pytest.mark.parametrize("variant", sorted(_registry.CES_VARIANTS))
def test_ces_scales_agree_with_the_core(variant: str) -> None:
    # The accumulator's scale comes from the core's CesVariant::scale.
    assert cx.Accumulator("ces", variant=variant).scale == _registry.CES_VARIANTS[variant].scale


def test_box_range_and_limits_come_from_the_core() -> None:
    assert _native.box_range(1, 10, 3, True) == (8, 10)
    assert _native.box_range(0, 4, 2, False) == (0, 1)
    for bad in (0, 11, True, 2.0, 2**70):
        with pytest.raises(cx.ArgumentError, match=r"top must be an int in 1\.\.10"):
            _native.box_range(1, 10, bad, True)
    assert _native.check_replicates(_native.MAX_REPLICATES) == _native.MAX_REPLICATES
    with pytest.raises(cx.ArgumentError, match=f"between 1 and {_native.MAX_REPLICATES}"):
        cx.Accumulator("nps", score="s", weight="w", replicates=_native.MAX_REPLICATES + 1)


def test_planning_variances_are_the_core_formulas() -> None:
    p, d = 0.5, 0.2
    assert _native.nps_variance(p, d) == pytest.approx(p + d - (p - d) ** 2, abs=1e-15)
    assert _native.nps_variance() == 1.0
    assert _native.share_variance(0.3) == pytest.approx(0.21, abs=1e-15)
    assert _native.share_variance() == 0.25
    with pytest.raises(cx.ArgumentError, match="give both"):
        _native.nps_variance(0.5)


def test_bootstrap_defaults_are_the_cores() -> None:
    assert _registry.N_RESAMPLES == _native.DEFAULT_RESAMPLES == 10_000
    assert _registry.BOOTSTRAP == _native.DEFAULT_BOOTSTRAP == "bca"


def test_minimum_base_is_stated_once() -> None:
    from cxmetrics import _cli_drivers, _drivers, _significance

    assert inspect.signature(_significance.significance).parameters["min_n"].default == (
        _registry.DEFAULT_MIN_N)
    assert inspect.signature(_drivers.drivers).parameters["min_n"].default == (
        _registry.DEFAULT_MIN_N)
    assert _cli_drivers.DEFAULT_MIN_N is _registry.DEFAULT_MIN_N
