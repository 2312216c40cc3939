"""What a metric counts, as plain data: its name, scale and bucket rule.

A ``MetricDef`` holds no native object, so the results that carry one pickle, deep-copy and
compare like any dataclass; the core's ``Metric`` is rebuilt from these fields when needed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from . import _native
from .scale import Scale

__all__ = ["MetricDef", "MetricKind", "check_scale", "fits_64_bits", "mean", "net", "share"]

MetricKind = Literal["net", "share", "mean"]
Bounds = tuple[int, int]


@dataclass(frozen=True, slots=True)
class MetricDef:
    """A metric: its name, scale, kind and bucket rule.

    ``bounds`` are the inclusive score ranges of the counted buckets: ``(positive, negative)``
    for a net score, ``(hit,)`` for a share, ``()`` for a mean.
    """

    name: str
    scale: Scale
    kind: MetricKind
    bounds: tuple[Bounds, ...]
    bucket_names: tuple[str, ...]

    @property
    def native(self) -> _native.Metric:
        """The core's definition of this metric (built once per distinct definition)."""
        return _native_metric(self)


@functools.lru_cache(maxsize=256)
def _native_metric(metric: MetricDef) -> _native.Metric:
    low, high = metric.scale.low, metric.scale.high
    if metric.kind == "net":
        positive, negative = metric.bounds
        return _native.Metric.net(low, high, positive, negative)
    if metric.kind == "share":
        (hit,) = metric.bounds
        return _native.Metric.share(low, high, hit)
    return _native.Metric.mean(low, high)


def net(name: str, scale: Scale, positive: tuple[int, int], negative: tuple[int, int],
        bucket_names: tuple[str, str, str]) -> MetricDef:
    return _once(_net, name, scale, positive, negative, bucket_names)


def share(name: str, scale: Scale, hit: tuple[int, int],
          bucket_names: tuple[str, str]) -> MetricDef:
    return _once(_share, name, scale, hit, bucket_names)


def mean(name: str, scale: Scale) -> MetricDef:
    return _once(_mean, name, scale)


@functools.lru_cache(maxsize=256)
def _net(name: str, scale: Scale, positive: tuple[int, int], negative: tuple[int, int],
         bucket_names: tuple[str, str, str]) -> MetricDef:
    return _checked(MetricDef(name, scale, "net", (_pair(positive), _pair(negative)),
                              bucket_names))


@functools.lru_cache(maxsize=256)
def _share(name: str, scale: Scale, hit: tuple[int, int],
           bucket_names: tuple[str, str]) -> MetricDef:
    return _checked(MetricDef(name, scale, "share", (_pair(hit),), bucket_names))


@functools.lru_cache(maxsize=256)
def _mean(name: str, scale: Scale) -> MetricDef:
    return _checked(MetricDef(name, scale, "mean", (), ()))


def _once(build: Any, *args: Any) -> MetricDef:
    """A definition built and checked once per distinct rule (``build`` is lru-cached): every
    ``cx.nps`` call asks for the same one, and checking it costs more than a request-sized
    call's counting. Arguments that do not hash (lists) are built each time."""
    try:
        return build(*args)  # type: ignore[no-any-return]
    except TypeError:
        return build.__wrapped__(*args)  # type: ignore[no-any-return]


def check_scale(scale: object) -> Scale:
    """``scale`` if it is a ``Scale``, else ArgumentError."""
    from .errors import ArgumentError

    if not isinstance(scale, Scale):
        raise ArgumentError(f"scale must be a cx.Scale, e.g. cx.Scale(0, 10), got {scale!r}")
    return scale


def _checked(metric: MetricDef) -> MetricDef:
    """The core checks the rule (bounds inside the scale, buckets apart) when it is built;
    a scale that is not a ``Scale`` or bounds beyond 64-bit integers are an ArgumentError."""
    check_scale(metric.scale)
    with fits_64_bits(metric.scale, metric.bounds):
        _native_metric(metric)
    return metric


@contextlib.contextmanager
def fits_64_bits(scale: Scale, bounds: object) -> Iterator[None]:
    """Turns the binding's OverflowError (a bound beyond 64-bit integers) into ArgumentError."""
    from .errors import ArgumentError

    try:
        yield
    except OverflowError:
        raise ArgumentError(f"scale and bucket bounds must fit in 64-bit integers, got "
                            f"{scale} and {bounds}") from None


def _pair(bounds: tuple[int, int]) -> tuple[int, int]:
    low, high = bounds
    return int(low), int(high)
