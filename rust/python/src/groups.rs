//! Estimates of unions of an aggregation's segments (see `cxmetrics_core::unions`): glue only.

use arrow_array::RecordBatch;
use cxmetrics_core::error::Result;
use cxmetrics_core::metric::MetricSpec;
use cxmetrics_core::report::IntervalRequest;
use cxmetrics_core::state::AccumulatorState;
use cxmetrics_core::unions::estimate_unions;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use crate::accumulator_state::PyAccumulatorState;
use crate::errors::{run_detached, Names};
use crate::metric::Metric;
use crate::options::{
    interval_request, Bootstrap, Ci, Confidence, Resamples, Seed, DEFAULT_BOOTSTRAP,
    DEFAULT_RESAMPLES,
};

/// One row per group: the union of the listed segments of `source` (indices into its segments
/// in result order: keys ascending, nulls last), estimated like a segment. An empty list is a
/// group without responses. The key column `group` holds the group's position.
#[pyfunction]
#[pyo3(signature = (source, metric, groups, ci, confidence, bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES, seed=Seed(0)),
       text_signature = "(source, metric, groups, ci, confidence, bootstrap='bca', n_resamples=10000, seed=0)")]
#[allow(clippy::too_many_arguments)]
pub fn estimate_groups<'py>(
    py: Python<'py>,
    source: &PyAccumulatorState,
    metric: &Metric,
    groups: Vec<Vec<usize>>,
    ci: Ci,
    confidence: Confidence,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
    seed: Seed,
) -> PyResult<Bound<'py, PyAny>> {
    let request = interval_request(ci, confidence, bootstrap, n_resamples, seed);
    estimate_rows_of(py, source, metric, &request, |state, spec, request| {
        estimate_unions(state, spec, &groups, request)
    })
}

/// Runs `estimate` on `source` (read in place, locked) without the GIL and hands its batch to
/// pyarrow: the shared tail of every estimate over groups of an accumulator's segments.
pub(crate) fn estimate_rows_of<'py>(
    py: Python<'py>,
    source: &PyAccumulatorState,
    metric: &Metric,
    request: &IntervalRequest,
    estimate: impl FnOnce(&AccumulatorState, &MetricSpec, &IntervalRequest) -> Result<RecordBatch>
        + Send,
) -> PyResult<Bound<'py, PyAny>> {
    let spec = metric.spec.clone();
    let batch = run_detached(py, &Names::default(), || {
        source.with_locked_pair(None, |state, _| estimate(state, &spec, request))
    })?;
    PyRecordBatch::new(batch).into_pyarrow(py)
}
