//! Point estimates and analytic intervals from one segment's tally.
//!
//! Weighted tallies use the weighted shares/mean and Kish's effective sample size
//! n_eff = (Σw)² / Σw² wherever the unweighted formula has n.

use crate::error::{CoreError, Result};
use crate::exact_sum::ExactSum;
use crate::metric::{Kind, MetricSpec};
use crate::quantile::{check_confidence, t_critical, z_critical};
use crate::recent_intervals::memoized;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// An analytic interval method (`ci=`); which apply depends on the metric kind.
pub enum Interval {
    /// No interval: bounds are NaN.
    None,
    /// Wald: value ± z · se.
    Wald,
    /// Adjusted Wald for a net score: three pseudo-respondents added (Sauro & Lewis).
    AdjustedWald,
    /// Tango's score interval for a net score (Tango 1998).
    Score,
    /// Wilson score interval for a share (Wilson 1927).
    Wilson,
    /// Student t for a mean.
    T,
}

impl Interval {
    /// The closed-form methods' names, as users pass them to `ci=`.
    pub const NAMES: [&'static str; 5] = ["wald", "adjusted-wald", "score", "wilson", "t"];

    /// The method named `name` (None: no interval).
    pub fn parse(name: Option<&str>) -> Result<Self> {
        Ok(match name {
            None => Interval::None,
            Some("wald") => Interval::Wald,
            Some("adjusted-wald") => Interval::AdjustedWald,
            Some("score") => Interval::Score,
            Some("wilson") => Interval::Wilson,
            Some("t") => Interval::T,
            Some(other) => {
                return Err(CoreError::InvalidArgument(format!(
                    "unknown interval method {other:?}"
                )))
            }
        })
    }

    /// The name users pass as `ci=`.
    pub fn name(self) -> &'static str {
        match self {
            Interval::None => "none",
            Interval::Wald => "wald",
            Interval::AdjustedWald => "adjusted-wald",
            Interval::Score => "score",
            Interval::Wilson => "wilson",
            Interval::T => "t",
        }
    }

    /// Checks that the method applies to the metric's kind.
    pub fn check(self, kind: &Kind) -> Result<()> {
        let ok = match self {
            Interval::None | Interval::Wald => true,
            Interval::AdjustedWald | Interval::Score => matches!(kind, Kind::Net { .. }),
            Interval::Wilson => matches!(kind, Kind::Share { .. }),
            Interval::T => matches!(kind, Kind::Mean),
        };
        if ok {
            Ok(())
        } else {
            let what = match kind {
                Kind::Net { .. } => "a net score (NPS)",
                Kind::Share { .. } => "a share",
                Kind::Mean => "a mean",
            };
            Err(CoreError::InvalidArgument(format!(
                "ci={:?} does not apply to {what}",
                self.name()
            )))
        }
    }
}

/// One segment's estimate. Value, se and bounds are in the metric's units (points, percent, or
/// scale units); NaN where undefined (no responses, or no interval requested).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The metric's value.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Responses (rows with a valid score).
    pub n: u64,
    /// Σw of the responses (n when unweighted).
    pub weighted_n: f64,
    /// Kish's effective sample size (Σw)² / Σw² (n when unweighted).
    pub effective_n: f64,
}

/// The masses a segment's statistics are computed from.
pub struct Moments {
    /// Per scale point: count, or Σw when weighted.
    pub mass: Vec<f64>,
    /// Responses.
    pub n: u64,
    /// Total mass: n, or Σw.
    pub total: f64,
    /// Kish's effective sample size.
    pub effective_n: f64,
}

impl Moments {
    /// Moments from per-point counts and, when weighted, per-point Σw and Σw².
    pub fn new(
        counts: &[u64],
        weight_sums: Option<&[f64]>,
        weight_square_sums: Option<&[f64]>,
    ) -> Self {
        let n = counts.iter().sum();
        match (weight_sums, weight_square_sums) {
            (Some(w), Some(w2)) => {
                let total: f64 = w.iter().sum();
                let squares: f64 = w2.iter().sum();
                let effective_n = if squares > 0.0 {
                    total * total / squares
                } else {
                    0.0
                };
                Self {
                    mass: w.to_vec(),
                    n,
                    total,
                    effective_n,
                }
            }
            _ => {
                let mut moments = Self::empty();
                moments.set_counts(counts);
                moments
            }
        }
    }

