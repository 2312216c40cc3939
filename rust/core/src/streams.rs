//! Every seed and random-stream derivation of the core, in one place.
//!
//! Results are reproducible bit for bit: each random draw comes from a generator whose key is
//! derived here from user-visible numbers (seed, a segment's key bytes, an accumulator's stream
//! and update count, a block index), never from a thread, a position or the order of work. The
//! derivations chain [`splitmix64`], a bijection, so two different ids at one level never map
//! to one key. Uses nothing else of the crate but its errors; everything that draws uses this.
//!
//! - bootstrap resamples: [`block_rng`]`(seed, stream, block)`, `stream` a segment's
//!   [`key_stream`] (FNV-1a of its canonical key bytes) or [`OVERALL_STREAM`];
//! - Poisson-bootstrap replicates kept by an accumulator (weighted data): its
//!   [`ReplicateStreams`] give each update a key, each aligned chunk of the update a
//!   [`chunk_key`], and each block of rows of a chunk a [`replicate_block_rng`].

use rand_pcg::Pcg64;

use crate::error::{CoreError, Result};

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 output function applied to `x + γ`: a bijection on u64 with full avalanche,
/// so chaining it over ids cannot map two different ids at one level to the same key.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG of one block of resamples: depends only on (seed, stream, block), never on which
/// thread runs the block or in which order, hence results are identical for any thread count.
///
/// key = sm(sm(sm(seed) ^ stream) ^ block) with sm = [`splitmix64`]; the splitmix64 sequence
/// started at key (outputs sm(key), sm(key + γ), sm(key + 2γ), sm(key + 3γ)) fills the 128-bit
/// PCG state (first two, high word first) and the 128-bit stream selector (last two).
pub fn block_rng(seed: u64, stream: u64, block: u64) -> Pcg64 {
    let key = splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ block);
    let word = |i: u64| splitmix64(key.wrapping_add(i.wrapping_mul(GOLDEN_GAMMA)));
    let state = (u128::from(word(0)) << 64) | u128::from(word(1));
    let selector = (u128::from(word(2)) << 64) | u128::from(word(3));
    Pcg64::new(state, selector)
}

/// Stream id of a segment key: FNV-1a over its canonical bytes (Arrow row format), so bootstrap
/// draws depend on the key, not on which other segments exist or their order.
pub fn key_stream(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Stream id of the unsegmented (overall) estimate.
pub const OVERALL_STREAM: u64 = 0x6f76_6572_616c_6c00; // "overall"

/// Most replicates an accumulator may keep (each costs 32 bytes per segment and scale value).
pub const MAX_REPLICATES: usize = 10_000;

/// Stream id of replicate draws within a batch key (separates them from other uses of a key).
const DRAW_STREAM: u64 = 0x7265_706c_6963_6174; // "replicat"

/// The origin of stream `stream` of `seed`: where a seeded accumulator's first update draws.
fn seeded_origin(seed: u64, stream: u64) -> u64 {
    splitmix64(splitmix64(seed) ^ stream)
}

/// The key of update number `counter` drawn from `origin`.
fn update_key(origin: u64, counter: u64) -> u64 {
    splitmix64(splitmix64(origin) ^ counter)
}

/// The origin a merged state draws from next, derived from every origin it holds (ascending),
/// so the merged bytes do not depend on merge order.
fn merged_origin(drawn: &[u64]) -> u64 {
    drawn
        .iter()
        .fold(0x6d65_7267_6564u64, |h, &o| splitmix64(h ^ o)) // "merged"
}

/// The key of aligned chunk `chunk` of an update keyed `update_key`.
pub fn chunk_key(update_key: u64, chunk: u64) -> u64 {
    splitmix64(update_key ^ splitmix64(chunk))
}

/// The generator of one block of rows of one chunk's replicate draws.
pub fn replicate_block_rng(chunk_key: u64, block: u64) -> Pcg64 {
    block_rng(chunk_key, DRAW_STREAM, block)
}

/// The random streams of a replicate accumulator: which one the next update draws from, and
/// every one that has drawn (to refuse merging correlated replicates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicateStreams {
    /// B, the number of replicates.
    pub replicates: usize,
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
    /// The key of this update's draws (see [`chunk_key`]).
    pub key: u64,
}

impl ReplicateStreams {
    /// Streams of `replicates` replicates (1..=[`MAX_REPLICATES`]), drawing from stream
    /// `stream` of `seed` (None: an OS-random origin at the first draw).
    pub fn new(replicates: usize, seed: Option<u64>, stream: u64) -> Result<Self> {
        if !(1..=MAX_REPLICATES).contains(&replicates) {
            return Err(CoreError::InvalidArgument(format!(
                "replicates must be between 1 and {MAX_REPLICATES}, got {replicates}"
            )));
        }
        Ok(Self {
            replicates,
            seed,
            stream,
            origin: None,
            counter: 0,
            drawn: Vec::new(),
        })
    }

    /// The key the next update draws from (committed with [`ReplicateStreams::commit`] on success).
    pub fn next_draw(&self) -> Draw {
        let origin = self.origin.unwrap_or_else(|| match self.seed {
            Some(seed) => seeded_origin(seed, self.stream),
            None => rand::random(),
        });
        Draw {
            origin,
            key: update_key(origin, self.counter),
        }
    }

    /// Records that the update keyed by `draw` succeeded.
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
    pub fn merge(&self, other: &ReplicateStreams) -> Result<ReplicateStreams> {
        if self.replicates != other.replicates || self.seed != other.seed {
            return Err(CoreError::InvalidArgument(format!(
                "cannot merge accumulators with different bootstrap replicates (replicates={}, \
                 seed={:?} and replicates={}, seed={:?})",
                self.replicates, self.seed, other.replicates, other.seed
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
            (false, false) => ReplicateStreams {
                stream: self.stream.min(other.stream),
                origin: Some(merged_origin(&drawn)),
                counter: 0,
                drawn: Vec::new(),
                ..self.clone()
            },
        };
        Ok(ReplicateStreams { drawn, ..out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(seed: u64, stream: u64, updates: usize) -> ReplicateStreams {
        let mut s = ReplicateStreams::new(10, Some(seed), stream).unwrap();
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
        let s = ReplicateStreams::new(5, None, 0).unwrap();
        assert_ne!(s.next_draw().key, s.clone().next_draw().key);
        assert!(ReplicateStreams::new(0, None, 0).is_err());
        assert!(ReplicateStreams::new(MAX_REPLICATES + 1, None, 0).is_err());
    }
}
