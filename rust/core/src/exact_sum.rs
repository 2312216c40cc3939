//! Exact sums of non-negative floats: the weight sums of every tally.
//!
//! A float sum depends on the order of its terms, so batches merged in another order, or rows
//! split across threads differently, would give weight sums that differ in the last bits. An
//! [`ExactSum`] keeps the sum as a 256-bit integer count of 2^-128: every weight in
//! [`MIN_WEIGHT`, `MAX_WEIGHT`) and its square are exact multiples of 2^-128, so additions never
//! round and the sum is the same whatever the order. It is rounded once, correctly, when read.

/// Smallest positive weight accepted (2^-38 ≈ 3.6e-12): its square is still a multiple of 2^-128.
pub const MIN_WEIGHT: f64 = 1.0 / (1u64 << 38) as f64;
/// Weights must be below this (2^32 ≈ 4.3e9): Σw² of 2^64 rows then fits in 256 bits.
pub const MAX_WEIGHT: f64 = (1u64 << 32) as f64;

const LIMBS: usize = 4;
/// The integer is the sum in units of 2^-GRID.
const GRID: i32 = 128;
const FRACTION_BITS: u64 = (1 << 52) - 1;

/// Whether `w` may be a weight: zero, or in [`MIN_WEIGHT`, `MAX_WEIGHT`).
#[inline]
pub fn weight_in_range(w: f64) -> bool {
    // `|` rather than `||`: no branch, so a loop over weights vectorises.
    (w == 0.0) | (MIN_WEIGHT..MAX_WEIGHT).contains(&w)
}

/// A sum of floats in 2^-76..2^64 (weights and their squares), as an integer of 2^-128 units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExactSum([u64; LIMBS]);

impl ExactSum {
    /// The empty sum.
    pub const ZERO: ExactSum = ExactSum([0; LIMBS]);

