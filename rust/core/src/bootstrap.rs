//! Exact histogram bootstrap: percentile, basic and BCa intervals for any statistic of the
//! category counts.
//!
//! Resampling n rows with replacement only matters through the resampled category counts, and
//! those are exactly Multinomial(n, counts / n). So each resample is one multinomial draw over
//! the k categories (conditional binomials, O(k)), never n uniform draws; the distribution is
//! the same as resampling rows.
//!
//! Reproducibility: resample i belongs to block i / [`BLOCK_SIZE`], and each block draws from its
//! own RNG, [`block_rng`](crate::streams::block_rng)`(seed, stream, block)`. Blocks run in parallel, but a result depends
//! only on (counts, statistic, n_resamples, seed, stream), bit for bit, for any number of threads
//! and any order in which the caller processes segments — provided `stream` is derived from the
//! segment key rather than its position.
//!
//! Interval conventions match scipy.stats.bootstrap (see [`interval`]).

mod interval;
mod lattice;
mod sampler;

#[cfg(test)]
mod profile;
#[cfg(test)]
mod tests;

pub use interval::{interval_from_distribution, quantile_sorted};
pub use lattice::{bootstrap_lattice, Lattice};
pub use sampler::{fill_block_chunks, generate, BLOCK_SIZE, MAX_TOTAL};

use interval::{acceleration, confidence_is_valid, jackknife_terms, nan_interval, point_interval};
use sampler::Multinomial;

use crate::cancel;

/// Most resamples (or posterior draws) one interval may take: each is kept as an f64 until the
/// quantiles are read, so this bounds that buffer at 80 MB per segment. More would not change a
/// reported digit (the Monte Carlo error at 10^7 resamples is far below the interval's width).
pub const MAX_RESAMPLES: u64 = 10_000_000;

/// Resamples of every bootstrap unless the caller says otherwise (Efron & Tibshirani 1993 advise
/// thousands for percentile and BCa limits).
pub const DEFAULT_RESAMPLES: usize = 10_000;

