//! The difference of one metric between two independent groups (segments, periods, data sets):
//! a Wald interval, Newcombe's hybrid score interval (MOVER) for shares and NPS, and the exact
//! histogram bootstrap of the difference; the test of "no difference" is the pooled score-type
//! z-test (the variance under H0 from both groups pooled) or the Wald z-test.

use crate::bootstrap::{bootstrap_difference, BootstrapSpec};
use crate::error::{CoreError, Result};
use crate::estimate::{tango_interval, wilson};
use crate::metric::{Kind, MetricSpec};
use crate::quantile::{check_confidence, normal_cdf, z_critical};

#[derive(Clone, Copy, Debug)]
/// How the interval of a difference a − b is made.
pub enum DiffMethod {
    /// Wald: difference ± z · √(se_a² + se_b²).
    Wald,
    /// Newcombe's hybrid score interval from each side's Wilson interval (Newcombe 1998).
    Newcombe,
    /// The exact histogram bootstrap, resampling both sides independently.
    Bootstrap(BootstrapSpec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// How the p-value of "no difference" is computed.
pub enum TestMethod {
    /// Score-type z-test: (a − b) over the se it has under H0, when both groups answer alike,
    /// estimated from the two groups pooled (the score test of two proportions; for NPS the
    /// three-category pooled variance; for a mean the pooled variance).
    Pooled,
    /// Wald z-test: (a − b) / √(se_a² + se_b²), each side's variance estimated on its own.
    Wald,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Which differences the test's p-value counts as evidence.
pub enum Alternative {
    /// a ≠ b: P(|Z| ≥ |z|).
    TwoSided,
    /// a > b: P(Z ≥ z).
    Greater,
    /// a < b: P(Z ≤ z).
    Less,
}

/// One group's summary as a result reports it: per-point row counts, value, se, Kish's n.
pub struct Side<'a> {
    /// Row counts per scale point.
    pub counts: &'a [u64],
    /// The metric's value.
    pub value: f64,
    /// Its standard error.
    pub se: f64,
    /// Kish's effective sample size.
    pub effective_n: f64,
    /// Whether the side is weighted.
    pub weighted: bool,
}

/// a − b with its interval and the two-sided z-test of "no difference".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    /// a − b.
    pub value: f64,
    /// Standard error of a − b.
    pub se: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// The z statistic of "no difference" (of the requested [`TestMethod`]).
    pub z: f64,
    /// Its p-value (two-sided, or one-sided as asked).
    pub p_value: f64,
    /// Why the interval is degenerate or not the requested method, if it is.
    pub note: Option<&'static str>,
}

/// Compares two groups on `spec`: a − b with its interval (`method`, always two-sided) and the
/// test of no difference (`test`, against `alternative`); `stream` seeds a bootstrap.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    spec: &MetricSpec,
    a: &Side<'_>,
    b: &Side<'_>,
    method: DiffMethod,
    test: TestMethod,
    alternative: Alternative,
    confidence: f64,
    stream: u64,
) -> Result<Difference> {
    let confidence = check_confidence(confidence)?;
    let z_crit = z_critical(confidence);
    let (lo, hi) = spec.bounds();
    let span = hi - lo;
    let value = a.value - b.value;
    let se = (a.se * a.se + b.se * b.se).sqrt();
    let z = match test {
        TestMethod::Wald => value / se,
        TestMethod::Pooled => value / pooled_se(spec, a, b),
    };
    // Φ(−|z|) rather than 1 − Φ(|z|): no cancellation for tiny p-values.
    let p_value = match alternative {
        _ if z.is_nan() => f64::NAN,
        Alternative::TwoSided => 2.0 * normal_cdf(-z.abs()),
        Alternative::Greater => normal_cdf(-z),
        Alternative::Less => normal_cdf(z),
    };
    let mut out = Difference {
        value,
        se,
        low: (value - z_crit * se).clamp(-span, span),
        high: (value + z_crit * se).clamp(-span, span),
        z,
        p_value,
        note: None,
    };
    match method {
        DiffMethod::Wald => {}
        DiffMethod::Newcombe => {
            let (la, ua) = single_score_interval(spec, a, z_crit)?;
            let (lb, ub) = single_score_interval(spec, b, z_crit)?;
            // MOVER: recover each side's variance from its own score interval.
            out.low = value - ((a.value - la).powi(2) + (ub - b.value).powi(2)).sqrt();
            out.high = value + ((ua - a.value).powi(2) + (b.value - lb).powi(2)).sqrt();
        }
        DiffMethod::Bootstrap(boot) => {
            if a.weighted || b.weighted {
                return Err(CoreError::InvalidArgument(
                    "bootstrap comparisons of weighted results are not supported yet".into(),
                ));
            }
            let statistic = |mass: &[f64]| spec.reduced_statistic(mass);
            let interval = bootstrap_difference(
                &spec.reduced_counts(a.counts),
                &spec.reduced_counts(b.counts),
                &statistic,
                &BootstrapSpec { confidence, ..boot },
                stream,
            );
            out.low = interval.low.clamp(-span, span);
            out.high = interval.high.clamp(-span, span);
            out.note = interval.degenerate.map(|d| d.message());
        }
    }
    // The pooled test's se is not the interval's, so near the boundary they can disagree;
    // say so rather than leave a p below 1 − confidence beside an interval holding 0.
    let rejects = out.p_value < 1.0 - confidence;
    let excludes = out.low > 0.0 || out.high < 0.0;
    let comparable = alternative == Alternative::TwoSided && !out.p_value.is_nan();
    if out.note.is_none() && comparable && !out.low.is_nan() && rejects != excludes {
        out.note = Some(match test {
            TestMethod::Pooled => {
                "borderline: the test of no difference and the interval disagree about 0 at \
                 this level (the test uses the variance under no difference, the interval \
                 each group's own)"
            }
            TestMethod::Wald => {
                "borderline: the z-test and the interval disagree about 0 at this level"
            }
        });
    }
    Ok(out)
}

