"""Equality of results, with NaN equal to NaN (shared by the accumulator and adapter tests)."""

from __future__ import annotations

import dataclasses
import math

import cxmetrics as cx

__all__ = ["assert_same_result"]


def _plain(value: object) -> object:
    """Result fields with NaN made comparable."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


def assert_same_result(a: object, b: object) -> None:
    assert type(a) is type(b)
    if isinstance(a, cx.MetricResult):
        assert isinstance(b, cx.MetricResult)
        fields = [f.name for f in dataclasses.fields(a) if f.compare]
        assert _plain({f: getattr(a, f) for f in fields}) == _plain({f: getattr(b, f)
                                                                     for f in fields})
        return
    assert isinstance(a, cx.SegmentedResult) and isinstance(b, cx.SegmentedResult)
    assert a.by == b.by
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert_same_result(x, y)
    assert_same_result(a.overall, b.overall)
    assert _plain(a.to_arrow().to_pylist()) == _plain(b.to_arrow().to_pylist())
