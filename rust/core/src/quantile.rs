//! Critical values of the normal and Student-t distributions.
//!
//! The Student-t quantile is computed here rather than by `StudentsT::inverse_cdf`: statrs
//! inverts the incomplete beta with an unbounded Newton loop that never ends for df above ≈1.3e7
//! (and the beta function loses precision there). Large df use the Cornish–Fisher expansion of
//! the t quantile about the normal one (Abramowitz & Stegun 1964, eq. 26.7.5), exact to double
//! precision once df ≥ [`EXPANSION_MIN_DF`]; smaller df solve F(t) = p by a bracketed Newton
//! iteration with a fixed iteration cap, so every call returns.

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

/// From this many degrees of freedom on, the four-term Cornish–Fisher expansion is used: its
/// first omitted term is O(df⁻⁵), about 1e-12 relative at df = 2000 and confidence 1 − 1e-12.
/// Below it, the incomplete beta of statrs limits precision to about 1e-12 relative. The tests
/// hold the result within 1e-11 relative of scipy's quantile over a grid of df and levels.
const EXPANSION_MIN_DF: f64 = 2000.0;

/// Iteration cap of the bracketed Newton solve (it converges in under ten steps from the
/// expansion's start; bisection alone would need about 1100 steps to exhaust f64 precision).
const MAX_STEPS: usize = 200;

/// Two-sided Student-t critical value with `df` degrees of freedom (real-valued, as Kish's
/// effective n gives fractional df). NaN when df is not positive.
pub fn t_critical(confidence: f64, df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 || !(confidence > 0.0 && confidence < 1.0) {
        return f64::NAN;
    }
    let z = z_critical(confidence);
    if df.is_infinite() {
        return z;
    }
    if df >= EXPANSION_MIN_DF {
        return cornish_fisher(z, df);
    }
    // Solve the upper tail S(t) = (1 − confidence)/2 directly: the tail keeps full relative
    // precision at high confidence, where 1 − F(t) would cancel.
    let tail = (1.0 - confidence) / 2.0;
    let dist = StudentsT::new(0.0, 1.0, df).expect("df checked positive and finite");
    // The t quantile lies above the normal one; double an upper bound until it brackets.
    let (mut lo, mut hi) = (z, z.max(1.0) * 2.0);
    let mut steps = 0;
    while dist.sf(hi) > tail {
        lo = hi;
        hi *= 2.0;
        steps += 1;
        if !hi.is_finite() || steps > 1100 {
            return f64::INFINITY;
        }
    }
    let mut t = cornish_fisher(z, df).clamp(lo, hi);
    for _ in 0..MAX_STEPS {
        let excess = dist.sf(t) - tail;
        if excess > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // Newton on S(t) − tail (S' = −pdf); fall back to bisection outside the bracket.
        let density = dist.pdf(t);
        let newton = t + excess / density;
        let next = if density > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - t).abs() <= 2.0 * f64::EPSILON * t.abs() || next == lo || next == hi {
            return next;
        }
        t = next;
    }
    t
}

/// The t quantile from the normal quantile `z` and df (Abramowitz & Stegun 26.7.5).
fn cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    let v = 1.0 / df;
    z + v * (g1 + v * (g2 + v * (g3 + v * g4)))
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

    /// scipy.stats.t.ppf(0.975, df) for df around the switch and far beyond the old hang.
    #[test]
    fn large_df_matches_scipy_and_returns() {
        let cases = [
            (1999.0, 1.9611514201705613),
            (2000.0, 1.9611508260994377),
            (13000000.0, 1.9599641670224728),
            (16000000.0, 1.959964132807017),
            (1000000000000.0, 1.9599639845424262),
        ];
        for (df, want) in cases {
            let got = t_critical(0.95, df);
            assert!(
                (got - want).abs() < 1e-13 * want,
                "df {df}: {got} vs {want}"
            );
        }
    }

    /// scipy.stats.t.isf((1 − c)/2, df) over a grid of df (fractional, small, either side of
    /// the switch to the expansion) and confidence levels.
    #[test]
    fn grid_matches_scipy() {
        let cases = [
            (0.3, 0.5, 3.0273369408647977),
            (0.3, 0.9, 653.0205210290748),
            (0.3, 0.95, 6582.0356994007525),
            (0.3, 0.99, 1406890.3435210227),
            (0.3, 0.999999, 3.031053360862175e+19),
            (1.0, 0.5, 1.0000000000000002),
            (1.0, 0.9, 6.313751514675045),
            (1.0, 0.95, 12.706204736174694),
            (1.0, 0.99, 63.656741162871526),
            (1.0, 0.999999, 636619.7723487513),
            (2.5, 0.5, 0.7850136829922992),
            (2.5, 0.9, 2.558218614135937),
            (2.5, 0.95, 3.5746548420036817),
            (2.5, 0.99, 7.163728138948783),
            (2.5, 0.999999, 290.52306159567325),
            (10.0, 0.5, 0.6998120613124317),
            (10.0, 0.9, 1.8124611228116767),
            (10.0, 0.95, 2.228138851986274),
            (10.0, 0.99, 3.16927267261695),
            (10.0, 0.999999, 10.516489956882173),
            (29.0, 0.5, 0.6830438608216131),
            (29.0, 0.9, 1.699127026533498),
            (29.0, 0.95, 2.045229642132703),
            (29.0, 0.99, 2.756385903670605),
            (29.0, 0.999999, 6.170056101408302),
            (99.0, 0.5, 0.6769759855461531),
            (99.0, 0.9, 1.660391156016991),
            (99.0, 0.95, 1.9842169515864174),
            (99.0, 0.99, 2.626405457280827),
            (99.0, 0.999999, 5.217164206642669),
            (1000.0, 0.5, 0.6747351646070093),
            (1000.0, 0.9, 1.646378817285465),
            (1000.0, 0.95, 1.9623390808264083),
            (1000.0, 0.99, 2.580754698065951),
            (1000.0, 0.999999, 4.922289523423825),
            (1999.0, 0.5, 0.6746124989153225),
            (1999.0, 0.9, 1.6456162481872627),
            (1999.0, 0.95, 1.9611514201705613),
            (1999.0, 0.99, 2.5782910195219233),
            (1999.0, 0.999999, 4.906930031990597),
            (2000.0, 0.5, 0.6746124375310217),
            (2000.0, 0.9, 1.6456158666989078),
            (2000.0, 0.95, 1.9611508260994377),
            (2000.0, 0.99, 2.5782897875575186),
            (2000.0, 0.999999, 4.906922365426913),
            (100000.0, 0.5, 0.674492203553292),
            (100000.0, 0.9, 1.6448688647849703),
            (100000.0, 0.95, 1.9599877075346095),
            (100000.0, 0.99, 2.575878469908375),
            (100000.0, 0.999999, 4.891943340709452),
            (1000000000.0, 0.5, 0.6744897504414163),
            (1000000000.0, 0.9, 1.6448536284752415),
            (1000000000.0, 0.95, 1.959963986912325),
            (1000000000.0, 0.99, 2.5758293084654484),
            (1000000000.0, 0.999999, 4.891638506177778),
        ];
        for (df, c, want) in cases {
            let got = t_critical(c, df);
            assert!(
                (got - want).abs() < 1e-11 * want,
                "df {df}, c {c}: {got} vs {want}"
            );
        }
    }
}