    /// A sum from its little-endian 64-bit limbs (as `limbs` returns them).
    pub fn from_limbs(limbs: [u64; LIMBS]) -> Self {
        Self(limbs)
    }
    /// Little-endian 64-bit limbs.
    pub fn limbs(&self) -> [u64; LIMBS] {
        self.0
    }
    /// Whether the sum is zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; LIMBS]
    }

    /// Adds `x`, which is 0 or in [2^-76, 2^64) (a weight in range or its square).
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        self.add_multiple(x, 1);
    }

    /// Adds `m · x` exactly, for `x` as in [`ExactSum::add`] and `m` < 2^10.
    #[inline(always)]
    pub fn add_multiple(&mut self, x: f64, m: u64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 || m == 0 {
            return; // zero (the range excludes subnormals)
        }
        let mantissa = ((bits & FRACTION_BITS) | (1 << 52)) * m;
        // x = mantissa · 2^(biased - 1075); in grid units the mantissa moves up by `at` bits.
        let at = (biased - 1075 + GRID) as u32;
        self.add_shifted(mantissa, at);
    }

    /// Adds `value · 2^at` (value < 2^63, at < 192).
    #[inline(always)]
    fn add_shifted(&mut self, value: u64, at: u32) {
        let limb = (at / 64) as usize;
        let wide = (value as u128) << (at % 64);
        let mut carry = self.add_limb(limb, wide as u64, false);
        carry = self.add_limb(limb + 1, (wide >> 64) as u64, carry);
        let mut j = limb + 2;
        while carry && j < LIMBS {
            carry = self.add_limb(j, 0, true);
            j += 1;
        }
    }

    #[inline(always)]
    fn add_limb(&mut self, j: usize, value: u64, carry: bool) -> bool {
        let (a, c1) = self.0[j].overflowing_add(value);
        let (b, c2) = a.overflowing_add(carry as u64);
        self.0[j] = b;
        c1 | c2
    }

    /// Adds a sum kept in `window` (see [`Window`]).
    pub fn add_window(&mut self, sum: u128, window: Window) {
        let (limb, shift) = ((window.base / 64) as usize, window.base % 64);
        // sum · 2^shift as three limbs (shift < 64, so nothing is lost).
        let parts = if shift == 0 {
            [sum as u64, (sum >> 64) as u64, 0]
        } else {
            [
                (sum << shift) as u64,
                (sum >> (64 - shift)) as u64,
                (sum >> (128 - shift)) as u64,
            ]
        };
        let mut carry = false;
        for (j, part) in parts.into_iter().enumerate() {
            if limb + j < LIMBS {
                carry = self.add_limb(limb + j, part, carry);
            }
        }
        let mut j = limb + 3;
        while carry && j < LIMBS {
            carry = self.add_limb(j, 0, true);
            j += 1;
        }
    }

    /// Adds another exact sum. Returns false (leaving the sum wrapped) on overflow past 2^128,
    /// which valid tallies cannot reach: their counts would overflow first.
    pub fn merge(&mut self, other: &ExactSum) -> bool {
        let mut carry = false;
        for j in 0..LIMBS {
            carry = self.add_limb(j, other.0[j], carry);
        }
        !carry
    }

    /// The sum rounded to the nearest float (ties to even): the same float for the same sum.
    pub fn to_f64(&self) -> f64 {
        let Some(top) = (0..LIMBS).rev().find(|&j| self.0[j] != 0) else {
            return 0.0;
        };
        let bits = top as u32 * 64 + 64 - self.0[top].leading_zeros();
        if bits <= 64 {
            // Rust's integer-to-float conversion rounds to nearest, ties to even.
            return self.0[0] as f64 * power_of_two(-GRID);
        }
        // The top 64 bits, and whether anything below them is set.
        let below = bits - 64;
        let (limb, shift) = ((below / 64) as usize, below % 64);
        let high = if shift == 0 {
            self.0[limb]
        } else {
            (self.0[limb] >> shift) | (self.0[limb + 1] << (64 - shift))
        };
        let sticky =
            self.0[..limb].iter().any(|&l| l != 0) || self.0[limb] & ((1u64 << shift) - 1) != 0;
        // Keep 53 of the 64 bits; round the other 11 (and the sticky rest) to nearest even.
        let mut mantissa = high >> 11;
        let rest = high & 0x7ff;
        if rest > 0x400 || (rest == 0x400 && (sticky || mantissa & 1 == 1)) {
            mantissa += 1;
        }
        mantissa as f64 * power_of_two(below as i32 + 11 - GRID)
    }

    /// The sum nearest to a float that may not lie on the grid (reading old states): exact for
    /// every float in [2^-76, 2^128), rounded down to the grid below that, `None` when negative,
    /// not finite or too large.
    pub fn from_f64(x: f64) -> Option<ExactSum> {
        if !(x.is_finite() && x >= 0.0) || x >= power_of_two(128) {
            return None;
        }
        let mut out = ExactSum::ZERO;
        if x == 0.0 {
            return Some(out);
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let mantissa = if biased == 0 {
            bits & FRACTION_BITS
        } else {
            (bits & FRACTION_BITS) | (1 << 52)
        };
        let exponent = biased.max(1) - 1075 + GRID;
        if exponent >= 0 {
            let at = exponent as u32;
            // at < 204 here; place the 53 bits limb by limb.
            let wide = (mantissa as u128) << (at % 64);
            let limb = (at / 64) as usize;
            out.0[limb] = wide as u64;
            if limb + 1 < LIMBS {
                out.0[limb + 1] = (wide >> 64) as u64;
            }
        } else if exponent > -64 {
            out.0[0] = mantissa >> (-exponent) as u32;
        }
        Some(out)
    }
}

/// A 128-bit window of the 2^-128 grid for summing many floats with a single integer add each,
/// when their binary exponents span little (as any realistic set of survey weights does): the
/// window's unit is the lowest bit any of the floats has, and it is wide enough for the sum of
/// all of them. [`ExactSum::add_window`] moves a window sum into an exact sum, losing nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Grid position (in 2^-128 units) of the window's unit.
    base: u32,
    /// Bits the sum may need, of which `row_bits` for the number of terms.
    bits: u32,
    row_bits: u32,
}

impl Window {
    /// A window for `rows` floats in [`min`, `max`] (both in 2^-76..2^64, `min` ≤ `max`), or
    /// None when their sum could overflow 128 bits at the resolution of the smallest.
    pub fn for_range(min: f64, max: f64, rows: usize) -> Option<Window> {
        let (low, high) = (biased_exponent(min), biased_exponent(max));
        if low == 0 || high < low {
            return None;
        }
        // Bit length of the largest float in units of the smallest's lowest bit, plus the bits
        // that `rows` additions can carry into.
        let row_bits = usize::BITS - rows.leading_zeros();
        let bits = 53 + (high - low) as u32 + row_bits;
        (bits <= 127).then_some(Window {
            base: (low - (1075 - GRID)) as u32,
            bits,
            row_bits,
        })
    }

