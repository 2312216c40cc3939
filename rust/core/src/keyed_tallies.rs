//! Segmented tallies over a stream of updates: the [`KeyedTallies`].
//!
//! Each update aligns its columns into chunks, checks every weight first (a bad weight anywhere
//! rejects the whole update), groups each chunk's rows by local ids (`group`), tallies them
//! (`tally`), then folds the few local segments into global ones ([`KeyIndex`]). Updates are
//! all-or-nothing. Aggregators merge (re-encoding a Null-typed key column in the other side's
//! type), and [`KeyedTallies::finish`] returns the segments in key order as [`Grouped`], each
//! with its random-stream id. [`SegmentRuns`] regroups a finer grouping by a key prefix.
//!
//! May use: `group`, `tally`, `streams`, `scale`, `error`. Used by `state` and by everything
//! that estimates (`report`, `composite`, `weighted_bootstrap`).

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{CoreError, Result, Role};
use crate::group::{ChunkPlan, GroupKeys, KeyIndex, PARALLEL_KEYS};
use crate::scale::Scale;
use crate::streams::{chunk_key, key_stream, OVERALL_STREAM};
use crate::tally::{
    align, check_weights, tally_chunk, tasks_for_rows, Columns, Tallies, WeightRange,
    MIN_ROWS_PER_TASK,
};

/// Consecutive chunks tallied side by side: a window takes chunks from `first` on until it holds
/// `rows_per_thread` rows for every thread and its chunks' tasks are a multiple of the threads
/// (three chunks of one task each on two threads would leave one idle while the third runs),
/// or four times as many (so that odd chunks between even ones cannot grow a window without
/// end). So chunks too small to fill the threads on their own (a CSV or Parquet read arrives in
/// chunks of 10^4–10^5 rows) share them, while a chunk that fills them runs alone.
fn next_window(
    chunks: &[Vec<ArrayRef>],
    first: usize,
    rows_per_thread: usize,
) -> std::ops::Range<usize> {
    let threads = rayon::current_num_threads();
    let full = threads * rows_per_thread;
    let (mut rows, mut tasks) = (0, 0);
    for (j, chunk) in chunks.iter().enumerate().skip(first) {
        let len = chunk.first().map_or(0, |c| c.len());
        rows += len;
        tasks += tasks_for_rows(len);
        if rows >= full && (tasks.is_multiple_of(threads) || tasks >= 4 * threads) {
            return first..j + 1;
        }
    }
    first..chunks.len()
}

/// Rows per thread a window takes: one task's worth while the segments are many (each task
/// holds a tally of every segment it meets, so the tallies held at once stay those of about
/// one chunk's tasks), four once fewer than one segment per [`ROWS_PER_SEGMENT_FOR_WIDE`] rows
/// was seen, where a task's tally is small and every window costs the threads a wait for the
/// slowest chunk and a wake-up (16 chunks of 65,536 rows: 8 windows -> 2).
fn window_rows_per_thread(segments: usize, rows_seen: u64) -> usize {
    if rows_seen > 0 && (segments as u64).saturating_mul(ROWS_PER_SEGMENT_FOR_WIDE) <= rows_seen {
        4 * MIN_ROWS_PER_TASK
    } else {
        MIN_ROWS_PER_TASK
    }
}

const ROWS_PER_SEGMENT_FOR_WIDE: u64 = 16;

/// Segmented tallies that grow with each update and merge with each other.
#[derive(Clone)]
pub struct KeyedTallies {
    scale: Scale,
    n_keys: usize,
    index: Option<KeyIndex>,
    tallies: Tallies,
}

/// What `finish` returns: key columns (logical types, ascending, nulls last) and their tallies.
pub struct Grouped {
    /// Key columns, one per key, in segment order.
    pub keys: Vec<ArrayRef>,
    /// Tallies in the same segment order.
    pub tallies: Tallies,
    /// Per segment, a random-stream id derived from its key (not its position), so bootstrap
    /// draws do not depend on which other segments exist or their order.
    pub streams: Vec<u64>,
}

