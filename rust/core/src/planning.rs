//! Planning a survey: the margin of error a sample size gives, and the sample size a margin needs.
//!
//! NPS: margin = z·100·sqrt(v/n) with v = p₊ + p₋ − (p₊ − p₋)² (worst case v = 1).
//! Shares: margin = z·100·sqrt(p(1 − p)/n) (worst case p = ½).

use crate::error::{CoreError, Result};
use crate::quantile::{check_confidence, z_critical};

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
