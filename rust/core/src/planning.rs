//! Planning a survey: the margin of error a sample size gives, the sample size a margin needs,
//! and for two independent groups the smallest detectable difference and the sizes it needs.
//!
//! NPS: margin = z·100·sqrt(v/n) with v = p₊ + p₋ − (p₊ − p₋)² (worst case v = 1).
//! Shares: margin = z·100·sqrt(p(1 − p)/n) (worst case p = ½).
//! Two groups (normal approximation, the z-test of `compare`):
//! d = (z₁₋α/₂ + z_power)·100·sqrt(v_a/n_a + v_b/n_b). Uses `estimate` (the NPS variance) and
//! `quantile`.

use crate::error::{CoreError, Result};
use crate::estimate::net_variance;
use crate::quantile::{check_confidence, normal_quantile, z_critical};

fn invalid<T>(message: impl Into<String>) -> Result<T> {
    Err(CoreError::InvalidArgument(message.into()))
}

/// Per-response variance of an NPS answer (+1, 0, −1, in units of the metric / 100) given its
/// promoter and detractor shares; the worst case (1) when neither is given.
pub fn nps_variance(promoters: Option<f64>, detractors: Option<f64>) -> Result<f64> {
    match (promoters, detractors) {
        (None, None) => Ok(1.0),
        (Some(p), Some(d)) => {
            let share = |x: f64| (0.0..=1.0).contains(&x);
            if share(p) && share(d) && p + d <= 1.0 {
                Ok(net_variance(p, d))
            } else {
                invalid("promoters and detractors must be shares in [0, 1] summing to ≤ 1")
            }
        }
        _ => invalid("give both promoters= and detractors= (or neither: worst case)"),
    }
}

/// Per-response variance p(1 − p) of a share; the worst case (p = ½) when none is given.
pub fn share_variance(share: Option<f64>) -> Result<f64> {
    let p = share.unwrap_or(0.5);
    if (0.0..=1.0).contains(&p) {
        Ok(p * (1.0 - p))
    } else {
        invalid("share must be in [0, 1]")
    }
}

/// z₁₋α(/2) + z_power of a z-test at `confidence` (two-sided unless `one_sided`).
fn z_sum(power: f64, confidence: f64, one_sided: bool) -> Result<f64> {
    if !(power > 0.0 && power < 1.0) {
        return invalid(format!(
            "power must be strictly between 0 and 1, got {power:?}"
        ));
    }
    let alpha = 1.0 - check_confidence(confidence)?;
    let tail = if one_sided { alpha } else { alpha / 2.0 };
    Ok(normal_quantile(1.0 - tail) + normal_quantile(power))
}

/// The smallest true difference (points) between independent groups of `n_a` and `n_b`
/// responses with per-response variances `v_a`, `v_b` that the z-test finds with probability
/// `power`.
pub fn detectable_difference(
    n: (f64, f64),
    v: (f64, f64),
    power: f64,
    confidence: f64,
    one_sided: bool,
) -> Result<f64> {
    check(v.0)?;
    check(v.1)?;
    let z = z_sum(power, confidence, one_sided)?;
    Ok(z * 100.0 * (v.0 / n.0 + v.1 / n.1).sqrt())
}

/// Responses per group `(n_a, n_b)`, `n_b = ratio·n_a`, to detect a true difference of
/// `difference` points with probability `power` (the inverse of [`detectable_difference`],
/// rounded up).
pub fn sample_size_two_groups(
    difference: f64,
    ratio: f64,
    v: (f64, f64),
    power: f64,
    confidence: f64,
    one_sided: bool,
) -> Result<(u64, u64)> {
    check(v.0)?;
    check(v.1)?;
    let z = z_sum(power, confidence, one_sided)?;
    let n_a = (z * 100.0 / difference.abs()).powi(2) * (v.0 + v.1 / ratio);
    // A hair of tolerance so that exact products (e.g. 1,570.0000000002) do not round up.
    let n_a = (n_a * (1.0 - 1e-12)).ceil();
    let n_b = (n_a * ratio * (1.0 - 1e-12)).ceil();
    if n_a.max(n_b) > (1u64 << 53) as f64 {
        return invalid(format!(
            "a difference of {difference} points needs about {n_a:.3e} responses, beyond any survey"
        ));
    }
    Ok((n_a as u64, n_b as u64))
}

/// Margin of error (half-width of the Wald interval, in points) for variance `v` of one
/// response's contribution (in units of the metric / 100) and `n` responses.
pub fn margin_of_error(n: f64, v: f64, confidence: f64) -> Result<f64> {
    check(v)?;
    if n.is_nan() || n <= 0.0 {
        return Err(CoreError::InvalidArgument(format!(
            "n must be positive, got {n}"
        )));
    }
    Ok(z_critical(check_confidence(confidence)?) * 100.0 * (v / n).sqrt())
}

/// Responses needed for a margin of at most `margin` points.
pub fn sample_size(margin: f64, v: f64, confidence: f64) -> Result<u64> {
    check(v)?;
    if margin.is_nan() || margin <= 0.0 {
        return Err(CoreError::InvalidArgument(format!(
            "margin must be positive, got {margin}"
        )));
    }
    let z = z_critical(check_confidence(confidence)?);
    let n = z * z * v / (margin / 100.0).powi(2);
    // Past 2^53 the count is no longer an exact integer in f64 (and no survey is that large).
    if n > (1u64 << 53) as f64 {
        return Err(CoreError::InvalidArgument(format!(
            "a margin of {margin} points needs about {n:.3e} responses, beyond any survey"
        )));
    }
    // Tiny tolerance so an exact integer answer is not pushed up by rounding noise.
    Ok((n - 1e-9).ceil().max(1.0) as u64)
}

fn check(v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(format!(
            "variance must be finite and ≥ 0, got {v}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_reference() {
        // DOMAIN.md: worst case v = 1, ±5 points at 95% needs ≈ 1,537 responses.
        assert_eq!(sample_size(5.0, 1.0, 0.95).unwrap(), 1537);
        let m = margin_of_error(100.0, 0.61, 0.95).unwrap();
        assert!((m - 15.3077).abs() < 1e-3, "{m}");
        assert!(sample_size(0.0, 1.0, 0.95).is_err());
    }
}