impl Grouped {
    /// For a grouping by (segment keys…, more keys…): the segment of each group, the first group
    /// of each segment, and each segment's stream id. Groups of one segment are adjacent, since
    /// rows sort by their leading key columns first. Without segment keys there is exactly one
    /// segment, even when there are no groups.
    pub fn segments_by_prefix(&self, n_keys: usize) -> Result<SegmentRuns> {
        let groups = self.tallies.segments();
        if n_keys == 0 {
            return Ok(SegmentRuns {
                segment_of: vec![0; groups],
                firsts: Vec::new(),
                streams: vec![OVERALL_STREAM],
            });
        }
        let keys: Vec<ArrayRef> = self.keys[..n_keys].to_vec();
        let fields = keys
            .iter()
            .map(|k| arrow_row::SortField::new(k.data_type().clone()))
            .collect();
        let rows = arrow_row::RowConverter::new(fields)?.convert_columns(&keys)?;
        let mut runs = SegmentRuns {
            segment_of: Vec::with_capacity(groups),
            firsts: Vec::new(),
            streams: Vec::new(),
        };
        for g in 0..groups {
            if g == 0 || rows.row(g) != rows.row(g - 1) {
                runs.firsts.push(g as u32);
                runs.streams.push(key_stream(rows.row(g).data()));
            }
            runs.segment_of.push(runs.firsts.len() - 1);
        }
        Ok(runs)
    }
}

/// See [`Grouped::segments_by_prefix`].
pub struct SegmentRuns {
    /// Per group, its segment.
    pub segment_of: Vec<usize>,
    /// Per segment, its first group.
    pub firsts: Vec<u32>,
    /// Per segment, its random-stream id (see `streams::key_stream`).
    pub streams: Vec<u64>,
}

impl SegmentRuns {
    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.streams.len()
    }
}

impl KeyedTallies {
    /// An empty aggregator of `scale`, keyed by `key_types` (None or empty: one segment).
    pub fn new(scale: Scale, key_types: Option<Vec<DataType>>, weighted: bool) -> Result<Self> {
        let n_keys = key_types.as_ref().map_or(0, |t| t.len());
        let index = match key_types {
            Some(t) if !t.is_empty() => Some(KeyIndex::new(t)?),
            _ => None,
        };
        // Without keys there is exactly one segment, present from the start.
        let segments = if index.is_some() { 0 } else { 1 };
        Ok(Self {
            scale,
            n_keys,
            index,
            tallies: Tallies::new(scale.points(), weighted, segments),
        })
    }

    /// Builds an aggregator from decoded parts (keys as row-format bytes in segment order).
    pub fn from_parts(
        scale: Scale,
        key_types: Option<Vec<DataType>>,
        key_rows: Vec<Vec<u8>>,
        tallies: Tallies,
    ) -> Result<Self> {
        let mut agg = Self::new(scale, key_types, tallies.weighted())?;
        match agg.index.as_mut() {
            Some(index) => {
                for row in &key_rows {
                    index.intern_bytes(row);
                }
                if index.len() != key_rows.len() || index.len() != tallies.segments() {
                    return Err(CoreError::CorruptState(
                        "segment keys do not match tallies".into(),
                    ));
                }
            }
            None if tallies.segments() != 1 => {
                return Err(CoreError::CorruptState(
                    "unsegmented state must have one segment".into(),
                ))
            }
            None => {}
        }
        agg.tallies = tallies;
        Ok(agg)
    }

    /// An aggregator whose segment `i` is key tuple `i` of `index`, with `tallies` (a decoded
    /// or rebuilt index, used as it is: no second interning of every key).
    pub fn from_index(scale: Scale, index: KeyIndex, tallies: Tallies) -> Result<Self> {
        if index.len() != tallies.segments() || tallies.points() != scale.points() {
            return Err(CoreError::CorruptState(
                "segment keys do not match tallies".into(),
            ));
        }
        Ok(Self {
            scale,
            n_keys: index.types().len(),
            index: Some(index),
            tallies,
        })
    }

