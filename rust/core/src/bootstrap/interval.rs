//! From a bootstrap distribution to an interval: quantiles, BCa's z0 and acceleration.
//!
//! Conventions follow scipy.stats.bootstrap so results can be compared with it: quantiles are
//! Hyndman–Fan type 7 ("linear", numpy's default), the standard error uses ddof = 1, z0 uses the
//! mid-rank proportion, and the acceleration is scipy's multi-sample jackknife formula.

use super::{BootstrapInterval, BootstrapMethod, Degenerate};
use crate::quantile::{normal_cdf, normal_quantile};

/// Φ⁻¹, NaN outside [0, 1] (statrs panics there, and NaN propagates into a fallback instead).
fn phi_inv(p: f64) -> f64 {
    if (0.0..=1.0).contains(&p) {
        normal_quantile(p)
    } else {
        f64::NAN
    }
}

/// A bootstrap distribution in ascending order: sorted values, or [`Runs`] of equal values.
/// Everything an interval reads off the distribution goes through these four methods, so both
/// forms give the same bits.
pub trait Ordered {
    /// Number of resamples.
    fn count(&self) -> usize;
    /// The i-th smallest value (0-based, i < count).
    fn nth(&self, i: usize) -> f64;
    /// (#{x < θ}, #{x ≤ θ}).
    fn rank(&self, theta: f64) -> (usize, usize);
    /// Calls `f(value, count)` on every distinct value in ascending order with the number of
    /// resamples equal to it (maximal runs: equal neighbours are merged in both forms).
    fn each_run(&self, f: impl FnMut(f64, usize));
}

impl Ordered for [f64] {
    fn count(&self) -> usize {
        self.len()
    }
    fn nth(&self, i: usize) -> f64 {
        self[i]
    }
    fn rank(&self, theta: f64) -> (usize, usize) {
        (
            self.partition_point(|&x| x < theta),
            self.partition_point(|&x| x <= theta),
        )
    }
    fn each_run(&self, mut f: impl FnMut(f64, usize)) {
        for run in self.chunk_by(|a, b| a.to_bits() == b.to_bits()) {
            f(run[0], run.len());
        }
    }
}

/// A sorted distribution as runs: `values` ascending, run r holding resamples
/// `ends[r − 1] .. ends[r]` (a count per value instead of one entry per resample).
#[derive(Clone, Debug, Default)]
pub struct Runs {
    values: Vec<f64>,
    ends: Vec<usize>,
}

impl Runs {
    /// Appends `count` resamples equal to `value` (≥ the last value pushed).
    pub fn push(&mut self, value: f64, count: usize) {
        let end = self.ends.last().copied().unwrap_or(0) + count;
        self.values.push(value);
        self.ends.push(end);
    }
}

impl Ordered for Runs {
    fn count(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }
    fn nth(&self, i: usize) -> f64 {
        self.values[self.ends.partition_point(|&e| e <= i)]
    }
    fn rank(&self, theta: f64) -> (usize, usize) {
        let upto = |r: usize| if r == 0 { 0 } else { self.ends[r - 1] };
        (
            upto(self.values.partition_point(|&x| x < theta)),
            upto(self.values.partition_point(|&x| x <= theta)),
        )
    }
    fn each_run(&self, mut f: impl FnMut(f64, usize)) {
        // Two keys can map to one value: merge such neighbours, as a sorted slice's runs do.
        let mut current: Option<(f64, usize)> = None;
        let mut start = 0;
        for (&v, &end) in self.values.iter().zip(&self.ends) {
            let count = end - start;
            start = end;
            current = match current {
                Some((value, n)) if value.to_bits() == v.to_bits() => Some((value, n + count)),
                Some((value, n)) => {
                    f(value, n);
                    Some((v, count))
                }
                None => Some((v, count)),
            };
        }
        if let Some((value, n)) = current {
            f(value, n);
        }
    }
}

/// Type-7 quantile of sorted finite data at level p in [0, 1]: position h = (B − 1)·p,
/// interpolated linearly between its neighbours. The interpolation is numpy's `_lerp`, which
/// returns a tied neighbour exactly — bootstrap distributions of count statistics are full of
/// ties, and a point distribution must give back its point bit for bit.
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    quantile_ordered(sorted, p)
}

