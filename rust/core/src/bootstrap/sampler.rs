//! Resampling machinery: one RNG per block of resamples, and the exact multinomial draw.

use rand::Rng;
use rand_distr::{Binomial, Distribution};
use rand_pcg::Pcg64;
use rayon::prelude::*;

use super::Degenerate;
use crate::cancel;
use crate::streams::block_rng;

/// Resamples per RNG block. Part of the reproducibility contract: changing it changes every
/// bootstrap result for a given seed.
pub const BLOCK_SIZE: usize = 256;

/// Largest total count accepted. Up to 2^53 every count is exact as the f64 the statistic
/// receives, and the binomial sampler works far from its integer limits.
pub const MAX_TOTAL: u64 = 1 << 53;

/// Exact sampler of Multinomial(n, counts / n), which is the law of the category counts of n
/// rows drawn with replacement from the observed rows.
///
/// Draws it as a chain of conditional binomials: X_j ~ Bin(n − X_1 − … − X_{j−1},
/// c_j / (c_j + … + c_k)), the last non-empty category taking the remainder. O(k) per draw
/// whatever n is (the binomial sampler is O(1) expected time).
#[derive(Clone, Debug)]
pub struct Multinomial {
    total: u64,
    /// (category, conditional probability) for every non-empty category but the last.
    steps: Vec<(usize, f64)>,
    /// The last non-empty category (None when n = 0): it takes the draws that are left.
    last: Option<usize>,
}

impl Multinomial {
    /// Err(TooLarge) for n > [`MAX_TOTAL`] (including sums beyond u64). n = 0 is accepted: its
    /// only draw is the empty histogram.
    pub fn new(counts: &[u64]) -> Result<Self, Degenerate> {
        let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
        if total > u128::from(MAX_TOTAL) {
            return Err(Degenerate::TooLarge);
        }
        let total = total as u64;
        let nonzero: Vec<usize> = (0..counts.len()).filter(|&j| counts[j] > 0).collect();
        let (last, rest) = match nonzero.split_last() {
            Some((&last, rest)) => (Some(last), rest),
            None => (None, &[][..]),
        };
        let mut remaining = total;
        let steps = rest
            .iter()
            .map(|&j| {
                // Both operands are exact in f64 (≤ 2^53), so p is the correctly rounded ratio.
                let p = counts[j] as f64 / remaining as f64;
                remaining -= counts[j];
                (j, p)
            })
            .collect();
        Ok(Multinomial { total, steps, last })
    }

    /// Why the bootstrap is degenerate: Empty for n = 0, otherwise why every draw equals the
    /// observed counts, if it does.
    pub fn degenerate(&self) -> Option<Degenerate> {
        if self.total == 0 {
            Some(Degenerate::Empty)
        } else if self.total == 1 {
            Some(Degenerate::SingleResponse)
        } else if self.steps.is_empty() {
            Some(Degenerate::SingleCategory)
        } else {
            None
        }
    }

    /// Writes one draw into `out` (length ≥ the number of categories) as f64 counts.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f64]) {
        out.fill(0.0);
        let mut left = self.total;
        for &(j, p) in &self.steps {
            if left == 0 {
                return;
            }
            // p is in (0, 1) by construction, so `new` cannot fail; if it ever did, giving the
            // category everything left keeps the draw a valid count vector instead of panicking.
            let x = match Binomial::new(left, p) {
                Ok(bin) => bin.sample(rng).min(left),
                Err(_) => left,
            };
            out[j] = x as f64;
            left -= x;
        }
        if let Some(j) = self.last {
            out[j] = left as f64;
        }
    }
}

/// Fills `n_resamples` values, block b (resamples b·BLOCK_SIZE ..) from `block_rng(seed, stream,
/// b)`, blocks in parallel. `one` computes a resampled statistic from the block RNG and a
/// scratch buffer of `scratch_len` values.
pub fn generate<F>(
    n_resamples: usize,
    seed: u64,
    stream: u64,
    scratch_len: usize,
    one: F,
) -> Vec<f64>
where
    F: Fn(&mut Pcg64, &mut [f64]) -> f64 + Sync,
{
    let mut out = vec![0.0; n_resamples];
    out.par_chunks_mut(BLOCK_SIZE).enumerate().for_each_init(
        || vec![0.0; scratch_len],
        |scratch, (block, chunk)| {
            let mut rng = block_rng(seed, stream, block as u64);
            for value in chunk {
                // A cancelled call discards its result: skip the remaining resamples.
                *value = if cancel::requested() {
                    f64::NAN
                } else {
                    one(&mut rng, scratch)
                };
            }
        },
    );
    out
}