    /// Unweighted tallies rebuilt from per-segment columns of an estimate: `keys` (distinct
    /// key tuples, of logical types), per segment `points` counts in `distribution`, then its
    /// `missing` and `invalid` rows. The same tallies as those the columns were made from.
    pub fn from_segment_counts(
        scale: Scale,
        keys: &[ArrayRef],
        distribution: &[u64],
        missing: &[u64],
        invalid: &[u64],
    ) -> Result<Self> {
        let segments = missing.len();
        let points = scale.points();
        let wrong = |what: &str| CoreError::InvalidArgument(format!("segment counts: {what}"));
        if keys.is_empty() {
            return Err(wrong("no key column"));
        }
        if distribution.len() != segments * points
            || invalid.len() != segments
            || keys.iter().any(|k| k.len() != segments)
        {
            return Err(wrong("columns of different lengths"));
        }
        let mut index = KeyIndex::new(keys.iter().map(|k| k.data_type().clone()).collect())?;
        let ids = index.intern(keys)?;
        if ids.iter().enumerate().any(|(i, &id)| id as usize != i) {
            return Err(wrong("the same segment twice"));
        }
        let mut counts = Vec::with_capacity(segments * (points + 2));
        for s in 0..segments {
            counts.extend_from_slice(&distribution[s * points..(s + 1) * points]);
            counts.extend_from_slice(&[missing[s], invalid[s]]);
        }
        let tallies =
            Tallies::from_parts(points, false, counts, Vec::new(), Vec::new(), 0, Vec::new())?;
        let agg = Self::from_index(scale, index, tallies)?;
        if agg.tallies.rows_total() > u128::from(u64::MAX) {
            return Err(wrong("more than 2^64 − 1 rows"));
        }
        Ok(agg)
    }

    /// A new (empty) aggregator that keeps `replicates` Poisson-bootstrap replicates.
    pub fn with_replicates(mut self, replicates: usize) -> Self {
        self.tallies = self.tallies.with_replicates(replicates);
        self
    }

    /// The rating scale.
    pub fn scale(&self) -> Scale {
        self.scale
    }
    /// Whether weight sums are kept.
    pub fn weighted(&self) -> bool {
        self.tallies.weighted()
    }
    /// Poisson-bootstrap replicates kept (0 = none).
    pub fn replicates(&self) -> usize {
        self.tallies.replicates()
    }
    /// The key columns' logical types (None without keys).
    pub fn key_types(&self) -> Option<&[DataType]> {
        self.index.as_ref().map(|i| i.types())
    }
    /// Number of segment key columns.
    pub fn n_keys(&self) -> usize {
        self.n_keys
    }
    /// The tallies, segments in first-seen order.
    pub fn tallies(&self) -> &Tallies {
        &self.tallies
    }

    /// Adds the rows of `columns`. All-or-nothing: on error the aggregator is unchanged.
    /// `row_offset` is added to row numbers in error messages.
    pub fn update(&mut self, columns: &Columns, drop_invalid: bool, row_offset: u64) -> Result<()> {
        self.update_drawing(columns, drop_invalid, row_offset, None)
    }

    /// [`KeyedTallies::update`] for tallies with replicates: `draw_key` keys this update's
    /// Poisson-bootstrap draws (required exactly when the tallies keep replicates).
    pub fn update_drawing(
        &mut self,
        columns: &Columns,
        drop_invalid: bool,
        row_offset: u64,
        draw_key: Option<u64>,
    ) -> Result<()> {
        self.update_keyed(columns, None, drop_invalid, row_offset, draw_key)
    }

