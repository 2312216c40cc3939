//! Vectors of f64 lanes for the block kernels ([`super::block_sum`]), so each kernel is written
//! once and compiled for AVX-512, AVX2 or plain floats, chosen at run time. Only exact IEEE
//! operations (add, subtract, multiply, absolute value, min, max, truncation), each rounding
//! like its scalar counterpart: the lane width changes no bit of a result that is exact.
//!
//! The kernels are `#[inline(always)]` and generic over [`Lanes`]; they are instantiated inside
//! a `#[target_feature]` function, where the (`#[inline]`) methods below inline into them.

/// A vector of `N` f64 lanes.
pub trait Lanes: Copy {
    /// Number of lanes.
    const N: usize;
    /// The first `N` values of `v` (at least `N` long).
    ///
    /// # Safety
    /// The CPU must support the vector's instruction set.
    unsafe fn load(v: &[f64]) -> Self;
    /// Writes the lanes to the first `N` places of `out`.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn store(self, out: &mut [f64]);
    /// Every lane `x`.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn splat(x: f64) -> Self;
    /// Lane-wise a + b, a − b, a · b (each rounded once).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn add(self, b: Self) -> Self;
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn sub(self, b: Self) -> Self;
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn mul(self, b: Self) -> Self;
    /// Lane-wise |a|.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn abs(self) -> Self;
    /// Lane-wise max(a, b) (a and b not NaN).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn max(self, b: Self) -> Self;
    /// Lane-wise min(a, b), a zero b counting as +∞ (b not NaN).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn min_nonzero(self, b: Self) -> Self;
    /// Lane-wise a − trunc(a): zero exactly for integers (a not NaN or infinite).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn fraction(self) -> Self;

    /// Lane-wise wrapping sum of the bit patterns of a and b, read as 64-bit integers (an
    /// integer accumulator kept in a float vector; no float operation touches it).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    unsafe fn add_bits(self, b: Self) -> Self;

    /// The wrapping sum of the lanes' bit patterns, read as 64-bit integers.
    ///
    /// # Safety
    /// As [`Lanes::load`].
    #[inline(always)]
    unsafe fn sum_bits(self) -> u64 {
        let mut out = [0.0; 8];
        self.store(&mut out);
        out[..Self::N]
            .iter()
            .fold(0u64, |s, v| s.wrapping_add(v.to_bits()))
    }

    /// The sum of the lanes (in lane order).
    ///
    /// # Safety
    /// As [`Lanes::load`].
    #[inline(always)]
    unsafe fn sum(self) -> f64 {
        let mut out = [0.0; 8];
        self.store(&mut out);
        out[..Self::N].iter().sum()
    }
}

/// One plain float: the portable fallback.
#[derive(Clone, Copy)]
pub struct Scalar(f64);

