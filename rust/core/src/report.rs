//! Estimates of every segment as one Arrow record batch: the shape results leave the core in.

use std::mem::MaybeUninit;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt64Array};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};

use rayon::prelude::*;

use crate::bayes::credible_interval;
use crate::bootstrap::{
    bootstrap_counts, bootstrap_lattice, interval_from_distribution, BootstrapInterval,
    BootstrapMethod, BootstrapSpec, Lattice,
};
use crate::error::{CoreError, Result};
use crate::estimate::{estimate_checked, Estimate, Interval, Level, Moments};
use crate::metric::MetricSpec;
use crate::tally::Tallies;
use crate::weighted_bootstrap::{bootstrap_cells, WeightCells};

/// How each segment's interval is computed.
pub struct IntervalRequest {
    /// The analytic interval method.
    pub interval: Interval,
    /// Two-sided confidence level in (0, 1).
    pub confidence: f64,
    /// When set, bounds and se come from the exact histogram bootstrap instead of `interval`.
    pub bootstrap: Option<BootstrapSpec>,
    /// When set, (draws, seed): bounds and se come from the Dirichlet posterior (see `bayes`).
    pub bayes: Option<(usize, u64)>,
    /// For a weighted bootstrap: each segment's (weight, bucket) cells, in segment order.
    pub weight_cells: Option<Vec<WeightCells>>,
}

/// The estimate of segment `s` of `tallies`, result row `row`, with bootstrap bounds and a note
/// when it asked for them.
/// `moments` is scratch space (its buffer is reused from segment to segment); `level` is the
/// request's confidence, prepared once.
fn segment_estimate(
    spec: &MetricSpec,
    tallies: &Tallies,
    (s, row): (usize, usize),
    stream: u64,
    request: &IntervalRequest,
    (moments, level): (&mut Moments, Level),
) -> Result<(Estimate, Option<&'static str>)> {
    let counts = tallies.counts(s);
    match tallies.exact_weight_sums(s) {
        Some((wsum, w2sum)) => moments.set_exact(counts, wsum, w2sum),
        None => moments.set_counts(counts),
    };
    let moments = &*moments;
    if let Some((draws, seed)) = request.bayes {
        let mut est = estimate_checked(spec, moments, Interval::None, level);
        if moments.total > 0.0 {
            // Effective counts: the weighted shares scaled to Kish's n (the counts, unweighted).
            let reduced: Vec<f64> = spec
                .reduced_mass(&moments.mass)
                .iter()
                .map(|m| m / moments.total * moments.effective_n)
                .collect();
            let statistic = |mass: &[f64]| spec.reduced_statistic(mass);
            let (low, high, sd) = credible_interval(
                &reduced,
                &statistic,
                request.confidence,
                draws,
                seed,
                stream,
            );
            (est.low, est.high, est.se) = (low, high, sd);
            return Ok((est, None));
        }
        return Ok((est, Some("no responses: the interval is undefined")));
    }
    let Some(boot) = &request.bootstrap else {
        // The interval was checked against the metric once for the whole batch.
        return Ok((
            estimate_checked(spec, moments, request.interval, level),
            None,
        ));
    };
    let est = estimate_checked(spec, moments, Interval::None, level);
    if tallies.replicates() > 0 {
        return replicate_estimate(spec, tallies, s, boot, est);
    }
    if tallies.weighted() {
        let Some(cells) = request.weight_cells.as_ref().and_then(|c| c.get(row)) else {
            return Err(CoreError::InvalidArgument(
                "a weighted bootstrap needs the (weight, answer) cells of each segment, which \
                 this state does not keep; use an analytic interval (Kish's effective n) or \
                 ci='bayes', or create the accumulator with replicates= to keep Poisson-bootstrap \
                 replicates"
                    .into(),
            ));
        };
        let boot = bootstrap_cells(spec, cells, boot, stream);
        return Ok((
            with_bootstrap(spec, est, &boot),
            boot.degenerate.map(|d| d.message()),
        ));
    }
    let reduced = spec.reduced_counts(counts);
    let statistic = |mass: &[f64]| spec.reduced_statistic(mass);
    let boot = match spec.reduced_lattice_weights() {
        // Net scores and shares: the same draws and bits, read from a count per key.
        Some(weights) => {
            let total = reduced.iter().fold(0u64, |s, &c| s.saturating_add(c));
            let value = |key: i64| spec.reduced_lattice_value(key, total);
            let lattice = Lattice {
                weights,
                value: &value,
            };
            bootstrap_lattice(&reduced, &statistic, &lattice, boot, stream)
        }
        None => bootstrap_counts(&reduced, &statistic, boot, stream),
    };
    Ok((
        with_bootstrap(spec, est, &boot),
        boot.degenerate.map(|d| d.message()),
    ))
}

