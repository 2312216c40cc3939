"""Metric definitions by name, for the calls that take ``metric="nps"`` (trends, the CLI)."""

from __future__ import annotations

from typing import Any

from . import _engine
from ._metrics import NPS_DEFAULT_CI, TEN_POINT_SCALE, _box, _share_or_mean
from .errors import ArgumentError
from .scale import CES2_SCALE, CES_EFFORT_SCALE, CSAT_SCALE, NPS_SCALE

__all__ = ["METRICS", "definition_of"]

METRICS = ("nps", "csat", "ces", "top_box", "bottom_box", "mean")


def definition_of(metric: str, options: dict[str, Any]) -> tuple[_engine.MetricDef, str]:
    """The definition of ``metric`` with its options (as the metric function takes them) and
    its default interval."""
    opts = dict(options)

    def done(definition: _engine.MetricDef, ci: str) -> tuple[_engine.MetricDef, str]:
        if opts:
            raise ArgumentError(f"unknown options for metric={metric!r}: {sorted(opts)}")
        return definition, ci

    def auto(statistic: str) -> str:
        return "wilson" if statistic == "share" else "t"

    if metric == "nps":
        definition = _engine.net("nps", opts.pop("scale", NPS_SCALE),
                                 opts.pop("promoters", (9, 10)), opts.pop("detractors", (0, 6)),
                                 ("detractors", "passives", "promoters"))
        return done(definition, NPS_DEFAULT_CI)
    if metric == "csat":
        statistic = opts.pop("statistic", "share")
        return done(_share_or_mean("csat", opts.pop("scale", CSAT_SCALE),
                                   opts.pop("satisfied", (4, 5)), statistic,
                                   ("unsatisfied", "satisfied")), auto(statistic))
    if metric == "ces":
        variant = opts.pop("variant", "2.0")
        if variant == "2.0":
            statistic = opts.pop("statistic", None) or "share"
            definition = _share_or_mean("ces", CES2_SCALE, (5, 7), statistic,
                                        ("disagree", "agree"))
        elif variant == "effort":
            statistic = opts.pop("statistic", None) or "mean"
            definition = _share_or_mean("ces", CES_EFFORT_SCALE, (1, 2), statistic,
                                        ("rest", "low_effort"))
        else:
            raise ArgumentError(f"variant must be '2.0' or 'effort', got {variant!r}")
        return done(definition, auto(statistic))
    if metric in ("top_box", "bottom_box"):
        top = metric == "top_box"
        k = opts.pop("top" if top else "bottom", 2)
        return done(_box(metric, opts.pop("scale", TEN_POINT_SCALE), k, top), "wilson")
    if metric == "mean":
        return done(_engine.mean("mean", opts.pop("scale", CSAT_SCALE)), "t")
    raise ArgumentError(f"metric must be one of {METRICS}, got {metric!r}")
