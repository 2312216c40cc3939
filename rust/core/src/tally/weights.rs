//! Weight checks: every weight must be zero or within [`MIN_WEIGHT`, `MAX_WEIGHT`] (so weight
//! sums are exact, see `exact_sum`), never null, NaN or infinite; and the range scan that lets
//! the kernel sum in a 128-bit window. Uses `exact_sum` and the crate's errors.
//!
//! [`MIN_WEIGHT`]: crate::exact_sum::MIN_WEIGHT
//! [`MAX_WEIGHT`]: crate::exact_sum::MAX_WEIGHT

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use rayon::prelude::*;

use super::kernel::MIN_ROWS_PER_TASK;
use crate::error::{CoreError, Result, Role};
use crate::exact_sum::{weight_in_range, Window, MAX_WEIGHT, MIN_WEIGHT};

/// Bad weights of a chunk: how many, the first one's index, and its value.
pub(crate) type BadWeights = Option<(u64, usize, String)>;

/// The smallest positive and the largest weight of a chunk (0 and 0 when none is positive).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WeightRange {
    min_positive: f64,
    max: f64,
}

impl WeightRange {
    /// One pass over valid weights: how many are out of range, and the range of the others.
    ///
    /// The pass keeps only minima, a maximum and a NaN probe (a few vector instructions per
    /// eight values, in independent lanes); it counts bad weights in a second pass only when
    /// those show that some exist, which an update then rejects anyway.
    fn scan(values: &[f64]) -> (u64, Self) {
        const LANES: usize = 8;
        let mut low_positive = [f64::INFINITY; LANES];
        let mut low = [f64::INFINITY; LANES];
        let mut high = [0.0f64; LANES];
        // v − v is 0 for a finite v and NaN for NaN or ±inf: the sum is NaN if any was.
        let mut probe = [0.0f64; LANES];
        // Pad the tail with zeros (in range, not positive, not above the maximum): one loop.
        let mut tail = [0.0f64; LANES];
        let chunks = values.chunks_exact(LANES);
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        for chunk in chunks.chain(std::iter::once(&tail[..])) {
            #[allow(clippy::eq_op)] // v − v on purpose: the NaN probe above
            for j in 0..LANES {
                let v = chunk[j];
                let positive = if v > 0.0 { v } else { f64::INFINITY };
                low_positive[j] = if positive < low_positive[j] {
                    positive
                } else {
                    low_positive[j]
                };
                low[j] = if v < low[j] { v } else { low[j] };
                high[j] = if v > high[j] { v } else { high[j] };
                probe[j] += v - v;
            }
        }
        let min_positive = low_positive.iter().copied().fold(f64::INFINITY, f64::min);
        let range = Self {
            min_positive: if min_positive.is_finite() {
                min_positive
            } else {
                0.0
            },
            max: high.iter().copied().fold(0.0, f64::max),
        };
        // All in range exactly when none is NaN or infinite, none negative, no positive one
        // below the minimum and none at or above the maximum (-0.0 counts as zero, as in
        // `weight_in_range`).
        let suspect = probe.iter().any(|p| p.is_nan())
            || low.iter().any(|&v| v < 0.0)
            || (min_positive.is_finite() && min_positive < MIN_WEIGHT)
            || range.max >= MAX_WEIGHT;
        let bad = if suspect {
            values.iter().filter(|&&v| !weight_in_range(v)).count() as u64
        } else {
            0
        };
        (bad, range)
    }

    /// The range of two sets of weights together.
    fn union(self, other: Self) -> Self {
        let min_positive = match (self.min_positive > 0.0, other.min_positive > 0.0) {
            (true, true) => self.min_positive.min(other.min_positive),
            (true, false) => self.min_positive,
            _ => other.min_positive,
        };
        Self {
            min_positive,
            max: self.max.max(other.max),
        }
    }