    /// Moments of no responses, whose `mass` buffer the `set_*` methods reuse: a loop over many
    /// segments allocates it once instead of once per segment.
    pub fn empty() -> Self {
        Self {
            mass: Vec::new(),
            n: 0,
            total: 0.0,
            effective_n: 0.0,
        }
    }

    /// Becomes the unweighted moments of `counts` (as [`Moments::new`] without weights).
    pub fn set_counts(&mut self, counts: &[u64]) {
        let n: u64 = counts.iter().sum();
        self.mass.clear();
        self.mass.extend(counts.iter().map(|&c| c as f64));
        self.n = n;
        self.total = n as f64;
        self.effective_n = n as f64;
    }

    /// Weighted moments from exact weight sums, each rounded once. Σw is the float sum of the
    /// rounded per-point masses (in point order, as shares sum them, so a bucket holding every
    /// answer has a share of exactly 1); Σw² is the exact total rounded once.
    pub fn from_exact(counts: &[u64], wsum: &[ExactSum], w2sum: &[ExactSum]) -> Self {
        let mut moments = Self::empty();
        moments.set_exact(counts, wsum, w2sum);
        moments
    }

    /// Becomes the moments of [`Moments::from_exact`], reusing this `mass` buffer.
    pub fn set_exact(&mut self, counts: &[u64], wsum: &[ExactSum], w2sum: &[ExactSum]) {
        self.mass.clear();
        self.mass.extend(wsum.iter().map(ExactSum::to_f64));
        let total: f64 = self.mass.iter().sum();
        let mut exact_squares = ExactSum::ZERO;
        w2sum.iter().for_each(|x| {
            exact_squares.merge(x);
        });
        let squares = exact_squares.to_f64();
        self.n = counts.iter().sum();
        self.total = total;
        self.effective_n = if squares > 0.0 {
            total * total / squares
        } else {
            0.0
        };
    }

    fn share(&self, codes: &std::ops::Range<usize>) -> f64 {
        self.mass[codes.clone()].iter().sum::<f64>() / self.total
    }
}

/// A checked confidence level and its normal critical value: computed once for the many
/// segments of one call instead of once per segment.
#[derive(Clone, Copy, Debug)]
pub struct Level {
    confidence: f64,
    z: f64,
}

impl Level {
    /// The level `confidence` (strictly between 0 and 1).
    pub fn new(confidence: f64) -> Result<Self> {
        let confidence = check_confidence(confidence)?;
        Ok(Self {
            confidence,
            z: z_critical(confidence),
        })
    }
}

/// The estimate of `spec` on `moments` with an `interval` at `confidence`.
pub fn estimate(
    spec: &MetricSpec,
    moments: &Moments,
    interval: Interval,
    confidence: f64,
) -> Result<Estimate> {
    interval.check(&spec.kind)?;
    Ok(estimate_checked(
        spec,
        moments,
        interval,
        Level::new(confidence)?,
    ))
}