/// [`quantile_sorted`] on any [`Ordered`] distribution.
pub fn quantile_ordered<D: Ordered + ?Sized>(sorted: &D, p: f64) -> f64 {
    let len = sorted.count();
    if len == 0 || p.is_nan() {
        return f64::NAN;
    }
    let h = (len - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor();
    let i = lo as usize;
    if i + 1 >= len {
        return sorted.nth(len - 1);
    }
    let t = h - lo;
    let (a, b) = (sorted.nth(i), sorted.nth(i + 1));
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// (#{θ* < θ̂} + ½ #{θ* = θ̂}) / B on sorted data: ties count half, so a statistic with many
/// tied resamples does not get a spurious bias correction.
pub fn midrank_proportion<D: Ordered + ?Sized>(sorted: &D, theta: f64) -> f64 {
    let (below, not_above) = sorted.rank(theta);
    (below + not_above) as f64 / (2 * sorted.count()) as f64
}

/// Sample standard deviation (ddof = 1); NaN for fewer than two values.
pub fn std_dev<D: Ordered + ?Sized>(values: &D) -> f64 {
    let count = values.count();
    if count < 2 {
        return f64::NAN;
    }
    let n = count as f64;
    // Sums over runs of equal values (count × value), in ascending order: the same bits from
    // a sorted slice and from its runs, and one operation per distinct value instead of a
    // dependent addition per resample.
    let mut sum = 0.0;
    values.each_run(|x, c| sum += c as f64 * x);
    let mean = sum / n;
    let mut ss = 0.0;
    values.each_run(|x, c| ss += c as f64 * ((x - mean) * (x - mean)));
    (ss / (n - 1.0)).sqrt()
}

/// One sample's jackknife terms (Σ U³ / n³, Σ U² / n²) with U_i = (n − 1)(θ̄ − θ_(i)), as in
/// scipy's `_bca_interval`.
///
/// On a histogram there are only k distinct leave-one-out values: θ_(j) = statistic with
/// counts[j] − 1, shared by counts[j] respondents, so the sums are count-weighted over
/// categories. `theta_hat` only centres the values for accuracy. A sample of one respondent
/// contributes nothing (U = 0), as in scipy.
pub fn jackknife_terms(
    counts: &[u64],
    statistic: &(dyn Fn(&[f64]) -> f64 + Sync),
    theta_hat: f64,
) -> (f64, f64) {
    let total: u64 = counts.iter().fold(0u64, |s, &c| s.saturating_add(c));
    if total <= 1 {
        return (0.0, 0.0);
    }
    let n = total as f64;
    let mut scratch: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    // (weight, θ_(j) − θ̂) for the non-empty categories.
    let mut dev = Vec::with_capacity(counts.len());
    for (j, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        scratch[j] -= 1.0;
        dev.push((c as f64, statistic(&scratch) - theta_hat));
        scratch[j] += 1.0;
    }
    let mean = dev.iter().map(|&(w, d)| w * d).sum::<f64>() / n;
    let (mut s2, mut s3) = (0.0, 0.0);
    for &(w, d) in &dev {
        let u = mean - d;
        s2 += w * u * u;
        s3 += w * u * u * u;
    }
    let f = (n - 1.0) / n;
    (f * f * f * s3, f * f * s2)
}

/// a = Σ num / (6 (Σ den)^{3/2}); None when the jackknife variance is zero or not finite.
pub fn acceleration(num: f64, den: f64) -> Option<f64> {
    if !(den.is_finite() && den > 0.0 && num.is_finite()) {
        return None;
    }
    let a = num / (6.0 * den.powf(1.5));
    a.is_finite().then_some(a)
}

pub fn nan_interval(estimate: f64, why: Degenerate) -> BootstrapInterval {
    BootstrapInterval {
        low: f64::NAN,
        high: f64::NAN,
        estimate,
        std_error: f64::NAN,
        degenerate: Some(why),
    }
}

pub fn point_interval(estimate: f64, why: Degenerate) -> BootstrapInterval {
    BootstrapInterval {
        low: estimate,
        high: estimate,
        estimate,
        std_error: 0.0,
        degenerate: Some(why),
    }
}

pub fn confidence_is_valid(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// BCa levels Φ(z0 + (z0 + z)/(1 − a(z0 + z))) for z = z_α and z_{1−α}; None when a level is
/// undefined (the map is increasing only while 1 − a(z0 + z) > 0).
fn bca_levels(z0: f64, a: f64, alpha: f64) -> Option<(f64, f64)> {
    let z_alpha = phi_inv(alpha);
    let level = |z: f64| {
        let num = z0 + z;
        let den = 1.0 - a * num;
        let level = normal_cdf(z0 + num / den);
        (den > 0.0 && level.is_finite()).then_some(level)
    };
    Some((level(z_alpha)?, level(-z_alpha)?))
}

/// The interval from a bootstrap distribution (any order), the observed statistic and the
/// spec. `accel` is only evaluated for BCa (it costs k statistic evaluations).
pub fn interval_from_distribution(
    mut dist: Vec<f64>,
    estimate: f64,
    method: BootstrapMethod,
    confidence: f64,
    accel: impl FnOnce() -> Option<f64>,
) -> BootstrapInterval {
    if crate::cancel::requested() && confidence_is_valid(confidence) {
        // The caller discards this: skip the sort and the jackknife.
        return nan_interval(estimate, Degenerate::Cancelled);
    }
    dist.sort_unstable_by(f64::total_cmp);
    interval_from_ordered(&dist[..], estimate, method, confidence, accel)
}

/// [`interval_from_distribution`] on a distribution already in ascending order.
pub fn interval_from_ordered<D: Ordered + ?Sized>(
    dist: &D,
    estimate: f64,
    method: BootstrapMethod,
    confidence: f64,
    accel: impl FnOnce() -> Option<f64>,
) -> BootstrapInterval {
    if !confidence_is_valid(confidence) {
        return nan_interval(estimate, Degenerate::InvalidConfidence);
    }
    if crate::cancel::requested() {
        // The caller discards this: skip the jackknife.
        return nan_interval(estimate, Degenerate::Cancelled);
    }
    let count = dist.count();
    if count == 0 {
        return nan_interval(estimate, Degenerate::NoResamples);
    }
    // Ascending under total order: NaNs of either sign and infinities sit at the ends.
    let (first, last) = (dist.nth(0), dist.nth(count - 1));
    if !estimate.is_finite() || !first.is_finite() || !last.is_finite() {
        return nan_interval(estimate, Degenerate::NonFiniteStatistic);
    }
    let std_error = std_dev(dist);
    let alpha = (1.0 - confidence) / 2.0;
    let percentile = |lo: f64, hi: f64| (quantile_ordered(dist, lo), quantile_ordered(dist, hi));

    let constant = first == last;
    let mut degenerate = constant.then_some(Degenerate::ConstantDistribution);
    let (low, high) = match method {
        BootstrapMethod::Percentile => percentile(alpha, 1.0 - alpha),
        BootstrapMethod::Basic => {
            let (lo, hi) = percentile(alpha, 1.0 - alpha);
            (2.0 * estimate - hi, 2.0 * estimate - lo)
        }
        // Every quantile of a point distribution is the point: BCa has nothing to adjust.
        BootstrapMethod::Bca if constant => percentile(alpha, 1.0 - alpha),
        BootstrapMethod::Bca => {
            let z0 = phi_inv(midrank_proportion(dist, estimate));
            let levels = if !z0.is_finite() {
                Err(Degenerate::BcaBiasUndefined)
            } else {
                match accel() {
                    None => Err(Degenerate::BcaAccelerationUndefined),
                    Some(a) => bca_levels(z0, a, alpha).ok_or(Degenerate::BcaLevelsUndefined),
                }
            };
            match levels {
                Ok((lo, hi)) => percentile(lo, hi),
                Err(why) => {
                    degenerate = Some(why);
                    percentile(alpha, 1.0 - alpha)
                }
            }
        }
    };
    BootstrapInterval {
        low,
        high,
        estimate,
        std_error,
        degenerate,
    }
}
