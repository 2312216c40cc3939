//! Poisson-bootstrap replicates kept inside an accumulator, for weighted data.
//!
//! A weighted bootstrap resamples respondents, which needs the rows (or their (weight, answer)
//! cells) — an accumulator only keeps histograms. The Poisson bootstrap makes it streamable: each
//! row is counted m ~ Poisson(1) times in each of B replicates, drawn as the row arrives, so every
//! replicate is one more weighted histogram (Σ m·w per segment and scale value) that updates per
//! batch and merges by addition like the main one. The metric on each replicate histogram gives
//! the bootstrap distribution (Hanley & MacGibbon 2006; Chamandy et al. 2012).
//!
//! Draws must be independent across everything that is later merged. Each update draws from a
//! key derived from its accumulator's random stream (seed, stream number) and how many updates
//! that stream has made; the state records every stream that has drawn, and merging two states
//! that drew from one stream (copies of one accumulator, or equal seed and stream) is refused.

use rand::RngCore;

use crate::bootstrap::{block_rng, splitmix64};
use crate::error::{CoreError, Result};

/// Most replicates an accumulator may keep (each costs 32 bytes per segment and scale value).
pub const MAX_REPLICATES: usize = 10_000;
/// Rows per block of draws: blocks run in parallel, each with its own generator.
pub const BLOCK_ROWS: usize = 4096;
/// Stream id of replicate draws within a batch key (separates them from other uses of a key).
const DRAW_STREAM: u64 = 0x7265_706c_6963_6174; // "replicat"

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

/// The generator of one block of rows of one batch.
pub fn block_generator(batch_key: u64, block: u64) -> impl RngCore {
    block_rng(batch_key, DRAW_STREAM, block)
}

/// The random streams of a replicate accumulator: which one the next update draws from, and
/// every one that has drawn (to refuse merging correlated replicates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streams {
    /// B, the number of replicates.
    pub count: usize,
    /// None: each accumulator's stream is drawn from the OS when it first draws.
    pub seed: Option<u64>,
    /// The stream number within the seed (distinct per partition or shard).
    pub stream: u64,
    /// The origin the next update draws from, once fixed (at the first draw, or by a merge).
    pub origin: Option<u64>,
    /// Updates drawn from `origin` so far.
    pub counter: u64,
    /// Every origin that has drawn, ascending.
    pub drawn: Vec<u64>,
}

/// The key of one update's draws, kept aside until the update succeeds.
#[derive(Clone, Copy, Debug)]
pub struct Draw {
    origin: u64,
    pub key: u64,
}

impl Streams {
    pub fn new(count: usize, seed: Option<u64>, stream: u64) -> Result<Self> {
        if !(1..=MAX_REPLICATES).contains(&count) {
            return Err(CoreError::InvalidArgument(format!(
                "replicates must be between 1 and {MAX_REPLICATES}, got {count}"
            )));
        }
        Ok(Self {
            count,
            seed,
            stream,
            origin: None,
            counter: 0,
            drawn: Vec::new(),
        })
    }

    /// The key the next update draws from (committed with [`Streams::commit`] on success).
    pub fn next_draw(&self) -> Draw {
        let origin = self.origin.unwrap_or_else(|| match self.seed {
            Some(seed) => splitmix64(splitmix64(seed) ^ self.stream),
            None => rand::random(),
        });
        Draw {
            origin,
            key: splitmix64(splitmix64(origin) ^ self.counter),
        }
    }

    pub fn commit(&mut self, draw: Draw) {
        self.origin = Some(draw.origin);
        self.counter += 1;
        if let Err(at) = self.drawn.binary_search(&draw.origin) {
            self.drawn.insert(at, draw.origin);
        }
    }

    /// A copy drawing from stream `stream` of the same seed; only before any draw.
    pub fn with_stream(&self, stream: u64) -> Result<Self> {
        if !self.drawn.is_empty() {
            return Err(CoreError::InvalidArgument(
                "the stream of an accumulator can only be set before its first update".into(),
            ));
        }
        Ok(Self {
            stream,
            origin: None,
            ..self.clone()
        })
    }