/// [`estimate`] for an `interval` already checked against `spec`'s kind (see
/// [`Interval::check`]) at a prepared `level`.
pub fn estimate_checked(
    spec: &MetricSpec,
    moments: &Moments,
    interval: Interval,
    level: Level,
) -> Estimate {
    let Level { confidence, z } = level;
    let n_eff = moments.effective_n;
    let mut est = Estimate {
        value: f64::NAN,
        se: f64::NAN,
        low: f64::NAN,
        high: f64::NAN,
        n: moments.n,
        weighted_n: moments.total,
        effective_n: n_eff,
    };
    if moments.total <= 0.0 || n_eff <= 0.0 {
        return est;
    }
    let (lo_bound, hi_bound) = spec.bounds();
    let clip = |x: f64| x.clamp(lo_bound, hi_bound);
    match &spec.kind {
        Kind::Net { positive, negative } => {
            let (pp, pm) = (moments.share(positive), moments.share(negative));
            est.value = 100.0 * (pp - pm);
            est.se = 100.0 * (net_variance(pp, pm) / n_eff).sqrt();
            let (low, high) = match interval {
                Interval::None => (f64::NAN, f64::NAN),
                Interval::Wald => (clip(est.value - z * est.se), clip(est.value + z * est.se)),
                Interval::AdjustedWald => {
                    // Sauro & Lewis: 3 pseudo-respondents, 0.75 promoter, 0.75 detractor, 1.5 passive.
                    let n_adj = n_eff + 3.0;
                    let pp_adj = (pp * n_eff + 0.75) / n_adj;
                    let pm_adj = (pm * n_eff + 0.75) / n_adj;
                    let centre = 100.0 * (pp_adj - pm_adj);
                    let se_adj = 100.0 * (net_variance(pp_adj, pm_adj) / n_adj).sqrt();
                    (clip(centre - z * se_adj), clip(centre + z * se_adj))
                }
                Interval::Score => {
                    let (l, h) = tango_interval(pp * n_eff, pm * n_eff, n_eff, z);
                    (100.0 * l, 100.0 * h)
                }
                Interval::Wilson | Interval::T => unreachable!("checked above"),
            };
            est.low = low;
            est.high = high;
        }
        Kind::Share { hit } => {
            let p = moments.share(hit);
            est.value = 100.0 * p;
            est.se = 100.0 * (p * (1.0 - p) / n_eff).sqrt();
            let (low, high) = match interval {
                Interval::None => (f64::NAN, f64::NAN),
                Interval::Wald => (clip(est.value - z * est.se), clip(est.value + z * est.se)),
                Interval::Wilson => {
                    let (l, h) = wilson(p, n_eff, z);
                    (100.0 * l, 100.0 * h)
                }
                _ => unreachable!("checked above"),
            };
            est.low = low;
            est.high = high;
        }
        Kind::Mean => {
            let values = (0..moments.mass.len()).map(|c| spec.scale.value(c) as f64);
            let mean = values
                .clone()
                .zip(&moments.mass)
                .map(|(x, m)| x * m)
                .sum::<f64>()
                / moments.total;
            // Weighted population variance, then Bessel's correction on the effective n.
            let spread = values
                .zip(&moments.mass)
                .map(|(x, m)| m * (x - mean) * (x - mean))
                .sum::<f64>()
                / moments.total;
            let variance = spread * n_eff / (n_eff - 1.0);
            est.value = mean;
            est.se = if n_eff > 1.0 {
                (variance / n_eff).sqrt()
            } else {
                f64::NAN
            };
            let (low, high) = match interval {
                Interval::None => (f64::NAN, f64::NAN),
                Interval::Wald => (clip(mean - z * est.se), clip(mean + z * est.se)),
                Interval::T => {
                    let t = t_critical(confidence, n_eff - 1.0);
                    (clip(mean - t * est.se), clip(mean + t * est.se))
                }
                _ => unreachable!("checked above"),
            };
            est.low = low;
            est.high = high;
        }
    }
    est
}

/// Variance of x ∈ {+1, 0, −1} with P(+1) = pp and P(−1) = pm.
pub fn net_variance(pp: f64, pm: f64) -> f64 {
    (pp + pm - (pp - pm) * (pp - pm)).max(0.0)
}

/// Wilson score interval for a proportion (in [0, 1]).
pub fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Tango's score statistic for Δ = p₊ − p₋ of a trinomial with `b` positives and `c` negatives
/// out of `n`: (b − c − nΔ) / sqrt(n(2q̂ + Δ(1 − Δ))), q̂ the MLE of p₋ restricted to Δ.
fn tango_statistic(b: f64, c: f64, n: f64, delta: f64) -> f64 {
    // Swapping positives and negatives negates Δ and the statistic. Evaluating Δ < 0 through
    // that mirror keeps Δ ≥ 0, where every sum below adds terms of one sign: for Δ < 0 the
    // discriminant bq² − 8n·cq cancels, and near its double root (with b = 0, at
    // Δ = −c/(2n − c)) the square root turned that rounding into errors of up to ~1e-8 in the
    // bounds (against 60-digit arithmetic; now ≤ ~3e-16).
    if delta < 0.0 {
        -tango_statistic_nonnegative(c, b, n, -delta)
    } else {
        tango_statistic_nonnegative(b, c, n, delta)
    }
}

