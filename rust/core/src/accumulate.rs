//! Mergeable accumulator state and its durable binary format.
//!
//! A [`State`] is the sufficient statistic of every metric over a stream of rows: per segment, the
//! counts of each scale value plus missing and invalid, and (weighted) Σw and Σw² per scale value.
//! [`encode`] writes it in a versioned, checksummed, canonical layout; [`decode`] reads it back and
//! rejects anything damaged, foreign or from a newer format with [`CoreError::CorruptState`].
//! The layout is documented in `docs/accumulators.md`; a summary (all integers little-endian):
//!
//! ```text
//! frame (stable across versions)
//!   0   8  magic            89 43 58 4D 0D 0A 1A 0A  ("\x89CXM\r\n\x1a\n")
//!   8   2  version          u16 = 2 (1 is still read)
//!  10   2  flags            u16: bit 0 weighted, bit 1 has tallies, bit 2 has replicates
//!  12   4  n_keys           u32 (<= MAX_KEYS)
//!  16   8  length           u64: total bytes, checksum included
//!  ...      body
//!  L-4  4  checksum         CRC-32 (IEEE, as zlib.crc32) of bytes 0..L-4
//! body, version 2 (version 1 differs only in the weight sums: one f64 each)
//!  24   8  scale low        i64
//!  32   8  scale high       i64
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
//! Segments are written in key order (ascending, nulls last, as `Aggregator::finish` sorts them)
//! and weight sums are exact (`exact_sum`), so two states holding the same rows give the same
//! bytes whatever order they were built and merged in.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, NullArray, PrimitiveArray,
    StringArray,
};
use arrow_schema::{DataType, TimeUnit};

use crate::error::{CoreError, Result, Role};
use crate::exact_sum::{ExactSum, MAX_WEIGHT};
use crate::group::KeyIndex;
use crate::histogram::{Aggregator, Columns, Tallies};
use crate::replicates::{Streams, MAX_POISSON, MAX_REPLICATES};
use crate::scale::Scale;

/// Everything an accumulator holds. `aggregator` is `None` until the first update fixes the
/// key types; such an empty state is the identity of `merge`.
#[derive(Clone)]
pub struct State {
    pub scale: Scale,
    pub weighted: bool,
    pub n_keys: usize,
    pub aggregator: Option<Aggregator>,
    /// Poisson-bootstrap replicates and their random streams (weighted states only).
    pub streams: Option<Streams>,
}

impl State {
    pub fn new(
        scale: Scale,
        weighted: bool,
        n_keys: usize,
        streams: Option<Streams>,
    ) -> Result<Self> {
        if streams.is_some() && !weighted {
            return Err(CoreError::InvalidArgument(
                "bootstrap replicates are for weighted data (give a weight column); unweighted \
                 accumulators bootstrap exactly from their histograms"
                    .into(),
            ));
        }
        Ok(Self {
            scale,
            weighted,
            n_keys,
            aggregator: None,
            streams,
        })
    }

    /// Poisson-bootstrap replicates kept (0 = none).
    pub fn replicates(&self) -> usize {
        self.streams.as_ref().map_or(0, |s| s.count)
    }

    /// An empty aggregator laid out for this state (keys of type Null until data fixes them).
    pub fn empty_aggregator(&self) -> Result<Aggregator> {
        self.new_aggregator(vec![DataType::Null; self.n_keys])
    }

    /// An empty aggregator for this state's scale, weighting and replicates, keyed by `types`.
    fn new_aggregator(&self, types: Vec<DataType>) -> Result<Aggregator> {
        Ok(Aggregator::new(self.scale, Some(types), self.weighted)?
            .with_replicates(self.replicates()))
    }

