//! Bayesian credible intervals: the Dirichlet posterior over the metric's buckets (or scale
//! points, for a mean), sampled in Rust, with an equal-tailed interval of the statistic.
//!
//! Prior: Dirichlet(½, …, ½) — Jeffreys' prior for a share (Beta(½, ½)), whose equal-tailed
//! interval is known for good frequentist coverage; for NPS it is the same symmetric ½ on each
//! of detractors, passives and promoters.

use rand_distr::{Distribution, Gamma};

use crate::bootstrap::{generate, quantile_sorted};

/// Pseudo-count the prior adds to every category.
pub const PRIOR: f64 = 0.5;

/// Equal-tailed credible interval of `statistic` (a function of category masses) under the
/// Dirichlet(counts + PRIOR) posterior, from `n_draws` seeded draws: (low, high, posterior sd).
/// Weighted data pass effective counts (shares × Kish's n_eff), which may be fractional.
pub fn credible_interval(
    counts: &[f64],
    statistic: &(dyn Fn(&[f64]) -> f64 + Sync),
    confidence: f64,
    n_draws: usize,
    seed: u64,
    stream: u64,
) -> (f64, f64, f64) {
    // A cancelled call discards its result: draw nothing.
    if counts.iter().sum::<f64>() <= 0.0 || n_draws < 2 || crate::cancel::requested() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let shapes: Vec<Option<Gamma<f64>>> = counts
        .iter()
        .map(|&c| Gamma::new(c + PRIOR, 1.0).ok())
        .collect();
    // A distinct stream space from the bootstrap's, so the two never share draws.
    let stream = stream ^ 0xba7e_5000_0000_0000;
    let mut draws = generate(n_draws, seed, stream, counts.len(), |rng, buf| {
        for (slot, gamma) in buf.iter_mut().zip(&shapes) {
            *slot = gamma.as_ref().map_or(0.0, |g| g.sample(rng));
        }
        statistic(buf)
    });
    draws.retain(|x| x.is_finite());
    if draws.len() < 2 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    draws.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    let var = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (draws.len() - 1) as f64;
    (
        quantile_sorted(&draws, alpha / 2.0),
        quantile_sorted(&draws, 1.0 - alpha / 2.0),
        var.sqrt(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(m: &[f64]) -> f64 {
        100.0 * m[1] / (m[0] + m[1])
    }

    #[test]
    fn beta_posterior_matches_exact_quantiles() {
        // Beta(30.5, 70.5): exact 2.5% and 97.5% quantiles (scipy.stats.beta.ppf) 21.684, 39.455, sd 4.546.
        let (lo, hi, sd) = credible_interval(&[70.0, 30.0], &share, 0.95, 200_000, 7, 1);
        assert!((lo - 21.684).abs() < 0.1, "{lo}");
        assert!((hi - 39.455).abs() < 0.1, "{hi}");
        assert!((sd - 4.546).abs() < 0.05, "{sd}");
    }

    #[test]
    fn reproducible_and_empty() {
        let a = credible_interval(&[3.0, 4.0], &share, 0.9, 1000, 1, 2);
        let b = credible_interval(&[3.0, 4.0], &share, 0.9, 1000, 1, 2);
        assert_eq!(a.0.to_bits(), b.0.to_bits());
        assert!(credible_interval(&[0.0, 0.0], &share, 0.9, 1000, 1, 2)
            .0
            .is_nan());
    }
}
