//! The mergeable state of a driver analysis: per segment, the exact Gram matrix of the rows
//! used, their count, the rows dropped for a missing value, and B Poisson-bootstrap replicate
//! Gram matrices drawn during the pass (each row counted m ~ Poisson(1) times in each, from the
//! project's seeded replicate streams, [`crate::streams`]).
//!
//! One pass over Arrow columns: values are checked and converted, rows are grouped by segment,
//! and blocks of [`BLOCK_ROWS`] rows are accumulated in parallel (rayon), each block drawing its
//! replicate counts from its own generator, so the state depends only on the data and the seed,
//! never on the thread count; since every sum is exact, neither on how batches are split or
//! merged.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array};
use arrow_schema::DataType;
use rand::RngCore;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::gram::{row_terms, triangle, Gram};
use super::segments::row_segments;
use crate::error::{CoreError, Result, Role};
use crate::exact_sum::weight_in_range;
use crate::streams::{replicate_block_rng as block_generator, ReplicateStreams as Streams};
use crate::tally::poisson::{poisson_one, BLOCK_ROWS};

/// Outcome and driver values must be below this in magnitude (2^26 ≈ 6.7e7), so every Gram
/// term w·a·b stays below [`super::signed_sum::MAX_TERM`].
pub const MAX_VALUE: f64 = 67_108_864.0;

/// The statistics of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Rows used (no missing value).
    pub n: u64,
    /// Rows dropped because the outcome or a driver was missing (null or NaN).
    pub dropped: u64,
    /// Gram matrix of the rows used.
    pub gram: Gram,
    /// One Gram matrix per bootstrap replicate, each row counted m ~ Poisson(1) times.
    pub replicates: Vec<Gram>,
}

impl Segment {
    /// An empty segment: a zero Gram matrix of side `k` and `replicates` zero replicates.
    pub fn new(k: usize, replicates: usize) -> Self {
        Self {
            n: 0,
            dropped: 0,
            gram: Gram::new(k),
            replicates: vec![Gram::new(k); replicates],
        }
    }

    /// Adds another segment's rows (same k and number of replicates), exactly.
    pub fn merge(&mut self, other: &Segment) {
        self.n += other.n;
        self.dropped += other.dropped;
        self.gram.merge(&other.gram);
        for (a, b) in self.replicates.iter_mut().zip(&other.replicates) {
            a.merge(b);
        }
    }
}

/// One batch's columns: outcome, p drivers, an optional weight and the segment key columns.
pub struct Columns<'a> {
    /// The outcome y (numeric).
    pub outcome: &'a ArrayRef,
    /// The p driver columns x1..xp (numeric).
    pub drivers: &'a [ArrayRef],
    /// Row weights, given exactly when the analysis is weighted.
    pub weight: Option<&'a ArrayRef>,
    /// The segment key columns (none: one segment).
    pub keys: &'a [ArrayRef],
}

/// Driver statistics of every segment, mergeable. Roles in errors: the outcome is
/// `Role::Score`, driver j is `Role::Key(j)`, segment key i is `Role::Key(p + i)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriversState {
    /// Number of drivers (1 to 64).
    pub p: usize,
    /// Number of segment key columns.
    pub n_keys: usize,
    /// Whether every batch has a weight column.
    pub weighted: bool,
    /// The replicate streams; None: no bootstrap replicates.
    pub streams: Option<Streams>,
    /// Segments by encoded key (see [`super::segments`]).
    pub segments: BTreeMap<Vec<u8>, Segment>,
}

impl DriversState {
    /// An empty state; refuses p = 0 or p > 64.
    pub fn new(p: usize, n_keys: usize, weighted: bool, streams: Option<Streams>) -> Result<Self> {
        if p == 0 {
            return Err(CoreError::InvalidArgument(
                "driver analysis needs at least one driver".into(),
            ));
        }
        if p > 64 {
            return Err(CoreError::InvalidArgument(format!(
                "at most 64 drivers are supported, got {p}"
            )));
        }
        Ok(Self {
            p,
            n_keys,
            weighted,
            streams,
            segments: BTreeMap::new(),
        })
    }