    /// [`KeyedTallies::update_drawing`] with this batch's own (logical) key types: they are
    /// unified with the aggregator's as [`KeyedTallies::merge`] does (a Null column takes the
    /// other's type), and a batch whose key types differ otherwise is refused; it is never cast
    /// to the earlier type (which could merge or lose keys silently). None: the aggregator's.
    pub fn update_keyed(
        &mut self,
        columns: &Columns,
        batch_types: Option<Vec<DataType>>,
        drop_invalid: bool,
        row_offset: u64,
        draw_key: Option<u64>,
    ) -> Result<()> {
        if let (Some(mine), Some(theirs)) = (self.key_types(), batch_types.as_deref()) {
            if let Some(j) = (0..mine.len().min(theirs.len())).find(|&j| {
                mine[j] != theirs[j] && mine[j] != DataType::Null && theirs[j] != DataType::Null
            }) {
                return Err(CoreError::UnsupportedType {
                    role: Role::Key(j),
                    data_type: format!("{} (earlier batches: {})", theirs[j], mine[j]),
                    why: "a key column must keep one type across updates; cast the keys of \
                          every batch to one type",
                });
            }
        }
        if draw_key.is_some() != (self.replicates() > 0) {
            return Err(CoreError::InvalidArgument(
                "an update of tallies with replicates needs a draw key, and only those".into(),
            ));
        }
        if columns.keys.len() != self.n_keys {
            return Err(CoreError::InvalidArgument(format!(
                "expected {} key column(s), got {}",
                self.n_keys,
                columns.keys.len()
            )));
        }
        if columns.weight.is_some() != self.weighted() {
            return Err(CoreError::InvalidArgument(if self.weighted() {
                "this aggregation is weighted: a weight column is required".into()
            } else {
                "this aggregation is unweighted: no weight column may be given".into()
            }));
        }
        let mut all = vec![(Role::Score, columns.score.clone())];
        for (j, k) in columns.keys.iter().enumerate() {
            all.push((Role::Key(j), k.clone()));
        }
        if let Some(w) = &columns.weight {
            all.push((Role::Weight, w.clone()));
        }
        let chunks = align(&all)?;
        let weight_col = 1 + self.n_keys;

        // Weights first: a bad weight anywhere rejects the whole update.
        let mut weights: Vec<Option<(ArrayRef, WeightRange)>> = Vec::with_capacity(chunks.len());
        let mut bad_weights: Option<(u64, u64, String)> = None;
        let mut start = row_offset;
        for chunk in &chunks {
            if self.weighted() {
                let (w, bad, range) = check_weights(&chunk[weight_col])?;
                if let Some((count, i, v)) = bad {
                    let entry = bad_weights.get_or_insert((0, start + i as u64, v));
                    entry.0 += count;
                }
                weights.push(Some((w, range)));
            } else {
                weights.push(None);
            }
            start += chunk[0].len() as u64;
        }
        if let Some((count, first_row, first_value)) = bad_weights {
            return Err(CoreError::InvalidWeight {
                role: Role::Weight,
                count,
                first_row,
                first_value,
            });
        }

        let key_types = match batch_types {
            Some(t) if self.n_keys > 0 => Some(t),
            _ => self.key_types().map(|t| t.to_vec()),
        };
        let mut partial = KeyedTallies::new(self.scale, key_types, self.weighted())?
            .with_replicates(self.replicates());
        let mut invalid: Option<(u64, String)> = None;
        let mut start = row_offset;
        let mut next = 0;
        while next < chunks.len() {
            let rows_per_thread =
                window_rows_per_thread(partial.tallies.segments(), start - row_offset);
            let window = next_window(&chunks, next, rows_per_thread);
            next = window.end;
            if crate::cancel::requested() {
                return Err(CoreError::Cancelled);
            }
            // The window's chunks side by side (each may split its rows over tasks too), then
            // absorbed in chunk order: ids and results are those of one chunk at a time.
            let tallied: Vec<Result<_>> = window
                .into_par_iter()
                .map(|j| {
                    let chunk = &chunks[j];
                    let replicates =
                        draw_key.map(|key| (self.replicates(), chunk_key(key, j as u64)));
                    // Replicate draws read each row's id in a second pass: whole-chunk ids.
                    let plan = ChunkPlan::new(&chunk[1..1 + self.n_keys], replicates.is_none())?;
                    let w = weights[j].as_ref().map(|(w, range)| {
                        (w.as_primitive::<Float64Type>().values().as_ref(), *range)
                    });
                    let (parts, first_bad) =
                        tally_chunk(&chunk[0], w, &plan, self.scale, replicates)?;
                    Ok((plan, parts, first_bad, chunk[0].len()))
                })
                .collect();
            for result in tallied {
                let (plan, parts, first_bad, rows) = result?;
                if let (None, Some((i, v))) = (&invalid, first_bad) {
                    invalid = Some((start + i as u64, v));
                }
                // Each part is dropped once absorbed (the parts of many segments are large).
                for (local, keys) in parts {
                    let keys = match (&keys, &plan) {
                        (Some(keys), _) => keys,
                        (None, ChunkPlan::Whole(groups)) => &groups.keys,
                        (None, ChunkPlan::Morsels(_)) => unreachable!("morsel tallies carry keys"),
                    };
                    partial.absorb_local(keys, local)?;
                }
                start += rows as u64;
            }
        }
        if let (false, Some((first_row, first_value))) = (drop_invalid, invalid) {
            let count = (0..partial.tallies.segments())
                .map(|s| partial.tallies.invalid(s))
                .sum();
            return Err(CoreError::InvalidScore {
                role: Role::Score,
                count,
                first_row,
                first_value,
            });
        }
        if self.is_fresh() && partial.key_types() == self.key_types() {
            // Nothing to merge into: the update's tallies and index are the result (no second
            // interning of every key, which costs as much as the first with many segments).
            // No count check: the update's rows (fewer than 2^64) are all there is.
            self.index = partial.index;
            self.tallies = partial.tallies;
            return Ok(());
        }
        self.merge(&partial)
    }

