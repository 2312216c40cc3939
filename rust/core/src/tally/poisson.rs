//! Poisson(1) counts for the bootstrap replicates an accumulator keeps (weighted data).
//!
//! A weighted bootstrap resamples respondents, which needs the rows — an accumulator only keeps
//! histograms. The Poisson bootstrap makes it streamable: each row is counted m ~ Poisson(1)
//! times in each of B replicates, drawn as the row arrives, so every replicate is one more
//! weighted histogram (Σ m·w per segment and scale value) that updates per batch and merges by
//! addition like the main one (Hanley & MacGibbon 2006; Chamandy et al. 2012). Where the draws'
//! keys come from is `crate::streams`. Uses nothing else of the crate.

/// Rows per block of draws: blocks run in parallel, each with its own generator.
pub const BLOCK_ROWS: usize = 4096;

/// P(Poisson(1) ≤ j) · 2^32, for inversion against a 32-bit uniform draw; the tail past the
/// table (P(X > 12) ≈ 1.2e-10) is below the draw's resolution.
pub const POISSON_THRESHOLDS: [u64; 13] = poisson_thresholds();

const fn poisson_thresholds() -> [u64; 13] {
    // e^-1 · Σ_{i≤j} 1/i!, in f64 at compile time.
    let mut out = [0u64; 13];
    let mut term = 0.367_879_441_171_442_33_f64; // e^-1
    let mut acc = 0.0f64;
    let mut j = 0;
    while j < 13 {
        acc += term;
        term /= (j + 1) as f64;
        let scaled = acc * 4_294_967_296.0;
        out[j] = if scaled >= 4_294_967_296.0 {
            4_294_967_296
        } else {
            scaled as u64
        };
        j += 1;
    }
    out
}

/// The largest count [`poisson_one`] returns.
pub const MAX_POISSON: u64 = POISSON_THRESHOLDS.len() as u64;

/// A Poisson(1) count from a 32-bit uniform draw: how many thresholds it reaches. The first
/// eight are compared without branches (a scan that stops at the first miss mispredicts about
/// once per draw); the rest only in the rare case (P ≈ 1e-5) that all eight are reached.
#[inline(always)]
pub fn poisson_one(u: u32) -> u64 {
    let u = u as u64;
    let mut m: u64 = POISSON_THRESHOLDS[..8]
        .iter()
        .map(|&t| (u >= t) as u64)
        .sum();
    if m == 8 {
        while (m as usize) < POISSON_THRESHOLDS.len() && u >= POISSON_THRESHOLDS[m as usize] {
            m += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_invert_the_poisson_cdf() {
        // P(0) = e^-1, P(≤1) = 2e^-1, P(≤2) = 2.5e^-1.
        let e = (-1.0f64).exp();
        for (j, cdf) in [(0, e), (1, 2.0 * e), (2, 2.5 * e)] {
            let t = POISSON_THRESHOLDS[j] as f64 / 4_294_967_296.0;
            assert!((t - cdf).abs() < 1e-9, "{j}: {t} vs {cdf}");
        }
        assert_eq!(poisson_one(0), 0);
        // The same counts as a plain scan, at and around every threshold.
        let scan = |u: u32| {
            POISSON_THRESHOLDS
                .iter()
                .take_while(|&&t| u as u64 >= t)
                .count()
        };
        for &t in &POISSON_THRESHOLDS {
            for u in [t.saturating_sub(1), t, t + 1] {
                let u = u.min(u32::MAX as u64) as u32;
                assert_eq!(poisson_one(u), scan(u) as u64, "{u}");
            }
        }
        assert_eq!(poisson_one(u32::MAX), MAX_POISSON);
        // Mean and variance 1 over all 32-bit draws, sampled evenly.
        let draws: Vec<f64> = (0..1u64 << 20)
            .map(|i| poisson_one((i << 12) as u32 | 0x800) as f64)
            .collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(
            (mean - 1.0).abs() < 1e-4 && (var - 1.0).abs() < 1e-3,
            "{mean} {var}"
        );
    }
}