/// `tango_statistic` for Δ ≥ 0. q̂ is the non-negative root of 2n q² + bq q + cq = 0.
fn tango_statistic_nonnegative(b: f64, c: f64, n: f64, delta: f64) -> f64 {
    let bq = -b - c + (2.0 * n - b + c) * delta;
    let cq = -c * delta * (1.0 - delta); // ≤ 0 for Δ in [0, 1]
    let root = (bq * bq - 8.0 * n * cq).max(0.0).sqrt();
    // The quadratic formula's sum without cancellation; for bq > 0 the same root through the
    // product of the roots (cq / 2n).
    let q = if bq > 0.0 {
        -2.0 * cq / (bq + root)
    } else {
        (root - bq) / (4.0 * n)
    };
    let numerator = b - c - n * delta;
    let variance = n * (2.0 * q + delta * (1.0 - delta));
    if variance > 0.0 {
        numerator / variance.sqrt()
    } else if numerator > 0.0 {
        f64::INFINITY
    } else if numerator < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    }
}

/// The former statistic, straight from Tango's closed form for every Δ: the reference for the
/// well-conditioned cases.
#[cfg(test)]
fn tango_statistic_plain(b: f64, c: f64, n: f64, delta: f64) -> f64 {
    let a2 = 2.0 * n;
    let bq = -b - c + (2.0 * n - b + c) * delta;
    let cq = -c * delta * (1.0 - delta);
    let q = ((bq * bq - 4.0 * a2 * cq).max(0.0).sqrt() - bq) / (2.0 * a2);
    let numerator = b - c - n * delta;
    let variance = n * (2.0 * q + delta * (1.0 - delta));
    if variance > 0.0 {
        numerator / variance.sqrt()
    } else if numerator > 0.0 {
        f64::INFINITY
    } else if numerator < 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    }
}

/// Tango's score interval for p₊ − p₋ (in [−1, 1]): the Δ with |statistic| ≤ z. Memoized per
/// thread, since many small segments share their counts (`recent_intervals`).
pub fn tango_interval(b: f64, c: f64, n: f64, z: f64) -> (f64, f64) {
    memoized(b, c, n, z, solve_tango_interval)
}

/// [`tango_interval`] computed.
fn solve_tango_interval(b: f64, c: f64, n: f64, z: f64) -> (f64, f64) {
    let wald_se = (net_variance(b / n, c / n) / n).sqrt();
    solve_score_interval(|d| tango_statistic(b, c, n, d), (b - c) / n, wald_se, z)
}

/// The Δ in [−1, 1] with |statistic(Δ)| ≤ z, for a statistic that decreases in Δ and is 0 at
/// `estimate`: each bound is the single crossing on its side, found by `falsi_root`, or −1 / 1
/// when the statistic does not cross. The search starts from the Wald bound
/// (estimate ∓ z·`wald_se`), which lies within O(1/n) of the score bound: a first evaluation
/// there usually brackets the root closely, where the full [−1, estimate] bracket costs about
/// twice the evaluations (its far end is often infinite, which forces bisection steps).
fn solve_score_interval(
    statistic: impl Fn(f64) -> f64,
    estimate: f64,
    wald_se: f64,
    z: f64,
) -> (f64, f64) {
    let step = z * wald_se;
    // The low bound: f = statistic − z falls from f(−1) through 0 to f(estimate) = −z.
    let low = |d: f64| statistic(d) - z;
    let low = match bracket_outwards(&low, (estimate, -z), -step, -1.0) {
        Bracket::Root(x) => x,
        Bracket::Inside { near, f_near } => falsi_root(low, near, f_near, estimate, -z),
        Bracket::Between {
            far,
            f_far,
            near,
            f_near,
        } => falsi_root(low, far, f_far, near, f_near),
        Bracket::Pinned => -1.0,
    };
    // The high bound: f = statistic + z falls from f(estimate) = z through 0 to f(1).
    let high = |d: f64| statistic(d) + z;
    let high = match bracket_outwards(&|d| -high(d), (estimate, -z), step, 1.0) {
        Bracket::Root(x) => x,
        Bracket::Inside { near, f_near } => falsi_root(high, estimate, z, near, -f_near),
        Bracket::Between {
            far,
            f_far,
            near,
            f_near,
        } => falsi_root(high, near, -f_near, far, -f_far),
        Bracket::Pinned => 1.0,
    };
    (low, high)
}

