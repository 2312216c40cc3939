//! The mergeable state of a driver analysis: per segment, the exact Gram matrix of the rows
//! used, their count, the rows dropped for a missing value, and what the bootstrap replicates
//! come from ([`Resampling`]): the histogram of distinct tuples (drawn when reported,
//! [`super::tuples`]), or past [`MAX_TUPLES`] distinct tuples B Poisson-bootstrap replicate Gram
//! matrices drawn during the pass (each row counted m ~ Poisson(1) times in each, from the
//! project's seeded replicate streams, [`crate::streams`]).
//!
//! One pass over Arrow columns: values are checked and converted, rows are grouped by segment,
//! and blocks of [`BLOCK_ROWS`] rows are accumulated in parallel (rayon), each block drawing its
//! replicate counts from its own generator, so the state depends only on the data and the seed,
//! never on the thread count; since every sum is exact, neither on how batches are split or
//! merged (nor, with tuples, are the replicates).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef, Float64Array};
use arrow_schema::DataType;
use rand::RngCore;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::block_sum::add_rows;
use super::gram::{row_terms, triangle, Gram};
use super::segments::row_segments;
use super::tuples::{bootstrap_key, tuple_of, Draws, Tuples, MAX_TUPLES};
use crate::error::{CoreError, Result, Role};
use crate::exact_sum::weight_in_range;
use crate::streams::{replicate_block_rng as block_generator, Draw, ReplicateStreams as Streams};
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
    /// One Gram matrix per bootstrap replicate, each row counted m ~ Poisson(1) times (kept
    /// when replicates are drawn per row; empty while they come from `tuples`).
    pub replicates: Vec<Gram>,
    /// The histogram of the rows' distinct tuples (kept while replicates come from it).
    pub tuples: Tuples,
}