    /// Whether no row has been added yet (no segment, or one empty unsegmented one).
    fn is_fresh(&self) -> bool {
        self.index.as_ref().is_some_and(|i| i.is_empty()) && self.tallies.segments() == 0
    }

    /// The row-count limit [`KeyedTallies::merge`] checks, for a merge done another way.
    fn merge_counts_checked(&self, other: &KeyedTallies) -> Result<()> {
        if self.tallies.rows_total() + other.tallies.rows_total() > u128::from(u64::MAX) {
            return Err(CoreError::CountOverflow(format!(
                "together the inputs hold {} rows, more than 2^64 − 1",
                self.tallies.rows_total() + other.tallies.rows_total()
            )));
        }
        Ok(())
    }

    /// Folds the local tallies of one chunk (or task) into global segments.
    fn absorb_local(&mut self, keys: &GroupKeys, local: Tallies) -> Result<()> {
        let Some(index) = self.index.as_mut() else {
            self.tallies.add_segment(0, &local, 0);
            return Ok(());
        };
        let used: Vec<u32> = (0..local.segments())
            .filter(|&s| !local.segment_is_empty(s))
            .map(|s| s as u32)
            .collect();
        let values = keys.key_values(&used)?;
        let fresh = self.tallies.segments() == 0;
        let global = index.intern(&values)?;
        if fresh && same_numbering(&used, &global) {
            // The first part of an empty aggregator, whose local ids became the global ids
            // unchanged: its tallies are the global tallies (moved, not copied segment by
            // segment into a second table of the same size).
            let mut tallies = local;
            tallies.truncate_segments(index.len());
            self.tallies = tallies;
            return Ok(());
        }
        self.tallies.grow(index.len());
        for (&l, &g) in used.iter().zip(&global) {
            self.tallies.add_segment(g as usize, &local, l as usize);
        }
        Ok(())
    }

    /// Adds another aggregator's tallies (same scale, keys and weighting) into this one.
    ///
    /// A key column typed Null on one side (e.g. a batch whose key column held only nulls, or
    /// no rows) takes the other side's type: its all-null keys are re-encoded in that type.
    pub fn merge(&mut self, other: &KeyedTallies) -> Result<()> {
        if other.scale != self.scale
            || other.weighted() != self.weighted()
            || other.replicates() != self.replicates()
        {
            return Err(CoreError::InvalidArgument(
                "cannot merge aggregations of different scales, weighting or replicates".into(),
            ));
        }
        // Every count (and every total over segments) must stay below 2^64: checked once here,
        // so the per-cell additions below cannot wrap.
        self.merge_counts_checked(other)?;
        if other.key_types() != self.key_types() {
            let unified =
                unify_key_types(self.key_types(), other.key_types()).ok_or_else(|| {
                    CoreError::InvalidArgument(format!(
                        "cannot merge aggregations keyed by {:?} and {:?}",
                        self.key_types(),
                        other.key_types()
                    ))
                })?;
            *self = self.retyped(&unified)?;
            return self.merge(&other.retyped(&unified)?);
        }
        match (self.index.as_mut(), other.index.as_ref()) {
            (Some(mine), Some(theirs)) => {
                let ids: Vec<u32> = (0..theirs.len() as u32)
                    .map(|s| mine.intern_bytes(theirs.row_bytes(s)))
                    .collect();
                self.tallies.grow(mine.len());
                for (src, &dst) in ids.iter().enumerate() {
                    self.tallies.add_segment(dst as usize, &other.tallies, src);
                }
            }
            _ => self.tallies.add_segment(0, &other.tallies, 0),
        }
        Ok(())
    }