    /// k = p + 2: the Gram matrix is of [1, y, x1..xp].
    pub fn k(&self) -> usize {
        self.p + 2
    }

    /// B, the number of bootstrap replicates (0 without streams).
    pub fn replicates(&self) -> usize {
        self.streams.as_ref().map_or(0, |s| s.replicates)
    }

    /// Adds one batch; `first_row` numbers its rows in error messages. On error nothing changes.
    pub fn update(&mut self, columns: &Columns<'_>, first_row: u64) -> Result<()> {
        let len = columns.outcome.len();
        if columns.drivers.len() != self.p || columns.keys.len() != self.n_keys {
            return Err(CoreError::InvalidArgument(format!(
                "expected {} drivers and {} segment keys, got {} and {}",
                self.p,
                self.n_keys,
                columns.drivers.len(),
                columns.keys.len()
            )));
        }
        if columns.weight.is_some() != self.weighted {
            return Err(CoreError::InvalidArgument(
                "a weight column must be given for every batch of a weighted analysis, and only \
                 then"
                    .into(),
            ));
        }
        let same_length = |a: &ArrayRef, role: Role| {
            if a.len() == len {
                Ok(())
            } else {
                Err(CoreError::LengthMismatch {
                    role,
                    expected: len as u64,
                    actual: a.len() as u64,
                })
            }
        };
        for (j, d) in columns.drivers.iter().enumerate() {
            same_length(d, Role::Key(j))?;
        }
        if let Some(w) = columns.weight {
            same_length(w, Role::Weight)?;
        }
        for (i, key) in columns.keys.iter().enumerate() {
            same_length(key, Role::Key(self.p + i))?;
        }
        let mut values = vec![numeric(columns.outcome, Role::Score, first_row)?];
        for (j, d) in columns.drivers.iter().enumerate() {
            values.push(numeric(d, Role::Key(j), first_row)?);
        }
        let weights = columns.weight.map(|w| weights(w, first_row)).transpose()?;
        let segments = row_segments(columns.keys, len, self.p)?;
        let draw = self.streams.as_ref().map(Streams::next_draw);
        let (k, b) = (self.k(), self.replicates());
        let n_blocks = len.div_ceil(BLOCK_ROWS);
        let accumulate_block = |mut acc: FxHashMap<u32, Segment>, block: usize| {
            let mut rng = draw.map(|d| block_generator(d.key, block as u64));
            let mut c = vec![1.0; k];
            let mut terms = vec![0.0; triangle(k)];
            for row in block * BLOCK_ROWS..((block + 1) * BLOCK_ROWS).min(len) {
                let seg = acc
                    .entry(segments.local[row])
                    .or_insert_with(|| Segment::new(k, b));
                let mut missing = false;
                for (slot, column) in c[1..].iter_mut().zip(&values) {
                    let v = if column.is_valid(row) {
                        column.value(row)
                    } else {
                        f64::NAN
                    };
                    missing |= v.is_nan();
                    *slot = v;
                }
                if missing {
                    seg.dropped += 1;
                    continue;
                }
                let w = weights.as_ref().map_or(1.0, |w| w.value(row));
                row_terms(w, &c, &mut terms);
                seg.n += 1;
                seg.gram.add_terms(&terms, 1);
                if let Some(rng) = rng.as_mut() {
                    for replicate in seg.replicates.iter_mut() {
                        let m = poisson_one(rng.next_u32());
                        if m > 0 {
                            replicate.add_terms(&terms, m);
                        }
                    }
                }
            }
            acc
        };
        let merged = (0..n_blocks)
            .into_par_iter()
            .fold(FxHashMap::default, accumulate_block)
            .reduce(FxHashMap::default, |mut a, b| {
                for (id, seg) in b {
                    match a.get_mut(&id) {
                        Some(s) => s.merge(&seg),
                        None => {
                            a.insert(id, seg);
                        }
                    }
                }
                a
            });
        for (local, seg) in merged {
            let key = &segments.keys[local as usize];
            match self.segments.get_mut(key) {
                Some(s) => s.merge(&seg),
                None => {
                    self.segments.insert(key.clone(), seg);
                }
            }
        }
        if let (Some(streams), Some(draw)) = (self.streams.as_mut(), draw) {
            streams.commit(draw);
        }
        Ok(())
    }