/// The se of a − b under H0 (both groups answer alike): the per-response variance of the two
/// groups pooled, × (1/n_a + 1/n_b), on effective n's. NaN when a side has no responses.
pub fn pooled_se(spec: &MetricSpec, a: &Side<'_>, b: &Side<'_>) -> f64 {
    let (Some((mean_a, second_a, n_a)), Some((mean_b, second_b, n_b))) =
        (moments(spec, a), moments(spec, b))
    else {
        return f64::NAN;
    };
    let n = n_a + n_b;
    let mean = (n_a * mean_a + n_b * mean_b) / n;
    let second = (n_a * second_a + n_b * second_b) / n;
    let mut variance = (second - mean * mean).max(0.0);
    if matches!(spec.kind, Kind::Mean) {
        // As a side's own se: Bessel's correction, here on the pooled n.
        variance *= n / (n - 1.0);
    }
    (variance * (1.0 / n_a + 1.0 / n_b)).sqrt()
}

/// A side's per-response mean and second moment (metric units) and its effective n.
///
/// Unweighted: from the counts (a response scores ±100 or 0 for a net score, 100 or 0 for a
/// share, its scale value for a mean). Weighted: the weighted value, and the per-response
/// variance its own se implies at Kish's effective n (the se is √(v / n_eff); Bessel-corrected
/// for a mean), so the pooled variance uses the effective n throughout.
fn moments(spec: &MetricSpec, side: &Side<'_>) -> Option<(f64, f64, f64)> {
    let n = side.effective_n;
    if n.is_nan() || n <= 0.0 || side.value.is_nan() {
        return None;
    }
    if side.weighted {
        let v = side.se
            * side.se
            * if matches!(spec.kind, Kind::Mean) {
                n - 1.0
            } else {
                n
            };
        return Some((side.value, v + side.value * side.value, n));
    }
    let reduced = spec.reduced_counts(side.counts);
    let score = |c: usize| match spec.kind {
        Kind::Net { .. } => 100.0 * (c as f64 - 1.0),
        Kind::Share { .. } => 100.0 * c as f64,
        Kind::Mean => spec.scale.value(c) as f64,
    };
    let total: f64 = reduced.iter().map(|&k| k as f64).sum();
    if total <= 0.0 {
        return None;
    }
    let (mut first, mut second) = (0.0, 0.0);
    for (c, &k) in reduced.iter().enumerate() {
        let (x, k) = (score(c), k as f64);
        first += k * x;
        second += k * x * x;
    }
    Some((first / total, second / total, total))
}

/// One group's score interval (Wilson for a share, Tango for a net score), in metric units.
fn single_score_interval(spec: &MetricSpec, side: &Side<'_>, z: f64) -> Result<(f64, f64)> {
    let n = side.effective_n;
    if n.is_nan() || n <= 0.0 || side.value.is_nan() {
        return Ok((f64::NAN, f64::NAN));
    }
    match &spec.kind {
        Kind::Share { .. } => {
            let (l, h) = wilson(side.value / 100.0, n, z);
            Ok((100.0 * l, 100.0 * h))
        }
        Kind::Net { .. } if side.weighted => Err(CoreError::InvalidArgument(
            "the Newcombe (score) difference of weighted NPS is not supported; use 'wald'".into(),
        )),
        Kind::Net { .. } => {
            let buckets = spec.buckets(side.counts);
            let (neg, pos) = (buckets[0] as f64, buckets[2] as f64);
            let (l, h) = tango_interval(pos, neg, n, z);
            Ok((100.0 * l, 100.0 * h))
        }
        Kind::Mean => Err(CoreError::InvalidArgument(
            "the Newcombe (score) difference applies to shares and NPS; use 'wald' or \
             'bootstrap' for means"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::Scale;

    #[test]
    fn newcombe_textbook_example() {
        // Newcombe (1998), example (a): 56/70 vs 48/80 -> difference 0.2, hybrid score
        // interval 0.0524 to 0.3339.
        let spec = MetricSpec::share(Scale::new(0, 1).unwrap(), (1, 1)).unwrap();
        let (ca, cb) = ([14u64, 56], [32u64, 48]);
        let side = |c: &'static [u64; 2], v: f64, n: f64| Side {
            counts: c,
            value: v,
            se: 100.0 * ((v / 100.0) * (1.0 - v / 100.0) / n).sqrt(),
            effective_n: n,
            weighted: false,
        };
        let ca: &'static [u64; 2] = Box::leak(Box::new(ca));
        let cb: &'static [u64; 2] = Box::leak(Box::new(cb));
        let d = compare(
            &spec,
            &side(ca, 80.0, 70.0),
            &side(cb, 60.0, 80.0),
            DiffMethod::Newcombe,
            TestMethod::Pooled,
            Alternative::TwoSided,
            0.95,
            0,
        )
        .unwrap();
        assert!((d.value - 20.0).abs() < 1e-12);
        // The score test of two proportions: 0.2 / √(p̄(1 − p̄)(1/70 + 1/80)), p̄ = 104/150.
        let pooled: f64 = 104.0 / 150.0;
        let z = 0.2 / (pooled * (1.0 - pooled) * (1.0 / 70.0 + 1.0 / 80.0)).sqrt();
        assert!((d.z - z).abs() < 1e-12, "{} vs {z}", d.z);
        assert!((d.low - 5.24).abs() < 0.01, "{}", d.low);
        assert!((d.high - 33.39).abs() < 0.01, "{}", d.high);
        assert!(d.p_value < 0.01 && d.p_value > 0.0);
    }
}
