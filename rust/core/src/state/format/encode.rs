//! Writing a state: the frame, the body, the definition, the replicate streams and the tallies (key columns
//! through `keys`). Canonical: segments in key order and exact sums, so equal contents give
//! equal bytes.

use arrow_schema::DataType;

use super::crc::crc32;
use super::definition::write_definition;
use super::keys::{write_type, write_values};
use super::*;
use crate::error::{CoreError, Result};
use crate::exact_sum::ExactSum;
use crate::keyed_tallies::KeyedTallies;
use crate::state::{AccumulatorState, Definition};
use crate::streams::ReplicateStreams;

/// Writes `state` in the current format, without a definition. Fails (without writing
/// anything) when a segment key type has no encoding.
pub fn encode(state: &AccumulatorState) -> Result<Vec<u8>> {
    encode_with(state, None)
}

/// Writes an accumulator: its definition and its state (None: column mode before any data).
/// Fails when the definition is invalid or does not match the state.
pub fn encode_accumulator(
    definition: &Definition,
    state: Option<&AccumulatorState>,
) -> Result<Vec<u8>> {
    definition.check()?;
    definition.check_state(state)?;
    match state {
        Some(state) => encode_with(state, Some(definition)),
        None => encode_with(
            &AccumulatorState::new(definition.scale, false, 0, None)?,
            Some(definition),
        ),
    }
}

fn encode_with(state: &AccumulatorState, definition: Option<&Definition>) -> Result<Vec<u8>> {
    if state.n_keys() > MAX_KEYS {
        return Err(CoreError::InvalidArgument(format!(
            "an accumulator state holds at most {MAX_KEYS} key columns, this one has {}",
            state.n_keys()
        )));
    }
    let mut flags = 0u16;
    if state.weighted() {
        flags |= FLAG_WEIGHTED;
    }
    if state.aggregator().is_some() {
        flags |= FLAG_TALLIES;
    }
    if state.streams().is_some() {
        flags |= FLAG_REPLICATES;
    }
    if definition.is_some() {
        flags |= FLAG_DEFINITION;
    }
    let mut out = Vec::with_capacity(HEADER_LEN + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(state.n_keys() as u32).to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // length, patched below
    out.extend_from_slice(&state.scale().low.to_le_bytes());
    out.extend_from_slice(&state.scale().high.to_le_bytes());
    if let Some(definition) = definition {
        write_definition(definition, &mut out);
    }
    if let Some(streams) = state.streams() {
        write_streams(streams, &mut out);
    }
    if let Some(agg) = state.aggregator() {
        encode_tallies(agg, &mut out)?;
    }
    let length = (out.len() + CHECKSUM_LEN) as u64;
    out[16..24].copy_from_slice(&length.to_le_bytes());
    let checksum = crc32(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

fn encode_tallies(agg: &KeyedTallies, out: &mut Vec<u8>) -> Result<()> {
    // The state's constructor lays out its aggregator: scale, weighting, keys and replicates
    // agree by construction (see `state`).
    let types = agg
        .key_types()
        .map(<[DataType]>::to_vec)
        .unwrap_or_default();
    for (j, t) in types.iter().enumerate() {
        write_type(t, j, out)?;
    }
    // Segments are written in key order, read through the order from the tallies in place
    // (no reordered copy of the tallies).
    let in_order = agg.key_order()?;
    let tallies = agg.tallies();
    let segments = in_order.order.as_ref().map_or(tallies.segments(), Vec::len);
    let at = |i: usize| in_order.order.as_ref().map_or(i, |o| o[i] as usize);
    out.extend_from_slice(&(segments as u64).to_le_bytes());
    for (j, column) in in_order.keys.iter().enumerate() {
        write_values(column, j, out)?;
    }
    let stride = tallies.points() + 2;
    let raw = tallies.raw_counts();
    out.reserve(raw.len() * 8);
    for i in 0..segments {
        let s = at(i);
        for c in &raw[s * stride..(s + 1) * stride] {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    let (wsum, w2sum) = tallies.raw_weight_sums();
    let points = tallies.points();
    let per_replicates = points * tallies.replicates();
    for (sums, per) in [
        (wsum, points),
        (w2sum, points),
        (tallies.raw_replicates(), per_replicates),
    ] {
        if sums.is_empty() {
            continue;
        }
        for i in 0..segments {
            let s = at(i);
            for w in &sums[s * per..(s + 1) * per] {
                write_exact(w, out);
            }
        }
    }
    Ok(())
}

fn write_streams(streams: &ReplicateStreams, out: &mut Vec<u8>) {
    out.extend_from_slice(&(streams.replicates as u32).to_le_bytes());
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

fn write_exact(sum: &ExactSum, out: &mut Vec<u8>) {
    for limb in sum.limbs() {
        out.extend_from_slice(&limb.to_le_bytes());
    }
}
