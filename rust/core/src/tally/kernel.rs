//! The per-row loops: each row's (local segment, score code, weight) into [`Tallies`], and the
//! Poisson-bootstrap replicate draws. One loop per null/weight combination, compiled per id
//! layout ([`RowIds`]) and score type ([`ScoreValue`]); exact sums make every result
//! independent of row order and thread split. Uses `group`, `scale`, `exact_sum`, `streams`.

use arrow_buffer::NullBuffer;
use rand::RngCore;
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::poisson::{poisson_one, BLOCK_ROWS, MAX_POISSON};
use super::Tallies;
use crate::error::{CoreError, Result};
use crate::exact_sum::{ExactSum, Window};
use crate::group::{GroupKeys, LocalIds, MorselIds, MorselPlan, RowIds, WithRowIds, MORSEL_ROWS};
use crate::scale::ScoreValue;
use crate::streams::replicate_block_rng;

/// Rows per parallel task below which a chunk is tallied on one thread.
pub(crate) const MIN_ROWS_PER_TASK: usize = 1 << 16;

/// How many parallel tasks a chunk of `len` rows is split into at most (one below
/// [`MIN_ROWS_PER_TASK`] rows per thread).
pub(crate) fn tasks_for_rows(len: usize) -> usize {
    (len / MIN_ROWS_PER_TASK).clamp(1, rayon::current_num_threads())
}
/// Largest per-task tally (in cells) worth replicating across threads.
const MAX_TALLY_CELLS_PER_TASK: usize = 1 << 20;
/// Count cells (`u64`) that the tasks of an unweighted tally may hold together: 64 MiB.
const COUNT_CELLS_ACROSS_TASKS: usize = 1 << 23;

/// A chunk's rows handed to its tasks `claim` rows at a time from a shared cursor, in order.
/// A task that starts late (its worker still waking up, or sharing a core with another
/// process) takes fewer claims instead of owning a fixed share of the rows that the others
/// then wait for. Which task tallies which rows changes no result: counts are integers and
/// weight sums exact.
struct RowClaims {
    next: AtomicUsize,
    len: usize,
    claim: usize,
}

impl RowClaims {
    /// Claims of a morsel of rows, or one claim per task for weighted rows: those sum into a
    /// per-call table of window sums (see `run`), worth building once per task.
    fn for_tasks(len: usize, tasks: usize, weighted: bool) -> Self {
        let claim = if weighted {
            len.div_ceil(tasks.max(1))
        } else {
            MORSEL_ROWS
        };
        Self {
            next: AtomicUsize::new(0),
            len,
            claim: claim.max(1),
        }
    }

    /// The next unclaimed rows, if any.
    fn next(&self) -> Option<std::ops::Range<usize>> {
        // Relaxed: the cursor only partitions the rows; results travel through rayon's joins.
        let start = self.next.fetch_add(self.claim, Ordering::Relaxed);
        (start < self.len).then(|| start..(start + self.claim).min(self.len))
    }
}

/// A count cell: `u64` in [`Tallies`], `u32` in a parallel task's own table, whose task counts
/// fewer than 2^32 rows (see [`ScoreTally::tally_counts`]).
trait CountCell: Copy {
    fn bump(&mut self);
}

impl CountCell for u64 {
    #[inline(always)]
    fn bump(&mut self) {
        *self += 1;
    }
}

impl CountCell for u32 {
    #[inline(always)]
    fn bump(&mut self) {
        *self += 1;
    }
}

/// A replicate sum cell: an exact sum, or a 128-bit window sum (see `exact_sum::Window`).
trait ReplicateCell: Copy + Send + Sync {
    /// What one row contributes per unit of its Poisson count.
    type Value: Copy;
    fn prepare(w: f64, window: Option<Window>) -> Self::Value;
    fn add_times(&mut self, value: Self::Value, m: u64);
    fn absorb(&mut self, other: &Self);
}

impl ReplicateCell for ExactSum {
    type Value = f64;
    fn prepare(w: f64, _: Option<Window>) -> f64 {
        w
    }
    #[inline(always)]
    fn add_times(&mut self, w: f64, m: u64) {
        self.add_multiple(w, m);
    }
    fn absorb(&mut self, other: &Self) {
        self.merge(other);
    }
}