/// The Poisson-bootstrap interval from the replicate histograms an accumulator kept: the metric
/// on each replicate is one draw of the bootstrap distribution. Replicates in which the segment
/// drew no respondent have no value and are left out (a note says so). BCa needs a jackknife
/// over respondents, which replicates do not keep.
fn replicate_estimate(
    spec: &MetricSpec,
    tallies: &Tallies,
    s: usize,
    boot: &BootstrapSpec,
    est: Estimate,
) -> Result<(Estimate, Option<&'static str>)> {
    if boot.method == BootstrapMethod::Bca {
        return Err(CoreError::InvalidArgument(
            "BCa needs a jackknife over respondents, which bootstrap replicates do not keep; \
             use bootstrap='percentile' or 'basic'"
                .into(),
        ));
    }
    if est.n == 0 {
        return Ok((est, Some("no responses: the interval is undefined")));
    }
    let draws: Vec<f64> = (0..tallies.replicates())
        .map(|r| spec.statistic(&tallies.replicate_mass(s, r)))
        .collect();
    let kept: Vec<f64> = draws.iter().copied().filter(|x| x.is_finite()).collect();
    let note = (kept.len() < draws.len()).then_some(
        "replicates in which this segment drew no respondent were left out of the interval",
    );
    let interval =
        interval_from_distribution(kept, est.value, boot.method, boot.confidence, || None);
    let note = note.or(interval.degenerate.map(|d| d.message()));
    Ok((with_bootstrap(spec, est, &interval), note))
}

/// An estimate with bootstrap bounds and se. The value is the bootstrap's own evaluation of the
/// statistic (the same arithmetic as the resamples, so "the interval holds the estimate" is
/// exact to the last bit), and the bounds are clipped to the metric's range, which the basic
/// interval (2θ̂ − quantile) can otherwise leave.
fn with_bootstrap(spec: &MetricSpec, mut est: Estimate, boot: &BootstrapInterval) -> Estimate {
    let (lo, hi) = spec.bounds();
    if boot.estimate.is_finite() {
        est.value = boot.estimate;
    }
    est.low = boot.low.clamp(lo, hi);
    est.high = boot.high.clamp(lo, hi);
    est.se = boot.std_error;
    est
}

/// Up to this many segments with analytic intervals are estimated on the calling thread.
const SEQUENTIAL_ANALYTIC_SEGMENTS: usize = 1024;

/// One row per segment of `tallies` (see [`segment_batch`] for the layout).
/// `streams[s]` is segment `s`'s bootstrap stream id (see `keyed_tallies::Grouped`).
pub fn estimate_batch(
    spec: &MetricSpec,
    tallies: &Tallies,
    streams: &[u64],
    keys: &[ArrayRef],
    key_names: &[String],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    estimate_batch_in_order(spec, tallies, None, streams, keys, key_names, request)
}

/// [`estimate_batch`] with the rows in `order`: row `i` is segment `order[i]` of `tallies`
/// (None: their own order), read in place instead of from a reordered copy. `streams`, `keys`
/// and the request's weight cells are per row.
///
/// Every column is allocated once at its final size and written in place, block by block: no
/// per-segment allocation and no per-row intermediate, so the transient memory is the result's.
pub fn estimate_batch_in_order(
    spec: &MetricSpec,
    tallies: &Tallies,
    order: Option<&[u32]>,
    streams: &[u64],
    keys: &[ArrayRef],
    key_names: &[String],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let segments = order.map_or(tallies.segments(), <[u32]>::len);
    let resampled = request.bootstrap.is_some() || request.bayes.is_some();
    // Checked once per call, and only when there is a segment to estimate (as before, when
    // every segment checked them itself).
    let level = if segments > 0 {
        if !resampled {
            request.interval.check(&spec.kind)?;
        }
        Level::new(request.confidence)?
    } else {
        Level::new(0.5)?
    };
    let points = tallies.points();
    let n_buckets = spec.n_buckets();
    let mut columns = RowColumns::new(segments, n_buckets, points);
    let fill = |block: RowBlock<'_>| -> Result<()> {
        let mut moments = Moments::empty();
        block.fill(
            |row| {
                let s = order.map_or(row, |o| o[row] as usize);
                let estimate = segment_estimate(
                    spec,
                    tallies,
                    (s, row),
                    streams[row],
                    request,
                    (&mut moments, level),
                )?;
                Ok((estimate, s))
            },
            spec,
            tallies,
        )
    };
    // Segments are independent: resampled ones are worth spreading over threads, one or a few
    // segments per task. An analytic interval costs a few operations, less than handing work to
    // the pool (a caller outside it sleeps until a worker has run it, which on a loaded machine
    // can take milliseconds): few segments stay on the calling thread, many go in large blocks.
    if resampled || segments > SEQUENTIAL_ANALYTIC_SEGMENTS {
        let size = if resampled {
            segments.div_ceil(rayon::current_num_threads() * RESAMPLED_TASKS_PER_THREAD)
        } else {
            ANALYTIC_BLOCK_ROWS
        };
        columns
            .blocks(size.max(1))
            .into_par_iter()
            .try_for_each(fill)?;
    } else {
        columns
            .blocks(segments.max(1))
            .into_iter()
            .try_for_each(fill)?;
    }
    // SAFETY: every block was filled (an error returned above).
    segment_batch(keys, key_names, unsafe { columns.into_rows() })
}