    /// Adds the rows of `columns` (keys of `key_types`). All-or-nothing: on error the state,
    /// its tallies and its random streams are unchanged.
    pub fn update(
        &mut self,
        columns: &Columns,
        key_types: Vec<DataType>,
        drop_invalid: bool,
        row_offset: u64,
    ) -> Result<()> {
        if columns.keys.len() != self.n_keys {
            return Err(CoreError::InvalidArgument(format!(
                "expected {} key column(s), got {}",
                self.n_keys,
                columns.keys.len()
            )));
        }
        let draw = self.streams.as_ref().map(Streams::next_draw);
        let key = draw.map(|d| d.key);
        match self.aggregator.as_mut() {
            Some(agg) => agg.update_drawing(columns, drop_invalid, row_offset, key)?,
            None => {
                // Built aside and stored only on success, so a failed first update leaves the
                // state empty.
                let mut fresh = self.new_aggregator(key_types)?;
                fresh.update_drawing(columns, drop_invalid, row_offset, key)?;
                self.aggregator = Some(fresh);
            }
        }
        if let (Some(streams), Some(draw)) = (self.streams.as_mut(), draw) {
            streams.commit(draw);
        }
        Ok(())
    }

    /// The state holding both inputs' rows; an empty state is the identity on both sides.
    pub fn merge(&self, other: &State) -> Result<State> {
        if self.scale != other.scale
            || self.weighted != other.weighted
            || self.n_keys != other.n_keys
        {
            return Err(CoreError::InvalidArgument(
                "cannot merge accumulators of different scales, keys or weighting".into(),
            ));
        }
        let streams = match (&self.streams, &other.streams) {
            (None, None) => None,
            (Some(a), Some(b)) => Some(a.merge(b)?),
            _ => {
                return Err(CoreError::InvalidArgument(
                    "cannot merge an accumulator with bootstrap replicates and one without".into(),
                ))
            }
        };
        let aggregator = match (&self.aggregator, &other.aggregator) {
            (Some(a), Some(b)) => {
                let mut a = a.clone();
                a.merge(b)?;
                Some(a)
            }
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Ok(State {
            aggregator,
            streams,
            ..self.clone()
        })
    }

    /// A copy whose replicates draw from stream `stream` (before any draw; see `Streams`).
    pub fn with_stream(&self, stream: u64) -> Result<State> {
        let streams = match &self.streams {
            Some(s) => Some(s.with_stream(stream)?),
            None => None,
        };
        Ok(State {
            streams,
            ..self.clone()
        })
    }
}

/// First eight bytes of every state (PNG-style: a non-ASCII byte, a name, CR LF, ^Z, LF).
pub const MAGIC: [u8; 8] = *b"\x89CXM\r\n\x1a\n";
/// The layout version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 2;
/// Most segment key columns a state may have.
pub const MAX_KEYS: usize = 1024;

const FRAME_LEN: usize = 24;
const HEADER_LEN: usize = FRAME_LEN + 16;
const CHECKSUM_LEN: usize = 4;
const FLAG_WEIGHTED: u16 = 1 << 0;
const FLAG_TALLIES: u16 = 1 << 1;
const FLAG_REPLICATES: u16 = 1 << 2;

/// Key type tags (formats 1 and 2).
mod tag {
    pub const NULL: u8 = 0;
    pub const BOOLEAN: u8 = 1;
    pub const INT64: u8 = 2;
    pub const FLOAT32: u8 = 3;
    pub const FLOAT64: u8 = 4;
    pub const UTF8: u8 = 5;
    pub const BINARY: u8 = 6;
    pub const DATE32: u8 = 7;
    pub const DATE64: u8 = 8;
    pub const TIMESTAMP: u8 = 9;
    pub const DECIMAL128: u8 = 10;
}

const SUPPORTED_KEYS: &str = "cannot be stored in an accumulator state; supported key types are \
     null, boolean, integers, float32, float64, strings, binary, date32, date64, timestamp and \
     decimal128 (cast the key column to one of them)";

fn corrupt(message: impl Into<String>) -> CoreError {
    CoreError::CorruptState(message.into())
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of zlib, gzip and PNG.
// It detects every error burst of up to 32 bits, so in particular every single damaged byte.

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 of `bytes`, equal to Python's `zlib.crc32(bytes)`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes `state` in the current format. Fails (without writing anything) when a segment key
/// type has no encoding or the state is inconsistent.
pub fn encode(state: &State) -> Result<Vec<u8>> {
    if state.n_keys > MAX_KEYS {
        return Err(CoreError::InvalidArgument(format!(
            "an accumulator state holds at most {MAX_KEYS} key columns, this one has {}",
            state.n_keys
        )));
    }
    let mut flags = 0u16;
    if state.weighted {
        flags |= FLAG_WEIGHTED;
    }
    if state.aggregator.is_some() {
        flags |= FLAG_TALLIES;
    }
    if state.streams.is_some() {
        flags |= FLAG_REPLICATES;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(state.n_keys as u32).to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // length, patched below
    out.extend_from_slice(&state.scale.low.to_le_bytes());
    out.extend_from_slice(&state.scale.high.to_le_bytes());
    if let Some(streams) = &state.streams {
        write_streams(streams, &mut out);
    }
    if let Some(agg) = &state.aggregator {
        encode_tallies(state, agg, &mut out)?;
    }
    let length = (out.len() + CHECKSUM_LEN) as u64;
    out[16..24].copy_from_slice(&length.to_le_bytes());
    let checksum = crc32(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

fn encode_tallies(state: &State, agg: &Aggregator, out: &mut Vec<u8>) -> Result<()> {
    if agg.scale() != state.scale
        || agg.weighted() != state.weighted
        || agg.n_keys() != state.n_keys
        || agg.replicates() != state.replicates()
    {
        return Err(CoreError::InvalidArgument(
            "accumulator state is inconsistent: its tallies disagree with its scale, keys or \
             weighting"
                .into(),
        ));
    }
    let types = agg
        .key_types()
        .map(<[DataType]>::to_vec)
        .unwrap_or_default();
    if types.len() != state.n_keys {
        return Err(CoreError::InvalidArgument(
            "accumulator state is inconsistent: key type count differs from n_keys".into(),
        ));
    }
    for (j, t) in types.iter().enumerate() {
        write_type(t, j, out)?;
    }
    let grouped = agg.finish()?;
    let tallies = &grouped.tallies;
    out.extend_from_slice(&(tallies.segments() as u64).to_le_bytes());
    for (j, column) in grouped.keys.iter().enumerate() {
        write_values(column, j, out)?;
    }
    out.reserve(tallies.raw_counts().len() * 8);
    for c in tallies.raw_counts() {
        out.extend_from_slice(&c.to_le_bytes());
    }
    let (wsum, w2sum) = tallies.raw_weight_sums();
    for w in wsum.iter().chain(w2sum).chain(tallies.raw_replicates()) {
        write_exact(w, out);
    }
    Ok(())
}

fn write_streams(streams: &Streams, out: &mut Vec<u8>) {
    out.extend_from_slice(&(streams.count as u32).to_le_bytes());
    out.push(streams.seed.is_some() as u8);
    out.extend_from_slice(&streams.seed.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&streams.stream.to_le_bytes());
    out.push(streams.origin.is_some() as u8);
    out.extend_from_slice(&streams.origin.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&streams.counter.to_le_bytes());
    out.extend_from_slice(&(streams.drawn.len() as u64).to_le_bytes());
    for origin in &streams.drawn {
        out.extend_from_slice(&origin.to_le_bytes());
    }
}

fn unsupported_key(t: &DataType, j: usize) -> CoreError {
    CoreError::UnsupportedType {
        role: Role::Key(j),
        data_type: t.to_string(),
        why: SUPPORTED_KEYS,
    }
}

fn time_unit_code(unit: TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

fn write_type(t: &DataType, j: usize, out: &mut Vec<u8>) -> Result<()> {
    match t {
        DataType::Null => out.push(tag::NULL),
        DataType::Boolean => out.push(tag::BOOLEAN),
        DataType::Int64 => out.push(tag::INT64),
        DataType::Float32 => out.push(tag::FLOAT32),
        DataType::Float64 => out.push(tag::FLOAT64),
        DataType::Utf8 => out.push(tag::UTF8),
        DataType::Binary => out.push(tag::BINARY),
        DataType::Date32 => out.push(tag::DATE32),
        DataType::Date64 => out.push(tag::DATE64),
        DataType::Timestamp(unit, tz) => {
            out.push(tag::TIMESTAMP);
            out.push(time_unit_code(*unit));
            match tz {
                None => out.push(0),
                Some(tz) => {
                    out.push(1);
                    write_bytes(tz.as_bytes(), out);
                }
            }
        }
        DataType::Decimal128(precision, scale) => {
            out.push(tag::DECIMAL128);
            out.push(*precision);
            out.push(*scale as u8);
        }
        other => return Err(unsupported_key(other, j)),
    }
    Ok(())
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// One key column's values: per segment a validity byte, then the value when present.
fn write_values(column: &ArrayRef, j: usize, out: &mut Vec<u8>) -> Result<()> {
    fn each(
        column: &dyn Array,
        out: &mut Vec<u8>,
        mut value: impl FnMut(usize, &mut Vec<u8>),
    ) -> Result<()> {
        // Logical nulls: a NullArray has no validity buffer but every value is null.
        let nulls = column.logical_nulls();
        for i in 0..column.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                out.push(0);
            } else {
                out.push(1);
                value(i, out);
            }
        }
        Ok(())
    }
    fn le<T: arrow_array::ArrowPrimitiveType>(
        column: &ArrayRef,
        out: &mut Vec<u8>,
        bytes: impl Fn(T::Native) -> Vec<u8>,
    ) -> Result<()> {
        let a = column.as_primitive::<T>();
        each(a, out, |i, out| out.extend_from_slice(&bytes(a.value(i))))
    }
    match column.data_type() {
        DataType::Null => each(column.as_ref(), out, |_, _| {}),
        DataType::Boolean => {
            let a = column.as_boolean();
            each(a, out, |i, out| out.push(a.value(i) as u8))
        }
        DataType::Int64 => le::<Int64Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Float32 => le::<Float32Type>(column, out, |v| v.to_bits().to_le_bytes().to_vec()),
        DataType::Float64 => le::<Float64Type>(column, out, |v| v.to_bits().to_le_bytes().to_vec()),
        DataType::Date32 => le::<Date32Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Date64 => le::<Date64Type>(column, out, |v| v.to_le_bytes().to_vec()),
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => {
                le::<TimestampSecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Millisecond => {
                le::<TimestampMillisecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Microsecond => {
                le::<TimestampMicrosecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
            TimeUnit::Nanosecond => {
                le::<TimestampNanosecondType>(column, out, |v| v.to_le_bytes().to_vec())
            }
        },
        DataType::Decimal128(_, _) => {
            le::<Decimal128Type>(column, out, |v| v.to_le_bytes().to_vec())
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            each(a, out, |i, out| write_bytes(a.value(i).as_bytes(), out))
        }
        DataType::Binary => {
            let a = column.as_binary::<i32>();
            each(a, out, |i, out| write_bytes(a.value(i), out))
        }
        other => Err(unsupported_key(other, j)),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A bounds-checked cursor: every read either fits in the buffer or is a `CorruptState` error.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "state body ends early: {n} byte(s) needed at offset {}, {} left",
                    self.pos,
                    self.buf.len() - self.pos
                ))
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Reads a state written by [`encode`] (any version up to [`FORMAT_VERSION`]). The checksum is
/// verified before anything else is interpreted; every later read is bounds-checked.
pub fn decode(bytes: &[u8]) -> Result<State> {
    let min = HEADER_LEN + CHECKSUM_LEN;
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            corrupt(format!(
                "truncated accumulator state: {} byte(s), a state has at least {min}",
                bytes.len()
            ))
        } else {
            corrupt("not a cxmetrics accumulator state (wrong magic bytes)")
        });
    }
    if bytes[..8] != MAGIC {
        return Err(corrupt(
            "not a cxmetrics accumulator state (wrong magic bytes)",
        ));
    }
    if bytes.len() < FRAME_LEN {
        return Err(corrupt(format!(
            "truncated accumulator state: {} byte(s), a state has at least {min}",
            bytes.len()
        )));
    }
    let declared = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
    if declared != bytes.len() as u64 {
        return Err(corrupt(if declared > bytes.len() as u64 {
            format!(
                "truncated accumulator state: {} byte(s), its header says {declared} (or the \
                 header is damaged)",
                bytes.len()
            )
        } else {
            format!(
                "accumulator state has {} byte(s) but its header says {declared}: trailing data \
                 or a damaged header",
                bytes.len()
            )
        }));
    }
    if bytes.len() < min {
        return Err(corrupt(format!(
            "truncated accumulator state: {} byte(s), a state has at least {min}",
            bytes.len()
        )));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    let stored = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    let actual = crc32(body);
    if stored != actual {
        return Err(corrupt(format!(
            "accumulator state is damaged: checksum mismatch (stored {stored:#010x}, computed \
             {actual:#010x})"
        )));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION {
        return Err(corrupt(format!(
            "accumulator state has format version {version}, newer than this cxmetrics reads \
             ({FORMAT_VERSION}); upgrade cxmetrics to read it"
        )));
    }
    if version == 0 {
        return Err(corrupt(
            "accumulator state has format version 0, which does not exist",
        ));
    }
    decode_body(body, version)
}

fn decode_body(body: &[u8], version: u16) -> Result<State> {
    let mut r = Reader { buf: body, pos: 10 };
    let flags = u16::from_le_bytes(r.array()?);
    let known = if version == 1 {
        FLAG_WEIGHTED | FLAG_TALLIES
    } else {
        FLAG_WEIGHTED | FLAG_TALLIES | FLAG_REPLICATES
    };
    if flags & !known != 0 {
        return Err(corrupt(format!(
            "unknown flags {flags:#06x} in accumulator state"
        )));
    }
    let weighted = flags & FLAG_WEIGHTED != 0;
    let n_keys = r.u32()? as usize;
    if n_keys > MAX_KEYS {
        return Err(corrupt(format!(
            "accumulator state claims {n_keys} key columns (at most {MAX_KEYS})"
        )));
    }
    r.pos = FRAME_LEN;
    let (low, high) = (r.i64()?, r.i64()?);
    let scale = Scale::new(low, high)
        .map_err(|e| corrupt(format!("accumulator state has an invalid scale: {e}")))?;
    let streams = if flags & FLAG_REPLICATES != 0 {
        if !weighted {
            return Err(corrupt(
                "an unweighted accumulator state claims bootstrap replicates",
            ));
        }
        Some(read_streams(&mut r)?)
    } else {
        None
    };
    let replicates = streams.as_ref().map_or(0, |s| s.count);
    let aggregator = if flags & FLAG_TALLIES != 0 {
        Some(decode_tallies(
            &mut r, scale, weighted, n_keys, version, replicates,
        )?)
    } else {
        None
    };
    if r.remaining() != 0 {
        return Err(corrupt(format!(
            "accumulator state has {} unexpected byte(s) at offset {}",
            r.remaining(),
            r.pos
        )));
    }
    Ok(State {
        scale,
        weighted,
        n_keys,
        aggregator,
        streams,
    })
}

fn read_streams(r: &mut Reader<'_>) -> Result<Streams> {
    let count = r.u32()? as usize;
    if !(1..=MAX_REPLICATES).contains(&count) {
        return Err(corrupt(format!(
            "accumulator state claims {count} bootstrap replicates (1 to {MAX_REPLICATES})"
        )));
    }
    let option = |r: &mut Reader<'_>, what: &str| -> Result<Option<u64>> {
        let flag = r.u8()?;
        let value = r.u64()?;
        match (flag, value) {
            (0, 0) => Ok(None),
            (1, v) => Ok(Some(v)),
            _ => Err(corrupt(format!(
                "bad {what} field in accumulator state replicates"
            ))),
        }
    };
    let seed = option(r, "seed")?;
    let stream = r.u64()?;
    let origin = option(r, "origin")?;
    let counter = r.u64()?;
    let n = r.u64()?;
    if n.checked_mul(8)
        .is_none_or(|need| need > r.remaining() as u64)
    {
        return Err(corrupt(format!(
            "accumulator state claims {n} random streams but has only {} byte(s) left",
            r.remaining()
        )));
    }
    let drawn = (0..n).map(|_| r.u64()).collect::<Result<Vec<u64>>>()?;
    if drawn.windows(2).any(|w| w[0] >= w[1]) {
        return Err(corrupt(
            "accumulator state random streams are not strictly ascending",
        ));
    }
    let current_drew = origin.is_some_and(|o| drawn.binary_search(&o).is_ok());
    if counter > 0 && !current_drew {
        return Err(corrupt(
            "accumulator state random stream counter without its stream",
        ));
    }
    Ok(Streams {
        count,
        seed,
        stream,
        origin,
        counter,
        drawn,
    })
}

fn read_type(r: &mut Reader<'_>) -> Result<DataType> {
    let at = r.pos;
    Ok(match r.u8()? {
        tag::NULL => DataType::Null,
        tag::BOOLEAN => DataType::Boolean,
        tag::INT64 => DataType::Int64,
        tag::FLOAT32 => DataType::Float32,
        tag::FLOAT64 => DataType::Float64,
        tag::UTF8 => DataType::Utf8,
        tag::BINARY => DataType::Binary,
        tag::DATE32 => DataType::Date32,
        tag::DATE64 => DataType::Date64,
        tag::TIMESTAMP => {
            let unit = match r.u8()? {
                0 => TimeUnit::Second,
                1 => TimeUnit::Millisecond,
                2 => TimeUnit::Microsecond,
                3 => TimeUnit::Nanosecond,
                u => {
                    return Err(corrupt(format!(
                        "unknown time unit {u} at offset {}",
                        r.pos - 1
                    )))
                }
            };
            let tz = match r.u8()? {
                0 => None,
                1 => {
                    let tz = std::str::from_utf8(r.bytes()?)
                        .map_err(|_| corrupt("timestamp time zone is not UTF-8"))?;
                    Some(Arc::from(tz))
                }
                f => {
                    return Err(corrupt(format!(
                        "bad time zone flag {f} at offset {}",
                        r.pos - 1
                    )))
                }
            };
            DataType::Timestamp(unit, tz)
        }
        tag::DECIMAL128 => {
            let (precision, scale) = (r.u8()?, r.u8()? as i8);
            // The same bounds arrow applies to Decimal128.
            if !(1..=38).contains(&precision) || scale > precision as i8 {
                return Err(corrupt(format!(
                    "invalid decimal128({precision}, {scale}) key type at offset {at}"
                )));
            }
            DataType::Decimal128(precision, scale)
        }
        t => return Err(corrupt(format!("unknown key type tag {t} at offset {at}"))),
    })
}

fn read_column(r: &mut Reader<'_>, t: &DataType, n: usize, j: usize) -> Result<ArrayRef> {
    /// Validity flags and fixed-width payloads of `n` values.
    fn fixed<const W: usize, V>(
        r: &mut Reader<'_>,
        n: usize,
        j: usize,
        convert: impl Fn([u8; W]) -> V,
    ) -> Result<Vec<Option<V>>> {
        (0..n)
            .map(|_| match r.u8()? {
                0 => Ok(None),
                1 => Ok(Some(convert(r.array::<W>()?))),
                v => Err(corrupt(format!(
                    "bad validity byte {v} in key column {j} at offset {}",
                    r.pos - 1
                ))),
            })
            .collect()
    }
    fn prim<T: arrow_array::ArrowPrimitiveType>(
        values: Vec<Option<T::Native>>,
    ) -> PrimitiveArray<T> {
        values.into_iter().collect()
    }
    let array: ArrayRef = match t {
        DataType::Null => {
            fixed::<0, ()>(r, n, j, |_| ())?
                .iter()
                .all(Option::is_none)
                .then_some(())
                .ok_or_else(|| corrupt(format!("key column {j} of type null holds a value")))?;
            Arc::new(NullArray::new(n))
        }
        DataType::Boolean => {
            let values = fixed::<1, u8>(r, n, j, |b| b[0])?;
            if values.iter().flatten().any(|&b| b > 1) {
                return Err(corrupt(format!(
                    "key column {j}: a boolean that is neither 0 nor 1"
                )));
            }
            Arc::new(
                values
                    .into_iter()
                    .map(|b| b.map(|b| b == 1))
                    .collect::<BooleanArray>(),
            )
        }
        DataType::Int64 => Arc::new(prim::<Int64Type>(fixed(r, n, j, i64::from_le_bytes)?)),
        DataType::Float32 => Arc::new(prim::<Float32Type>(fixed(r, n, j, |b| {
            f32::from_bits(u32::from_le_bytes(b))
        })?)),
        DataType::Float64 => Arc::new(prim::<Float64Type>(fixed(r, n, j, |b| {
            f64::from_bits(u64::from_le_bytes(b))
        })?)),
        DataType::Date32 => Arc::new(prim::<Date32Type>(fixed(r, n, j, i32::from_le_bytes)?)),
        DataType::Date64 => Arc::new(prim::<Date64Type>(fixed(r, n, j, i64::from_le_bytes)?)),
        DataType::Timestamp(unit, tz) => {
            let values = fixed(r, n, j, i64::from_le_bytes)?;
            match unit {
                TimeUnit::Second => {
                    Arc::new(prim::<TimestampSecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Millisecond => {
                    Arc::new(prim::<TimestampMillisecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Microsecond => {
                    Arc::new(prim::<TimestampMicrosecondType>(values).with_timezone_opt(tz.clone()))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(prim::<TimestampNanosecondType>(values).with_timezone_opt(tz.clone()))
                }
            }
        }
        DataType::Decimal128(precision, scale) => {
            let values = fixed(r, n, j, i128::from_le_bytes)?;
            let a: Decimal128Array = prim::<Decimal128Type>(values)
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| corrupt(format!("key column {j}: {e}")))?;
            Arc::new(a)
        }
        DataType::Utf8 | DataType::Binary => {
            let mut values: Vec<Option<&[u8]>> = Vec::with_capacity(n);
            for _ in 0..n {
                values.push(match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes()?),
                    v => {
                        return Err(corrupt(format!(
                            "bad validity byte {v} in key column {j} at offset {}",
                            r.pos - 1
                        )))
                    }
                });
            }
            if matches!(t, DataType::Binary) {
                Arc::new(BinaryArray::from(values))
            } else {
                let strings = values
                    .into_iter()
                    .map(|v| v.map(std::str::from_utf8).transpose())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|_| corrupt(format!("key column {j}: a string that is not UTF-8")))?;
                Arc::new(StringArray::from(strings))
            }
        }
        other => return Err(corrupt(format!("key type {other} has no decoder"))),
    };
    Ok(array)
}

fn decode_tallies(
    r: &mut Reader<'_>,
    scale: Scale,
    weighted: bool,
    n_keys: usize,
    version: u16,
    replicates: usize,
) -> Result<Aggregator> {
    if n_keys > r.remaining() {
        return Err(corrupt("accumulator state ends inside its key types"));
    }
    let types = (0..n_keys)
        .map(|_| read_type(r))
        .collect::<Result<Vec<_>>>()?;
    let n_segments = r.u64()?;
    let k = scale.points();
    // The smallest a segment can be on the wire; bounds every allocation below by the input size.
    let sum_len = if version == 1 { 8 } else { EXACT_LEN };
    let per_segment = n_keys
        + (k + 2) * 8
        + if weighted {
            (2 + replicates) * k * sum_len
        } else {
            0
        };
    if n_segments
        .checked_mul(per_segment as u64)
        .is_none_or(|need| need > r.remaining() as u64)
    {
        return Err(corrupt(format!(
            "accumulator state claims {n_segments} segments but has only {} byte(s) left",
            r.remaining()
        )));
    }
    let n = n_segments as usize;
    if n_keys == 0 && n != 1 {
        return Err(corrupt(format!(
            "an unsegmented accumulator state must have one segment, found {n}"
        )));
    }
    let columns = types
        .iter()
        .enumerate()
        .map(|(j, t)| read_column(r, t, n, j))
        .collect::<Result<Vec<_>>>()?;

    let counts = (0..n * (k + 2))
        .map(|_| r.u64())
        .collect::<Result<Vec<u64>>>()?;
    let mut total = 0u64;
    for &c in &counts {
        total = total
            .checked_add(c)
            .ok_or_else(|| corrupt("accumulator state counts overflow 64 bits"))?;
    }
    let (wsum, w2sum) = if weighted {
        let mut sums = (0..2 * n * k)
            .map(|_| read_sum(r, version))
            .collect::<Result<Vec<ExactSum>>>()?;
        let w2sum = sums.split_off(n * k);
        check_weight_sums(&counts, k, &sums, &w2sum)?;
        (sums, w2sum)
    } else {
        (Vec::new(), Vec::new())
    };
    let rep = (0..n * replicates * k)
        .map(|_| read_sum(r, version))
        .collect::<Result<Vec<ExactSum>>>()?;
    check_replicate_sums(&counts, k, replicates, &rep)?;
    let tallies = Tallies::from_parts(k, weighted, counts, wsum, w2sum, replicates, rep)?;

    let key_rows = if n_keys == 0 {
        Vec::new()
    } else {
        let mut index = KeyIndex::new(types.clone())
            .map_err(|e| corrupt(format!("accumulator state key types are unusable: {e}")))?;
        let ids = index
            .intern(&columns)
            .map_err(|e| corrupt(format!("accumulator state keys are unusable: {e}")))?;
        if ids.iter().enumerate().any(|(i, &id)| id as usize != i) {
            return Err(corrupt("accumulator state lists the same segment twice"));
        }
        (0..n as u32)
            .map(|id| index.row_bytes(id).to_vec())
            .collect()
    };
    Aggregator::from_parts(scale, Some(types), key_rows, tallies)
}

/// Bytes of one exact sum on the wire.
const EXACT_LEN: usize = 32;

fn write_exact(sum: &ExactSum, out: &mut Vec<u8>) {
    for limb in sum.limbs() {
        out.extend_from_slice(&limb.to_le_bytes());
    }
}

/// One weight sum: four limbs (version 2) or a float made exact (version 1).
fn read_sum(r: &mut Reader<'_>, version: u16) -> Result<ExactSum> {
    if version == 1 {
        let w = f64::from_bits(r.u64()?);
        return ExactSum::from_f64(w)
            .ok_or_else(|| corrupt(format!("accumulator state has a weight sum of {w}")));
    }
    Ok(ExactSum::from_limbs([
        r.u64()?,
        r.u64()?,
        r.u64()?,
        r.u64()?,
    ]))
}

/// Weight sums must be zero where there are no responses and at most what `count` weights in
/// range can add up to, so that no merge of valid states can overflow.
fn check_weight_sums(
    counts: &[u64],
    k: usize,
    wsum: &[ExactSum],
    w2sum: &[ExactSum],
) -> Result<()> {
    for (which, sums, max) in [
        ("Σw", wsum, MAX_WEIGHT),
        ("Σw²", w2sum, MAX_WEIGHT * MAX_WEIGHT),
    ] {
        for (cell, sum) in sums.iter().enumerate() {
            let count = counts[cell / k * (k + 2) + cell % k];
            let value = sum.to_f64();
            if count == 0 && !sum.is_zero() {
                return Err(corrupt(format!(
                    "accumulator state has {which} = {value} for a scale value without responses"
                )));
            }
            if value > count as f64 * max {
                return Err(corrupt(format!(
                    "accumulator state has {which} = {value} for {count} response(s), more than \
                     weights in range can add up to"
                )));
            }
        }
    }
    Ok(())
}

/// Replicate sums Σ m·w must be zero without responses, and at most what the largest Poisson
/// count of that many weights in range can add up to.
fn check_replicate_sums(
    counts: &[u64],
    k: usize,
    replicates: usize,
    rep: &[ExactSum],
) -> Result<()> {
    for (cell, sum) in rep.iter().enumerate() {
        let (segment, point) = (cell / (replicates * k), cell / replicates % k);
        let count = counts[segment * (k + 2) + point];
        if count == 0 && !sum.is_zero()
            || sum.to_f64() > count as f64 * MAX_POISSON as f64 * MAX_WEIGHT
        {
            return Err(corrupt(format!(
                "accumulator state has a bootstrap replicate sum of {} for {count} response(s)",
                sum.to_f64()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
