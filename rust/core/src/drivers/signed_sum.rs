//! Exact, order-free sums of signed floats: the entries of a Gram matrix.
//!
//! [`crate::exact_sum::ExactSum`] sums non-negative weights; a cross-product of two ratings and
//! a weight may be negative and has no fixed low bit. A [`SignedSum`] keeps the sum as a 256-bit
//! two's-complement integer count of 2^-128. Every float of magnitude in [2^-76, 2^84) lies on
//! that grid (its 53-bit mantissa ends at or above 2^-128), so adding it never rounds, and the
//! sum of any set of such terms is the same integer in any order, split or merge. Smaller
//! magnitudes are truncated toward zero to the grid, still the same way for any order. The sum
//! is rounded once, to the nearest float, when read.

use crate::exact_sum::ExactSum;

/// The integer is the sum in units of 2^-GRID.
const GRID: i32 = 128;
const FRACTION_BITS: u64 = (1 << 52) - 1;
/// Terms must be below this in magnitude: 2^38 rows of terms up to 2^84 times a multiple below
/// 2^4 stay below 2^126, inside the 127 integer bits (one more is the sign).
pub const MAX_TERM: f64 = 19_342_813_113_834_066_795_298_816.0; // 2^84

/// A signed sum of floats, exact on the 2^-128 grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignedSum([u64; 4]);

impl SignedSum {
    /// The empty sum.
    pub const ZERO: SignedSum = SignedSum([0; 4]);

    /// The sum with these limbs (as from [`SignedSum::limbs`]).
    pub fn from_limbs(limbs: [u64; 4]) -> Self {
        Self(limbs)
    }
    /// The sum of an integer `v` (the count v·2^128 of the grid: zero low limbs, v's two's
    /// complement in the high two).
    pub fn from_integer(v: i128) -> Self {
        Self([0, 0, v as u64, (v >> 64) as u64])
    }

    /// Little-endian 64-bit limbs of the two's-complement integer.
    pub fn limbs(&self) -> [u64; 4] {
        self.0
    }

    /// Adds `m · x` for |x| < [`MAX_TERM`] and `m` < 2^4.
    #[inline(always)]
    pub fn add(&mut self, x: f64, m: u64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 || m == 0 {
            return; // zero or subnormal: below the grid
        }
        let mantissa = ((bits & FRACTION_BITS) | (1 << 52)) * m; // < 2^63
        let at = biased - 1075 + GRID;
        let (value, at) = if at >= 0 {
            (mantissa, at as u32)
        } else if at > -64 {
            (mantissa >> (-at) as u32, 0)
        } else {
            return;
        };
        let limb = (at / 64) as usize;
        let wide = (value as u128) << (at % 64);
        let (lo, hi) = (wide as u64, (wide >> 64) as u64);
        if bits >> 63 == 0 {
            self.add_at(limb, lo, hi);
        } else {
            self.sub_at(limb, lo, hi);
        }
    }

    /// Adds `m · x` for |x| < [`MAX_TERM`] and any count `m` (a resampled tuple's multiplicity).
    pub fn add_times(&mut self, x: f64, m: u64) {
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 || m == 0 {
            return;
        }
        let mantissa = (((bits & FRACTION_BITS) | (1 << 52)) as u128) * m as u128; // < 2^117
        let at = biased - 1075 + GRID;
        let (value, at) = if at >= 0 {
            (mantissa, at as u32)
        } else if at > -117 {
            (mantissa >> (-at) as u32, 0)
        } else {
            return;
        };
        // value · 2^at as three limbs from limb at / 64 up (at most 117 + 63 bits).
        let shift = at % 64;
        let low = value << shift;
        let high = if shift == 0 {
            0
        } else {
            value >> (128 - shift)
        } as u64;
        let parts = [low as u64, (low >> 64) as u64, high];
        let first = (at / 64) as usize;
        let mut term = SignedSum::ZERO;
        for (i, &part) in parts.iter().enumerate() {
            if first + i < 4 {
                term.0[first + i] = part;
            }
        }
        if bits >> 63 == 1 {
            // Two's complement negation of the term.
            let mut carry = 1u64;
            for limb in term.0.iter_mut() {
                let (v, c) = (!*limb).overflowing_add(carry);
                *limb = v;
                carry = c as u64;
            }
        }
        self.merge(&term);
    }