impl Segment {
    /// An empty segment: a zero Gram matrix of side `k` and `replicates` zero replicates.
    pub fn new(k: usize, replicates: usize) -> Self {
        Self {
            n: 0,
            dropped: 0,
            gram: Gram::new(k),
            replicates: vec![Gram::new(k); replicates],
            tuples: Tuples::default(),
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
        for (tuple, n) in &other.tuples {
            *self.tuples.entry(tuple.clone()).or_insert(0) += n;
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
    /// Where the bootstrap replicates come from (with streams).
    pub resampling: Resampling,
    /// Segments by encoded key (see [`super::segments`]).
    pub segments: BTreeMap<Vec<u8>, Segment>,
}

/// Where a state's bootstrap replicates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resampling {
    /// Drawn when reported, from the histogram of distinct tuples ([`super::tuples`]): the same
    /// for any partitioning of the rows.
    Tuples,
    /// Drawn per row as rows arrive, from the replicate streams: valid, but the draws depend on
    /// how rows were split into batches and partitions.
    Rows,
}

/// What one pass over a batch's blocks gathers.
#[derive(Default)]
struct Pass {
    segments: FxHashMap<u32, Segment>,
    distinct: usize,
    overflow: bool,
}

impl Pass {
    fn merge(mut self, other: Pass) -> Pass {
        for (id, seg) in other.segments {
            match self.segments.get_mut(&id) {
                Some(s) => {
                    let before = s.tuples.len();
                    s.merge(&seg);
                    self.distinct += s.tuples.len() - before;
                }
                None => {
                    self.distinct += seg.tuples.len();
                    self.segments.insert(id, seg);
                }
            }
        }
        self.overflow |= other.overflow || self.distinct > MAX_TUPLES;
        self
    }
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
            resampling: if streams.is_some() {
                Resampling::Tuples
            } else {
                Resampling::Rows
            },
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
        let (k, replicates) = (self.k(), self.replicates());
        let n_blocks = len.div_ceil(BLOCK_ROWS);
        // Whether each row of rows start..end has every value (column by column: vectorizes).
        let complete = |start: usize, end: usize| -> Vec<bool> {
            let mut ok = vec![true; end - start];
            for column in &values {
                let block = &column.values()[start..end];
                let nulls = column
                    .nulls()
                    .filter(|n| n.slice(start, end - start).null_count() > 0);
                if nulls.is_none() && !block.iter().fold(false, |any, v| any | v.is_nan()) {
                    continue; // every row has this value (a branch-free scan first)
                }
                for (o, v) in ok.iter_mut().zip(block) {
                    *o &= !v.is_nan();
                }
                if let Some(nulls) = column.nulls() {
                    for (i, o) in ok.iter_mut().enumerate() {
                        *o &= nulls.is_valid(start + i);
                    }
                }
            }
            ok
        };
        // One pass: per segment the exact Gram, the counts, and either the histogram of tuples
        // (`tuples`) or B replicates drawn per row (`rows`: the update's draw key). A pass that
        // collects tuples stops collecting (and reports it) once it holds MAX_TUPLES.
        let pass = |tuples: bool, rows: Option<Draw>| {
            let b = if rows.is_some() { replicates } else { 0 };
            let accumulate_block = |mut acc: Pass, block: usize| {
                if crate::cancel::requested() {
                    return acc; // Ctrl-C: the rest is skipped and the pass refused below
                }
                let (start, end) = (block * BLOCK_ROWS, ((block + 1) * BLOCK_ROWS).min(len));
                let ok = complete(start, end);
                let locals = &segments.local[start..end];
                // The block's complete rows per segment, in first-seen order (None: all its
                // rows, when they are one segment without missing values: no per-row work).
                let mut order: Vec<(u32, Option<Vec<usize>>)> = Vec::new();
                if ok.iter().all(|&o| o) && locals.iter().all(|&l| l == locals[0]) {
                    acc.segments
                        .entry(locals[0])
                        .or_insert_with(|| Segment::new(k, b));
                    order.push((locals[0], None));
                } else {
                    let mut slot: FxHashMap<u32, usize> = FxHashMap::default();
                    for (i, (&local, &complete)) in locals.iter().zip(&ok).enumerate() {
                        let seg = acc
                            .segments
                            .entry(local)
                            .or_insert_with(|| Segment::new(k, b));
                        if !complete {
                            seg.dropped += 1;
                            continue;
                        }
                        let at = *slot.entry(local).or_insert_with(|| {
                            order.push((local, Some(Vec::new())));
                            order.len() - 1
                        });
                        if let Some(rows) = order[at].1.as_mut() {
                            rows.push(start + i);
                        }
                    }
                }
                // The exact Gram of each segment's rows (see block_sum): the columns themselves
                // when the block is one segment without missing values, else gathered.
                let mut tuple = Vec::with_capacity(k);
                for (local, used) in &order {
                    let seg = acc.segments.get_mut(local).expect("inserted above");
                    let gathered: Vec<Vec<f64>> = match used {
                        None => Vec::new(),
                        Some(used) => values
                            .iter()
                            .map(|c| used.iter().map(|&r| c.value(r)).collect())
                            .collect(),
                    };
                    let columns: Vec<&[f64]> = match used {
                        None => values.iter().map(|c| &c.values()[start..end]).collect(),
                        Some(_) => gathered.iter().map(Vec::as_slice).collect(),
                    };
                    let gathered_w: Option<Vec<f64>> = match (used, &weights) {
                        (Some(used), Some(w)) => Some(used.iter().map(|&r| w.value(r)).collect()),
                        _ => None,
                    };
                    let w: Option<&[f64]> = match (&gathered_w, &weights) {
                        (Some(g), _) => Some(g),
                        (None, Some(w)) => Some(&w.values()[start..end]),
                        (None, None) => None,
                    };
                    let rows = used.as_ref().map_or(end - start, Vec::len);
                    add_rows(&mut seg.gram, &columns, w);
                    seg.n += rows as u64;
                    if tuples && !acc.overflow {
                        for i in 0..rows {
                            let weight = w.map(|w| w[i]);
                            tuple_of(columns.iter().map(|c| c[i]), weight, &mut tuple);
                            match seg.tuples.get_mut(tuple.as_slice()) {
                                Some(n) => *n += 1,
                                None => {
                                    seg.tuples.insert(tuple.clone(), 1);
                                    acc.distinct += 1;
                                }
                            }
                        }
                        acc.overflow = acc.distinct > MAX_TUPLES;
                    }
                }
                // Replicates per row: each complete row, in row order, draws B Poisson(1) counts.
                let Some(mut rng) = rows.map(|d| block_generator(d.key, block as u64)) else {
                    return acc;
                };
                let mut c = vec![1.0; k];
                let mut terms = vec![0.0; triangle(k)];
                for row in (start..end).filter(|&r| ok[r - start]) {
                    for (slot, column) in c[1..].iter_mut().zip(&values) {
                        *slot = column.value(row);
                    }
                    let w = weights.as_ref().map_or(1.0, |w| w.value(row));
                    row_terms(w, &c, &mut terms);
                    let seg = acc
                        .segments
                        .get_mut(&segments.local[row])
                        .expect("inserted");
                    for replicate in seg.replicates.iter_mut() {
                        let m = poisson_one(rng.next_u32());
                        if m > 0 {
                            replicate.add_terms(&terms, m);
                        }
                    }
                }
                acc
            };
            (0..n_blocks)
                .into_par_iter()
                .fold(Pass::default, accumulate_block)
                .reduce(Pass::default, Pass::merge)
        };
        let by_tuples = self.streams.is_some() && self.resampling == Resampling::Tuples;
        let mut merged = pass(by_tuples, draw.filter(|_| !by_tuples));
        // A cancelled pass is incomplete: the state keeps none of it.
        crate::cancel::checkpoint()?;
        let mut convert = false;
        if by_tuples && merged.overflow {
            // Too many distinct tuples in this batch: replicates per row from here on (the
            // state is switched only once the pass is complete).
            merged = pass(false, draw);
            crate::cancel::checkpoint()?;
            self.switch_to_rows(draw.map_or(0, |d| d.key));
        } else if by_tuples {
            convert = true; // checked once the batch is merged in
        }
        for (local, seg) in merged.segments {
            let key = &segments.keys[local as usize];
            match self.segments.get_mut(key) {
                Some(s) => s.merge(&seg),
                None => {
                    self.segments.insert(key.clone(), seg);
                }
            }
        }
        if convert && self.distinct_tuples() > MAX_TUPLES {
            self.switch_to_rows(draw.map_or(0, |d| d.key));
        }
        if let (Some(streams), Some(draw)) = (self.streams.as_mut(), draw) {
            streams.commit(draw);
        }
        Ok(())
    }

    /// Distinct tuples kept over all segments.
    pub fn distinct_tuples(&self) -> usize {
        self.segments.values().map(|s| s.tuples.len()).sum()
    }

    /// Switches to replicates per row: each segment's tuples become B replicate Gram matrices
    /// (drawn as in [`super::tuples::replicates`] from `key`, which need not be the bootstrap
    /// key: these replicates are kept, not redrawn).
    fn switch_to_rows(&mut self, key: u64) {
        let (k, b) = (self.k(), self.replicates());
        for (segment, seg) in self.segments.iter_mut() {
            seg.replicates = Draws::new(&seg.tuples, k, key, segment).grams(b);
            seg.tuples = Tuples::default();
        }
        self.resampling = Resampling::Rows;
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
        // Both sides must keep replicates alike: a side still on tuples switches to rows with
        // a key of its own (its draws must not repeat the other side's).
        let (mut left, mut right) = (self.clone(), other.clone());
        if left.resampling != right.resampling {
            for side in [&mut left, &mut right] {
                if side.resampling == Resampling::Tuples {
                    let key = side.streams.as_ref().map_or(0, |s| bootstrap_key(s) ^ 1);
                    side.switch_to_rows(key);
                }
            }
        }
        let mut segments = left.segments;
        for (key, seg) in right.segments {
            match segments.get_mut(&key) {
                Some(s) => s.merge(&seg),
                None => {
                    segments.insert(key, seg);
                }
            }
        }
        let mut out = DriversState {
            streams,
            segments,
            resampling: left.resampling,
            ..self.clone()
        };
        if out.resampling == Resampling::Tuples && out.distinct_tuples() > MAX_TUPLES {
            let key = out.streams.as_ref().map_or(0, |s| bootstrap_key(s) ^ 1);
            out.switch_to_rows(key);
        }
        Ok(out)
    }
}

/// Rows per task of the parallel value checks.
const SCAN_ROWS: usize = 1 << 16;

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
    // Infinities are ≥ MAX_VALUE too; NaN (missing) is not.
    let bad = |v: f64| v.abs() >= MAX_VALUE;
    // A branch-free scan of the raw values first, in parallel (null slots may hold anything, so
    // a hit is examined below with the nulls).
    let any_bad = values
        .values()
        .par_chunks(SCAN_ROWS)
        .any(|chunk| chunk.iter().fold(false, |any, &v| any | bad(v)));
    if !any_bad {
        return Ok(values);
    }
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
        Some((row, value)) => Err(CoreError::InvalidValue {
            role,
            count,
            first_row: first_row + row as u64,
            first_value: value.to_string(),
            rule: "outcomes and drivers must be finite and below 2^26 ≈ 6.7e7 in magnitude; \
                   NaN and null are missing values, dropped listwise",
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
    let in_range = |all: bool, &w: &f64| all & weight_in_range(w);
    if values.null_count() == 0
        && values
            .values()
            .par_chunks(SCAN_ROWS)
            .all(|chunk| chunk.iter().fold(true, in_range))
    {
        return Ok(values);
    }
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
