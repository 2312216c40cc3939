//! The byte format of [`DriversState`]: versioned and checksummed, so a state can be stored,
//! sent to another process and merged there. Layout (little-endian): magic `CXDRV`, version u16,
//! p u32, n_keys u32, weighted u8, the replicate streams, the segments (encoded key, n, dropped,
//! Gram limbs, replicate Gram limbs), and a CRC-32 of everything before it. Decoding checks
//! every length, count and key and reports any fault as [`CoreError::CorruptState`].

use std::collections::BTreeMap;

use super::gram::{triangle, Gram};
use super::segments::is_valid_key;
use super::signed_sum::SignedSum;
use super::state::{DriversState, Resampling, Segment, MAX_VALUE};
use super::tuples::Tuples;
use crate::error::{CoreError, Result};
use crate::exact_sum::weight_in_range;
use crate::state::format::crc32;
use crate::streams::{ReplicateStreams as Streams, MAX_REPLICATES};

const MAGIC: &[u8; 5] = b"CXDRV";
/// Version 2 adds the resampling mode and the tuple histograms; version 1 is still read.
const VERSION: u16 = 2;

/// The state as bytes, in the layout above.
pub fn encode(state: &DriversState) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(state.p as u32).to_le_bytes());
    out.extend_from_slice(&(state.n_keys as u32).to_le_bytes());
    out.push(state.weighted as u8);
    match &state.streams {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put(&mut out, s.replicates as u64);
            put_option(&mut out, s.seed);
            put(&mut out, s.stream);
            put_option(&mut out, s.origin);
            put(&mut out, s.counter);
            put(&mut out, s.drawn.len() as u64);
            s.drawn.iter().for_each(|&o| put(&mut out, o));
        }
    }
    out.push(match state.resampling {
        Resampling::Tuples => 0,
        Resampling::Rows => 1,
    });
    put(&mut out, state.segments.len() as u64);
    for (key, seg) in &state.segments {
        put(&mut out, key.len() as u64);
        out.extend_from_slice(key);
        put(&mut out, seg.n);
        put(&mut out, seg.dropped);
        for gram in std::iter::once(&seg.gram).chain(&seg.replicates) {
            for s in &gram.sums {
                s.limbs().iter().for_each(|&l| put(&mut out, l));
            }
        }
        if state.resampling == Resampling::Tuples {
            let mut tuples: Vec<(&Vec<u64>, &u64)> = seg.tuples.iter().collect();
            tuples.sort_unstable();
            put(&mut out, tuples.len() as u64);
            for (tuple, &n) in tuples {
                tuple.iter().for_each(|&v| put(&mut out, v));
                put(&mut out, n);
            }
        }
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn put(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_option(out: &mut Vec<u8>, v: Option<u64>) {
    out.push(v.is_some() as u8);
    put(out, v.unwrap_or(0));
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn corrupt(what: &str) -> CoreError {
    CoreError::CorruptState(format!("driver statistics: {what}"))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn flag(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("a flag is neither 0 nor 1")),
        }
    }
    fn option(&mut self) -> Result<Option<u64>> {
        let present = self.flag()?;
        let v = self.u64()?;
        Ok(present.then_some(v))
    }
    /// A count of items of at least `item_bytes` each that must fit in what is left.
    fn count(&mut self, item_bytes: usize) -> Result<usize> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(item_bytes.max(1) as u64) > left {
            return Err(corrupt("a count exceeds the data"));
        }
        Ok(n as usize)
    }
}

