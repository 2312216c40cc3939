//! The accumulator envelope of cxmetrics before format 3, still read: a frame (magic
//! `\x89CXA\r\n\x1a\n`, version 1, flags 0, definition length, total length), the definition as
//! canonical JSON, the core state (format 1 or 2, or nothing for a column-mode accumulator
//! without data), and a CRC-32. This module checks the frame and splits it; the JSON is parsed
//! by the caller, and its definition then goes through the same checks as a format-3 one.

use super::corrupt;
use super::crc::crc32;
use crate::error::Result;

/// First eight bytes of an accumulator written before format 3.
pub const LEGACY_MAGIC: [u8; 8] = *b"\x89CXA\r\n\x1a\n";
const FRAME_LEN: usize = 24;
const CHECKSUM_LEN: usize = 4;
const VERSION: u16 = 1;

/// The definition (JSON bytes) and core state bytes of a legacy accumulator, once its frame and
/// checksum are verified; `CorruptState` otherwise.
pub fn split_legacy(data: &[u8]) -> Result<(&[u8], &[u8])> {
    let minimum = FRAME_LEN + CHECKSUM_LEN;
    let truncated = |n: usize| {
        corrupt(format!(
            "truncated accumulator: {n} byte(s), an accumulator has at least {minimum}"
        ))
    };
    if data.len() < LEGACY_MAGIC.len() {
        return Err(if LEGACY_MAGIC.starts_with(data) {
            truncated(data.len())
        } else {
            corrupt("not a cxmetrics accumulator (wrong magic bytes)")
        });
    }
    if data[..8] != LEGACY_MAGIC {
        return Err(corrupt("not a cxmetrics accumulator (wrong magic bytes)"));
    }
    if data.len() < FRAME_LEN {
        return Err(truncated(data.len()));
    }
    let u16_at = |i: usize| u16::from_le_bytes([data[i], data[i + 1]]);
    let (version, flags) = (u16_at(8), u16_at(10));
    let def_len = u32::from_le_bytes(data[12..16].try_into().expect("4 bytes")) as usize;
    let length = u64::from_le_bytes(data[16..24].try_into().expect("8 bytes"));
    if length != data.len() as u64 {
        return Err(corrupt(if length > data.len() as u64 {
            format!(
                "truncated accumulator: {} byte(s), its header says {length} (or the header is \
                 damaged)",
                data.len()
            )
        } else {
            format!(
                "accumulator has {} byte(s) but its header says {length}: trailing data or a \
                 damaged header",
                data.len()
            )
        }));
    }
    if data.len() < minimum {
        return Err(truncated(data.len()));
    }
    let (body, trailer) = data.split_at(data.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    let actual = crc32(body);
    if stored != actual {
        return Err(corrupt(format!(
            "accumulator is damaged: checksum mismatch (stored {stored:#010x}, computed \
             {actual:#010x})"
        )));
    }
    if version > VERSION {
        return Err(corrupt(format!(
            "accumulator has format version {version}, newer than this cxmetrics reads \
             ({VERSION}); upgrade cxmetrics to read it"
        )));
    }
    if version == 0 {
        return Err(corrupt(
            "accumulator has format version 0, which does not exist",
        ));
    }
    if flags != 0 {
        return Err(corrupt(format!(
            "accumulator has unknown flags {flags:#06x}"
        )));
    }
    let end = FRAME_LEN
        .checked_add(def_len)
        .filter(|&end| end <= body.len())
        .ok_or_else(|| corrupt("accumulator definition runs past the end of the data"))?;
    Ok((&body[FRAME_LEN..end], &body[end..]))
}