    /// The same tallies with key columns re-encoded in `types` (each equal to the current type,
    /// or replacing Null).
    fn retyped(&self, types: &[DataType]) -> Result<KeyedTallies> {
        let Some(index) = &self.index else {
            return Ok(self.clone());
        };
        let ids: Vec<u32> = (0..index.len() as u32).collect();
        let columns = index.key_columns(&ids)?;
        let mut fresh = KeyIndex::new(types.to_vec())?;
        let new_ids = fresh.intern(&columns)?;
        let mut tallies = self.tallies.empty_like(fresh.len());
        for (old, &new) in new_ids.iter().enumerate() {
            tallies.add_segment(new as usize, &self.tallies, old);
        }
        Ok(KeyedTallies {
            scale: self.scale,
            n_keys: self.n_keys,
            index: Some(fresh),
            tallies,
        })
    }

    /// Segments in key order with their key values.
    pub fn finish(&self) -> Result<Grouped> {
        let KeyOrder {
            keys,
            order,
            streams,
        } = self.key_order()?;
        let tallies = match &order {
            Some(order) => self.tallies.permuted(order),
            None => self.tallies.clone(),
        };
        Ok(Grouped {
            keys,
            tallies,
            streams,
        })
    }

    /// The key order of the segments, their key values and streams, without a reordered copy
    /// of the tallies (for readers that can look segments up through the order).
    pub fn key_order(&self) -> Result<KeyOrder> {
        match &self.index {
            None => Ok(KeyOrder {
                keys: Vec::new(),
                order: None,
                streams: vec![OVERALL_STREAM],
            }),
            Some(index) => {
                let order = index.sorted_order();
                let streams = || {
                    order
                        .iter()
                        .map(|&id| key_stream(index.row_bytes(id)))
                        .collect()
                };
                // Many keys: the key columns and the streams side by side (each a pass over
                // every key). Few: one after the other on this thread, since a hand-off to the
                // pool costs more than both (a 100-row request by segment went from 63 to
                // 110 µs when every call joined).
                let (keys, streams) = if order.len() >= PARALLEL_KEYS {
                    rayon::join(|| index.key_columns(&order), streams)
                } else {
                    (index.key_columns(&order), streams())
                };
                Ok(KeyOrder {
                    keys: keys?,
                    streams,
                    order: Some(order),
                })
            }
        }
    }
}

/// What [`KeyedTallies::key_order`] returns: [`Grouped`] with the tallies left in place.
pub struct KeyOrder {
    /// Key columns, one per key, in key order (ascending, nulls last).
    pub keys: Vec<ArrayRef>,
    /// `order[i]`: the segment of [`KeyedTallies::tallies`] that is `i`-th in key order (None:
    /// unsegmented, the one segment).
    pub order: Option<Vec<u32>>,
    /// Per segment in key order, its random-stream id (see [`Grouped::streams`]).
    pub streams: Vec<u64>,
}

/// Whether local segment `used[i]` became global segment `global[i]` = `i` for every `i`: the
/// local tallies are then laid out as the global ones (past the used segments, all empty).
fn same_numbering(used: &[u32], global: &[u32]) -> bool {
    used.iter()
        .zip(global)
        .enumerate()
        .all(|(i, (&l, &g))| l as usize == i && g as usize == i)
}

/// Key types both sides can be re-encoded in: equal columns stay, a Null column takes the
/// other side's type; None when two columns have different non-Null types.
fn unify_key_types(a: Option<&[DataType]>, b: Option<&[DataType]>) -> Option<Vec<DataType>> {
    let (a, b) = (a?, b?);
    if a.len() != b.len() {
        return None;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x, y) {
            _ if x == y => Some(x.clone()),
            (DataType::Null, t) | (t, DataType::Null) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