    /// The streams of two merged states. Symmetric and associative, so merged bytes do not
    /// depend on merge order: a side that never drew keeps the other's stream; when both drew,
    /// the merged state draws next from an origin derived from all the origins it holds.
    pub fn merge(&self, other: &Streams) -> Result<Streams> {
        if self.count != other.count || self.seed != other.seed {
            return Err(CoreError::InvalidArgument(format!(
                "cannot merge accumulators with different bootstrap replicates (replicates={}, \
                 seed={:?} and replicates={}, seed={:?})",
                self.count, self.seed, other.count, other.seed
            )));
        }
        if let Some(shared) = self
            .drawn
            .iter()
            .find(|o| other.drawn.binary_search(o).is_ok())
        {
            return Err(CoreError::InvalidArgument(format!(
                "both accumulators drew bootstrap replicates from the same random stream \
                 ({shared:#018x}): they are copies of one accumulator, or were created with the \
                 same seed and stream, so their replicates are correlated and cannot be merged; \
                 give each accumulator its own stream= (or seed=None)"
            )));
        }
        let mut drawn: Vec<u64> = self.drawn.iter().chain(&other.drawn).copied().collect();
        drawn.sort_unstable();
        let out = match (self.drawn.is_empty(), other.drawn.is_empty()) {
            (true, true) => {
                let first = if (self.stream, self.origin) <= (other.stream, other.origin) {
                    self
                } else {
                    other
                };
                first.clone()
            }
            (false, true) => self.clone(),
            (true, false) => other.clone(),
            (false, false) => Streams {
                stream: self.stream.min(other.stream),
                origin: Some(drawn.iter().fold(0x6d65_7267_6564u64, |h, &o| {
                    splitmix64(h ^ o) // "merged"
                })),
                counter: 0,
                drawn: Vec::new(),
                ..self.clone()
            },
        };
        Ok(Streams { drawn, ..out })
    }
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

    fn drawn(seed: u64, stream: u64, updates: usize) -> Streams {
        let mut s = Streams::new(10, Some(seed), stream).unwrap();
        for _ in 0..updates {
            let d = s.next_draw();
            s.commit(d);
        }
        s
    }

    #[test]
    fn merging_is_symmetric_associative_and_refuses_shared_streams() {
        let (a, b, c) = (drawn(1, 0, 2), drawn(1, 1, 1), drawn(1, 2, 0));
        let ab_c = a.merge(&b).unwrap().merge(&c).unwrap();
        let a_bc = a.merge(&b.merge(&c).unwrap()).unwrap();
        let cb_a = c.merge(&b).unwrap().merge(&a).unwrap();
        assert_eq!(ab_c, a_bc);
        assert_eq!(ab_c, cb_a);
        assert_eq!(ab_c.drawn.len(), 2);
        // A fresh side is the identity.
        assert_eq!(a.merge(&c).unwrap(), a);
        // Copies, or equal seed and stream, drew from one origin.
        assert!(a.merge(&a.clone()).is_err());
        assert!(a.merge(&drawn(1, 0, 1)).is_err());
        assert!(a.merge(&drawn(2, 0, 1)).is_err(), "different seeds");
        // Draw keys differ per update and per stream.
        let mut s = drawn(1, 0, 0);
        let d1 = s.next_draw();
        s.commit(d1);
        let d2 = s.next_draw();
        assert_ne!(d1.key, d2.key);
        assert_ne!(
            drawn(1, 1, 0).next_draw().key,
            drawn(1, 0, 0).next_draw().key
        );
        assert!(s.with_stream(3).is_err());
        assert_eq!(
            drawn(1, 0, 0).with_stream(3).unwrap().next_draw().key,
            drawn(1, 3, 0).next_draw().key
        );
    }

    #[test]
    fn unseeded_streams_differ() {
        let s = Streams::new(5, None, 0).unwrap();
        assert_ne!(s.next_draw().key, s.clone().next_draw().key);
        assert!(Streams::new(0, None, 0).is_err());
        assert!(Streams::new(MAX_REPLICATES + 1, None, 0).is_err());
    }
}
