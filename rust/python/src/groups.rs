//! Estimates of unions of an aggregation's segments: the complement of a segment ("the rest"),
//! a rolling window of periods, or an empty period. The tallies are added exactly (counts and
//! exact weight sums), so a union's figures equal those of one pass over its rows.

use std::sync::Arc;

use arrow_array::{ArrayRef, UInt32Array};
use cxmetrics_core::error::CoreError;
use cxmetrics_core::histogram::{key_stream, Tallies};
use cxmetrics_core::report::estimate_batch;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use crate::aggregation::{interval_request, Aggregation};
use crate::errors::{run_detached, Names};
use crate::metric::Metric;

/// One row per group: the union of the listed segments of `source` (indices into its segments
/// in result order: keys ascending, nulls last), estimated like a segment. An empty list is a
/// group without responses. The key column `group` holds the group's position.
#[pyfunction]
#[pyo3(signature = (source, metric, groups, ci, confidence, bootstrap="bca", n_resamples=10_000, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn estimate_groups<'py>(
    py: Python<'py>,
    source: &Aggregation,
    metric: &Metric,
    groups: Vec<Vec<usize>>,
    ci: Option<String>,
    confidence: f64,
    bootstrap: &str,
    n_resamples: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = metric.spec.clone();
    let state = source.snapshot();
    let bootstrap = bootstrap.to_string();
    let batch = run_detached(py, &Names::default(), || {
        if spec.scale != state.scale {
            return Err(CoreError::InvalidArgument(
                "the metric's scale differs from the aggregation's".into(),
            ));
        }
        let request = interval_request(ci.as_deref(), confidence, &bootstrap, n_resamples, seed)?;
        let agg = match &state.aggregator {
            Some(a) => a.clone(),
            None => state.empty_aggregator()?,
        };
        let grouped = agg.finish()?;
        let tallies = &grouped.tallies;
        let segments = tallies.segments();
        let mut out = Tallies::new(tallies.points(), tallies.weighted(), groups.len())
            .with_replicates(tallies.replicates());
        for (g, members) in groups.iter().enumerate() {
            for &s in members {
                if s >= segments {
                    return Err(CoreError::InvalidArgument(format!(
                        "group {g} names segment {s}, but there are {segments}"
                    )));
                }
                out.add_segment(g, tallies, s);
            }
        }
        let ids: Vec<u32> = (0..groups.len() as u32).collect();
        let streams: Vec<u64> = ids.iter().map(|g| key_stream(&g.to_le_bytes())).collect();
        let keys: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(ids))];
        estimate_batch(
            &spec,
            &out,
            &streams,
            &keys,
            &["group".to_string()],
            &request,
        )
    })?;
    PyRecordBatch::new(batch).into_pyarrow(py)
}
