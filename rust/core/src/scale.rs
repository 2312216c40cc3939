//! Integer rating scales and the mapping from a score value to its code (position on the scale).

use crate::error::{CoreError, Result};

/// Largest number of points a scale may have; keeps per-segment histograms small.
pub const MAX_POINTS: i64 = 1001;

/// An inclusive integer scale `low..=high`, e.g. 0–10 for NPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scale {
    /// Lowest score on the scale.
    pub low: i64,
    /// Highest score on the scale.
    pub high: i64,
}

impl Scale {
    /// The scale `low..=high` (low < high, at most [`MAX_POINTS`] points).
    pub fn new(low: i64, high: i64) -> Result<Self> {
        if high < low {
            return Err(CoreError::InvalidArgument(format!(
                "scale high ({high}) is below low ({low})"
            )));
        }
        if high.checked_sub(low).is_none_or(|d| d >= MAX_POINTS) {
            return Err(CoreError::InvalidArgument(format!(
                "scale {low}..{high} has more than {MAX_POINTS} points"
            )));
        }
        Ok(Self { low, high })
    }

    /// Number of points on the scale (k).
    pub fn points(&self) -> usize {
        (self.high - self.low + 1) as usize
    }

    /// The score value at code `c`.
    pub fn value(&self, code: usize) -> i64 {
        self.low + code as i64
    }

    /// Codes of the inclusive value range `lo..=hi`, clipped to the scale.
    pub fn codes(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        let lo = lo.max(self.low);
        let hi = hi.min(self.high);
        if hi < lo {
            return 0..0;
        }
        (lo - self.low) as usize..(hi - self.low + 1) as usize
    }
}

/// Converts one score value to its code: `0..k` on the scale, or `k + 1` when invalid.
/// (`k` itself is reserved for a missing value; see `tally`.)
pub trait ScoreValue: Copy + Send + Sync {
    /// The code of this value on the scale starting at `low` with `points` points.
    fn code(self, low: i64, points: u64) -> u64;
    /// The value as an error message shows it.
    fn describe(self) -> String;
}

macro_rules! signed_score {
    ($($t:ty),*) => {$(
        impl ScoreValue for $t {
            #[inline(always)]
            fn code(self, low: i64, points: u64) -> u64 {
                // i128 so that no difference of two i64 can overflow.
                let c = self as i128 - low as i128;
                if c >= 0 && c < points as i128 { c as u64 } else { points + 1 }
            }
            fn describe(self) -> String { self.to_string() }
        }
    )*};
}
signed_score!(i64, u64);

macro_rules! narrow_score {
    ($($t:ty),*) => {$(
        impl ScoreValue for $t {
            #[inline(always)]
            fn code(self, low: i64, points: u64) -> u64 {
                // The difference of a 32-bit value and an i64 lies in (-2^63 - 2^31, 2^63 + 2^32),
                // so its wrapped u64 is below `points` (at most MAX_POINTS) exactly when the
                // difference is in 0..points: one subtract and one compare per row instead of
                // 128-bit arithmetic.
                let c = (self as i64).wrapping_sub(low) as u64;
                if c < points { c } else { points + 1 }
            }
            fn describe(self) -> String { self.to_string() }
        }
    )*};
}
narrow_score!(i8, i16, i32, u8, u16, u32);

macro_rules! float_score {
    ($($t:ty),*) => {$(
        impl ScoreValue for $t {
            #[inline(always)]
            fn code(self, low: i64, points: u64) -> u64 {
                let c = self as f64 - low as f64;
                // NaN fails every comparison; fractions fail the trunc test.
                if c >= 0.0 && c < points as f64 && c == c.trunc() { c as u64 } else { points + 1 }
            }
            fn describe(self) -> String { self.to_string() }
        }
    )*};
}
float_score!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_codes_equal_the_wide_arithmetic_at_the_extremes() {
        let wide = |v: i64, low: i64, points: u64| {
            let c = v as i128 - low as i128;
            if c >= 0 && c < points as i128 {
                c as u64
            } else {
                points + 1
            }
        };
        let lows = [
            i64::MIN,
            i64::MIN + 1,
            -(1 << 32),
            -129,
            -1,
            0,
            1,
            255,
            1 << 32,
            i64::MAX - 1000,
            i64::MAX,
        ];
        for &low in &lows {
            for points in [2u64, 11, MAX_POINTS as u64] {
                for v in [
                    i32::MIN as i64,
                    -129,
                    -128,
                    -1,
                    0,
                    5,
                    10,
                    127,
                    255,
                    i32::MAX as i64,
                ] {
                    // Each narrow type's code of v (cast into it) against the i128 arithmetic.
                    macro_rules! same_as_wide {
                        ($($t:ty),*) => {$(
                            assert_eq!((v as $t).code(low, points), wide(v as $t as i64, low, points));
                        )*};
                    }
                    same_as_wide!(i8, i16, i32, u8, u16, u32);
                }
            }
        }
    }

    #[test]
    fn codes_and_validity() {
        let s = Scale::new(0, 10).unwrap();
        assert_eq!(s.points(), 11);
        assert_eq!(5i8.code(0, 11), 5);
        assert_eq!((-1i8).code(0, 11), 12);
        assert_eq!(11u64.code(0, 11), 12);
        assert_eq!(u64::MAX.code(-1, 11), 12);
        assert_eq!(7.0f64.code(0, 11), 7);
        assert_eq!(7.5f64.code(0, 11), 12);
        assert_eq!(f64::NAN.code(0, 11), 12);
        assert_eq!(f64::INFINITY.code(0, 11), 12);
        assert_eq!(3.0f32.code(1, 5), 2);
        assert_eq!(s.codes(9, 10), 9..11);
        assert_eq!(s.codes(-5, 6), 0..7);
    }

    #[test]
    fn bad_scales() {
        assert!(Scale::new(5, 1).is_err());
        assert!(Scale::new(0, 5000).is_err());
        assert!(Scale::new(i64::MIN, i64::MAX).is_err());
    }
}
