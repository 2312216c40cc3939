//! Estimates of every segment as one Arrow record batch: the shape results leave the core in.

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, UInt64Builder};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt64Array};
use arrow_schema::{Field, Schema};

use crate::error::Result;
use crate::estimate::{estimate, Estimate, Interval, Moments};
use crate::histogram::Tallies;
use crate::metric::MetricSpec;

/// How each segment's interval is computed.
pub struct IntervalRequest {
    pub interval: Interval,
    pub confidence: f64,
}

/// One row per segment of `tallies`: the key columns (named `key_names`) followed by value, se,
/// ci_low, ci_high, n, n_missing, n_invalid, weighted_n, effective_n, `bucket_<i>` counts and the
/// per-point `distribution` (a fixed-size list).
pub fn estimate_batch(
    spec: &MetricSpec,
    tallies: &Tallies,
    keys: &[ArrayRef],
    key_names: &[String],
    request: &IntervalRequest,
) -> Result<RecordBatch> {
    let segments = tallies.segments();
    let mut estimates: Vec<Estimate> = Vec::with_capacity(segments);
    for s in 0..segments {
        let moments = Moments::new(
            tallies.counts(s),
            tallies.weight_sums(s),
            tallies.weight_square_sums(s),
        );
        estimates.push(estimate(
            spec,
            &moments,
            request.interval,
            request.confidence,
        )?);
    }
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
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