/// The state from [`encode`]'s bytes, checked; any fault is [`CoreError::CorruptState`].
pub fn decode(bytes: &[u8]) -> Result<DriversState> {
    if bytes.len() < MAGIC.len() + 2 + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a driver statistics state (bad magic)"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    if crc32(body).to_le_bytes() != tail {
        return Err(corrupt(
            "checksum mismatch (the bytes were altered or truncated)",
        ));
    }
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len(),
    };
    let version = u16::from_le_bytes(r.take(2)?.try_into().expect("2"));
    if version != VERSION && version != 1 {
        return Err(corrupt(&format!("unsupported format version {version}")));
    }
    let p = r.u32()? as usize;
    let n_keys = r.u32()? as usize;
    let weighted = r.flag()?;
    let streams = if r.flag()? {
        let count = r.u64()? as usize;
        if !(1..=MAX_REPLICATES).contains(&count) {
            return Err(corrupt("replicate count out of range"));
        }
        let seed = r.option()?;
        let stream = r.u64()?;
        let origin = r.option()?;
        let counter = r.u64()?;
        let n = r.count(8)?;
        let drawn = (0..n).map(|_| r.u64()).collect::<Result<Vec<u64>>>()?;
        if !drawn.windows(2).all(|w| w[0] < w[1]) {
            return Err(corrupt("replicate streams are not sorted"));
        }
        let mut s = Streams::new(count, seed, stream)?;
        s.origin = origin;
        s.counter = counter;
        s.drawn = drawn;
        Some(s)
    } else {
        None
    };
    let mut state = DriversState::new(p, n_keys, weighted, streams)
        .map_err(|_| corrupt("invalid number of drivers"))?;
    // Version 1 kept replicates per row only.
    state.resampling = match if version == 1 { 1 } else { r.u8()? } {
        0 => Resampling::Tuples,
        1 => Resampling::Rows,
        _ => return Err(corrupt("unknown resampling mode")),
    };
    if state.streams.is_none() && state.resampling == Resampling::Tuples {
        return Err(corrupt("a tuple histogram without bootstrap replicates"));
    }
    let by_rows = state.resampling == Resampling::Rows;
    let (k, b) = (state.k(), if by_rows { state.replicates() } else { 0 });
    let width = p + 1 + weighted as usize;
    let gram_bytes = triangle(k) * 32;
    let n_segments = r.count(8 + 16 + gram_bytes * (b + 1))?;
    let mut segments = BTreeMap::new();
    for _ in 0..n_segments {
        let len = r.count(1)?;
        let key = r.take(len)?.to_vec();
        if !is_valid_key(&key, n_keys) {
            return Err(corrupt("a segment key is malformed"));
        }
        let mut seg = Segment::new(k, b);
        seg.n = r.u64()?;
        seg.dropped = r.u64()?;
        for gram in std::iter::once(&mut seg.gram).chain(seg.replicates.iter_mut()) {
            *gram = read_gram(&mut r, k)?;
        }
        if !by_rows {
            seg.tuples = read_tuples(&mut r, width, weighted, seg.n)?;
        }
        if segments.insert(key, seg).is_some() {
            return Err(corrupt("a segment appears twice"));
        }
    }
    if r.at != body.len() {
        return Err(corrupt("trailing bytes"));
    }
    state.segments = segments;
    Ok(state)
}

/// A segment's tuple histogram: ascending distinct tuples of valid values, counts summing to
/// the segment's rows.
fn read_tuples(r: &mut Reader<'_>, width: usize, weighted: bool, n: u64) -> Result<Tuples> {
    let count = r.count(8 * (width + 1))?;
    let mut tuples = Tuples::default();
    let mut previous: Option<Vec<u64>> = None;
    let mut total = 0u64;
    for _ in 0..count {
        let tuple = (0..width).map(|_| r.u64()).collect::<Result<Vec<u64>>>()?;
        let times = r.u64()?;
        let valid = tuple.iter().enumerate().all(|(i, &bits)| {
            let v = f64::from_bits(bits);
            if weighted && i == width - 1 {
                weight_in_range(v)
            } else {
                v.is_finite() && v.abs() < MAX_VALUE && bits != (-0.0f64).to_bits()
            }
        });
        if !valid || times == 0 || previous.as_ref().is_some_and(|p| *p >= tuple) {
            return Err(corrupt(
                "a tuple of the histogram is invalid or out of order",
            ));
        }
        total = total.saturating_add(times);
        previous = Some(tuple.clone());
        tuples.insert(tuple, times);
    }
    if total != n {
        return Err(corrupt("the tuple counts do not add up to the rows"));
    }
    Ok(tuples)
}

fn read_gram(r: &mut Reader<'_>, k: usize) -> Result<Gram> {
    let mut g = Gram::new(k);
    for s in g.sums.iter_mut() {
        let mut limbs = [0u64; 4];
        for l in limbs.iter_mut() {
            *l = r.u64()?;
        }
        *s = SignedSum::from_limbs(limbs);
    }
    Ok(g)
}
