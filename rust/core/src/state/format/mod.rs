//! The durable byte format of a [`AccumulatorState`](super::AccumulatorState): versioned, checksummed and canonical.
//!
//! [`encode`] writes a state, [`encode_accumulator`] a state with its accumulator's
//! [`Definition`](crate::state::Definition) (format 3); [`decode`] and [`decode_accumulator`]
//! read them back and reject anything damaged, foreign or from a newer format with
//! [`CoreError::CorruptState`]. This is the one byte format of cxmetrics: the Python package
//! writes no bytes of its own (`legacy` reads the envelope it wrote before format 3).
//! The layout is documented in `docs/accumulators.md`; a summary (all integers little-endian):
//!
//! ```text
//! frame (stable across versions)
//!   0   8  magic            89 43 58 4D 0D 0A 1A 0A  ("\x89CXM\r\n\x1a\n")
//!   8   2  version          u16 = 3 (1 and 2 are still read)
//!  10   2  flags            u16: bit 0 weighted, bit 1 has tallies, bit 2 has replicates,
//!                           bit 3 has a definition (version 3)
//!  12   4  n_keys           u32 (<= MAX_KEYS)
//!  16   8  length           u64: total bytes, checksum included
//!  ...      body
//!  L-4  4  checksum         CRC-32 (IEEE, as zlib.crc32) of bytes 0..L-4
//! body, version 3 (2: no definition; 1: also one f64 per weight sum)
//!  24   8  scale low        i64
//!  32   8  scale high       i64
//!  -- only when "has a definition" --
//!           definition       metric, options, on_invalid, columns (see `definition`)
//!  -- only when "has replicates" (weighted only) --
//!           replicates       u32 B (1..=10000)
//!           seed             u8 present + u64 (0 when absent)
//!           stream           u64
//!           origin           u8 present + u64 (0 when absent): the stream the next update draws
//!           counter          u64: updates drawn from origin
//!           drawn            u64 n, then n u64 origins that have drawn, strictly ascending
//!  -- only when "has tallies" --
//!           key types        n_keys type descriptors (tag u8 + parameters)
//!           n_segments       u64
//!           key values       per key column, per segment: u8 validity (0 null, 1 value) + value
//!           counts           per segment: k counts, missing, invalid (u64 each)
//!           weight sums      weighted only: Σw for every (segment, value), then Σw² likewise,
//!                            each an exact sum: a 256-bit unsigned integer count of 2^-128
//!                            as four u64 limbs, least significant first
//!           replicate sums   with replicates: Σ m·w per (segment, value, replicate), exact sums
//! ```
//!
//! Segments are written in key order (ascending, nulls last, as `KeyedTallies::finish` sorts them)
//! and weight sums are exact (`exact_sum`), so two states holding the same rows give the same
//! bytes whatever order they were built and merged in.
//!
//! Submodules: `encode` and `decode` (frame, body, replicate streams, tallies), `definition`
//! (the definition section, both directions), `keys` (key types and values, both directions),
//! `reader` (the bounds-checked cursor), `crc`, `legacy`. May use
//! `aggregator`, `tally`, `group`, `streams`, `exact_sum`, `scale` and `error`.

mod crc;
mod decode;
mod definition;
mod encode;
mod keys;
pub mod legacy;
mod reader;

pub use crc::crc32;
pub use decode::{decode, decode_accumulator};
pub use encode::{encode, encode_accumulator};

use crate::error::CoreError;

/// First eight bytes of every state (PNG-style: a non-ASCII byte, a name, CR LF, ^Z, LF).
pub const MAGIC: [u8; 8] = *b"\x89CXM\r\n\x1a\n";
/// The layout version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 3;
/// Most segment key columns a state may have.
pub const MAX_KEYS: usize = 1024;

pub(crate) const FRAME_LEN: usize = 24;
pub(crate) const HEADER_LEN: usize = FRAME_LEN + 16;
pub(crate) const CHECKSUM_LEN: usize = 4;
pub(crate) const FLAG_WEIGHTED: u16 = 1 << 0;
pub(crate) const FLAG_TALLIES: u16 = 1 << 1;
pub(crate) const FLAG_REPLICATES: u16 = 1 << 2;
/// Format 3: the state carries its accumulator's definition.
pub(crate) const FLAG_DEFINITION: u16 = 1 << 3;

/// Key type tags (formats 1 and 2): one byte per key type, in the order they were added.
pub(crate) mod tag {
    pub(crate) const NULL: u8 = 0;
    pub(crate) const BOOLEAN: u8 = 1;
    pub(crate) const INT64: u8 = 2;
    pub(crate) const FLOAT32: u8 = 3;
    pub(crate) const FLOAT64: u8 = 4;
    pub(crate) const UTF8: u8 = 5;
    pub(crate) const BINARY: u8 = 6;
    pub(crate) const DATE32: u8 = 7;
    pub(crate) const DATE64: u8 = 8;
    pub(crate) const TIMESTAMP: u8 = 9;
    pub(crate) const DECIMAL128: u8 = 10;
}

pub(crate) const SUPPORTED_KEYS: &str =
    "cannot be stored in an accumulator state; supported key types are \
     null, boolean, integers, float32, float64, strings, binary, date32, date64, timestamp and \
     decimal128 (cast the key column to one of them)";

/// A [`CoreError::CorruptState`] with `message`.
pub(crate) fn corrupt(message: impl Into<String>) -> CoreError {
    CoreError::CorruptState(message.into())
}

/// Bytes of one exact sum on the wire.
pub(crate) const EXACT_LEN: usize = 32;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_definition;