/// Where the crossing of `g` lies, searched from `estimate` towards `limit` (±1), with g < 0 at
/// the estimate and g > 0 beyond the crossing.
enum Bracket {
    /// g is exactly 0 here.
    Root(f64),
    /// Between the estimate and `near`, where g = `f_near` > 0.
    Inside { near: f64, f_near: f64 },
    /// Between `near` (g < 0) and `far` (g > 0, possibly +∞).
    Between {
        far: f64,
        f_far: f64,
        near: f64,
        f_near: f64,
    },
    /// g does not cross before `limit`: the bound is the limit.
    Pinned,
}

/// Evaluates `g` at the estimate + `step` (the Wald bound), then, if g is still negative there,
/// one step of the same size further and finally at `limit`. `at_estimate` is (estimate, g there).
fn bracket_outwards(
    g: &impl Fn(f64) -> f64,
    at_estimate: (f64, f64),
    step: f64,
    limit: f64,
) -> Bracket {
    let estimate = at_estimate.0;
    let mut near = at_estimate;
    // A zero step (no spread at the estimate: all answers in one bucket) or NaN tries nothing.
    let tries = if step.abs() > 0.0 { 2 } else { 0 };
    for k in 1..=tries {
        let x = estimate + f64::from(k) * step;
        // Short of the limit (false for NaN too).
        let short_of_limit = (x - limit) * step < 0.0;
        if !short_of_limit {
            break;
        }
        let fx = g(x);
        if fx == 0.0 {
            return Bracket::Root(x);
        }
        if fx > 0.0 {
            return if k == 1 {
                Bracket::Inside {
                    near: x,
                    f_near: fx,
                }
            } else {
                Bracket::Between {
                    far: x,
                    f_far: fx,
                    near: near.0,
                    f_near: near.1,
                }
            };
        }
        near = (x, fx);
    }
    let at_limit = g(limit);
    let crosses = at_limit > 0.0; // false for NaN: pinned, as the statistic never crossed
    if !crosses {
        return Bracket::Pinned;
    }
    Bracket::Between {
        far: limit,
        f_far: at_limit,
        near: near.0,
        f_near: near.1,
    }
}

/// The root of `f` in [lo, hi], given f(lo) > 0 > f(hi) (`f_lo`, `f_hi` may be ±∞ or merely
/// of the right sign): Anderson–Björck regula falsi, which keeps the bracket and converges
/// superlinearly where plain bisection needs ~55 halvings to reach adjacent floats. It bisects
/// instead when an end value is not finite (Δ = ±1 where the variance is 0), when the falsi
/// point is not strictly inside, or when the bracket has not halved in three steps (a steep end
/// makes falsi creep). Stops when the bracket is ~2 ulps of 1 wide or f is exactly 0.
fn falsi_root(f: impl Fn(f64) -> f64, lo: f64, f_lo: f64, hi: f64, f_hi: f64) -> f64 {
    let (mut lo, mut f_lo, mut hi, mut f_hi) = (lo, f_lo, hi, f_hi);
    // Which end the previous step replaced (1 lo, −1 hi, 0 a bisection or none yet).
    let mut last = 0i8;
    // Bracket widths at the start of the previous three steps.
    let mut widths = [f64::INFINITY; 3];
    // Far more than enough: bisection alone reaches adjacent floats in ~60 steps.
    for _ in 0..200 {
        let width = hi - lo;
        // Absolute below 0.5 so a bound near 0 does not chase ulps of tiny numbers.
        let tol = 2.0 * f64::EPSILON * lo.abs().max(hi.abs()).max(0.5);
        if width <= tol || width.is_nan() {
            break;
        }
        let mid = 0.5 * (lo + hi);
        let mut x = mid;
        let creeping = width > 0.5 * widths[2];
        widths = [width, widths[0], widths[1]];
        if !creeping && f_lo.is_finite() && f_hi.is_finite() {
            // Keep half a tolerance from either end, so that once the root is that close to an
            // end the next step lands past it and the bracket closes. (Not `clamp`: it panics
            // on crossed limits; here a NaN falls through to the midpoint.)
            let t = lo + width * (f_lo / (f_lo - f_hi));
            let margin = 0.5 * tol;
            let t = if t < lo + margin {
                lo + margin
            } else if t > hi - margin {
                hi - margin
            } else {
                t
            };
            if t > lo && t < hi {
                x = t;
            }
        }
        let fx = f(x);
        if fx == 0.0 {
            return x;
        }
        let step = if x == mid {
            0
        } else if fx > 0.0 {
            1
        } else {
            -1
        };
        if fx > 0.0 {
            if step == 1 && last == 1 {
                // hi kept twice: shrink its weight so the next falsi point lands past the root.
                let m = 1.0 - fx / f_lo;
                f_hi *= if m > 0.0 { m } else { 0.5 };
            }
            lo = x;
            f_lo = fx;
        } else {
            // NaN goes here too, as in the bisection (it is not above the critical value).
            if step == -1 && last == -1 {
                let m = 1.0 - fx / f_hi;
                f_lo *= if m > 0.0 { m } else { 0.5 };
            }
            hi = x;
            f_hi = fx;
        }
        last = step;
    }
    0.5 * (lo + hi)
}