    /// The state of both inputs' rows. Refuses states of other shapes, and replicates drawn from
    /// one stream (see [`Streams::merge`]).
    pub fn merge(&self, other: &DriversState) -> Result<DriversState> {
        if (self.p, self.n_keys, self.weighted) != (other.p, other.n_keys, other.weighted) {
            return Err(CoreError::InvalidArgument(format!(
                "cannot merge driver statistics of different shapes ({} drivers, {} keys, \
                 weighted={} and {} drivers, {} keys, weighted={})",
                self.p, self.n_keys, self.weighted, other.p, other.n_keys, other.weighted
            )));
        }
        let streams = match (&self.streams, &other.streams) {
            (None, None) => None,
            (Some(a), Some(b)) => Some(a.merge(b)?),
            _ => {
                return Err(CoreError::InvalidArgument(
                    "cannot merge driver statistics with and without bootstrap replicates".into(),
                ))
            }
        };
        let mut segments = self.segments.clone();
        for (key, seg) in &other.segments {
            match segments.get_mut(key) {
                Some(s) => s.merge(seg),
                None => {
                    segments.insert(key.clone(), seg.clone());
                }
            }
        }
        Ok(DriversState {
            streams,
            segments,
            ..self.clone()
        })
    }
}

/// A numeric column as floats (null stays null), refusing infinite or too large values.
fn numeric(column: &ArrayRef, role: Role, first_row: u64) -> Result<Float64Array> {
    let t = column.data_type();
    if !(t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null)) {
        return Err(CoreError::UnsupportedType {
            role,
            data_type: t.to_string(),
            why: "outcomes and drivers must be numeric or boolean",
        });
    }
    let cast = arrow_cast::cast(column, &DataType::Float64)?;
    let values = cast.as_primitive::<Float64Type>().clone();
    let bad = |v: f64| v.is_infinite() || v.abs() >= MAX_VALUE;
    let mut count = 0u64;
    let mut first = None;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v.filter(|&v| bad(v)) {
            count += 1;
            first.get_or_insert((i, v));
        }
    }
    match first {
        None => Ok(values),
        Some((row, value)) => Err(CoreError::InvalidScore {
            role,
            count,
            first_row: first_row + row as u64,
            first_value: value.to_string(),
        }),
    }
}

/// The weight column as floats, refusing nulls and weights out of the exact range.
fn weights(column: &ArrayRef, first_row: u64) -> Result<Float64Array> {
    let t = column.data_type();
    if !t.is_numeric() {
        return Err(CoreError::UnsupportedType {
            role: Role::Weight,
            data_type: t.to_string(),
            why: "weights must be numeric",
        });
    }
    let cast = arrow_cast::cast(column, &DataType::Float64)?;
    let values = cast.as_primitive::<Float64Type>().clone();
    let mut count = 0u64;
    let mut first: Option<(usize, String)> = None;
    for (i, v) in values.iter().enumerate() {
        let ok = v.is_some_and(weight_in_range);
        if !ok {
            count += 1;
            first.get_or_insert((i, v.map_or("null".into(), |v| v.to_string())));
        }
    }
    match first {
        None => Ok(values),
        Some((row, value)) => Err(CoreError::InvalidWeight {
            role: Role::Weight,
            count,
            first_row: first_row + row as u64,
            first_value: value,
        }),
    }
}