    /// This window if it also holds the sum of `rows` values (not just the ones it was made
    /// for), None otherwise. `rows` ≥ the count it was made for.
    pub fn widened(self, rows: usize) -> Option<Window> {
        let extra = usize::BITS - rows.leading_zeros();
        (self.bits - self.row_bits + extra <= 127).then_some(Window {
            row_bits: extra,
            bits: self.bits - self.row_bits + extra,
            ..self
        })
    }

    /// When every value of the window's range is below 2^63 of its unit: the power of two
    /// that turns such a value into its unit count with one exact multiply (so a per-row loop
    /// needs a multiply and a conversion instead of a 128-bit shift). None for wider ranges.
    pub fn unit_scale(&self) -> Option<UnitScale> {
        // A value x = m · 2^(e − 1075) with e ≥ the window's lowest exponent counts
        // m · 2^(e − lowest) units: below 2^(bits − row_bits).
        (self.bits - self.row_bits <= 63).then(|| UnitScale(power_of_two(GRID - self.base as i32)))
    }

    /// `x` (in the window's range) as an integer count of the window's unit.
    #[inline(always)]
    pub fn units(&self, x: f64) -> u128 {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as u32;
        if biased == 0 {
            return 0;
        }
        let mantissa = (bits & FRACTION_BITS) | (1 << 52);
        (mantissa as u128) << (biased - (1075 - GRID as u32) - self.base)
    }
}

/// The power of two that scales a window's values to their unit counts (see
/// [`Window::unit_scale`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UnitScale(f64);

impl UnitScale {
    /// `x` (zero or in the window's range) as an integer count of the window's unit, the same
    /// as [`Window::units`]: the product is exact (a power of two) and an integer below 2^63,
    /// so the conversion is exact too.
    ///
    /// # Safety
    /// `x` must be zero or within the range the window was made for (so that the scaled
    /// value is a whole number in 0..2^63): the conversion skips the saturating compares that
    /// would otherwise cost more than the sum itself.
    #[inline(always)]
    pub unsafe fn units(self, x: f64) -> u128 {
        let scaled = x * self.0;
        debug_assert!(
            (0.0..9_223_372_036_854_775_808.0).contains(&scaled) && scaled.fract() == 0.0
        );
        // SAFETY: finite and within i64, by the caller's contract.
        unsafe { scaled.to_int_unchecked::<i64>() as u64 as u128 }
    }
}

fn biased_exponent(x: f64) -> i32 {
    ((x.to_bits() >> 52) & 0x7ff) as i32
}

