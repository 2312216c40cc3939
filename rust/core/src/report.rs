//! Estimates of every segment as one Arrow record batch: the shape results leave the core in.

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
use crate::estimate::{estimate, Estimate, Interval, Moments};
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
fn segment_estimate(
    spec: &MetricSpec,
    tallies: &Tallies,
    (s, row): (usize, usize),
    stream: u64,
    request: &IntervalRequest,
) -> Result<(Estimate, Option<&'static str>)> {
    let counts = tallies.counts(s);
    let moments = match tallies.exact_weight_sums(s) {
        Some((wsum, w2sum)) => Moments::from_exact(counts, wsum, w2sum),
        None => Moments::new(counts, None, None),
    };
    if let Some((draws, seed)) = request.bayes {
        let mut est = estimate(spec, &moments, Interval::None, request.confidence)?;
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
        return Ok((
            estimate(spec, &moments, request.interval, request.confidence)?,
            None,
        ));
    };
    let est = estimate(spec, &moments, Interval::None, request.confidence)?;
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
    let at = |row: usize| order.map_or(row, |o| o[row] as usize);
    // Segments are independent: resampled ones are worth spreading over threads. An analytic
    // interval costs a few operations, less than handing work to the pool (a caller outside it
    // sleeps until a worker has run it, which on a loaded machine can take milliseconds).
    let resampled = request.bootstrap.is_some() || request.bayes.is_some();
    let estimate =
        |row: usize| segment_estimate(spec, tallies, (at(row), row), streams[row], request);
    let results: Vec<(Estimate, Option<&'static str>)> =
        if resampled || segments > SEQUENTIAL_ANALYTIC_SEGMENTS {
            (0..segments)
                .into_par_iter()
                .map(estimate)
                .collect::<Result<_>>()?
        } else {
            (0..segments).map(estimate).collect::<Result<_>>()?
        };
    // Columns written straight from the tallies: no per-segment rows to transpose.
    let n_buckets = spec.buckets(&vec![0; tallies.points()]).len();
    let mut buckets: Vec<Vec<u64>> = (0..n_buckets)
        .map(|_| Vec::with_capacity(segments))
        .collect();
    let mut distributions = Vec::with_capacity(segments * tallies.points());
    for row in 0..segments {
        let counts = tallies.counts(at(row));
        for (column, count) in buckets.iter_mut().zip(spec.buckets(counts)) {
            column.push(count);
        }
        distributions.extend_from_slice(counts);
    }
    let rows = SegmentRows {
        results,
        missing: (0..segments).map(|row| tallies.missing(at(row))).collect(),
        invalid: (0..segments).map(|row| tallies.invalid(at(row))).collect(),
        buckets,
        points: tallies.points(),
        distributions,
    };
    segment_batch(keys, key_names, rows)
}

/// Everything a result row carries beyond its key.
pub struct SegmentRows {
    /// Per segment, its estimate and the note on its interval.
    pub results: Vec<(Estimate, Option<&'static str>)>,
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
    // Columns read the estimates in place (no second, unzipped copy of every row).
    let estimates = || rows.results.iter().map(|(e, _)| e);
    let notes: StringArray = rows.results.iter().map(|(_, note)| *note).collect();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, key) in key_names.iter().zip(keys) {
        fields.push(Field::new(name, key.data_type().clone(), true));
        columns.push(key.clone());
    }
    let float = |f: fn(&Estimate) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(estimates().map(f)))
    };
    let uint = |values: Vec<u64>| -> ArrayRef { Arc::new(UInt64Array::from(values)) };
    let mut named: Vec<(String, ArrayRef)> = vec![
        ("value".into(), float(|e| e.value)),
        ("se".into(), float(|e| e.se)),
        ("ci_low".into(), float(|e| e.low)),
        ("ci_high".into(), float(|e| e.high)),
        ("n".into(), uint(estimates().map(|e| e.n).collect())),
        ("n_missing".into(), uint(rows.missing)),
        ("n_invalid".into(), uint(rows.invalid)),
        ("weighted_n".into(), float(|e| e.weighted_n)),
        ("effective_n".into(), float(|e| e.effective_n)),
    ];
    for (b, column) in rows.buckets.into_iter().enumerate() {
        named.push((format!("bucket_{b}"), uint(column)));
    }
    // One list per segment over the flat counts (no per-segment building).
    let offsets = OffsetBuffer::from_repeated_length(rows.points, rows.results.len());
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