/// Checks a resample count before anything is allocated: 1..=[`MAX_RESAMPLES`].
pub fn check_resamples(n_resamples: u64) -> crate::error::Result<usize> {
    if (1..=MAX_RESAMPLES).contains(&n_resamples) {
        Ok(n_resamples as usize)
    } else {
        Err(crate::error::CoreError::InvalidArgument(format!(
            "n_resamples must be between 1 and {MAX_RESAMPLES}, got {n_resamples}"
        )))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Which bootstrap interval to read off the resampled distribution (as scipy.stats.bootstrap).
pub enum BootstrapMethod {
    /// Quantiles of the bootstrap distribution.
    Percentile,
    /// The percentile interval reflected about the estimate.
    Basic,
    /// Bias-corrected and accelerated (Efron 1987).
    Bca,
}

impl BootstrapMethod {
    /// The names users pass as `bootstrap=`, in the order of the variants.
    pub const NAMES: [&'static str; 3] = ["percentile", "basic", "bca"];

    /// The method called `name`.
    pub fn parse(name: &str) -> crate::error::Result<Self> {
        match name {
            "percentile" => Ok(BootstrapMethod::Percentile),
            "basic" => Ok(BootstrapMethod::Basic),
            "bca" => Ok(BootstrapMethod::Bca),
            other => Err(crate::error::CoreError::InvalidArgument(format!(
                "bootstrap must be one of {:?}, got {other:?}",
                Self::NAMES
            ))),
        }
    }
}

#[derive(Clone, Copy, Debug)]
/// A bootstrap request: how many resamples, which interval, what level, which seed.
pub struct BootstrapSpec {
    /// Number of resamples.
    pub n_resamples: usize,
    /// The interval read off the resamples.
    pub method: BootstrapMethod,
    /// Two-sided confidence level in (0, 1).
    pub confidence: f64,
    /// Seed of the random streams (see `streams::block_rng`).
    pub seed: u64,
}

/// Why an interval collapsed to a point, is undefined, or is not the requested method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Degenerate {
    /// No respondents: bounds and standard error are NaN.
    Empty,
    /// One respondent: every resample equals the data, so low = high = estimate.
    SingleResponse,
    /// All respondents in one category: every resample equals the data, low = high = estimate.
    SingleCategory,
    /// The data vary but the statistic took one value on every resample (it ignores what
    /// varies, or B is tiny): the interval is that value.
    ConstantDistribution,
    /// BCa: the estimate lies below or above every resample (mid-rank proportion 0 or 1), so
    /// z0 is infinite; the percentile interval is returned.
    BcaBiasUndefined,
    /// BCa: the jackknife variance is zero or not finite, so the acceleration is undefined; the
    /// percentile interval is returned.
    BcaAccelerationUndefined,
    /// BCa: an adjusted level is undefined (1 − a(z0 + z) ≤ 0); the percentile interval is
    /// returned.
    BcaLevelsUndefined,
    /// n_resamples = 0: bounds and standard error are NaN.
    NoResamples,
    /// Confidence not in (0, 1): bounds and standard error are NaN.
    InvalidConfidence,
    /// The statistic is NaN or infinite on the data or on some resample: bounds are NaN.
    NonFiniteStatistic,
    /// More than [`MAX_TOTAL`] (2^53) respondents in a group: bounds are NaN.
    TooLarge,
    /// The call was cancelled (Ctrl-C): nothing was drawn, and the caller discards this.
    Cancelled,
}

#[derive(Clone, Copy, Debug)]
/// A bootstrap interval with the statistic it is around.
pub struct BootstrapInterval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// The statistic on the observed counts.
    pub estimate: f64,
    /// Standard deviation (ddof = 1) of the bootstrap distribution.
    pub std_error: f64,
    /// Why the interval collapsed or is undefined, or which fallback BCa took; None normally.
    pub degenerate: Option<Degenerate>,
}

/// The statistic as a trait object: maps a count vector (f64 so the jackknife can use
/// count − 1) to the metric value, NaN when the total is 0.
pub type Statistic<'a> = &'a (dyn Fn(&[f64]) -> f64 + Sync);

fn as_f64(counts: &[u64]) -> Vec<f64> {
    counts.iter().map(|&c| c as f64).collect()
}

/// Bootstrap interval of `statistic` for one group.
///
/// `counts[j]` = how many respondents are in category j (scale values or buckets).
/// `stream` is a per-segment stream id chosen by the caller (derived from the segment key, not
/// its position), so the same seed gives bit-identical results whatever the order of segments
/// or the number of threads.
pub fn bootstrap_counts(
    counts: &[u64],
    statistic: Statistic<'_>,
    spec: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    let (sampler, estimate) = match prepare(counts, statistic, spec) {
        Ok(ready) => ready,
        Err(done) => return done,
    };
    let dist = draw_one(
        &sampler,
        counts.len(),
        statistic,
        spec.n_resamples,
        spec.seed,
        stream,
    );
    interval_from_distribution(dist, estimate, spec.method, spec.confidence, || {
        jackknife_acceleration_at(counts, statistic, estimate)
    })
}

/// The sampler and the estimate of one group, or the interval when there is nothing to draw
/// (no respondents, a bad confidence, a non-finite estimate, a point distribution, a cancel).
fn prepare(
    counts: &[u64],
    statistic: Statistic<'_>,
    spec: &BootstrapSpec,
) -> Result<(Multinomial, f64), BootstrapInterval> {
    let estimate = statistic(&as_f64(counts));
    let sampler = match Multinomial::new(counts) {
        Ok(sampler) => sampler,
        Err(why) => return Err(nan_interval(estimate, why)),
    };
    match sampler.degenerate() {
        Some(Degenerate::Empty) => Err(nan_interval(estimate, Degenerate::Empty)),
        _ if !confidence_is_valid(spec.confidence) => {
            Err(nan_interval(estimate, Degenerate::InvalidConfidence))
        }
        _ if !estimate.is_finite() => Err(nan_interval(estimate, Degenerate::NonFiniteStatistic)),
        // Every resample equals the data: the bootstrap distribution is exactly the point.
        Some(why) => Err(point_interval(estimate, why)),
        None if cancel::requested() => Err(nan_interval(estimate, Degenerate::Cancelled)),
        None => Ok((sampler, estimate)),
    }
}

/// The bootstrap distribution itself: `n_resamples` values of the statistic, in resample
/// order (the values `bootstrap_counts` with the same seed and stream builds its interval on).
pub fn bootstrap_distribution(
    counts: &[u64],
    statistic: Statistic<'_>,
    n_resamples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    match Multinomial::new(counts) {
        Ok(sampler) => draw_one(&sampler, counts.len(), statistic, n_resamples, seed, stream),
        Err(_) => vec![f64::NAN; n_resamples],
    }
}

/// Bootstrap interval of statistic(a) − statistic(b), each group resampled independently (its
/// own multinomial, its own n). The BCa acceleration is the two-sample jackknife of
/// scipy.stats.bootstrap (each group left-one-out in turn, the other held fixed).
pub fn bootstrap_difference(
    counts_a: &[u64],
    counts_b: &[u64],
    statistic: Statistic<'_>,
    spec: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    let stat_a = statistic(&as_f64(counts_a));
    let stat_b = statistic(&as_f64(counts_b));
    let estimate = stat_a - stat_b;
    let (sampler_a, sampler_b) = match (Multinomial::new(counts_a), Multinomial::new(counts_b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(why), _) | (_, Err(why)) => return nan_interval(estimate, why),
    };
    let (why_a, why_b) = (sampler_a.degenerate(), sampler_b.degenerate());
    if why_a == Some(Degenerate::Empty) || why_b == Some(Degenerate::Empty) {
        return nan_interval(estimate, Degenerate::Empty);
    }
    if !confidence_is_valid(spec.confidence) {
        return nan_interval(estimate, Degenerate::InvalidConfidence);
    }
    if !estimate.is_finite() {
        return nan_interval(estimate, Degenerate::NonFiniteStatistic);
    }
    // Both groups resample to themselves: so does the difference.
    match (why_a, why_b) {
        (Some(Degenerate::SingleResponse), Some(Degenerate::SingleResponse)) => {
            return point_interval(estimate, Degenerate::SingleResponse)
        }
        (Some(_), Some(_)) => return point_interval(estimate, Degenerate::SingleCategory),
        _ => {}
    }
    let dist = draw_two(
        (&sampler_a, counts_a.len()),
        (&sampler_b, counts_b.len()),
        statistic,
        spec.n_resamples,
        spec.seed,
        stream,
    );
    interval_from_distribution(dist, estimate, spec.method, spec.confidence, || {
        let (num_a, den_a) = jackknife_terms(counts_a, statistic, stat_a);
        let (num_b, den_b) = jackknife_terms(counts_b, statistic, stat_b);
        // Leaving out a respondent of b moves the difference the opposite way: the cubed
        // deviations change sign, the squared ones do not.
        acceleration(num_a - num_b, den_a + den_b)
    })
}

/// The bootstrap distribution of statistic(a) − statistic(b) that `bootstrap_difference` uses.
/// Within each resample, a's counts are drawn before b's from the block RNG.
pub fn bootstrap_difference_distribution(
    counts_a: &[u64],
    counts_b: &[u64],
    statistic: Statistic<'_>,
    n_resamples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    match (Multinomial::new(counts_a), Multinomial::new(counts_b)) {
        (Ok(a), Ok(b)) => draw_two(
            (&a, counts_a.len()),
            (&b, counts_b.len()),
            statistic,
            n_resamples,
            seed,
            stream,
        ),
        _ => vec![f64::NAN; n_resamples],
    }
}

/// BCa acceleration of `statistic` from the histogram jackknife:
/// a = Σ c_j (θ̄ − θ_(j))³ / (6 (Σ c_j (θ̄ − θ_(j))²)^{3/2}), θ_(j) the statistic with
/// counts[j] − 1 and θ̄ their count-weighted mean. None when the jackknife variance is 0.
pub fn jackknife_acceleration(counts: &[u64], statistic: Statistic<'_>) -> Option<f64> {
    let estimate = statistic(&as_f64(counts));
    jackknife_acceleration_at(counts, statistic, estimate)
}

fn jackknife_acceleration_at(
    counts: &[u64],
    statistic: Statistic<'_>,
    estimate: f64,
) -> Option<f64> {
    let (num, den) = jackknife_terms(counts, statistic, estimate);
    acceleration(num, den)
}

/// An interval from an already drawn bootstrap distribution (e.g. a weighted or Poisson
/// bootstrap built elsewhere), with the same conventions as `bootstrap_counts`. For BCa,
/// `acceleration` None means undefined (percentile fallback); pass Some(0.0) for plain
/// bias-corrected percentiles.
pub fn interval_from_bootstrap(
    distribution: Vec<f64>,
    estimate: f64,
    method: BootstrapMethod,
    confidence: f64,
    acceleration: Option<f64>,
) -> BootstrapInterval {
    interval_from_distribution(distribution, estimate, method, confidence, || acceleration)
}

fn draw_one(
    sampler: &Multinomial,
    k: usize,
    statistic: Statistic<'_>,
    n_resamples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    fill_block_chunks(n_resamples, seed, stream, f64::NAN, |rng, values| {
        let counts = sampler.draw_block(rng, k);
        for (value, resample) in values.iter_mut().zip(counts.chunks_exact(k)) {
            *value = statistic(resample);
        }
    })
}

/// A block's resamples of a, then the same block's resamples of b.
fn draw_two(
    (sampler_a, k_a): (&Multinomial, usize),
    (sampler_b, k_b): (&Multinomial, usize),
    statistic: Statistic<'_>,
    n_resamples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    fill_block_chunks(n_resamples, seed, stream, f64::NAN, |rng, values| {
        let counts_a = sampler_a.draw_block(rng, k_a);
        let counts_b = sampler_b.draw_block(rng, k_b);
        let pairs = counts_a.chunks_exact(k_a).zip(counts_b.chunks_exact(k_b));
        for (value, (a, b)) in values.iter_mut().zip(pairs) {
            *value = statistic(a) - statistic(b);
        }
    })
}

impl Degenerate {
    /// A short explanation for users, carried into results as their `note`.
    pub fn message(&self) -> &'static str {
        match self {
            Degenerate::Empty => "no responses: the interval is undefined",
            Degenerate::SingleResponse => "one response: every resample equals the data",
            Degenerate::SingleCategory => {
                "all responses in one bucket: every resample equals the data"
            }
            Degenerate::ConstantDistribution => "the statistic took one value on every resample",
            Degenerate::BcaBiasUndefined => {
                "BCa bias correction undefined (estimate outside all resamples): percentile used"
            }
            Degenerate::BcaAccelerationUndefined => {
                "BCa acceleration undefined (zero jackknife variance): percentile used"
            }
            Degenerate::BcaLevelsUndefined => "BCa levels undefined: percentile used",
            Degenerate::NoResamples => "no resamples requested",
            Degenerate::InvalidConfidence => "confidence outside (0, 1)",
            Degenerate::NonFiniteStatistic => "the statistic is not finite on some resample",
            Degenerate::TooLarge => "more than 2^53 responses: bootstrap not supported",
            Degenerate::Cancelled => "cancelled (the result is discarded)",
        }
    }
}