/// 2^k for k in the normal range.
fn power_of_two(k: i32) -> f64 {
    f64::from_bits(((1023 + k) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn small_sums_are_exact_and_order_free() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let values: Vec<f64> = (0..1000).map(|_| rng.random_range(0.01..100.0)).collect();
        let mut forward = ExactSum::ZERO;
        values.iter().for_each(|&v| forward.add(v));
        let mut backward = ExactSum::ZERO;
        values.iter().rev().for_each(|&v| backward.add(v));
        let (mut left, mut right) = (ExactSum::ZERO, ExactSum::ZERO);
        values[..300].iter().for_each(|&v| left.add(v));
        values[300..].iter().for_each(|&v| right.add(v));
        assert!(right.merge(&left));
        assert_eq!(forward, backward);
        assert_eq!(forward, right);
        // Quarter weights are exact in floats too.
        let mut quarters = ExactSum::ZERO;
        (1..=400).for_each(|i| quarters.add(i as f64 / 4.0));
        assert_eq!(quarters.to_f64(), 400.0 * 401.0 / 8.0);
    }

    #[test]
    fn rounding_matches_the_correctly_rounded_conversion() {
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        for case in 0..20_000 {
            let mut v: u128 = rng.random();
            v >>= rng.random_range(0..128);
            if case % 3 == 0 {
                // A tie: exactly half way between two floats (when v has more than 53 bits).
                let bits = 128 - v.leading_zeros();
                if bits > 54 {
                    let cut = bits - 54;
                    v = ((v >> cut) | 1) << cut;
                }
            }
            // v · 2^-128 in limbs 0-1, and v · 2^-64 in limbs 1-2.
            let low = ExactSum([v as u64, (v >> 64) as u64, 0, 0]);
            assert_eq!(low.to_f64(), v as f64 * power_of_two(-128), "{v}");
            let high = ExactSum([0, v as u64, (v >> 64) as u64, 0]);
            assert_eq!(high.to_f64(), v as f64 * power_of_two(-64), "{v}");
            let top = ExactSum([0, 0, v as u64, (v >> 64) as u64]);
            assert_eq!(top.to_f64(), v as f64, "{v}");
        }
    }

    #[test]
    fn range_ends_and_squares_are_exact() {
        for w in [
            MIN_WEIGHT,
            1.0,
            0.1,
            1.0 / 3.0,
            MAX_WEIGHT - 1.0,
            4_294_967_295.999,
        ] {
            assert!(weight_in_range(w));
            for x in [w, w * w] {
                let mut s = ExactSum::ZERO;
                s.add(x);
                assert_eq!(s.to_f64(), x);
                assert_eq!(ExactSum::from_f64(x), Some(s));
                let mut thrice = ExactSum::ZERO;
                thrice.add_multiple(x, 3);
                let mut again = ExactSum::ZERO;
                (0..3).for_each(|_| again.add(x));
                assert_eq!(thrice, again);
            }
        }
        for w in [MAX_WEIGHT, MIN_WEIGHT / 2.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(!weight_in_range(w));
        }
        assert!(weight_in_range(0.0));
        assert_eq!(ExactSum::from_f64(-1.0), None);
        assert_eq!(ExactSum::from_f64(f64::NAN), None);
        assert_eq!(ExactSum::from_f64(1e300), None);
    }

    #[test]
    fn window_sums_equal_exact_sums() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        for (lo, hi) in [
            (0.05, 20.0),
            (MIN_WEIGHT, MIN_WEIGHT * 8.0),
            (1e8, MAX_WEIGHT - 1.0),
        ] {
            let values: Vec<f64> = (0..5000).map(|_| rng.random_range(lo..hi)).collect();
            for squares in [false, true] {
                let xs: Vec<f64> = values
                    .iter()
                    .map(|&v| if squares { v * v } else { v })
                    .collect();
                let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let max = xs.iter().copied().fold(0.0, f64::max);
                let window = Window::for_range(min, max, xs.len()).expect("a narrow range");
                let mut direct = ExactSum::ZERO;
                let mut windowed = 0u128;
                for &x in &xs {
                    direct.add(x);
                    windowed += window.units(x);
                }
                let mut via = ExactSum::ZERO;
                via.add_window(windowed, window);
                assert_eq!(via, direct, "{lo}..{hi} squares={squares}");
            }
        }
        // Too wide a range for 128 bits: no window.
        assert_eq!(Window::for_range(MIN_WEIGHT, MAX_WEIGHT - 1.0, 1000), None);
        assert_eq!(Window::for_range(0.0, 1.0, 10), None);
    }

    #[test]
    fn scaled_units_equal_shifted_units() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        // Ranges whose unit counts fit 63 bits (up to 10 binades) and ones that do not.
        for (lo, hi, fits) in [
            (0.5, 2.0, true),
            (0.05, 20.0, true),
            (MIN_WEIGHT, MIN_WEIGHT * 1000.0, true),
            (1e8, 1e9, true),
            (0.001, 1e3, false),
            (1.0, MAX_WEIGHT - 1.0, false),
        ] {
            let mut xs: Vec<f64> = (0..5000).map(|_| rng.random_range(lo..hi)).collect();
            xs.extend([lo, hi, 0.0, -0.0]);
            let min = xs
                .iter()
                .copied()
                .filter(|&x| x > 0.0)
                .fold(f64::INFINITY, f64::min);
            let max = xs.iter().copied().fold(0.0, f64::max);
            let window = Window::for_range(min, max, xs.len()).expect("a narrow range");
            let Some(scale) = window.unit_scale() else {
                assert!(!fits, "{lo}..{hi} should fit 63 bits");
                continue;
            };
            assert!(fits, "{lo}..{hi} should not fit 63 bits");
            // SAFETY: every x (and max) is zero or in the range the window was made for.
            for &x in &xs {
                assert_eq!(
                    unsafe { scale.units(x) },
                    window.units(x),
                    "{x} in {lo}..{hi}"
                );
            }
            // The extremes of the range: the largest value's count is the widest.
            assert!(unsafe { scale.units(max) } < 1 << 63);
        }
    }

    #[test]
    fn largest_sums_do_not_overflow() {
        // 2^64 rows of the largest square: below 2^256 units.
        let mut s = ExactSum::ZERO;
        let square = (MAX_WEIGHT - 1.0) * (MAX_WEIGHT - 1.0);
        s.add(square);
        let one = s;
        for _ in 0..64 {
            let copy = s;
            assert!(s.merge(&copy));
        }
        assert_eq!(s.to_f64(), one.to_f64() * power_of_two(64));
        let mut doubled = s;
        assert!(!doubled.merge(&s), "2^129 · 2^128 units overflow 256 bits");
    }
}
