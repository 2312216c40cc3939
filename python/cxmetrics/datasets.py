"""Bundled synthetic data: a realistic customer-experience survey to try cxmetrics on.

The survey is generated, not shipped: :func:`sample_survey` builds it from a seed in a few tens of
milliseconds, fully vectorised with NumPy, and returns a pyarrow ``Table``. See ``docs/datasets.md``
for the columns and the segment effects built into it.
"""

from __future__ import annotations

import datetime as _dt
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["sample_survey"]

_FloatArray = npt.NDArray[np.float64]
_IntArray = npt.NDArray[np.int64]

_YEAR = 2025
_START = np.datetime64(f"{_YEAR}-01-01", "D")
_N_DAYS = 365

# Segment levels: (label, share of responses, effect on the latent satisfaction in SD units).
# The effects are the "truth" the docs describe; keep the two in step.
_REGIONS = (
    ("North", 0.22, 0.05),
    ("South", 0.21, -0.06),
    ("East", 0.19, 0.00),
    ("West", 0.20, 0.10),
    ("Central", 0.18, -0.10),
)
_CHANNELS = (
    ("web", 0.36, 0.00),
    ("app", 0.24, 0.25),
    ("phone", 0.17, -0.15),
    ("email", 0.09, -0.12),
    ("store", 0.14, 0.08),
)
_TOUCHPOINTS = (
    ("onboarding", 0.18, 0.15),
    ("billing", 0.21, -0.25),
    ("support", 0.26, -0.02),
    ("delivery", 0.21, 0.12),
    ("returns", 0.14, -0.30),
)
# Premium customers answer surveys more readily than their share of the customer base: the
# sample over-represents them, which the post-stratification weights undo (population share below).
_TIERS = (
    ("basic", 0.52, -0.10),
    ("plus", 0.30, 0.05),
    ("premium", 0.18, 0.35),
)
_TIER_POPULATION = (0.62, 0.28, 0.10)

# Responses per weekday, Monday first: fewer surveys are answered at weekends.
_WEEKDAY_VOLUME = (1.00, 1.06, 1.04, 1.00, 0.92, 0.62, 0.54)

# Q3 dip: a (fictional) billing-system migration from July to September lowers everyone's
# satisfaction a little and billing's a lot.
_Q3_EFFECT = -0.15
_Q3_BILLING_EFFECT = -0.35
# Slow improvement over the year (SD units from 1 January to 31 December).
_TREND = 0.10
# CES asks about effort, which depends on the channel more than overall satisfaction does.
_CES_CHANNEL = {"web": 0.10, "app": 0.20, "phone": -0.30, "email": -0.25, "store": 0.05}

# A planted change for trend and significance examples: from 1 November, South's NPS answers fall
# (each drops by 2 points with this probability, floored at 0). It is drawn from its own random
# stream, so every other column is identical to the survey without it. East is the null region:
# no region effect and no change.
_PLANTED_REGION = "South"
_PLANTED_FROM = f"{_YEAR}-11-01"
_PLANTED_DROP = 2
_PLANTED_PROBABILITY = 0.25
_PLANTED_STREAM = 0x50_4C_41_4E_54  # "PLANT"

# Baseline answer distributions (for a respondent with no segment effects), low to high.
_NPS_BASE = (0.030, 0.010, 0.015, 0.020, 0.025, 0.050, 0.065, 0.120, 0.175, 0.200, 0.290)
_CSAT_BASE = (0.045, 0.070, 0.135, 0.370, 0.380)
_CES_BASE = (0.035, 0.045, 0.070, 0.120, 0.230, 0.270, 0.230)

# Noise of each answer around the respondent's latent satisfaction: answers correlate at ~0.5-0.6.
_ANSWER_NOISE = {"nps": 0.65, "csat": 0.75, "ces": 0.85}
_MISSING = {"nps": 0.03, "csat": 0.05, "ces": 0.08}


def _levels(
    spec: tuple[tuple[str, float, float], ...],
) -> tuple[list[str], _FloatArray, _FloatArray]:
    labels = [label for label, _, _ in spec]
    shares = np.array([share for _, share, _ in spec], dtype=np.float64)
    effects = np.array([effect for _, _, effect in spec], dtype=np.float64)
    return labels, shares / shares.sum(), effects


