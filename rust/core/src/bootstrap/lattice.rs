//! The bootstrap of a statistic that lives on an integer lattice: its interval without a sort.
//!
//! Net scores, shares and means of a histogram with a fixed total n depend on a resample's
//! counts only through one integer, L = Σ_j w_j·x_j (promoters − detractors, hits, the sum of
//! the scores), and grow with it. A resample is then kept as its key L, the distribution as a
//! count per key (at most a few thousand distinct keys for 10,000 resamples), and the interval
//! is read off those counts in O(B + keys) instead of sorting B values. The draws are the
//! ones `bootstrap_counts` makes, and the interval is the same, bit for bit.

use super::interval::{interval_from_ordered, Runs};
use super::sampler::fill_block_chunks;
use super::{jackknife_acceleration_at, prepare, BootstrapInterval, BootstrapSpec, Statistic};

/// A statistic of the resampled counts seen through its integer key.
///
/// Contract (checked by the tests of each metric that provides one): for every count vector x
/// with the group's total n, `statistic(x) == value(Σ_j weights[j]·x_j)` bit for bit, and
/// `value` is non-decreasing. The key must fit an i64 for every such x.
pub struct Lattice<'a> {
    /// w_j, one per category of the counts.
    pub weights: &'a [i64],
    /// The statistic at key L (for the group's total).
    pub value: &'a (dyn Fn(i64) -> f64 + Sync),
}

/// Keys spanning at most this many values times the number of resamples are counted in a
/// dense array; a wider spread (huge n) sorts the keys instead.
const DENSE_PER_RESAMPLE: usize = 4;

/// [`bootstrap_counts`](super::bootstrap_counts) for a statistic with a [`Lattice`]: the same
/// draws and the same interval, bit for bit, read from a count per key instead of a sort.
pub fn bootstrap_lattice(
    counts: &[u64],
    statistic: Statistic<'_>,
    lattice: &Lattice<'_>,
    spec: &BootstrapSpec,
    stream: u64,
) -> BootstrapInterval {
    debug_assert_eq!(lattice.weights.len(), counts.len());
    let (sampler, estimate) = match prepare(counts, statistic, spec) {
        Ok(ready) => ready,
        Err(done) => return done,
    };
    let weights = lattice.weights;
    // The same draws as `bootstrap_counts`, summed into the key as they are made.
    let keys = fill_block_chunks(spec.n_resamples, spec.seed, stream, 0i64, |rng, keys| {
        sampler.draw_block_keys(rng, weights, keys)
    });
    let runs = runs_of(keys, lattice.value);
    interval_from_ordered(&runs, estimate, spec.method, spec.confidence, || {
        jackknife_acceleration_at(counts, statistic, estimate)
    })
}

/// The resampled values in ascending order, as runs of equal keys.
fn runs_of(mut keys: Vec<i64>, value: &(dyn Fn(i64) -> f64 + Sync)) -> Runs {
    let mut runs = Runs::default();
    let (Some(&low), Some(&high)) = (keys.iter().min(), keys.iter().max()) else {
        return runs;
    };
    let width = (i128::from(high) - i128::from(low) + 1) as u128;
    if width <= (DENSE_PER_RESAMPLE * keys.len()) as u128 {
        let mut per_key = vec![0usize; width as usize];
        for &k in &keys {
            per_key[(k - low) as usize] += 1;
        }
        for (offset, &c) in per_key.iter().enumerate() {
            if c > 0 {
                runs.push(value(low + offset as i64), c);
            }
        }
    } else {
        keys.sort_unstable();
        for chunk in keys.chunk_by(|a, b| a == b) {
            runs.push(value(chunk[0]), chunk.len());
        }
    }
    runs
}