impl ReplicateCell for u128 {
    type Value = u128;
    #[inline(always)]
    fn prepare(w: f64, window: Option<Window>) -> u128 {
        window.map_or(0, |window| window.units(w))
    }
    #[inline(always)]
    fn add_times(&mut self, units: u128, m: u64) {
        *self += units * m as u128;
    }
    fn absorb(&mut self, other: &Self) {
        *self += other;
    }
}

/// The scores of one chunk, validated and tallied per local segment.
pub(super) struct ScoreTally<'a, S> {
    pub(super) values: &'a [S],
    pub(super) nulls: Option<&'a NullBuffer>,
    pub(super) weights: Option<&'a [f64]>,
    pub(super) low: i64,
    pub(super) points: usize,
    /// (B, key): draw B Poisson-bootstrap replicates from this chunk's key.
    pub(super) replicates: Option<(usize, u64)>,
    /// 128-bit windows that this chunk's weights and their squares sum exactly in (if any).
    pub(super) windows: Option<(Window, Window)>,
}

impl<S: ScoreValue> ScoreTally<'_, S> {
    #[inline(always)]
    fn code(&self, i: usize) -> usize {
        match self.nulls {
            Some(n) if n.is_null(i) => self.points,
            _ => self.values[i].code(self.low, self.points as u64) as usize,
        }
    }

    /// Tallies `rows` into `out`, whose last segment is a sink: ids past the others (corrupt
    /// dictionary indices) land there instead of out of bounds, and the caller rejects them.
    fn run<I: RowIds>(&self, ids: &I, rows: std::ops::Range<usize>, out: &mut Tallies) {
        let k = self.points;
        let stride = k + 2;
        let sink = out.segments() - 1;
        match (self.nulls, self.weights) {
            (_, None) => self.count_rows(ids, rows, &mut out.counts, sink),
            (_, Some(w)) => match self.windows {
                // Exact sums either way: the same whatever the row order or thread split. In a
                // window each row is one 128-bit add per sum, into a compact per-task table.
                Some((window, square_window)) => {
                    let mut sums = vec![[0u128; 2]; out.segments() * k];
                    // Realistic weights span few binades: one multiply per value instead of a
                    // 128-bit shift (the same integers either way).
                    match (window.unit_scale(), square_window.unit_scale()) {
                        (Some(scale), Some(square_scale)) => self.window_rows(
                            ids,
                            rows,
                            out,
                            w,
                            &mut sums,
                            // SAFETY: every weight of this chunk passed `check_weights`,
                            // whose range made these windows (`WeightRange::windows`), and
                            // a square lies in the range of the squares.
                            |x| unsafe { scale.units(x) },
                            |x| unsafe { square_scale.units(x) },
                        ),
                        _ => self.window_rows(
                            ids,
                            rows,
                            out,
                            w,
                            &mut sums,
                            |x| window.units(x),
                            |x| square_window.units(x),
                        ),
                    }
                    for (j, [sum, squares]) in sums.into_iter().enumerate() {
                        out.wsum[j].add_window(sum, window);
                        out.w2sum[j].add_window(squares, square_window);
                    }
                }
                None => {
                    for i in rows {
                        let c = self.code(i);
                        let g = ids.id(i).min(sink);
                        out.counts[g * stride + c] += 1;
                        if c < k {
                            out.wsum[g * k + c].add(w[i]);
                            out.w2sum[g * k + c].add(w[i] * w[i]);
                        }
                    }
                }
            },
        }
    }

    /// The unweighted rows of [`Self::run`]: one count per row into `counts` (segment-major,
    /// `points + 2` cells per segment, `sink` the last segment), of u64 in a result's tallies or
    /// u32 in a parallel task's own table (see [`Self::tally_counts`]).
    #[inline(always)]
    fn count_rows<I: RowIds, C: CountCell>(
        &self,
        ids: &I,
        rows: std::ops::Range<usize>,
        counts: &mut [C],
        sink: usize,
    ) {
        let (k, low) = (self.points, self.low);
        let stride = k + 2;
        assert_eq!(counts.len(), (sink + 1) * stride);
        match self.nulls {
            // The hot path: no nulls — one load, one compare, one increment per row.
            None => {
                ids.zip_rows(rows.clone(), &self.values[rows], |id, v| {
                    let cell = id.min(sink) * stride + v.code(low, k as u64) as usize;
                    // SAFETY: id.min(sink) <= sink and a code is at most k + 1 < stride, so the
                    // cell is below (sink + 1) * stride, the length asserted above.
                    unsafe { counts.get_unchecked_mut(cell).bump() };
                });
            }
            // Skipped questions: the same loop, with a null's code (`k`, missing) picked by a
            // mask from its validity bit instead of a branch that mispredicts on every null.
            Some(nulls) => {
                let (bits, offset) = (nulls.inner().values(), nulls.offset());
                let mut i = rows.start;
                ids.zip_rows(rows.clone(), &self.values[rows], |id, v| {
                    let at = i + offset;
                    i += 1;
                    let valid = usize::from((bits[at >> 3] >> (at & 7)) & 1).wrapping_neg();
                    let code = (v.code(low, k as u64) as usize & valid) | (k & !valid);
                    let cell = id.min(sink) * stride + code;
                    // SAFETY: as above; a code is either a value's (at most k + 1) or k.
                    unsafe { counts.get_unchecked_mut(cell).bump() };
                });
            }
        }
    }

    /// The weighted rows of [`Self::run`] in 128-bit windows: counts into `out`, the weight
    /// and squared-weight unit counts (`units`, `square_units`) into `sums`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn window_rows<I: RowIds>(
        &self,
        ids: &I,
        rows: std::ops::Range<usize>,
        out: &mut Tallies,
        w: &[f64],
        sums: &mut [[u128; 2]],
        units: impl Fn(f64) -> u128,
        square_units: impl Fn(f64) -> u128,
    ) {
        let k = self.points;
        let (stride, sink) = (k + 2, out.segments() - 1);
        let counts = &mut out.counts[..];
        assert_eq!(counts.len(), (sink + 1) * stride);
        assert_eq!(sums.len(), (sink + 1) * k);
        let mut i = rows.start;
        ids.zip_rows(rows.clone(), &w[rows], |id, weight| {
            let c = self.code(i);
            i += 1;
            let g = id.min(sink);
            // SAFETY: g <= sink and a code is at most k + 1 < stride, so the cell is below
            // (sink + 1) * stride, the length asserted above.
            unsafe { *counts.get_unchecked_mut(g * stride + c) += 1 };
            if c < k {
                // SAFETY: g <= sink and c < k: below (sink + 1) * k, asserted above.
                let cell = unsafe { sums.get_unchecked_mut(g * k + c) };
                cell[0] += units(weight);
                cell[1] += square_units(weight * weight);
            }
        });
    }

    /// Tallies all rows, splitting them across threads when there are enough of them.
    fn tally<I: RowIds>(&self, ids: &I, n_local: usize) -> Tallies {
        let mut out = self.tally_counts(ids, n_local);
        if let Some((replicates, key)) = self.replicates {
            out.rep = self.tally_replicates(ids, out.segments(), replicates, key);
            out.replicates = replicates;
        }
        out
    }

    /// Σ m·w per (local segment, scale point, replicate), m ~ Poisson(1) drawn per row and
    /// replicate. Rows go in fixed blocks, each with its own generator and exact sums, so the
    /// result depends on the key and the rows only — not on the number of threads.
    fn tally_replicates<I: RowIds>(
        &self,
        ids: &I,
        segments: usize,
        replicates: usize,
        key: u64,
    ) -> Vec<ExactSum> {
        let rows = self.weights.map_or(0, <[f64]>::len);
        // A 128-bit window when the weights allow it (room for the largest Poisson count too):
        // one multiply-add per draw instead of an exact multi-limb add.
        let window = self
            .windows
            .and_then(|(w, _)| w.widened(rows.saturating_mul(MAX_POISSON as usize + 1)));
        match window {
            Some(window) => self
                .replicate_walk(ids, segments, replicates, key, 0u128)
                .into_iter()
                .map(|units| {
                    let mut sum = ExactSum::ZERO;
                    sum.add_window(units, window);
                    sum
                })
                .collect(),
            None => self.replicate_walk(ids, segments, replicates, key, ExactSum::ZERO),
        }
    }

    /// The replicate draws over all rows into cells of type `T` (see `ReplicateCell`).
    fn replicate_walk<I: RowIds, T: ReplicateCell>(
        &self,
        ids: &I,
        segments: usize,
        replicates: usize,
        key: u64,
        zero: T,
    ) -> Vec<T> {
        let k = self.points;
        let sink = segments - 1;
        let weights = self.weights.unwrap_or(&[]);
        let len = weights.len().min(self.values.len());
        let cells = segments * replicates * k;
        let window = self.windows.map(|(w, _)| w);
        let block = |sums: &mut Vec<T>, b: usize| {
            let mut rng = replicate_block_rng(key, b as u64);
            let start = b * BLOCK_ROWS;
            let end = (start + BLOCK_ROWS).min(len);
            for (i, &w) in (start..end).zip(&weights[start..end]) {
                let c = self.code(i);
                if c >= k || w == 0.0 {
                    continue; // missing, invalid or weightless rows add nothing to any replicate
                }
                let value = T::prepare(w, window);
                // A row's replicates are adjacent: its B draws write one contiguous run.
                let base = (ids.id(i).min(sink) * k + c) * replicates;
                let mut r = 0;
                while r < replicates {
                    let draw = rng.next_u64();
                    for half in [draw as u32, (draw >> 32) as u32] {
                        if r < replicates {
                            // No branch on m = 0 (37 % of draws, unpredictable): adding
                            // nothing is cheaper than a mispredicted skip.
                            sums[base + r].add_times(value, poisson_one(half));
                            r += 1;
                        }
                    }
                }
            }
        };
        let blocks = len.div_ceil(BLOCK_ROWS);
        if blocks <= 1 || cells > MAX_TALLY_CELLS_PER_TASK {
            let mut sums = vec![zero; cells];
            (0..blocks).for_each(|b| block(&mut sums, b));
            return sums;
        }
        (0..blocks)
            .into_par_iter()
            .fold(
                || vec![zero; cells],
                |mut sums, b| {
                    block(&mut sums, b);
                    sums
                },
            )
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| x.absorb(y));
                a
            })
            .unwrap_or_else(|| vec![zero; cells])
    }

    /// The counts and weight sums of all rows, in parallel tasks when there are enough rows.
    fn tally_counts<I: RowIds>(&self, ids: &I, n_local: usize) -> Tallies {
        let n_local = n_local + 1; // the sink
        let len = self.values.len();
        let weighted = self.weights.is_some();
        let cells = n_local * (self.points + 2);
        // Each task has its own table. Weight sums are wide per cell, so a weighted table is
        // replicated only when small; counts alone are split while all tasks' tables together
        // stay within COUNT_CELLS_ACROSS_TASKS (100,000 segments of 10 rows: two tasks took
        // 18–19 ms against 25–27 ms for one, which left a core idle).
        let by_memory = match weighted {
            true if cells > MAX_TALLY_CELLS_PER_TASK => 1,
            true => usize::MAX,
            false => COUNT_CELLS_ACROSS_TASKS / cells.max(1),
        };
        let tasks = tasks_for_rows(len).min(by_memory);
        if tasks <= 1 {
            let mut out = Tallies::new(self.points, weighted, n_local);
            self.run(ids, 0..len, &mut out);
            return out;
        }
        if !weighted && u32::try_from(len).is_ok() {
            // Counts alone: each task counts into a u32 table (no task sees 2^32 rows), half
            // the cache footprint of u64 cells for a table scattered over many segments
            // (100,000 segments of 10 rows: the loop ran 2.8 times as fast in isolation), and
            // the tasks' tables are added in u32 (all rows together are fewer than 2^32) and
            // widened once.
            let claims = RowClaims::for_tasks(len, tasks, false);
            let table = (0..tasks)
                .into_par_iter()
                .map(|_| {
                    let mut counts = vec![0u32; cells];
                    while let Some(rows) = claims.next() {
                        self.count_rows(ids, rows, &mut counts, n_local - 1);
                    }
                    counts
                })
                .reduce_with(|mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                })
                .expect("at least two tasks");
            return Tallies::from_narrow_counts(self.points, table);
        }
        let claims = RowClaims::for_tasks(len, tasks, weighted);
        (0..tasks)
            .into_par_iter()
            .map(|_| {
                let mut out = Tallies::new(self.points, weighted, n_local);
                while let Some(rows) = claims.next() {
                    self.run(ids, rows, &mut out);
                }
                out
            })
            .reduce_with(|mut a, b| {
                a.add_all(&b);
                a
            })
            .expect("at least two tasks")
    }

    /// The tallies of all rows grouped morsel by morsel (see `group::morsel`): per task, its
    /// tallies by its task-local ids and the keys those ids stand for, in row order.
    fn tally_morsels(&self, plan: &MorselPlan<'_>) -> Result<Vec<(Tallies, GroupKeys)>> {
        let len = self.values.len();
        let weighted = self.weights.is_some();
        let tasks = tasks_for_rows(len);
        let claims = RowClaims::for_tasks(len, tasks, weighted);
        let morsel = claims.claim;
        // Counts alone: u32 cells, as in `tally_counts` (15,000 segments: a task's table is
        // 0.8 MB instead of 1.6 MB, within L2), widened when the task ends.
        let narrow = !weighted && u32::try_from(len).is_ok();
        let stride = self.points + 2;
        (0..tasks)
            .into_par_iter()
            .map(|_| {
                let mut ids = plan.task();
                let mut out = Tallies::new(self.points, weighted, 1);
                let mut counts = if narrow {
                    vec![0u32; stride]
                } else {
                    Vec::new()
                };
                let mut buffer = vec![0u32; morsel.min(len)];
                while let Some(rows) = claims.next() {
                    let (start, end) = (rows.start, rows.end);
                    let buffer = &mut buffer[..end - start];
                    ids.fill(start..end, buffer);
                    // One more than the ids handed out: the last segment is the (empty) sink.
                    let segments = ids.n_local() + 1;
                    let morsel_ids = MorselIds { ids: buffer, start };
                    if narrow {
                        counts.resize(counts.len().max(segments * stride), 0);
                        self.count_rows(&morsel_ids, start..end, &mut counts, segments - 1);
                    } else {
                        out.grow(segments);
                        self.run(&morsel_ids, start..end, &mut out);
                    }
                }
                if narrow {
                    out = Tallies::from_narrow_counts(self.points, counts);
                }
                Ok((out, ids.into_keys()?))
            })
            .collect()
    }

    /// Index and description of the first invalid score, if any.
    fn first_invalid(&self) -> Option<(usize, String)> {
        (0..self.values.len())
            .find(|&i| self.code(i) == self.points + 1)
            .map(|i| (i, self.values[i].describe()))
    }
}

