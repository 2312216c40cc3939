"""The metric registry: every metric by name, with its options' defaults, its bucket rule and
its default interval.

This is the one place a metric default is written. The metric functions (``cx.nps`` …) take
their signature defaults from the constants below, and the accumulator, the Spark/Dask
adapters, trends and the CLI build definitions with :func:`with_defaults` and :func:`build`.
The rules a definition must follow (buckets inside the scale, a box size in 1..points) are the
core's, reached through ``_native``; the option names an accumulator stores are checked against
the binding's ``METRIC_OPTIONS`` by a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from . import _native
from ._definition import MetricDef, check_scale, fits_64_bits, mean, net, share
from .errors import ArgumentError
from .scale import CES2_SCALE, CES_EFFORT_SCALE, CSAT_SCALE, NPS_SCALE, Scale

__all__ = ["FUNCTIONS", "METRICS", "MetricName", "build", "default_ci", "definition_of",
           "resolve_ci", "with_defaults"]

MetricName = Literal["nps", "csat", "ces", "top_box", "bottom_box", "mean"]
METRICS: Final[tuple[str, ...]] = ("nps", "csat", "ces", "top_box", "bottom_box", "mean")
# Each metric's function in ``cxmetrics`` (the CLI calls it by name).
FUNCTIONS: Final = {"nps": "nps", "csat": "csat", "ces": "ces", "top_box": "top_box",
                    "bottom_box": "bottom_box", "mean": "mean_score"}

# -- option defaults (the metric functions' signatures use these) ------------------------------

TEN_POINT_SCALE: Final = Scale(1, 10)  # top_box / bottom_box
NPS_PROMOTERS: Final = (9, 10)
NPS_DETRACTORS: Final = (0, 6)
NPS_BUCKETS: Final = ("detractors", "passives", "promoters")
CSAT_SATISFIED: Final = (4, 5)
CSAT_BUCKETS: Final = ("unsatisfied", "satisfied")
CSAT_STATISTIC: Final = "share"
CES_VARIANT: Final = "2.0"
BOX_POINTS: Final = 2  # top_box's top= and bottom_box's bottom=
# Tabulation software's minimum base for a test or a driver model (Quantum / Unicom
# Intelligence): significance and drivers leave out segments with fewer responses.
DEFAULT_MIN_N: Final = 30

# -- default intervals, by the kind of statistic -----------------------------------------------

# Tango's score interval keeps its coverage at small n and extreme shares, where Wald collapses
# (three promoters give Wald [100, 100]); ci="wald" stays available.
NET_DEFAULT_CI: Final = "score"
SHARE_DEFAULT_CI: Final = "wilson"
MEAN_DEFAULT_CI: Final = "t"
_DEFAULT_CI: Final = {"net": NET_DEFAULT_CI, "share": SHARE_DEFAULT_CI,
                      "mean": MEAN_DEFAULT_CI}

# Interval options every estimate takes (the one-shot functions' and the accumulator's).
N_RESAMPLES: Final[int] = _native.DEFAULT_RESAMPLES
# A literal for the signatures' Literal type; tests/test_registry.py checks it is the core's.
BOOTSTRAP: Final = "bca"


@dataclass(frozen=True, slots=True)
class CesVariant:
    """One CES question: its scale, its counted answers, bucket names and default statistic."""

    scale: Scale
    hit: tuple[int, int]
    bucket_names: tuple[str, str]
    statistic: str


CES_VARIANTS: Final = {
    "2.0": CesVariant(CES2_SCALE, (5, 7), ("disagree", "agree"), "share"),
    "effort": CesVariant(CES_EFFORT_SCALE, (1, 2), ("rest", "low_effort"), "mean"),
}

# Each metric's options and their defaults (None: resolved from another option).
OPTIONS: Final[Mapping[str, Mapping[str, object]]] = {
    "nps": {"scale": NPS_SCALE, "promoters": NPS_PROMOTERS, "detractors": NPS_DETRACTORS},
    "csat": {"scale": CSAT_SCALE, "satisfied": CSAT_SATISFIED, "statistic": CSAT_STATISTIC},
    "ces": {"variant": CES_VARIANT, "statistic": None},
    "top_box": {"scale": TEN_POINT_SCALE, "top": BOX_POINTS},
    "bottom_box": {"scale": TEN_POINT_SCALE, "bottom": BOX_POINTS},
    "mean": {"scale": CSAT_SCALE},
}

# -- definitions -------------------------------------------------------------------------------


def nps(scale: Scale, promoters: tuple[int, int], detractors: tuple[int, int]) -> MetricDef:
    return net("nps", scale, promoters, detractors, NPS_BUCKETS)


def share_or_mean(name: str, scale: Scale, hit: tuple[int, int], statistic: object,
                  buckets: tuple[str, str]) -> MetricDef:
    if statistic == "share":
        return share(name, scale, hit, buckets)
    if statistic == "mean":
        return mean(name, scale)
    raise ArgumentError(f"statistic must be 'share' or 'mean', got {statistic!r}")


def csat(scale: Scale, satisfied: tuple[int, int], statistic: object) -> MetricDef:
    return share_or_mean("csat", scale, satisfied, statistic, CSAT_BUCKETS)


def ces_variant(variant: object) -> CesVariant:
    if not isinstance(variant, str) or variant not in CES_VARIANTS:
        raise ArgumentError(f"variant must be '2.0' or 'effort', got {variant!r}")
    return CES_VARIANTS[variant]


def ces(variant: object, statistic: object) -> MetricDef:
    question = ces_variant(variant)
    return share_or_mean("ces", question.scale, question.hit, statistic or question.statistic,
                         question.bucket_names)


def box(name: str, scale: Scale, k: object, top: bool) -> MetricDef:
    """A top- or bottom-box share (the core checks ``k`` and computes the counted range)."""
    check_scale(scale)
    with fits_64_bits(scale, k):
        hit = _native.box_range(scale.low, scale.high, k, top)
    return share(name, scale, hit, ("rest", "top" if top else "bottom"))


def mean_score(scale: Scale) -> MetricDef:
    return mean("mean", scale)


def with_defaults(metric: str, given: Mapping[str, object]) -> dict[str, object]:
    """``metric``'s full option set: ``given`` (None: not given) over the defaults, with CES's
    statistic resolved from its variant."""
    if metric not in OPTIONS:
        raise ArgumentError(f"metric must be one of {METRICS}, got {metric!r}")
    defaults = OPTIONS[metric]
    given = {k: v for k, v in given.items() if v is not None}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ArgumentError(f"{metric} takes the options {sorted(defaults)}, not {unknown}")
    options = {**defaults, **given}
    if metric == "ces":
        options["statistic"] = options["statistic"] or ces_variant(options["variant"]).statistic
    return options


def build(metric: str, options: Mapping[str, object]) -> MetricDef:
    """The definition of ``metric`` from its full options (see :func:`with_defaults`), exactly
    as the metric function builds it."""
    o = options
    if metric == "nps":
        return nps(o["scale"], o["promoters"], o["detractors"])  # type: ignore[arg-type]
    if metric == "csat":
        return csat(o["scale"], o["satisfied"], o["statistic"])  # type: ignore[arg-type]
    if metric == "ces":
        return ces(o["variant"], o["statistic"])
    if metric in ("top_box", "bottom_box"):
        top = metric == "top_box"
        return box(metric, o["scale"], o["top" if top else "bottom"], top)  # type: ignore[arg-type]
    if metric == "mean":
        return mean_score(o["scale"])  # type: ignore[arg-type]
    raise ArgumentError(f"metric must be one of {METRICS}, got {metric!r}")


def default_ci(definition: MetricDef) -> str:
    """The interval a metric uses when not told (``ci="auto"``): by its kind of statistic."""
    return _DEFAULT_CI[definition.kind]


def resolve_ci(ci: str | None, definition: MetricDef) -> str | None:
    """``ci``, with ``"auto"`` replaced by the metric's default interval."""
    return default_ci(definition) if ci == "auto" else ci


def definition_of(metric: str, options: Mapping[str, object]) -> tuple[MetricDef, str]:
    """The definition of ``metric`` with its options (as the metric function takes them) and
    its default interval."""
    definition = build(metric, with_defaults(metric, options))
    return definition, default_ci(definition)
