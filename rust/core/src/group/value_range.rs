//! The smallest and largest value of an integer key column, which decide whether its rows are
//! grouped by offset. It runs before every grouping of an integer or date key, so it has to
//! cost little next to the tally: the values are folded in lanes of independent minima and
//! maxima in the column's own width, which vectorise, and the fold is compiled once more for
//! AVX2 when the CPU has it. (One i64 pair of accumulators is a chain of dependent selects:
//! about a fifth of a small-range key's whole grouping time, 1M rows.)

use arrow_buffer::BooleanBuffer;

/// The native widths of the integer and temporal key types.
pub(super) trait RangeNative: Copy + Ord + Into<i64> + Send + Sync {
    const LOWEST: Self;
    const HIGHEST: Self;
}

impl RangeNative for i32 {
    const LOWEST: Self = i32::MIN;
    const HIGHEST: Self = i32::MAX;
}

impl RangeNative for i64 {
    const LOWEST: Self = i64::MIN;
    const HIGHEST: Self = i64::MAX;
}

/// Independent accumulators: enough to fill two AVX2 registers of i32 (or four of i64).
const LANES: usize = 16;

/// (smallest, largest) of `values`, or (i64::MAX, i64::MIN) when there are none.
pub(super) fn block_range<N: RangeNative>(values: &[N]) -> (i64, i64) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { block_range_avx2(values) };
        }
    }
    fold_lanes(values)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_range_avx2<N: RangeNative>(values: &[N]) -> (i64, i64) {
    fold_lanes(values)
}

/// (smallest, largest) of the values whose bit in `valid` (as long as `values`) is set, or
/// (i64::MAX, i64::MIN) when there are none. A null's value is replaced by the fold's identity
/// through a select, one 64-row word of validity bits at a time, into eight independent lanes:
/// no chain of dependent selects, though the compiler keeps these lanes scalar (about three
/// times the cost of [`block_range`], half that of a bit test per row).
pub(super) fn block_range_valid<N: RangeNative>(values: &[N], valid: &BooleanBuffer) -> (i64, i64) {
    debug_assert_eq!(values.len(), valid.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { block_range_valid_avx2(values, valid) };
        }
    }
    fold_valid_lanes(values, valid)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_range_valid_avx2<N: RangeNative>(
    values: &[N],
    valid: &BooleanBuffer,
) -> (i64, i64) {
    fold_valid_lanes(values, valid)
}

#[inline(always)]
fn fold_valid_lanes<N: RangeNative>(values: &[N], valid: &BooleanBuffer) -> (i64, i64) {
    // Eight lanes, each fed one row of every eight: a byte of validity bits masks one group.
    let mut lo = [N::HIGHEST; 8];
    let mut hi = [N::LOWEST; 8];
    let mut any = 0u64;
    let bits = valid.bit_chunks();
    let mut words = values.chunks_exact(64);
    for (word, w) in (&mut words).zip(bits.iter()) {
        let word: &[N; 64] = word.try_into().expect("64 values");
        any |= w;
        for g in 0..8 {
            let byte = (w >> (8 * g)) as u32 & 0xFF;
            for k in 0..8 {
                let keep = byte & (1 << k) != 0;
                let v = word[8 * g + k];
                lo[k] = lo[k].min(if keep { v } else { N::HIGHEST });
                hi[k] = hi[k].max(if keep { v } else { N::LOWEST });
            }
        }
    }
    let rest = bits.remainder_bits();
    any |= rest;
    for (k, &v) in words.remainder().iter().enumerate() {
        if rest & (1 << k) != 0 {
            lo[0] = lo[0].min(v);
            hi[0] = hi[0].max(v);
        }
    }
    if any == 0 {
        return (i64::MAX, i64::MIN);
    }
    let lo = lo.into_iter().min().expect("lanes");
    let hi = hi.into_iter().max().expect("lanes");
    (lo.into(), hi.into())
}

#[inline(always)]
fn fold_lanes<N: RangeNative>(values: &[N]) -> (i64, i64) {
    if values.is_empty() {
        return (i64::MAX, i64::MIN);
    }
    let mut lo = [N::HIGHEST; LANES];
    let mut hi = [N::LOWEST; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for k in 0..LANES {
            lo[k] = lo[k].min(chunk[k]);
            hi[k] = hi[k].max(chunk[k]);
        }
    }
    for (k, &v) in chunks.remainder().iter().enumerate() {
        lo[k] = lo[k].min(v);
        hi[k] = hi[k].max(v);
    }
    let lo = lo.into_iter().min().expect("lanes");
    let hi = hi.into_iter().max().expect("lanes");
    (lo.into(), hi.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::splitmix64;

    /// Test values with every bit pattern: the crate's splitmix64 over a counter.
    fn values_from(mut counter: u64) -> impl FnMut() -> u64 {
        move || {
            counter += 1;
            splitmix64(counter)
        }
    }

    /// Every length around the lane count, the extremes anywhere: the same as a plain fold.
    #[test]
    fn matches_a_plain_fold() {
        let mut next = values_from(1 << 40);
        for len in 0..70 {
            let wide: Vec<i64> = (0..len).map(|_| next() as i64 >> (next() % 60)).collect();
            let narrow: Vec<i32> = wide.iter().map(|&v| v as i32).collect();
            let plain = |v: &[i64]| {
                v.iter()
                    .fold((i64::MAX, i64::MIN), |(l, h), &x| (l.min(x), h.max(x)))
            };
            assert_eq!(block_range(&wide), plain(&wide));
            assert_eq!(fold_lanes(&wide), plain(&wide));
            let narrow_wide: Vec<i64> = narrow.iter().map(|&v| i64::from(v)).collect();
            assert_eq!(block_range(&narrow), plain(&narrow_wide));
            assert_eq!(fold_lanes(&narrow), plain(&narrow_wide));
        }
        assert_eq!(
            block_range(&[i32::MIN, i32::MAX]),
            (-(1 << 31), (1 << 31) - 1)
        );
        assert_eq!(block_range(&[i64::MIN]), (i64::MIN, i64::MIN));
    }

    /// With validity bits at any offset (sliced), nulls anywhere, none or all valid: the same as
    /// a plain fold over the valid values.
    #[test]
    fn with_nulls_matches_a_plain_fold() {
        let mut next = values_from(2 << 40);
        for len in 0..200 {
            for offset in [0usize, 3, 64] {
                let wide: Vec<i64> = (0..len).map(|_| next() as i64 >> (next() % 60)).collect();
                let share = next() % 4; // 0: all null, 3: all valid
                let bits: Vec<bool> = (0..len + offset)
                    .map(|_| share == 3 || (share > 0 && next() % 3 < share))
                    .collect();
                let valid = BooleanBuffer::from(bits.as_slice()).slice(offset, len);
                let plain = |v: &[i64]| {
                    v.iter()
                        .zip(valid.iter())
                        .filter(|(_, ok)| *ok)
                        .fold((i64::MAX, i64::MIN), |(l, h), (&x, _)| (l.min(x), h.max(x)))
                };
                assert_eq!(block_range_valid(&wide, &valid), plain(&wide));
                assert_eq!(fold_valid_lanes(&wide, &valid), plain(&wide));
                let narrow: Vec<i32> = wide.iter().map(|&v| v as i32).collect();
                let narrow_wide: Vec<i64> = narrow.iter().map(|&v| i64::from(v)).collect();
                assert_eq!(block_range_valid(&narrow, &valid), plain(&narrow_wide));
                assert_eq!(fold_valid_lanes(&narrow, &valid), plain(&narrow_wide));
            }
        }
    }
}