/// Rows per task when many analytic estimates are spread over threads.
const ANALYTIC_BLOCK_ROWS: usize = 4096;
/// Tasks per thread for resampled estimates (their cost varies with the segment's size).
const RESAMPLED_TASKS_PER_THREAD: usize = 16;

/// The per-segment columns of a result, allocated at their final size.
struct RowColumns {
    /// Rows (segments) of every column.
    segments: usize,
    estimates: EstimateColumns,
    missing: Vec<u64>,
    invalid: Vec<u64>,
    buckets: Vec<Vec<u64>>,
    points: usize,
    distributions: Vec<u64>,
}

/// A block of consecutive rows of [`RowColumns`], written by one task: every item of every
/// slice is written once by [`RowBlock::fill`].
struct RowBlock<'a> {
    start: usize,
    value: &'a mut [MaybeUninit<f64>],
    se: &'a mut [MaybeUninit<f64>],
    low: &'a mut [MaybeUninit<f64>],
    high: &'a mut [MaybeUninit<f64>],
    n: &'a mut [MaybeUninit<u64>],
    weighted_n: &'a mut [MaybeUninit<f64>],
    effective_n: &'a mut [MaybeUninit<f64>],
    notes: &'a mut [MaybeUninit<Option<&'static str>>],
    missing: &'a mut [MaybeUninit<u64>],
    invalid: &'a mut [MaybeUninit<u64>],
    buckets: Vec<&'a mut [MaybeUninit<u64>]>,
    distributions: &'a mut [MaybeUninit<u64>],
}

/// The first `n` items of `rest`, which keeps the others.
fn take<'a, T>(rest: &mut &'a mut [T], n: usize) -> &'a mut [T] {
    let (head, tail) = std::mem::take(rest).split_at_mut(n);
    *rest = tail;
    head
}

/// The first `len` items of `items`' spare capacity, to be written (`items` is empty).
fn unwritten<T>(items: &mut Vec<T>, len: usize) -> &mut [MaybeUninit<T>] {
    debug_assert!(items.is_empty() && items.capacity() >= len);
    &mut items.spare_capacity_mut()[..len]
}

/// Makes the first `len` written items of `items`' spare capacity its items.
///
/// # Safety
/// Every one of them has been written.
unsafe fn assume_written<T: Copy>(items: &mut Vec<T>, len: usize) {
    debug_assert!(items.capacity() >= len);
    // SAFETY: the capacity holds `len` items, each written (the caller's promise); `T: Copy`
    // has no drop to skip or run twice.
    unsafe { items.set_len(len) }
}

impl RowColumns {
    /// Columns of `segments` rows with room for them but nothing written: the blocks write each
    /// item once, in parallel (zeroing them first was a serial pass over the whole result, a
    /// tenth of the time of a 100,000-segment result).
    fn new(segments: usize, n_buckets: usize, points: usize) -> Self {
        Self {
            segments,
            estimates: EstimateColumns::with_capacity(segments),
            missing: Vec::with_capacity(segments),
            invalid: Vec::with_capacity(segments),
            buckets: (0..n_buckets)
                .map(|_| Vec::with_capacity(segments))
                .collect(),
            points,
            distributions: Vec::with_capacity(segments * points),
        }
    }

