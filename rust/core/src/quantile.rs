//! Critical values of the normal and Student-t distributions.

use statrs::distribution::{Continuous, ContinuousCDF, Normal, StudentsT};

use crate::error::{CoreError, Result};

/// Checks a confidence level and returns it; intervals need 0 < confidence < 1.
pub fn check_confidence(confidence: f64) -> Result<f64> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(confidence)
    } else {
        Err(CoreError::InvalidArgument(format!(
            "confidence must be strictly between 0 and 1, got {confidence}"
        )))
    }
}

fn standard_normal() -> Normal {
    Normal::new(0.0, 1.0).expect("standard normal parameters are valid")
}

/// Φ⁻¹(p).
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

/// Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    standard_normal().cdf(x)
}

/// Two-sided critical value z = Φ⁻¹(1 − α/2) for a confidence level 1 − α.
pub fn z_critical(confidence: f64) -> f64 {
    normal_quantile(0.5 + confidence / 2.0)
}

/// Two-sided Student-t critical value with `df` degrees of freedom (real-valued, as Kish's
/// effective n gives fractional df). NaN when df is not positive.
pub fn t_critical(confidence: f64, df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() {
        return z_critical(confidence);
    }
    let p = 0.5 + confidence / 2.0;
    let dist = StudentsT::new(0.0, 1.0, df).expect("df checked positive");
    // statrs inverts the incomplete beta to a few ulps short of double precision on some df;
    // two Newton steps on the (accurate) CDF bring it to full precision.
    let mut t = dist.inverse_cdf(p);
    for _ in 0..2 {
        let density = dist.pdf(t);
        if density > 0.0 && density.is_finite() {
            t -= (dist.cdf(t) - p) / density;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert!((z_critical(0.95) - 1.959963984540054).abs() < 1e-12);
        assert!((z_critical(0.90) - 1.6448536269514722).abs() < 1e-12);
        // scipy.stats.t.ppf(0.975, 10) and (0.975, 2.5)
        assert!((t_critical(0.95, 10.0) - 2.228_138_851_986_274).abs() < 1e-12);
        assert!((t_critical(0.95, 1.0) - 12.706204736174698).abs() < 1e-8);
        assert!(t_critical(0.95, 0.0).is_nan());
    }
}
