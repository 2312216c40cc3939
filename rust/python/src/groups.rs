//! Estimates of unions of an aggregation's segments (see `cxmetrics_core::unions`): glue only.

use cxmetrics_core::unions::estimate_unions;
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
        let request = interval_request(ci.as_deref(), confidence, &bootstrap, n_resamples, seed)?;
        estimate_unions(&state, &spec, &groups, &request)
    })?;
    PyRecordBatch::new(batch).into_pyarrow(py)
}