def _cutpoints(base: tuple[float, ...], sd: float) -> _FloatArray:
    """Thresholds on the latent answer that reproduce ``base`` for a zero-effect respondent."""
    probs = np.asarray(base, dtype=np.float64)
    cumulative = np.cumsum(probs / probs.sum())[:-1]
    dist = NormalDist(0.0, sd)
    # One call per scale point (at most 11), not per row.
    return np.array([dist.inv_cdf(float(p)) for p in cumulative], dtype=np.float64)


def _ordinal(latent: _FloatArray, base: tuple[float, ...], sd: float, low: int) -> _IntArray:
    codes: _IntArray = np.searchsorted(_cutpoints(base, sd), latent).astype(np.int64)
    return codes + low


def _dictionary(codes: _IntArray, labels: list[str]) -> Any:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32), type=pa.int32()), pa.array(labels, type=pa.string())
    )


def _score(values: _IntArray, missing: npt.NDArray[np.bool_]) -> Any:
    return pa.array(values.astype(np.int8), type=pa.int8(), mask=missing)


def _planted_drop(nps: _IntArray, in_region: npt.NDArray[np.bool_], day: _IntArray,
                  seed: int) -> _IntArray:
    """NPS answers of the planted region lowered from the planted date on (see above)."""
    planted = np.random.default_rng([seed, _PLANTED_STREAM])
    start = (np.datetime64(_PLANTED_FROM, "D") - _START).astype(np.int64)
    hit = in_region & (day >= start) & (planted.random(nps.size) < _PLANTED_PROBABILITY)
    return np.where(hit, np.maximum(nps - _PLANTED_DROP, 0), nps)
# Key drivers (docs/drivers.md): attribute ratings 1-5 and topic flags planted on the NPS answer,
# drawn from their own generator so that every other column is unchanged. Each rating is
# round(3 + rho * z + sqrt(1 - rho^2) * e) on 1-5, z the standardised NPS answer: its correlation
# rho with NPS sets the importance order product > delivery > support > price > app.
_ATTRIBUTES = (("product", 0.60), ("delivery", 0.45), ("support", 0.35), ("price", 0.25),
               ("app", 0.15))
# Topic flags (0/1, "the comment mentions ..."): P = logistic(a + b * z).
_TOPICS = (("topic_delay", -2.0, -0.8), ("topic_billing_error", -2.5, -0.5),
           ("topic_friendly_staff", -2.0, 0.6))
_DRIVER_STREAM = 13


def _driver_columns(nps: _IntArray, seed: int) -> dict[str, Any]:
    """Attribute ratings and topic flags planted on the NPS answers (an independent stream)."""
    rng = np.random.default_rng([seed, _DRIVER_STREAM])
    n = len(nps)
    z = (nps - nps.mean()) / nps.std() if n > 1 and nps.std() > 0 else np.zeros(n)
    out: dict[str, Any] = {}
    for name, rho in _ATTRIBUTES:
        latent = rho * z + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
        rating = np.clip(np.round(3.0 + latent), 1, 5).astype(np.int8)
        out[name] = pa.array(rating, type=pa.int8())
    for name, a, b in _TOPICS:
        flag = rng.random(n) < 1.0 / (1.0 + np.exp(-(a + b * z)))
        out[name] = pa.array(flag.astype(np.int8), type=pa.int8())
    return out


