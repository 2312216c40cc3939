//! One pass over the rows: (segment, scale value) -> counts and weight sums.
//!
//! Per segment the tally holds `k` counts (one per scale point), then the missing count, then the
//! invalid count; weighted tallies add Σw and Σw² per scale point. That is the sufficient
//! statistic of every metric, so everything after this module works on a few numbers per segment.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::bootstrap::splitmix64;
use crate::error::{CoreError, Result, Role};
use crate::exact_sum::{weight_in_range, ExactSum, Window};
use crate::group::{ChunkGroups, KeyIndex, LocalIds};
use crate::replicates::{block_generator, poisson_one, BLOCK_ROWS, MAX_POISSON};
use crate::scale::{Scale, ScoreValue};
use rand::RngCore;

/// Rows per parallel task below which a chunk is tallied on one thread.
const MIN_ROWS_PER_TASK: usize = 1 << 16;
/// Largest per-task tally (in cells) worth replicating across threads.
const MAX_TALLY_CELLS_PER_TASK: usize = 1 << 20;

/// Per-segment tallies, segment-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Tallies {
    points: usize,
    weighted: bool,
    counts: Vec<u64>,
    wsum: Vec<ExactSum>,
    w2sum: Vec<ExactSum>,
    /// Poisson-bootstrap replicates (weighted only; 0 = none): Σ m·w per segment, scale point
    /// and replicate, in that order (see `replicates`).
    replicates: usize,
    rep: Vec<ExactSum>,
}

impl Tallies {
    pub fn new(points: usize, weighted: bool, segments: usize) -> Self {
        let cells = if weighted { segments * points } else { 0 };
        Self {
            points,
            weighted,
            counts: vec![0; segments * (points + 2)],
            wsum: vec![ExactSum::ZERO; cells],
            w2sum: vec![ExactSum::ZERO; cells],
            replicates: 0,
            rep: Vec::new(),
        }
    }

    /// The same tallies keeping `replicates` Poisson-bootstrap replicates (weighted only).
    pub fn with_replicates(mut self, replicates: usize) -> Self {
        self.replicates = if self.weighted { replicates } else { 0 };
        self.rep = vec![ExactSum::ZERO; self.segments() * self.replicates * self.points];
        self
    }

    /// Empty tallies of `segments` segments laid out like these.
    fn empty_like(&self, segments: usize) -> Self {
        Tallies::new(self.points, self.weighted, segments).with_replicates(self.replicates)
    }

    /// Rebuilds tallies from their raw parts (used by the state decoder).
    pub fn from_parts(
        points: usize,
        weighted: bool,
        counts: Vec<u64>,
        wsum: Vec<ExactSum>,
        w2sum: Vec<ExactSum>,
        replicates: usize,
        rep: Vec<ExactSum>,
    ) -> Result<Self> {
        let segments = counts.len() / (points + 2);
        let cells = if weighted { segments * points } else { 0 };
        if counts.len() != segments * (points + 2)
            || wsum.len() != cells
            || w2sum.len() != cells
            || rep.len() != cells * replicates
            || (replicates > 0 && !weighted)
        {
            return Err(CoreError::CorruptState("tally sizes do not match".into()));
        }
        Ok(Self {
            points,
            weighted,
            counts,
            wsum,
            w2sum,
            replicates,
            rep,
        })
    }

