//! Reading a state: the frame (magic, length, checksum, version) before anything else, then
//! the body, every read bounds-checked and every value validated, so that damaged, foreign or
//! newer bytes give [`CoreError::CorruptState`] and never a panic or a wrong state.

use super::crc::crc32;
use super::definition::read_definition;
use super::keys::{read_column, read_type};
use super::reader::Reader;
use super::*;
use crate::error::Result;
use crate::exact_sum::{ExactSum, MAX_WEIGHT};
use crate::group::KeyIndex;
use crate::keyed_tallies::KeyedTallies;
use crate::scale::Scale;
use crate::state::{AccumulatorState, Definition};
use crate::streams::{ReplicateStreams, MAX_REPLICATES};
use crate::tally::poisson::MAX_POISSON;
use crate::tally::Tallies;

/// Reads a state written by [`encode`] (any version up to [`FORMAT_VERSION`]). The checksum is
/// verified before anything else is interpreted; every later read is bounds-checked. A
/// definition, if the bytes hold one, is validated and left out.
pub fn decode(bytes: &[u8]) -> Result<AccumulatorState> {
    let (definition, state) = decode_parts(bytes)?;
    if let Some(definition) = definition {
        checked(definition, &state)?;
    }
    Ok(state)
}

/// Reads an accumulator written by [`encode_accumulator`](super::encode_accumulator): its
/// definition (None for formats 1 and 2 and bare states) and its state (None when the
/// definition names no score column yet: column mode before any data). The definition is
/// checked against the state; every fault is `CorruptState`.
pub fn decode_accumulator(bytes: &[u8]) -> Result<(Option<Definition>, Option<AccumulatorState>)> {
    let (definition, state) = decode_parts(bytes)?;
    let Some(definition) = definition else {
        return Ok((None, Some(state)));
    };
    let definition = checked(definition, &state)?;
    let state = definition.score.is_some().then_some(state);
    Ok((Some(definition), state))
}

/// The definition read from a state's bytes, with the state's replicate settings, once checked
/// against the state (which is a placeholder when the definition names no columns yet).
fn checked(mut definition: Definition, state: &AccumulatorState) -> Result<Definition> {
    definition.replicates = state.streams().map(|s| (s.replicates, s.seed));
    let state = if definition.score.is_none() {
        if state.weighted() || state.n_keys() != 0 || state.aggregator().is_some() {
            return Err(corrupt(
                "accumulator definition names no columns but its state holds tallies",
            ));
        }
        None
    } else {
        Some(state)
    };
    definition.check_state(state).map_err(|e| {
        corrupt(format!(
            "accumulator definition does not match its state: {e}"
        ))
    })?;
    Ok(definition)
}

fn decode_parts(bytes: &[u8]) -> Result<(Option<Definition>, AccumulatorState)> {
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

fn decode_body(body: &[u8], version: u16) -> Result<(Option<Definition>, AccumulatorState)> {
    let mut r = Reader { buf: body, pos: 10 };
    let flags = u16::from_le_bytes(r.array()?);
    let known = match version {
        1 => FLAG_WEIGHTED | FLAG_TALLIES,
        2 => FLAG_WEIGHTED | FLAG_TALLIES | FLAG_REPLICATES,
        _ => FLAG_WEIGHTED | FLAG_TALLIES | FLAG_REPLICATES | FLAG_DEFINITION,
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
    let definition = if flags & FLAG_DEFINITION != 0 {
        Some(read_definition(&mut r, scale)?)
    } else {
        None
    };
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
    let replicates = streams.as_ref().map_or(0, |s| s.replicates);
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
    Ok((
        definition,
        AccumulatorState {
            scale,
            weighted,
            n_keys,
            aggregator,
            streams,
        },
    ))
}

fn read_streams(r: &mut Reader<'_>) -> Result<ReplicateStreams> {
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
    Ok(ReplicateStreams {
        replicates: count,
        seed,
        stream,
        origin,
        counter,
        drawn,
    })
}

fn decode_tallies(
    r: &mut Reader<'_>,
    scale: Scale,
    weighted: bool,
    n_keys: usize,
    version: u16,
    replicates: usize,
) -> Result<KeyedTallies> {
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

    if n_keys == 0 {
        return KeyedTallies::from_parts(scale, Some(types), Vec::new(), tallies);
    }
    let mut index = KeyIndex::new(types)
        .map_err(|e| corrupt(format!("accumulator state key types are unusable: {e}")))?;
    let ids = index
        .intern(&columns)
        .map_err(|e| corrupt(format!("accumulator state keys are unusable: {e}")))?;
    if ids.iter().enumerate().any(|(i, &id)| id as usize != i) {
        return Err(corrupt("accumulator state lists the same segment twice"));
    }
    // The index just built is the aggregator's (no copy of every key's bytes, no second
    // interning).
    KeyedTallies::from_index(scale, index, tallies)
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