    #[inline(always)]
    fn add_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (a, c1) = self.0[limb].overflowing_add(lo);
        self.0[limb] = a;
        let mut carry = c1 as u64;
        let mut j = limb + 1;
        let mut part = hi;
        while j < 4 && (part | carry) != 0 {
            let (s, c2) = self.0[j].overflowing_add(part);
            let (s, c3) = s.overflowing_add(carry);
            self.0[j] = s;
            carry = (c2 | c3) as u64;
            part = 0;
            j += 1;
        }
    }

    #[inline(always)]
    fn sub_at(&mut self, limb: usize, lo: u64, hi: u64) {
        let (a, b1) = self.0[limb].overflowing_sub(lo);
        self.0[limb] = a;
        let mut borrow = b1 as u64;
        let mut j = limb + 1;
        let mut part = hi;
        while j < 4 && (part | borrow) != 0 {
            let (s, b2) = self.0[j].overflowing_sub(part);
            let (s, b3) = s.overflowing_sub(borrow);
            self.0[j] = s;
            borrow = (b2 | b3) as u64;
            part = 0;
            j += 1;
        }
    }

    /// Adds another sum (exact, wrapping only far beyond any reachable total).
    pub fn merge(&mut self, other: &SignedSum) {
        let mut carry = 0u64;
        for j in 0..4 {
            let (s, c1) = self.0[j].overflowing_add(other.0[j]);
            let (s, c2) = s.overflowing_add(carry);
            self.0[j] = s;
            carry = (c1 | c2) as u64;
        }
    }

    /// The sum rounded to the nearest float (ties to even).
    pub fn to_f64(&self) -> f64 {
        if self.0[3] >> 63 == 0 {
            return ExactSum::from_limbs(self.0).to_f64();
        }
        // Negative: round the magnitude (two's complement negation).
        let mut magnitude = [0u64; 4];
        let mut carry = 1u64;
        for (out, &limb) in magnitude.iter_mut().zip(&self.0) {
            let (s, c) = (!limb).overflowing_add(carry);
            *out = s;
            carry = c as u64;
        }
        -ExactSum::from_limbs(magnitude).to_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn an_integer_sum_is_the_same_limbs_as_its_terms_added() {
        let mut rng = Pcg64Mcg::seed_from_u64(8);
        for _ in 0..200 {
            let (mut exact, mut integer) = (SignedSum::ZERO, 0i128);
            for _ in 0..50 {
                let t = rng.random_range(-(1i64 << 53) + 1..1i64 << 53);
                let m = rng.random_range(0..u64::MAX >> 12);
                exact.add_times(t as f64, m);
                integer += i128::from(t) * i128::from(m);
            }
            assert_eq!(SignedSum::from_integer(integer), exact, "{integer}");
        }
        assert_eq!(SignedSum::from_integer(0), SignedSum::ZERO);
        assert_eq!(SignedSum::from_integer(-3).to_f64(), -3.0);
    }

    #[test]
    fn signed_sums_are_exact_and_order_free() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let values: Vec<f64> = (0..2000)
            .map(|_| rng.random_range(-1e6..1e6) * rng.random_range(1e-6..1.0))
            .collect();
        let mut forward = SignedSum::ZERO;
        values.iter().for_each(|&v| forward.add(v, 1));
        let mut backward = SignedSum::ZERO;
        values.iter().rev().for_each(|&v| backward.add(v, 1));
        let (mut left, mut right) = (SignedSum::ZERO, SignedSum::ZERO);
        values[..700].iter().for_each(|&v| left.add(v, 1));
        values[700..].iter().for_each(|&v| right.add(v, 1));
        right.merge(&left);
        assert_eq!(forward, backward);
        assert_eq!(forward, right);
        // Cancellation is exact: x + y - x = y.
        let mut s = SignedSum::ZERO;
        s.add(1e30, 1);
        s.add(1e-10, 1);
        s.add(-1e30, 1);
        assert_eq!(s.to_f64(), 1e-10);
        // Multiples.
        let mut thrice = SignedSum::ZERO;
        thrice.add(-0.1, 3);
        let mut again = SignedSum::ZERO;
        (0..3).for_each(|_| again.add(-0.1, 1));
        assert_eq!(thrice, again);
        // Large multiplicities: m · x added at once equals x added m times.
        for x in [-0.1, 3.75, 1e20, -2e-20] {
            let mut once = SignedSum::ZERO;
            once.add_times(x, 1000);
            let mut repeated = SignedSum::ZERO;
            (0..1000).for_each(|_| repeated.add(x, 1));
            assert_eq!(once, repeated, "{x}");
            let mut small = SignedSum::ZERO;
            small.add_times(x, 3);
            let mut three = SignedSum::ZERO;
            three.add(x, 3);
            assert_eq!(small, three);
        }
        assert_eq!(SignedSum::ZERO.to_f64(), 0.0);
    }

    #[test]
    fn rounding_is_correct_for_small_integer_sums() {
        // Integer sums below 2^53 are floats: the rounded sum must equal them exactly.
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        let mut s = SignedSum::ZERO;
        let mut exact: i64 = 0;
        for _ in 0..10_000 {
            let v: i64 = rng.random_range(-1_000_000..1_000_000);
            s.add(v as f64, 1);
            exact += v;
            assert_eq!(s.to_f64(), exact as f64);
        }
        // Halves and quarters too.
        let mut q = SignedSum::ZERO;
        (1..=400).for_each(|i| q.add(-(i as f64) / 4.0, 1));
        assert_eq!(q.to_f64(), -(400.0 * 401.0 / 8.0));
        assert!(MAX_TERM == 2f64.powi(84));
    }
}