/// Tallies a chunk's scores by its local ids. Returns the local tallies and the first invalid
/// score (index and value), if any.
pub(super) fn tally_with<S: ScoreValue>(
    ids: &LocalIds<'_>,
    n_local: usize,
    scores: ScoreTally<'_, S>,
) -> Result<(Tallies, Option<(usize, String)>)> {
    struct Run<'s, 'a, S> {
        scores: &'s ScoreTally<'a, S>,
        n_local: usize,
    }
    impl<S: ScoreValue> WithRowIds for Run<'_, '_, S> {
        type Output = Tallies;
        fn run<I: RowIds>(self, ids: &I) -> Tallies {
            self.scores.tally(ids, self.n_local)
        }
    }
    let tallies = ids.with(Run {
        scores: &scores,
        n_local,
    });
    if !tallies.segment_is_empty(n_local) {
        return Err(CoreError::InvalidArgument(
            "a segment key column has dictionary indices outside its dictionary (corrupt Arrow data)"
                .into(),
        ));
    }
    let any_invalid = (0..tallies.segments()).any(|s| tallies.invalid(s) > 0);
    let first = if any_invalid {
        scores.first_invalid()
    } else {
        None
    };
    Ok((tallies, first))
}

/// The first invalid score of a chunk (row index and value), if any.
pub(super) type FirstInvalid = Option<(usize, String)>;

/// Tallies a chunk's scores grouped morsel by morsel (no replicates): per task its tallies and
/// keys, and the first invalid score (index and value), if any.
pub(super) fn tally_by_morsels<S: ScoreValue>(
    plan: &MorselPlan<'_>,
    scores: ScoreTally<'_, S>,
) -> Result<(Vec<(Tallies, GroupKeys)>, FirstInvalid)> {
    debug_assert!(
        scores.replicates.is_none(),
        "replicates need whole-chunk ids"
    );
    let parts = scores.tally_morsels(plan)?;
    let any_invalid = parts
        .iter()
        .any(|(t, _)| (0..t.segments()).any(|s| t.invalid(s) > 0));
    let first = if any_invalid {
        scores.first_invalid()
    } else {
        None
    };
    Ok((parts, first))
}