    pub fn points(&self) -> usize {
        self.points
    }
    pub fn weighted(&self) -> bool {
        self.weighted
    }
    pub fn segments(&self) -> usize {
        self.counts.len() / (self.points + 2)
    }
    fn stride(&self) -> usize {
        self.points + 2
    }
    /// Counts per scale point of segment `s`.
    pub fn counts(&self, s: usize) -> &[u64] {
        &self.counts[s * self.stride()..s * self.stride() + self.points]
    }
    pub fn missing(&self, s: usize) -> u64 {
        self.counts[s * self.stride() + self.points]
    }
    pub fn invalid(&self, s: usize) -> u64 {
        self.counts[s * self.stride() + self.points + 1]
    }
    pub fn raw_counts(&self) -> &[u64] {
        &self.counts
    }
    /// The exact Σw and Σw² per scale point of segment `s` (None when unweighted).
    pub fn exact_weight_sums(&self, s: usize) -> Option<(&[ExactSum], &[ExactSum])> {
        let cells = s * self.points..(s + 1) * self.points;
        self.weighted
            .then(|| (&self.wsum[cells.clone()], &self.w2sum[cells]))
    }
    pub fn raw_weight_sums(&self) -> (&[ExactSum], &[ExactSum]) {
        (&self.wsum, &self.w2sum)
    }
    /// Poisson-bootstrap replicates kept (0 = none).
    pub fn replicates(&self) -> usize {
        self.replicates
    }
    /// Σ m·w per scale point of replicate `r` of segment `s`, each rounded once.
    pub fn replicate_mass(&self, s: usize, r: usize) -> Vec<f64> {
        (0..self.points)
            .map(|c| self.rep[(s * self.points + c) * self.replicates + r].to_f64())
            .collect()
    }
    pub fn raw_replicates(&self) -> &[ExactSum] {
        &self.rep
    }

    fn grow(&mut self, segments: usize) {
        if segments > self.segments() {
            self.counts.resize(segments * self.stride(), 0);
            if self.weighted {
                self.wsum.resize(segments * self.points, ExactSum::ZERO);
                self.w2sum.resize(segments * self.points, ExactSum::ZERO);
                self.rep
                    .resize(segments * self.replicates * self.points, ExactSum::ZERO);
            }
        }
    }

    /// Adds segment `src` of `other` into segment `dst` of `self`.
    pub fn add_segment(&mut self, dst: usize, other: &Tallies, src: usize) {
        let st = self.stride();
        for (a, b) in self.counts[dst * st..(dst + 1) * st]
            .iter_mut()
            .zip(&other.counts[src * st..(src + 1) * st])
        {
            *a += b;
        }
        if self.weighted {
            let k = self.points;
            for c in 0..k {
                self.wsum[dst * k + c].merge(&other.wsum[src * k + c]);
                self.w2sum[dst * k + c].merge(&other.w2sum[src * k + c]);
            }
            let per = self.replicates * k;
            for (a, b) in self.rep[dst * per..(dst + 1) * per]
                .iter_mut()
                .zip(&other.rep[src * per..(src + 1) * per])
            {
                a.merge(b);
            }
        }
    }

    fn add_all(&mut self, other: &Tallies) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.wsum.iter_mut().zip(&other.wsum) {
            a.merge(b);
        }
        for (a, b) in self.w2sum.iter_mut().zip(&other.w2sum) {
            a.merge(b);
        }
        for (a, b) in self.rep.iter_mut().zip(&other.rep) {
            a.merge(b);
        }
    }

    /// The same tallies with segments reordered: `order[i]` is the old index of new segment `i`.
    pub fn permuted(&self, order: &[u32]) -> Tallies {
        let mut out = self.empty_like(order.len());
        for (new, &old) in order.iter().enumerate() {
            out.add_segment(new, self, old as usize);
        }
        out
    }

    /// All segments added together.
    pub fn total(&self) -> Tallies {
        let mut out = self.empty_like(1);
        for s in 0..self.segments() {
            out.add_segment(0, self, s);
        }
        out
    }

    fn segment_is_empty(&self, s: usize) -> bool {
        let st = self.stride();
        self.counts[s * st..(s + 1) * st].iter().all(|&c| c == 0)
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

/// Row -> local segment id.
trait Ids: Sync {
    fn id(&self, i: usize) -> usize;
}

struct SingleIds;
impl Ids for SingleIds {
    #[inline(always)]
    fn id(&self, _: usize) -> usize {
        0
    }
}

struct SliceIds<'a, T>(&'a [T]);
impl Ids for SliceIds<'_, i32> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        // A negative (corrupt) dictionary index becomes huge and fails the bounds check.
        self.0[i] as u32 as usize
    }
}
impl Ids for SliceIds<'_, u32> {
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        self.0[i] as usize
    }
}

struct NullableIds<'a, T> {
    keys: SliceIds<'a, T>,
    nulls: &'a NullBuffer,
    null_id: usize,
}
impl<T> Ids for NullableIds<'_, T>
where
    for<'b> SliceIds<'b, T>: Ids,
    T: Sync,
{
    #[inline(always)]
    fn id(&self, i: usize) -> usize {
        if self.nulls.is_valid(i) {
            self.keys.id(i)
        } else {
            self.null_id
        }
    }
}