/// The former bisection to adjacent floats, kept as the reference `tango_interval` must match.
#[cfg(test)]
fn tango_interval_bisection(
    statistic: fn(f64, f64, f64, f64) -> f64,
    b: f64,
    c: f64,
    n: f64,
    z: f64,
) -> (f64, f64) {
    let estimate = (b - c) / n;
    let solve = |mut lo: f64, mut hi: f64, above: &dyn Fn(f64) -> bool| {
        // Invariant: above(lo) holds and above(hi) does not.
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if above(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let low = if statistic(b, c, n, -1.0) > z {
        solve(-1.0, estimate, &|d| statistic(b, c, n, d) > z)
    } else {
        -1.0
    };
    let high = if statistic(b, c, n, 1.0) < -z {
        solve(estimate, 1.0, &|d| statistic(b, c, n, d) >= -z)
    } else {
        1.0
    };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nps_moments(d: u64, p: u64, pr: u64) -> Moments {
        let mut counts = vec![0u64; 11];
        counts[0] = d;
        counts[7] = p;
        counts[10] = pr;
        Moments::new(&counts, None, None)
    }

    #[test]
    fn domain_reference_numbers() {
        let spec = MetricSpec::nps();
        let e = estimate(&spec, &nps_moments(20, 30, 50), Interval::Wald, 0.95).unwrap();
        assert!((e.value - 30.0).abs() < 1e-12);
        assert!((e.se - 7.8102).abs() < 1e-3);
        assert!((e.low - 14.69).abs() < 5e-3 && (e.high - 45.31).abs() < 5e-3);
        let e = estimate(&spec, &nps_moments(2, 0, 9), Interval::None, 0.95).unwrap();
        assert!((e.value - 63.636).abs() < 1e-3);
        assert!((e.se - 23.26).abs() < 5e-3);
    }

    #[test]
    fn score_interval_brackets_estimate_and_inverts_statistic() {
        let (b, c, n, z) = (50.0, 20.0, 100.0, z_critical(0.95));
        let (lo, hi) = solve_tango_interval(b, c, n, z);
        assert!(lo < 0.3 && hi > 0.3);
        assert!((tango_statistic(b, c, n, lo) - z).abs() < 1e-9);
        assert!((tango_statistic(b, c, n, hi) + z).abs() < 1e-9);
        let (lo, hi) = solve_tango_interval(0.0, 10.0, 10.0, z);
        assert_eq!(lo, -1.0);
        assert!(hi > -1.0 && hi < 0.0);
    }

    /// (b, c, n, z) for the solver checks: every integer split up to n = 12, the edges (b or c
    /// 0, 1, n − 1 or n) and a spread of shares up to n = 1e9, and pseudo-random weighted
    /// (fractional) counts from n = 0.2 to 1e7, each at confidence levels from 50% to 99.9999%.
    fn score_cases() -> Vec<(f64, f64, f64, f64)> {
        let zs: Vec<f64> = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.999_999]
            .iter()
            .map(|&level| z_critical(level))
            .collect();
        let mut splits = Vec::new();
        for n in 1..=12u32 {
            for b in 0..=n {
                for c in 0..=(n - b) {
                    splits.push((f64::from(b), f64::from(c), f64::from(n)));
                }
            }
        }
        let shares = [
            (0.0, 0.0),
            (1.0, 0.0),
            (0.0, 1.0),
            (0.5, 0.5),
            (0.5, 0.0),
            (0.0, 0.5),
            (0.3, 0.2),
            (0.2, 0.3),
            (0.45, 0.45),
            (0.999, 0.0),
            (0.0, 0.999),
            (0.9, 0.1),
            (0.01, 0.0),
            (0.0, 0.01),
        ];
        for n in [20.0f64, 100.0, 1000.0, 12_345.0, 1e6, 1e9] {
            for (fb, fc) in shares {
                splits.push(((fb * n).round(), (fc * n).round(), n));
            }
            for (b, c) in [
                (1.0, 0.0),
                (0.0, 1.0),
                (1.0, 1.0),
                (n - 1.0, 0.0),
                (0.0, n - 1.0),
            ] {
                splits.push((b, c, n));
            }
            splits.push((n - 1.0, 1.0, n));
        }
        // A small LCG: deterministic, no dependency.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..3000 {
            let n = (0.2f64.ln() + uniform() * (1e7f64.ln() - 0.2f64.ln())).exp();
            let b = uniform() * n;
            let c = uniform() * (n - b);
            // Every tenth draw pins a weighted edge: all positive, all negative, or none.
            match i % 10 {
                0 => splits.push((n, 0.0, n)),
                1 => splits.push((0.0, n, n)),
                2 => splits.push((0.0, 0.0, n)),
                3 => splits.push((b, 0.0, n)),
                4 => splits.push((0.0, c, n)),
                _ => splits.push((b, c, n)),
            }
        }
        let mut cases = Vec::new();
        for (b, c, n) in splits {
            for &z in &zs {
                cases.push((b, c, n, z));
            }
        }
        cases
    }

    #[test]
    fn score_interval_matches_the_bisection() {
        let mut worst = (0.0f64, (0.0, 0.0, 0.0, 0.0));
        let mut worst_plain = (0.0f64, (0.0, 0.0, 0.0, 0.0));
        for (b, c, n, z) in score_cases() {
            let (lo, hi) = solve_tango_interval(b, c, n, z);
            let (lo_ref, hi_ref) = tango_interval_bisection(tango_statistic, b, c, n, z);
            let diff = (lo - lo_ref).abs().max((hi - hi_ref).abs());
            assert!(
                diff <= 1e-13,
                "b={b} c={c} n={n} z={z}: ({lo}, {hi}) vs bisection ({lo_ref}, {hi_ref})"
            );
            // Pinned bounds stay exactly pinned.
            assert_eq!(lo == -1.0, lo_ref == -1.0, "b={b} c={c} n={n} z={z}");
            assert_eq!(hi == 1.0, hi_ref == 1.0, "b={b} c={c} n={n} z={z}");
            if diff > worst.0 {
                worst = (diff, (b, c, n, z));
            }
            // The former code (closed form for every Δ, bisection) where it is well-conditioned:
            // with b = 0 its discriminant has a double root (see the next test).
            if b > 0.0 {
                let (lo_p, hi_p) = tango_interval_bisection(tango_statistic_plain, b, c, n, z);
                let diff = (lo - lo_p).abs().max((hi - hi_p).abs());
                assert!(
                    diff <= 1e-13,
                    "b={b} c={c} n={n} z={z}: ({lo}, {hi}) vs the former ({lo_p}, {hi_p})"
                );
                if diff > worst_plain.0 {
                    worst_plain = (diff, (b, c, n, z));
                }
            }
        }
        println!(
            "largest |new − bisection|: {:e} at (b, c, n, z) = {:?}",
            worst.0, worst.1
        );
        println!(
            "largest |new − former|, b > 0: {:e} at {:?}",
            worst_plain.0, worst_plain.1
        );
    }

    /// With no positives the restricted MLE has a closed form without square roots: the
    /// discriminant is ((2n − c)Δ + c)², so q̂ = c(1 − Δ)/2n where (2n − c)Δ + c ≥ 0, else −Δ.
    fn tango_statistic_no_positives(_b: f64, c: f64, n: f64, delta: f64) -> f64 {
        let q = if (2.0 * n - c) * delta + c >= 0.0 {
            c * (1.0 - delta) / (2.0 * n)
        } else {
            -delta
        };
        let numerator = -c - n * delta;
        let variance = n * (2.0 * q + delta * (1.0 - delta));
        if variance > 0.0 {
            numerator / variance.sqrt()
        } else if numerator > 0.0 {
            f64::INFINITY
        } else if numerator < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        }
    }

    #[test]
    fn memoized_score_intervals_are_the_solved_ones_bit_for_bit() {
        // Twice over: the second pass reads the memo (the cases repeat no input, so the first
        // pass mostly fills it).
        for _ in 0..2 {
            for (b, c, n, z) in score_cases() {
                let (lo, hi) = tango_interval(b, c, n, z);
                let (lo_s, hi_s) = solve_tango_interval(b, c, n, z);
                assert_eq!(
                    (lo.to_bits(), hi.to_bits()),
                    (lo_s.to_bits(), hi_s.to_bits())
                );
            }
        }
    }

    #[test]
    fn score_interval_without_positives_matches_the_closed_form() {
        // Here the former closed form lost up to ~1e-8 (its discriminant cancels to 0 at
        // Δ = −c/(2n − c), near −1 when c is close to n).
        let (mut checked, mut worst) = (0, 0.0f64);
        for (b, c, n, z) in score_cases() {
            if b != 0.0 {
                continue;
            }
            let (lo, hi) = solve_tango_interval(b, c, n, z);
            let (lo_ref, hi_ref) =
                tango_interval_bisection(tango_statistic_no_positives, b, c, n, z);
            let diff = (lo - lo_ref).abs().max((hi - hi_ref).abs());
            assert!(
                diff <= 1e-13,
                "c={c} n={n} z={z}: ({lo}, {hi}) vs closed form ({lo_ref}, {hi_ref})"
            );
            checked += 1;
            worst = worst.max(diff);
        }
        println!("{checked} cases without positives: largest |new − closed form| {worst:e}");
        assert!(checked > 1000);
    }

    #[test]
    fn score_interval_solver_needs_few_evaluations() {
        // Every evaluation of the statistic for a whole interval (both bounds and the limits).
        let evals = std::cell::Cell::new(0u32);
        let (mut intervals, mut total, mut most) = (0u32, 0u32, 0u32);
        for (b, c, n, z) in score_cases() {
            let statistic = |d| {
                evals.set(evals.get() + 1);
                tango_statistic(b, c, n, d)
            };
            let wald_se = (net_variance(b / n, c / n) / n).sqrt();
            let bounds = solve_score_interval(statistic, (b - c) / n, wald_se, z);
            assert_eq!(bounds, solve_tango_interval(b, c, n, z));
            intervals += 1;
            total += evals.get();
            most = most.max(evals.get());
            evals.set(0);
        }
        let mean = f64::from(total) / f64::from(intervals);
        println!("{intervals} intervals: {mean:.2} evaluations on average, {most} at most");
        // Bisection took ~110 per interval; brackets from the limits ±1, 18.9 on these cases
        // (15.6 from the Wald bounds).
        assert!(mean < 17.0 && most <= 60, "mean {mean}, most {most}");
    }

    #[test]
    fn empty_and_mismatched() {
        let spec = MetricSpec::nps();
        let e = estimate(&spec, &nps_moments(0, 0, 0), Interval::Score, 0.95).unwrap();
        assert!(e.value.is_nan() && e.low.is_nan() && e.n == 0);
        assert!(estimate(&spec, &nps_moments(1, 1, 1), Interval::Wilson, 0.95).is_err());
        assert!(estimate(&spec, &nps_moments(1, 1, 1), Interval::Wald, 1.5).is_err());
    }
}