impl Lanes for Scalar {
    const N: usize = 1;
    #[inline(always)]
    unsafe fn load(v: &[f64]) -> Self {
        Scalar(v[0])
    }
    #[inline(always)]
    unsafe fn store(self, out: &mut [f64]) {
        out[0] = self.0;
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    unsafe fn add(self, b: Self) -> Self {
        Scalar(self.0 + b.0)
    }
    #[inline(always)]
    unsafe fn sub(self, b: Self) -> Self {
        Scalar(self.0 - b.0)
    }
    #[inline(always)]
    unsafe fn mul(self, b: Self) -> Self {
        Scalar(self.0 * b.0)
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        Scalar(self.0.abs())
    }
    #[inline(always)]
    unsafe fn max(self, b: Self) -> Self {
        Scalar(if b.0 > self.0 { b.0 } else { self.0 })
    }
    #[inline(always)]
    unsafe fn min_nonzero(self, b: Self) -> Self {
        Scalar(if b.0 != 0.0 && b.0 < self.0 {
            b.0
        } else {
            self.0
        })
    }
    #[inline(always)]
    unsafe fn add_bits(self, b: Self) -> Self {
        Scalar(f64::from_bits(self.0.to_bits().wrapping_add(b.0.to_bits())))
    }
    #[inline(always)]
    unsafe fn fraction(self) -> Self {
        // Adding and removing 2^52 rounds to an integer below 2^52 (larger floats are
        // integers); no libm call on targets without a rounding instruction.
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let a = self.0.abs();
        Scalar(if a < TWO_52 {
            ((a + TWO_52) - TWO_52 - a).abs()
        } else {
            0.0
        })
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Lanes;

    /// Four lanes (AVX2).
    #[derive(Clone, Copy)]
    pub struct Avx2(__m256d);

    impl Lanes for Avx2 {
        const N: usize = 4;
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn load(v: &[f64]) -> Self {
            debug_assert!(v.len() >= 4);
            Avx2(_mm256_loadu_pd(v.as_ptr()))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn store(self, out: &mut [f64]) {
            debug_assert!(out.len() >= 4);
            _mm256_storeu_pd(out.as_mut_ptr(), self.0)
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn splat(x: f64) -> Self {
            Avx2(_mm256_set1_pd(x))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn add(self, b: Self) -> Self {
            Avx2(_mm256_add_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn sub(self, b: Self) -> Self {
            Avx2(_mm256_sub_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn mul(self, b: Self) -> Self {
            Avx2(_mm256_mul_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn abs(self) -> Self {
            Avx2(_mm256_andnot_pd(_mm256_set1_pd(-0.0), self.0))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn max(self, b: Self) -> Self {
            Avx2(_mm256_max_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn min_nonzero(self, b: Self) -> Self {
            let zero = _mm256_cmp_pd::<_CMP_EQ_OQ>(b.0, _mm256_setzero_pd());
            let b = _mm256_blendv_pd(b.0, _mm256_set1_pd(f64::INFINITY), zero);
            Avx2(_mm256_min_pd(self.0, b))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn add_bits(self, b: Self) -> Self {
            let sum = _mm256_add_epi64(_mm256_castpd_si256(self.0), _mm256_castpd_si256(b.0));
            Avx2(_mm256_castsi256_pd(sum))
        }
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn fraction(self) -> Self {
            let t = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0);
            Avx2(_mm256_sub_pd(self.0, t))
        }
    }

    /// Eight lanes (AVX-512F).
    #[derive(Clone, Copy)]
    pub struct Avx512(__m512d);

    impl Lanes for Avx512 {
        const N: usize = 8;
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn load(v: &[f64]) -> Self {
            debug_assert!(v.len() >= 8);
            Avx512(_mm512_loadu_pd(v.as_ptr()))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn store(self, out: &mut [f64]) {
            debug_assert!(out.len() >= 8);
            _mm512_storeu_pd(out.as_mut_ptr(), self.0)
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn splat(x: f64) -> Self {
            Avx512(_mm512_set1_pd(x))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn add(self, b: Self) -> Self {
            Avx512(_mm512_add_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn sub(self, b: Self) -> Self {
            Avx512(_mm512_sub_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn mul(self, b: Self) -> Self {
            Avx512(_mm512_mul_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn abs(self) -> Self {
            Avx512(_mm512_abs_pd(self.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn max(self, b: Self) -> Self {
            Avx512(_mm512_max_pd(self.0, b.0))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn min_nonzero(self, b: Self) -> Self {
            let zero = _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(b.0, _mm512_setzero_pd());
            let b = _mm512_mask_blend_pd(zero, b.0, _mm512_set1_pd(f64::INFINITY));
            Avx512(_mm512_min_pd(self.0, b))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn add_bits(self, b: Self) -> Self {
            let sum = _mm512_add_epi64(_mm512_castpd_si512(self.0), _mm512_castpd_si512(b.0));
            Avx512(_mm512_castsi512_pd(sum))
        }
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn fraction(self) -> Self {
            let t = _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(self.0);
            Avx512(_mm512_sub_pd(self.0, t))
        }
    }
}
