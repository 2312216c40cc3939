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
use crate::exact_sum::{weight_in_range, Window};

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
    /// Eight independent lanes, so that the loop vectorises instead of waiting on each compare.
    fn scan(values: &[f64]) -> (u64, Self) {
        const LANES: usize = 8;
        let mut bad = [0u64; LANES];
        let mut low = [f64::INFINITY; LANES];
        let mut high = [0.0f64; LANES];
        // Pad the tail with zeros (in range, not positive, not above the maximum): one loop.
        let mut tail = [0.0f64; LANES];
        let chunks = values.chunks_exact(LANES);
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        for chunk in chunks.chain(std::iter::once(&tail[..])) {
            for j in 0..LANES {
                let v = chunk[j];
                bad[j] += !weight_in_range(v) as u64;
                let positive = if v > 0.0 { v } else { f64::INFINITY };
                low[j] = if positive < low[j] { positive } else { low[j] };
                high[j] = if v > high[j] { v } else { high[j] };
            }
        }
        let min_positive = low.iter().copied().fold(f64::INFINITY, f64::min);
        let range = Self {
            min_positive: if min_positive.is_finite() {
                min_positive
            } else {
                0.0
            },
            max: high.iter().copied().fold(0.0, f64::max),
        };
        (bad.iter().sum(), range)
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