    /// Windows for the sums of `rows` such weights and of their squares, if both fit.
    pub(crate) fn windows(&self, rows: usize) -> Option<(Window, Window)> {
        let (lo, hi) = (self.min_positive, self.max);
        Some((
            Window::for_range(lo, hi, rows)?,
            Window::for_range(lo * lo, hi * hi, rows)?,
        ))
    }
}

/// Checks and widens one weight chunk to f64: no nulls, NaN, infinities, or values outside
/// zero and [`crate::exact_sum::MIN_WEIGHT`, `crate::exact_sum::MAX_WEIGHT`).
pub(crate) fn check_weights(weight: &ArrayRef) -> Result<(ArrayRef, BadWeights, WeightRange)> {
    let wide = match weight.data_type() {
        DataType::Float64 => weight.clone(),
        t if t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => {
            arrow_cast::cast(weight, &DataType::Float64)?
        }
        DataType::Null => arrow_cast::cast(weight, &DataType::Float64)?,
        other => {
            return Err(CoreError::UnsupportedType {
                role: Role::Weight,
                data_type: other.to_string(),
                why: "weights must be numbers",
            })
        }
    };
    let w = wide.as_primitive::<Float64Type>();
    // In range: zero or 2^-38..2^32, so that weight sums are exact (see `exact_sum`).
    let bad = |i: usize| w.is_null(i) || !weight_in_range(w.value(i));
    let (count, range) = if w.null_count() == 0 && w.len() <= MIN_ROWS_PER_TASK {
        WeightRange::scan(w.values()) // one piece: the pool would cost more than the work
    } else if w.null_count() == 0 {
        // Large chunks are scanned in parallel pieces (the merge is order-free).
        w.values()
            .par_chunks(MIN_ROWS_PER_TASK)
            .map(WeightRange::scan)
            .reduce(
                || (0, WeightRange::default()),
                |(a, x), (b, y)| (a + b, x.union(y)),
            )
    } else {
        let count = (0..w.len()).filter(|&i| bad(i)).count() as u64;
        (count, WeightRange::default())
    };
    let first = (count > 0).then(|| {
        let i = (0..w.len()).find(|&i| bad(i)).expect("count > 0");
        let v = if w.is_null(i) {
            "null".to_string()
        } else {
            w.value(i).to_string()
        };
        (count, i, v)
    });
    Ok((wide, first, range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    /// The scan against a plain count and plain minimum and maximum, on weights mixing every
    /// kind of bad value with good ones at and near the limits, at every length up to 40
    /// (so the eight-lane loop's tail is covered) and at random positions.
    #[test]
    fn the_scan_counts_bad_weights_and_finds_the_range_as_a_plain_loop_does() {
        let specials = [
            0.0,
            -0.0,
            MIN_WEIGHT,
            MIN_WEIGHT / 2.0,
            MAX_WEIGHT,
            MAX_WEIGHT * (1.0 - f64::EPSILON),
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            1.5,
        ];
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        for len in 0..40 {
            for _ in 0..200 {
                let values: Vec<f64> = (0..len)
                    .map(|_| {
                        if rng.random_bool(0.1) {
                            specials[rng.random_range(0..specials.len())]
                        } else {
                            rng.random_range(0.25..4.0)
                        }
                    })
                    .collect();
                let (bad, range) = WeightRange::scan(&values);
                let plain_bad = values.iter().filter(|&&v| !weight_in_range(v)).count();
                assert_eq!(bad, plain_bad as u64, "{values:?}");
                if plain_bad == 0 {
                    let positive = values.iter().copied().filter(|&v| v > 0.0);
                    let min = positive.clone().fold(f64::INFINITY, f64::min);
                    let max = values.iter().copied().fold(0.0, f64::max);
                    assert_eq!(range.min_positive, if min.is_finite() { min } else { 0.0 });
                    assert_eq!(range.max, max, "{values:?}");
                }
            }
        }
    }
}