def sample_survey(n: int = 120_000, seed: int = 2026) -> Any:
    """A synthetic customer-experience survey of ``n`` responses from 2025, as a pyarrow Table.

    Deterministic: the same ``n`` and ``seed`` give an identical table. Columns:

    - ``response_id`` (int64, 1..n, in order of submission), ``submitted`` (date32, 2025, fewer
      responses at weekends),
    - segments as dictionary<int32, string>: ``region`` (North, South, East, West, Central),
      ``channel`` (web, app, phone, email, store), ``touchpoint`` (onboarding, billing, support,
      delivery, returns), ``tier`` (basic, plus, premium),
    - scores as int8 with nulls: ``nps`` (0-10, ~3% missing), ``csat`` (1-5, ~5% missing),
      ``ces`` (CES 2.0 agreement 1-7, ~8% missing),
    - ``weight`` (float64, positive, mean 1): post-stratification weights for tier,
    - attribute ratings as int8 1-5: ``product``, ``delivery``, ``support``, ``price``, ``app``,
      and topic flags as int8 0/1: ``topic_delay``, ``topic_billing_error``,
      ``topic_friendly_staff``, planted on the NPS answer with a known importance order
      (see ``docs/drivers.md``).

    The three answers share a per-respondent latent satisfaction, shifted by built-in segment
    effects (premium tier and the app channel higher, billing and returns lower, a dip in Q3),
    and a planted change: South's NPS drops from November 2025 (East is a region without any
    effect or change).
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    rng = np.random.default_rng(seed)

    # Submission dates: weekday pattern plus a little more volume towards year end.
    days = np.arange(_N_DAYS)
    weekday = (days + _dt.date(_YEAR, 1, 1).weekday()) % 7
    volume = np.asarray(_WEEKDAY_VOLUME)[weekday] * (1.0 + 0.15 * days / (_N_DAYS - 1))
    day = np.sort(rng.choice(_N_DAYS, size=n, p=volume / volume.sum()))

    region_labels, region_p, region_fx = _levels(_REGIONS)
    channel_labels, channel_p, channel_fx = _levels(_CHANNELS)
    touch_labels, touch_p, touch_fx = _levels(_TOUCHPOINTS)
    tier_labels, tier_p, tier_fx = _levels(_TIERS)
    region = rng.choice(len(region_labels), size=n, p=region_p)
    channel = rng.choice(len(channel_labels), size=n, p=channel_p)
    touchpoint = rng.choice(len(touch_labels), size=n, p=touch_p)
    tier = rng.choice(len(tier_labels), size=n, p=tier_p)

    q3_start = (np.datetime64(f"{_YEAR}-07-01", "D") - _START).astype(np.int64)
    q4_start = (np.datetime64(f"{_YEAR}-10-01", "D") - _START).astype(np.int64)
    in_q3 = (day >= q3_start) & (day < q4_start)
    billing = touchpoint == touch_labels.index("billing")

    effect = (
        region_fx[region]
        + channel_fx[channel]
        + touch_fx[touchpoint]
        + tier_fx[tier]
        + _TREND * (day / (_N_DAYS - 1) - 0.5)
        + in_q3 * (_Q3_EFFECT + _Q3_BILLING_EFFECT * billing)
    )
    # Latent satisfaction: the segment effects plus the respondent's own disposition (SD 1).
    latent = effect + rng.standard_normal(n)

    ces_channel = np.array([_CES_CHANNEL[label] for label in channel_labels])[channel]
    answers: dict[str, _IntArray] = {}
    for name, base, low, shift in (
        ("nps", _NPS_BASE, 0, 0.0),
        ("csat", _CSAT_BASE, 1, 0.0),
        ("ces", _CES_BASE, 1, 1.0),
    ):
        noise = _ANSWER_NOISE[name]
        answer = latent + shift * ces_channel + noise * rng.standard_normal(n)
        # Cutpoints are set on the zero-effect answer's SD so segment effects shift the buckets.
        answers[name] = _ordinal(answer, base, float(np.hypot(1.0, noise)), low)
    missing = {name: rng.random(n) < p for name, p in _MISSING.items()}
    # Driver ratings are planted on the answers before the planted change (docs/drivers.md).
    latent_nps = answers["nps"]
    answers["nps"] = _planted_drop(answers["nps"], region == region_labels.index(_PLANTED_REGION),
                                   day, seed)

    # Post-stratification to the tier mix of the customer base, with mild jitter for the
    # non-response adjustment every real weighting scheme adds; normalised to mean 1.
    tier_weight = np.asarray(_TIER_POPULATION) / tier_p
    weight = tier_weight[tier] * rng.lognormal(0.0, 0.2, size=n)
    if n:
        weight = weight / weight.mean()

    submitted = (_START + day.astype("timedelta64[D]")).astype("datetime64[D]")
    return pa.table(
        {
            "response_id": pa.array(np.arange(1, n + 1, dtype=np.int64), type=pa.int64()),
            "submitted": pa.array(submitted, type=pa.date32()),
            "region": _dictionary(region, region_labels),
            "channel": _dictionary(channel, channel_labels),
            "touchpoint": _dictionary(touchpoint, touch_labels),
            "tier": _dictionary(tier, tier_labels),
            "nps": _score(answers["nps"], missing["nps"]),
            "csat": _score(answers["csat"], missing["csat"]),
            "ces": _score(answers["ces"], missing["ces"]),
            "weight": pa.array(weight.astype(np.float64), type=pa.float64()),
            **_driver_columns(latent_nps, seed),
        }
    )