    /// The rows in blocks of `size` (the last may be shorter).
    fn blocks(&mut self, size: usize) -> Vec<RowBlock<'_>> {
        let segments = self.segments;
        let points = self.points;
        let e = &mut self.estimates;
        let (mut value, mut se, mut low, mut high) = (
            unwritten(&mut e.value, segments),
            unwritten(&mut e.se, segments),
            unwritten(&mut e.low, segments),
            unwritten(&mut e.high, segments),
        );
        let (mut n, mut weighted_n, mut effective_n, mut notes) = (
            unwritten(&mut e.n, segments),
            unwritten(&mut e.weighted_n, segments),
            unwritten(&mut e.effective_n, segments),
            unwritten(&mut e.notes, segments),
        );
        let (mut missing, mut invalid, mut distributions) = (
            unwritten(&mut self.missing, segments),
            unwritten(&mut self.invalid, segments),
            unwritten(&mut self.distributions, segments * points),
        );
        let mut buckets: Vec<&mut [MaybeUninit<u64>]> = self
            .buckets
            .iter_mut()
            .map(|b| unwritten(b, segments))
            .collect();
        let mut out = Vec::with_capacity(segments.div_ceil(size));
        let mut start = 0;
        while start < segments {
            let len = size.min(segments - start);
            out.push(RowBlock {
                start,
                value: take(&mut value, len),
                se: take(&mut se, len),
                low: take(&mut low, len),
                high: take(&mut high, len),
                n: take(&mut n, len),
                weighted_n: take(&mut weighted_n, len),
                effective_n: take(&mut effective_n, len),
                notes: take(&mut notes, len),
                missing: take(&mut missing, len),
                invalid: take(&mut invalid, len),
                buckets: buckets.iter_mut().map(|b| take(b, len)).collect(),
                distributions: take(&mut distributions, len * points),
            });
            start += len;
        }
        out
    }

    /// The written rows.
    ///
    /// # Safety
    /// Every block of [`RowColumns::blocks`] has been filled ([`RowBlock::fill`] returned Ok).
    unsafe fn into_rows(mut self) -> SegmentRows {
        let (segments, points) = (self.segments, self.points);
        let e = &mut self.estimates;
        // SAFETY (each call): the blocks cover rows 0..segments of every column, and each
        // block's fill wrote every row of its slices (the caller's promise).
        unsafe {
            for column in [&mut e.value, &mut e.se, &mut e.low, &mut e.high] {
                assume_written(column, segments);
            }
            for column in [&mut e.weighted_n, &mut e.effective_n] {
                assume_written(column, segments);
            }
            assume_written(&mut e.n, segments);
            assume_written(&mut e.notes, segments);
            assume_written(&mut self.missing, segments);
            assume_written(&mut self.invalid, segments);
            for column in &mut self.buckets {
                assume_written(column, segments);
            }
            assume_written(&mut self.distributions, segments * points);
        }
        SegmentRows {
            estimates: self.estimates,
            missing: self.missing,
            invalid: self.invalid,
            buckets: self.buckets,
            points: self.points,
            distributions: self.distributions,
        }
    }
}