/// The scores of one chunk, validated and tallied per local segment.
struct ScoreTally<'a, S> {
    values: &'a [S],
    nulls: Option<&'a NullBuffer>,
    weights: Option<&'a [f64]>,
    low: i64,
    points: usize,
    /// (B, key): draw B Poisson-bootstrap replicates from this chunk's key.
    replicates: Option<(usize, u64)>,
    /// 128-bit windows that this chunk's weights and their squares sum exactly in (if any).
    windows: Option<(Window, Window)>,
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
    fn run<I: Ids>(&self, ids: &I, rows: std::ops::Range<usize>, out: &mut Tallies) {
        let k = self.points;
        let stride = k + 2;
        let sink = out.segments() - 1;
        match (self.nulls, self.weights) {
            // The hot path: no nulls, no weights — one load, one compare, one increment per row.
            (None, None) => {
                for i in rows {
                    let c = self.values[i].code(self.low, k as u64) as usize;
                    out.counts[ids.id(i).min(sink) * stride + c] += 1;
                }
            }
            (Some(_), None) => {
                for i in rows {
                    out.counts[ids.id(i).min(sink) * stride + self.code(i)] += 1;
                }
            }
            (_, Some(w)) => match self.windows {
                // Exact sums either way: the same whatever the row order or thread split. In a
                // window each row is one 128-bit add per sum, into a compact per-task table.
                Some((window, square_window)) => {
                    let mut sums = vec![[0u128; 2]; out.segments() * k];
                    for i in rows {
                        let c = self.code(i);
                        let g = ids.id(i).min(sink);
                        out.counts[g * stride + c] += 1;
                        if c < k {
                            let cell = &mut sums[g * k + c];
                            cell[0] += window.units(w[i]);
                            cell[1] += square_window.units(w[i] * w[i]);
                        }
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

    /// Tallies all rows, splitting them across threads when there are enough of them.
    fn tally<I: Ids>(&self, ids: &I, n_local: usize) -> Tallies {
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
    fn tally_replicates<I: Ids>(
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
    fn replicate_walk<I: Ids, T: ReplicateCell>(
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
            let mut rng = block_generator(key, b as u64);
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
    fn tally_counts<I: Ids>(&self, ids: &I, n_local: usize) -> Tallies {
        let n_local = n_local + 1; // the sink
        let len = self.values.len();
        let weighted = self.weights.is_some();
        let cells = n_local * (self.points + 2);
        let tasks = (len / MIN_ROWS_PER_TASK).min(rayon::current_num_threads());
        if tasks <= 1 || cells > MAX_TALLY_CELLS_PER_TASK {
            let mut out = Tallies::new(self.points, weighted, n_local);
            self.run(ids, 0..len, &mut out);
            return out;
        }
        let step = len.div_ceil(tasks);
        (0..tasks)
            .into_par_iter()
            .map(|t| {
                let mut out = Tallies::new(self.points, weighted, n_local);
                self.run(ids, t * step..((t + 1) * step).min(len), &mut out);
                out
            })
            .reduce_with(|mut a, b| {
                a.add_all(&b);
                a
            })
            .expect("at least two tasks")
    }

    /// Index and description of the first invalid score, if any.
    fn first_invalid(&self) -> Option<(usize, String)> {
        (0..self.values.len())
            .find(|&i| self.code(i) == self.points + 1)
            .map(|i| (i, self.values[i].describe()))
    }
}

fn tally_with<S: ScoreValue>(
    ids: &LocalIds<'_>,
    n_local: usize,
    scores: ScoreTally<'_, S>,
) -> Result<(Tallies, Option<(usize, String)>)> {
    let tallies = match ids {
        LocalIds::Single => scores.tally(&SingleIds, n_local),
        LocalIds::DictI32 {
            keys, nulls: None, ..
        } => scores.tally(&SliceIds(keys), n_local),
        LocalIds::DictI32 {
            keys,
            nulls: Some(nulls),
            null_id,
        } => scores.tally(
            &NullableIds {
                keys: SliceIds(keys),
                nulls,
                null_id: *null_id as usize,
            },
            n_local,
        ),
        LocalIds::DictU32 {
            keys, nulls: None, ..
        } => scores.tally(&SliceIds(keys), n_local),
        LocalIds::DictU32 {
            keys,
            nulls: Some(nulls),
            null_id,
        } => scores.tally(
            &NullableIds {
                keys: SliceIds(keys),
                nulls,
                null_id: *null_id as usize,
            },
            n_local,
        ),
        LocalIds::Owned(v) => scores.tally(&SliceIds(v.as_slice()), n_local),
    };
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

/// Tallies one aligned chunk. Returns the local tallies and the first invalid score.
fn tally_chunk(
    score: &ArrayRef,
    weights: Option<(&[f64], WeightRange)>,
    groups: &ChunkGroups<'_>,
    scale: Scale,
    replicates: Option<(usize, u64)>,
) -> Result<(Tallies, Option<(usize, String)>)> {
    macro_rules! go {
        ($array:expr) => {{
            let a = $array;
            let rows = a.len();
            let scores = ScoreTally {
                values: a.values().as_ref(),
                nulls: a.nulls().filter(|n| n.null_count() > 0),
                weights: weights.map(|(w, _)| w),
                low: scale.low,
                points: scale.points(),
                replicates,
                windows: weights.and_then(|(_, range)| range.windows(rows)),
            };
            tally_with(&groups.ids, groups.n_local, scores)
        }};
    }
    match score.data_type() {
        DataType::Int8 => go!(score.as_primitive::<Int8Type>()),
        DataType::Int16 => go!(score.as_primitive::<Int16Type>()),
        DataType::Int32 => go!(score.as_primitive::<Int32Type>()),
        DataType::Int64 => go!(score.as_primitive::<Int64Type>()),
        DataType::UInt8 => go!(score.as_primitive::<UInt8Type>()),
        DataType::UInt16 => go!(score.as_primitive::<UInt16Type>()),
        DataType::UInt32 => go!(score.as_primitive::<UInt32Type>()),
        DataType::UInt64 => go!(score.as_primitive::<UInt64Type>()),
        DataType::Float32 => go!(score.as_primitive::<Float32Type>()),
        DataType::Float64 => go!(score.as_primitive::<Float64Type>()),
        DataType::Float16 | DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            // Rare layouts: widen once to f64 (exact for every value a rating scale can hold).
            let wide = arrow_cast::cast(score, &DataType::Float64)?;
            tally_chunk(&wide, weights, groups, scale, replicates)
        }
        DataType::Null => {
            let a = arrow_array::Int8Array::new_null(score.len());
            go!(&a)
        }
        other => Err(CoreError::UnsupportedType {
            role: Role::Score,
            data_type: other.to_string(),
            why: "scores must be integers or floats",
        }),
    }
}

/// Bad weights of a chunk: how many, the first one's index, and its value.
type BadWeights = Option<(u64, usize, String)>;

/// The smallest positive and the largest weight of a chunk (0 and 0 when none is positive).
#[derive(Clone, Copy, Debug, Default)]
struct WeightRange {
    min_positive: f64,
    max: f64,
}

impl WeightRange {
    /// One pass over valid weights: how many are out of range, and the range of the others.
    /// Eight independent lanes, so that the loop vectorises instead of waiting on each compare.
    fn scan(values: &[f64]) -> (u64, Self) {
        const LANES: usize = 8;
        let mut bad = [0u64; LANES];
        let mut low = [f64::INFINITY; LANES];
        let mut high = [0.0f64; LANES];
        // Pad the tail with zeros (in range, not positive, not above the maximum): one loop.
        let mut tail = [0.0f64; LANES];
        let chunks = values.chunks_exact(LANES);
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        for chunk in chunks.chain(std::iter::once(&tail[..])) {
            for j in 0..LANES {
                let v = chunk[j];
                bad[j] += !weight_in_range(v) as u64;
                let positive = if v > 0.0 { v } else { f64::INFINITY };
                low[j] = if positive < low[j] { positive } else { low[j] };
                high[j] = if v > high[j] { v } else { high[j] };
            }
        }
        let min_positive = low.iter().copied().fold(f64::INFINITY, f64::min);
        let range = Self {
            min_positive: if min_positive.is_finite() {
                min_positive
            } else {
                0.0
            },
            max: high.iter().copied().fold(0.0, f64::max),
        };
        (bad.iter().sum(), range)
    }

    /// The range of two sets of weights together.
    fn union(self, other: Self) -> Self {
        let min_positive = match (self.min_positive > 0.0, other.min_positive > 0.0) {
            (true, true) => self.min_positive.min(other.min_positive),
            (true, false) => self.min_positive,
            _ => other.min_positive,
        };
        Self {
            min_positive,
            max: self.max.max(other.max),
        }
    }

    /// Windows for the sums of `rows` such weights and of their squares, if both fit.
    fn windows(&self, rows: usize) -> Option<(Window, Window)> {
        let (lo, hi) = (self.min_positive, self.max);
        Some((
            Window::for_range(lo, hi, rows)?,
            Window::for_range(lo * lo, hi * hi, rows)?,
        ))
    }
}

/// Checks and widens one weight chunk to f64: no nulls, NaN, infinities, or values outside
/// zero and [`crate::exact_sum::MIN_WEIGHT`, `crate::exact_sum::MAX_WEIGHT`).
fn check_weights(weight: &ArrayRef) -> Result<(ArrayRef, BadWeights, WeightRange)> {
    let wide = match weight.data_type() {
        DataType::Float64 => weight.clone(),
        t if t.is_integer() || t.is_floating() || matches!(t, DataType::Decimal128(_, _)) => {
            arrow_cast::cast(weight, &DataType::Float64)?
        }
        DataType::Null => arrow_cast::cast(weight, &DataType::Float64)?,
        other => {
            return Err(CoreError::UnsupportedType {
                role: Role::Weight,
                data_type: other.to_string(),
                why: "weights must be numbers",
            })
        }
    };
    let w = wide.as_primitive::<Float64Type>();
    // In range: zero or 2^-38..2^32, so that weight sums are exact (see `exact_sum`).
    let bad = |i: usize| w.is_null(i) || !weight_in_range(w.value(i));
    let (count, range) = if w.null_count() == 0 {
        // Large chunks are scanned in parallel pieces (the merge is order-free).
        w.values()
            .par_chunks(MIN_ROWS_PER_TASK)
            .map(WeightRange::scan)
            .reduce(
                || (0, WeightRange::default()),
                |(a, x), (b, y)| (a + b, x.union(y)),
            )
    } else {
        let count = (0..w.len()).filter(|&i| bad(i)).count() as u64;
        (count, WeightRange::default())
    };
    let first = (count > 0).then(|| {
        let i = (0..w.len()).find(|&i| bad(i)).expect("count > 0");
        let v = if w.is_null(i) {
            "null".to_string()
        } else {
            w.value(i).to_string()
        };
        (count, i, v)
    });
    Ok((wide, first, range))
}

/// Splits columns of differently chunked arrays into aligned row ranges (zero-copy slices).
/// `columns[j]` are the chunks of column `j`; returns per range one array per column.
pub fn align(columns: &[(Role, Vec<ArrayRef>)]) -> Result<Vec<Vec<ArrayRef>>> {
    let total = |chunks: &[ArrayRef]| chunks.iter().map(|c| c.len() as u64).sum::<u64>();
    let expected = columns.first().map(|(_, c)| total(c)).unwrap_or(0);
    for (role, chunks) in columns {
        let actual = total(chunks);
        if actual != expected {
            return Err(CoreError::LengthMismatch {
                role: *role,
                expected,
                actual,
            });
        }
    }
    // Cut points: the union of every column's chunk boundaries.
    let mut cuts: Vec<u64> = columns
        .iter()
        .flat_map(|(_, chunks)| {
            chunks.iter().scan(0u64, |end, c| {
                *end += c.len() as u64;
                Some(*end)
            })
        })
        .collect();
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    let mut cursors = vec![(0usize, 0u64); columns.len()]; // (chunk index, chunk start row)
    let mut out = Vec::with_capacity(cuts.len());
    for win in cuts.windows(2) {
        let (start, end) = (win[0], win[1]);
        let mut row = Vec::with_capacity(columns.len());
        for ((_, chunks), cur) in columns.iter().zip(cursors.iter_mut()) {
            while cur.1 + chunks[cur.0].len() as u64 <= start {
                cur.1 += chunks[cur.0].len() as u64;
                cur.0 += 1;
            }
            let offset = (start - cur.1) as usize;
            row.push(chunks[cur.0].slice(offset, (end - start) as usize));
        }
        out.push(row);
    }
    Ok(out)
}

/// Input columns of one update: scores, key columns and optional weights, each as chunks.
pub struct Columns {
    pub score: Vec<ArrayRef>,
    pub keys: Vec<Vec<ArrayRef>>,
    pub weight: Option<Vec<ArrayRef>>,
}

/// Segmented tallies that grow with each update and merge with each other.
#[derive(Clone)]
pub struct Aggregator {
    scale: Scale,
    n_keys: usize,
    index: Option<KeyIndex>,
    tallies: Tallies,
}

/// What `finish` returns: key columns (logical types, ascending, nulls last) and their tallies.
pub struct Grouped {
    pub keys: Vec<ArrayRef>,
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
    pub segment_of: Vec<usize>,
    pub firsts: Vec<u32>,
    pub streams: Vec<u64>,
}

impl SegmentRuns {
    pub fn segments(&self) -> usize {
        self.streams.len()
    }
}

/// Stream id of a segment key: FNV-1a over its canonical bytes.
pub fn key_stream(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Stream id of the unsegmented (overall) estimate.
pub const OVERALL_STREAM: u64 = 0x6f76_6572_616c_6c00; // "overall"

impl Aggregator {
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

    /// A new (empty) aggregator that keeps `replicates` Poisson-bootstrap replicates.
    pub fn with_replicates(mut self, replicates: usize) -> Self {
        self.tallies = self.tallies.with_replicates(replicates);
        self
    }

    pub fn scale(&self) -> Scale {
        self.scale
    }
    pub fn weighted(&self) -> bool {
        self.tallies.weighted()
    }
    pub fn replicates(&self) -> usize {
        self.tallies.replicates()
    }
    pub fn key_types(&self) -> Option<&[DataType]> {
        self.index.as_ref().map(|i| i.types())
    }
    pub fn n_keys(&self) -> usize {
        self.n_keys
    }
    pub fn tallies(&self) -> &Tallies {
        &self.tallies
    }
    pub fn key_index(&self) -> Option<&KeyIndex> {
        self.index.as_ref()
    }

    /// Adds the rows of `columns`. All-or-nothing: on error the aggregator is unchanged.
    /// `row_offset` is added to row numbers in error messages.
    pub fn update(&mut self, columns: &Columns, drop_invalid: bool, row_offset: u64) -> Result<()> {
        self.update_drawing(columns, drop_invalid, row_offset, None)
    }

    /// [`Aggregator::update`] for tallies with replicates: `draw_key` keys this update's
    /// Poisson-bootstrap draws (required exactly when the tallies keep replicates).
    pub fn update_drawing(
        &mut self,
        columns: &Columns,
        drop_invalid: bool,
        row_offset: u64,
        draw_key: Option<u64>,
    ) -> Result<()> {
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

        let key_types = self.key_types().map(|t| t.to_vec());
        let mut partial = Aggregator::new(self.scale, key_types, self.weighted())?
            .with_replicates(self.replicates());
        let mut invalid: Option<(u64, String)> = None;
        let mut start = row_offset;
        for (j, (chunk, w)) in chunks.iter().zip(&weights).enumerate() {
            let groups = ChunkGroups::new(&chunk[1..1 + self.n_keys])?;
            let w = w
                .as_ref()
                .map(|(w, range)| (w.as_primitive::<Float64Type>().values().as_ref(), *range));
            let replicates =
                draw_key.map(|key| (self.replicates(), splitmix64(key ^ splitmix64(j as u64))));
            let (local, first_bad) = tally_chunk(&chunk[0], w, &groups, self.scale, replicates)?;
            if let (None, Some((i, v))) = (&invalid, first_bad) {
                invalid = Some((start + i as u64, v));
            }
            partial.absorb_local(&groups, &local)?;
            start += chunk[0].len() as u64;
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
        self.merge(&partial)
    }

    /// Folds the local tallies of one chunk into global segments.
    fn absorb_local(&mut self, groups: &ChunkGroups<'_>, local: &Tallies) -> Result<()> {
        let Some(index) = self.index.as_mut() else {
            self.tallies.add_segment(0, local, 0);
            return Ok(());
        };
        let used: Vec<u32> = (0..local.segments())
            .filter(|&s| !local.segment_is_empty(s))
            .map(|s| s as u32)
            .collect();
        let values = groups.key_values(&used)?;
        let global = index.intern(&values)?;
        self.tallies.grow(index.len());
        for (&l, &g) in used.iter().zip(&global) {
            self.tallies.add_segment(g as usize, local, l as usize);
        }
        Ok(())
    }

    /// Adds another aggregator's tallies (same scale, keys and weighting) into this one.
    ///
    /// A key column typed Null on one side (e.g. a batch whose key column held only nulls, or
    /// no rows) takes the other side's type: its all-null keys are re-encoded in that type.
    pub fn merge(&mut self, other: &Aggregator) -> Result<()> {
        if other.scale != self.scale
            || other.weighted() != self.weighted()
            || other.replicates() != self.replicates()
        {
            return Err(CoreError::InvalidArgument(
                "cannot merge aggregations of different scales, weighting or replicates".into(),
            ));
        }
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
    fn retyped(&self, types: &[DataType]) -> Result<Aggregator> {
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
        Ok(Aggregator {
            scale: self.scale,
            n_keys: self.n_keys,
            index: Some(fresh),
            tallies,
        })
    }

    /// Segments in key order with their key values.
    pub fn finish(&self) -> Result<Grouped> {
        match &self.index {
            None => Ok(Grouped {
                keys: Vec::new(),
                tallies: self.tallies.clone(),
                streams: vec![OVERALL_STREAM],
            }),
            Some(index) => {
                let order = index.sorted_order();
                Ok(Grouped {
                    keys: index.key_columns(&order)?,
                    tallies: self.tallies.permuted(&order),
                    streams: order
                        .iter()
                        .map(|&id| key_stream(index.row_bytes(id)))
                        .collect(),
                })
            }
        }
    }
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
mod tests {
    use super::*;
    use arrow_array::{DictionaryArray, Float64Array, Int64Array, Int8Array, StringArray};
    use std::sync::Arc;

    fn nps_scale() -> Scale {
        Scale::new(0, 10).unwrap()
    }

    #[test]
    fn unsegmented_counts_missing_and_invalid() {
        let scores: ArrayRef = Arc::new(Int8Array::from(vec![
            Some(10),
            None,
            Some(0),
            Some(11),
            Some(10),
        ]));
        let mut agg = Aggregator::new(nps_scale(), None, false).unwrap();
        let cols = Columns {
            score: vec![scores],
            keys: vec![],
            weight: None,
        };
        let err = agg.update(&cols, false, 0).unwrap_err();
        match err {
            CoreError::InvalidScore {
                count,
                first_row,
                first_value,
                ..
            } => assert_eq!((count, first_row, first_value.as_str()), (1, 3, "11")),
            e => panic!("unexpected {e}"),
        }
        assert_eq!(
            agg.tallies().counts(0).iter().sum::<u64>(),
            0,
            "failed update leaves state"
        );
        agg.update(&cols, true, 0).unwrap();
        let t = agg.tallies();
        assert_eq!(t.counts(0)[10], 2);
        assert_eq!(t.counts(0)[0], 1);
        assert_eq!((t.missing(0), t.invalid(0)), (1, 1));
    }

    #[test]
    fn segmented_chunked_and_weighted() {
        let keys1: DictionaryArray<Int32Type> =
            vec![Some("x"), Some("y"), None].into_iter().collect();
        let keys2: ArrayRef = Arc::new(StringArray::from(vec![Some("y"), Some("x")]));
        let scores: ArrayRef = Arc::new(Float64Array::from(vec![9.0, 3.0, 10.0, 7.0, 9.0]));
        let weights: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5]));
        // Keys in two differently typed chunks; scores in one; weights in one.
        let mut agg = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), true).unwrap();
        agg.update(
            &Columns {
                score: vec![scores.slice(0, 2), scores.slice(2, 3)],
                keys: vec![vec![Arc::new(keys1), keys2]],
                weight: Some(vec![weights]),
            },
            false,
            0,
        )
        .unwrap();
        let g = agg.finish().unwrap();
        let k = g.keys[0].as_string::<i32>();
        assert_eq!((k.value(0), k.value(1), k.is_null(2)), ("x", "y", true));
        assert_eq!(g.tallies.counts(0)[9], 2); // x: 9.0 (w1) and 9.0 (w5)
        let (wsum, w2sum) = g.tallies.exact_weight_sums(0).unwrap();
        assert_eq!(wsum[9].to_f64(), 6.0);
        assert_eq!(w2sum[9].to_f64(), 26.0);
        assert_eq!(g.tallies.counts(1)[3] + g.tallies.counts(1)[7], 2);
        assert_eq!(g.tallies.counts(2)[10], 1);
    }

    #[test]
    fn bad_weights_and_lengths() {
        let scores: ArrayRef = Arc::new(Int8Array::from(vec![1, 2, 3]));
        let weights: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(-1.0), None]));
        let mut agg = Aggregator::new(nps_scale(), None, true).unwrap();
        let err = agg
            .update(
                &Columns {
                    score: vec![scores.clone()],
                    keys: vec![],
                    weight: Some(vec![weights]),
                },
                false,
                10,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                CoreError::InvalidWeight {
                    count: 2,
                    first_row: 11,
                    ..
                }
            ),
            "{err}"
        );
        let short: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let err = agg
            .update(
                &Columns {
                    score: vec![scores],
                    keys: vec![],
                    weight: Some(vec![short]),
                },
                false,
                0,
            )
            .unwrap_err();
        assert!(matches!(err, CoreError::LengthMismatch { .. }));
    }

    #[test]
    fn null_typed_keys_merge_into_typed_ones() {
        let scores: ArrayRef = Arc::new(Int8Array::from(vec![10, 0]));
        let nulls: ArrayRef = Arc::new(arrow_array::NullArray::new(2));
        let strings: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let mut untyped = Aggregator::new(nps_scale(), Some(vec![DataType::Null]), false).unwrap();
        untyped
            .update(
                &Columns {
                    score: vec![scores.clone()],
                    keys: vec![vec![nulls]],
                    weight: None,
                },
                false,
                0,
            )
            .unwrap();
        let mut typed = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
        typed
            .update(
                &Columns {
                    score: vec![scores],
                    keys: vec![vec![strings]],
                    weight: None,
                },
                false,
                0,
            )
            .unwrap();
        untyped.merge(&typed).unwrap();
        let g = untyped.finish().unwrap();
        assert_eq!(g.keys[0].data_type(), &DataType::Utf8);
        // "a" (one promoter) and null (two nulls from the untyped side + one detractor).
        assert_eq!(g.tallies.segments(), 2);
        assert_eq!(g.tallies.counts(1).iter().sum::<u64>(), 3);
        let mut ints = Aggregator::new(nps_scale(), Some(vec![DataType::Int64]), false).unwrap();
        assert!(ints.merge(&typed).is_err());
    }

    #[test]
    fn parallel_matches_serial() {
        let n = 300_000;
        let scores: ArrayRef =
            Arc::new(Int8Array::from_iter_values((0..n).map(|i| (i % 11) as i8)));
        let keys: DictionaryArray<Int32Type> =
            (0..n).map(|i| Some(["a", "b", "c"][i % 3])).collect();
        let keys: ArrayRef = Arc::new(keys);
        let mut agg = Aggregator::new(nps_scale(), Some(vec![DataType::Utf8]), false).unwrap();
        agg.update(
            &Columns {
                score: vec![scores],
                keys: vec![vec![keys]],
                weight: None,
            },
            false,
            0,
        )
        .unwrap();
        let g = agg.finish().unwrap();
        let total: u64 = (0..3)
            .map(|s| g.tallies.counts(s).iter().sum::<u64>())
            .sum();
        assert_eq!(total, n as u64);
        // Row i has score i % 11 and key i % 3: segment a holds rows 0, 3, 6, ...
        let expected_a_zero = (0..n).filter(|i| i % 3 == 0 && i % 11 == 0).count() as u64;
        assert_eq!(g.tallies.counts(0)[0], expected_a_zero);
    }
}
