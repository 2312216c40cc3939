//! Estimates of every segment as one Arrow record batch: the shape results leave the core in.

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, UInt64Builder};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{Field, Schema};

use rayon::prelude::*;

use crate::bayes::credible_interval;
use crate::bootstrap::{bootstrap_counts, BootstrapInterval, BootstrapSpec};
use crate::error::{CoreError, Result};
use crate::estimate::{estimate, Estimate, Interval, Moments};
use crate::histogram::Tallies;
use crate::metric::MetricSpec;
use crate::weighted_bootstrap::{bootstrap_cells, Cells};

/// How each segment's interval is computed.
pub struct IntervalRequest {
    pub interval: Interval,
    pub confidence: f64,
    /// When set, bounds and se come from the exact histogram bootstrap instead of `interval`.
    pub bootstrap: Option<BootstrapSpec>,
    /// When set, (draws, seed): bounds and se come from the Dirichlet posterior (see `bayes`).
    pub bayes: Option<(usize, u64)>,
    /// For a weighted bootstrap: each segment's (weight, bucket) cells, in segment order.
    pub weight_cells: Option<Vec<Cells>>,
}

/// One segment's estimate, with bootstrap bounds and a note when it asked for them.
fn segment_estimate(
    spec: &MetricSpec,
    tallies: &Tallies,
    s: usize,
    stream: u64,
    request: &IntervalRequest,
) -> Result<(Estimate, Option<&'static str>)> {
    let counts = tallies.counts(s);
    let moments = Moments::new(
        counts,
        tallies.weight_sums(s),
        tallies.weight_square_sums(s),
    );
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
    if tallies.weighted() {
        let Some(cells) = request.weight_cells.as_ref().and_then(|c| c.get(s)) else {
            return Err(CoreError::InvalidArgument(
                "a weighted bootstrap needs the (weight, answer) cells of each segment, which \
                 this state does not keep; use an analytic interval (Kish's effective n) or \
                 ci='bayes'"
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
    let boot = bootstrap_counts(&reduced, &statistic, boot, stream);
    Ok((
        with_bootstrap(spec, est, &boot),
        boot.degenerate.map(|d| d.message()),
    ))
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

/// One row per segment of `tallies`: the key columns (named `key_names`) followed by value, se,
/// ci_low, ci_high, n, n_missing, n_invalid, weighted_n, effective_n, `bucket_<i>` counts and the
/// per-point `distribution` (a fixed-size list).
/// `streams[s]` is segment `s`'s bootstrap stream id (see `histogram::Grouped`).
pub fn estimate_batch(
    spec: &MetricSpec,
    tallies: &Tallies,
    streams: &[u64],
    keys: &[ArrayRef],
    key_names: &[String],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let segments = tallies.segments();
    // Segments are independent; bootstrap ones are worth spreading over threads.
    let results: Vec<(Estimate, Option<&'static str>)> = (0..segments)
        .into_par_iter()
        .map(|s| segment_estimate(spec, tallies, s, streams[s], request))
        .collect::<Result<_>>()?;
    let (estimates, notes): (Vec<Estimate>, Vec<Option<&'static str>>) =
        results.into_iter().unzip();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, key) in key_names.iter().zip(keys) {
        fields.push(Field::new(name, key.data_type().clone(), true));
        columns.push(key.clone());
    }
    let float = |f: fn(&Estimate) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(estimates.iter().map(f)))
    };
    let uint = |values: Vec<u64>| -> ArrayRef { Arc::new(UInt64Array::from(values)) };
    let stats: [(&str, ArrayRef); 9] = [
        ("value", float(|e| e.value)),
        ("se", float(|e| e.se)),
        ("ci_low", float(|e| e.low)),
        ("ci_high", float(|e| e.high)),
        ("n", uint(estimates.iter().map(|e| e.n).collect())),
        (
            "n_missing",
            uint((0..segments).map(|s| tallies.missing(s)).collect()),
        ),
        (
            "n_invalid",
            uint((0..segments).map(|s| tallies.invalid(s)).collect()),
        ),
        ("weighted_n", float(|e| e.weighted_n)),
        ("effective_n", float(|e| e.effective_n)),
    ];
    for (name, column) in stats {
        fields.push(Field::new(name, column.data_type().clone(), false));
        columns.push(column);
    }
    let buckets: Vec<Vec<u64>> = (0..segments)
        .map(|s| spec.buckets(tallies.counts(s)))
        .collect();
    let n_buckets = spec.buckets(&vec![0; tallies.points()]).len();
    for b in 0..n_buckets {
        let column = uint(buckets.iter().map(|row| row[b]).collect());
        fields.push(Field::new(
            format!("bucket_{b}"),
            column.data_type().clone(),
            false,
        ));
        columns.push(column);
    }
    let points = tallies.points();
    let mut dist =
        FixedSizeListBuilder::with_capacity(UInt64Builder::new(), points as i32, segments)
            .with_field(Arc::new(Field::new(
                "item",
                arrow_schema::DataType::UInt64,
                false,
            )));
    for s in 0..segments {
        dist.values().append_slice(tallies.counts(s));
        dist.append(true);
    }
    let dist: ArrayRef = Arc::new(dist.finish());
    fields.push(Field::new("distribution", dist.data_type().clone(), false));
    columns.push(dist);
    let notes: ArrayRef = Arc::new(StringArray::from(notes));
    fields.push(Field::new("note", arrow_schema::DataType::Utf8, true));
    columns.push(notes);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