impl RowBlock<'_> {
    /// Writes every row of the block: `row_estimate(row)` gives its estimate, note and the
    /// segment of `tallies` it reads.
    fn fill(
        mut self,
        mut row_estimate: impl FnMut(usize) -> Result<((Estimate, Option<&'static str>), usize)>,
        spec: &MetricSpec,
        tallies: &Tallies,
    ) -> Result<()> {
        let points = tallies.points();
        let mut bucket_counts = vec![0u64; self.buckets.len()];
        for j in 0..self.value.len() {
            let ((e, note), s) = row_estimate(self.start + j)?;
            self.value[j].write(e.value);
            self.se[j].write(e.se);
            self.low[j].write(e.low);
            self.high[j].write(e.high);
            self.n[j].write(e.n);
            self.weighted_n[j].write(e.weighted_n);
            self.effective_n[j].write(e.effective_n);
            self.notes[j].write(note);
            let counts = tallies.counts(s);
            self.missing[j].write(tallies.missing(s));
            self.invalid[j].write(tallies.invalid(s));
            spec.fill_buckets(counts, &mut bucket_counts);
            for (column, &count) in self.buckets.iter_mut().zip(&bucket_counts) {
                column[j].write(count);
            }
            let distribution = &mut self.distributions[j * points..(j + 1) * points];
            assert_eq!(counts.len(), points, "a segment's counts are one per point");
            for (item, &count) in distribution.iter_mut().zip(counts) {
                item.write(count);
            }
        }
        Ok(())
    }
}

/// Per segment, its estimate and the note on its interval, column by column.
pub struct EstimateColumns {
    value: Vec<f64>,
    se: Vec<f64>,
    low: Vec<f64>,
    high: Vec<f64>,
    n: Vec<u64>,
    weighted_n: Vec<f64>,
    effective_n: Vec<f64>,
    notes: Vec<Option<&'static str>>,
}

impl EstimateColumns {
    fn with_capacity(segments: usize) -> Self {
        Self {
            value: Vec::with_capacity(segments),
            se: Vec::with_capacity(segments),
            low: Vec::with_capacity(segments),
            high: Vec::with_capacity(segments),
            n: Vec::with_capacity(segments),
            weighted_n: Vec::with_capacity(segments),
            effective_n: Vec::with_capacity(segments),
            notes: Vec::with_capacity(segments),
        }
    }

    /// The columns of per-segment (estimate, note) rows.
    pub fn from_rows(rows: &[(Estimate, Option<&'static str>)]) -> Self {
        let column = |f: fn(&Estimate) -> f64| rows.iter().map(|(e, _)| f(e)).collect();
        Self {
            value: column(|e| e.value),
            se: column(|e| e.se),
            low: column(|e| e.low),
            high: column(|e| e.high),
            n: rows.iter().map(|(e, _)| e.n).collect(),
            weighted_n: column(|e| e.weighted_n),
            effective_n: column(|e| e.effective_n),
            notes: rows.iter().map(|(_, note)| *note).collect(),
        }
    }

    fn len(&self) -> usize {
        self.value.len()
    }
}

/// Everything a result row carries beyond its key.
pub struct SegmentRows {
    /// Per segment, its estimate and the note on its interval.
    pub estimates: EstimateColumns,
    /// Per segment, rows without a score.
    pub missing: Vec<u64>,
    /// Per segment, rows with an invalid score (dropped).
    pub invalid: Vec<u64>,
    /// `buckets[b][s]`: segment `s`'s count in bucket `b`.
    pub buckets: Vec<Vec<u64>>,
    /// Counts per scale point in each segment's `distribution` list (0: empty lists, where
    /// there is no single scale).
    pub points: usize,
    /// The counts per scale point, `points` per segment, segment-major.
    pub distributions: Vec<u64>,
}

/// The record batch results leave the core in: the key columns (named `key_names`), then value,
/// se, ci_low, ci_high, n, n_missing, n_invalid, weighted_n, effective_n, `bucket_<i>`, the
/// per-point `distribution` (a list) and a `note` (why an interval is degenerate, or null).
pub fn segment_batch(
    keys: &[ArrayRef],
    key_names: &[String],
    rows: SegmentRows,
) -> Result<RecordBatch> {
    let segments = rows.estimates.len();
    let EstimateColumns {
        value,
        se,
        low,
        high,
        n,
        weighted_n,
        effective_n,
        notes,
    } = rows.estimates;
    // Most rows have no note: a column of nulls is one bitmap, not a null appended per row.
    let notes: StringArray = if notes.iter().all(Option::is_none) {
        StringArray::new_null(notes.len())
    } else {
        notes.into_iter().collect()
    };
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, key) in key_names.iter().zip(keys) {
        fields.push(Field::new(name, key.data_type().clone(), true));
        columns.push(key.clone());
    }
    // Vectors become Arrow buffers without a copy.
    let float = |values: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(values)) };
    let uint = |values: Vec<u64>| -> ArrayRef { Arc::new(UInt64Array::from(values)) };
    let mut named: Vec<(String, ArrayRef)> = vec![
        ("value".into(), float(value)),
        ("se".into(), float(se)),
        ("ci_low".into(), float(low)),
        ("ci_high".into(), float(high)),
        ("n".into(), uint(n)),
        ("n_missing".into(), uint(rows.missing)),
        ("n_invalid".into(), uint(rows.invalid)),
        ("weighted_n".into(), float(weighted_n)),
        ("effective_n".into(), float(effective_n)),
    ];
    for (b, column) in rows.buckets.into_iter().enumerate() {
        named.push((format!("bucket_{b}"), uint(column)));
    }
    // One list per segment over the flat counts (no per-segment building).
    let offsets = OffsetBuffer::from_repeated_length(rows.points, segments);
    let dist = ListArray::new(
        Arc::new(Field::new("item", DataType::UInt64, false)),
        offsets,
        Arc::new(UInt64Array::from(rows.distributions)),
        None,
    );
    named.push(("distribution".into(), Arc::new(dist)));
    for (name, column) in named {
        fields.push(Field::new(name, column.data_type().clone(), false));
        columns.push(column);
    }
    fields.push(Field::new("note", DataType::Utf8, true));
    columns.push(Arc::new(notes));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
