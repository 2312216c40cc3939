//! Module-level functions: survey planning and composite estimates.

use cxmetrics_core::composite::CompositeInterval;
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::planning;
use cxmetrics_core::state_report::{estimate_composite, Estimates};
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use cxmetrics_core::report::IntervalRequest;

use crate::accumulator_state::PyAccumulatorState;
use crate::errors::{argument, run_detached, Error, Names};
use crate::options::{
    interval_request, Bootstrap, Ci, Confidence, Resamples, Seed, DEFAULT_BOOTSTRAP,
    DEFAULT_RESAMPLES,
};

/// Margin of error in points for `n` responses whose per-response variance is `v`.
#[pyfunction]
pub fn margin_of_error(py: Python<'_>, n: f64, v: f64, confidence: f64) -> PyResult<f64> {
    run_detached(py, &Names::default(), || {
        planning::margin_of_error(n, v, confidence)
    })
}

/// Responses needed for a margin of `margin` points when the per-response variance is `v`.
#[pyfunction]
pub fn sample_size(py: Python<'_>, margin: f64, v: f64, confidence: f64) -> PyResult<u64> {
    run_detached(py, &Names::default(), || {
        planning::sample_size(margin, v, confidence)
    })
}

/// Per-response variance of an NPS answer from its promoter and detractor shares (neither:
/// the worst case, 1).
#[pyfunction]
#[pyo3(signature = (promoters=None, detractors=None))]
pub fn nps_variance(promoters: Option<f64>, detractors: Option<f64>) -> PyResult<f64> {
    Ok(planning::nps_variance(promoters, detractors).map_err(Error::from)?)
}

/// Per-response variance p(1 − p) of a share (None: the worst case, p = ½).
#[pyfunction]
#[pyo3(signature = (share=None))]
pub fn share_variance(share: Option<f64>) -> PyResult<f64> {
    Ok(planning::share_variance(share).map_err(Error::from)?)
}

/// The smallest difference (points) the z-test detects between two independent groups.
#[pyfunction]
pub fn detectable_difference(
    n: (f64, f64),
    v: (f64, f64),
    power: f64,
    confidence: f64,
    one_sided: bool,
) -> PyResult<f64> {
    Ok(planning::detectable_difference(n, v, power, confidence, one_sided).map_err(Error::from)?)
}

/// Responses per group `(n_a, n_b)` to detect a difference of `difference` points.
#[pyfunction]
pub fn sample_size_two_groups(
    difference: f64,
    ratio: f64,
    v: (f64, f64),
    power: f64,
    confidence: f64,
    one_sided: bool,
) -> PyResult<(u64, u64)> {
    Ok(
        planning::sample_size_two_groups(difference, ratio, v, power, confidence, one_sided)
            .map_err(Error::from)?,
    )
}

/// Composite index estimates from an aggregation keyed by (segment keys…, answers…): per
/// segment and overall, as pyarrow RecordBatches in the layout of `PyAccumulatorState.estimate`.
#[pyfunction]
#[pyo3(signature = (cells, n_keys, question_weights, key_names, ci, confidence, bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES, seed=Seed(0)),
       text_signature = "(cells, n_keys, question_weights, key_names, ci, confidence, bootstrap='bca', n_resamples=10000, seed=0)")]
#[allow(clippy::too_many_arguments)]
pub fn composite_estimate<'py>(
    py: Python<'py>,
    cells: &PyAccumulatorState,
    n_keys: usize,
    question_weights: Vec<f64>,
    key_names: Vec<String>,
    ci: Ci,
    confidence: Confidence,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
    seed: Seed,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    // A composite takes t, Wald or bootstrap.
    let interval = match interval_request(ci, confidence, bootstrap, n_resamples, seed) {
        IntervalRequest {
            bootstrap: Some(spec),
            ..
        } => CompositeInterval::Bootstrap(spec),
        IntervalRequest {
            bayes: None,
            interval: Interval::None,
            ..
        } => CompositeInterval::None,
        IntervalRequest {
            bayes: None,
            interval: Interval::Wald,
            ..
        } => CompositeInterval::Wald,
        IntervalRequest {
            bayes: None,
            interval: Interval::T,
            ..
        } => CompositeInterval::T,
        _ => {
            return Err(argument(format!(
                "ci={:?} does not apply to a composite index (t, wald, bootstrap)",
                match ci {
                    Ci::Closed(i) => i.name(),
                    Ci::Bootstrap => "bootstrap",
                    Ci::Bayes => "bayes",
                }
            )))
        }
    };
    // The cells are read in place, locked (no copy of the tallies and keys).
    let Estimates { segments, overall } = run_detached(py, &Names::default(), || {
        cells.with_locked_pair(None, |state, _| {
            estimate_composite(
                state,
                n_keys,
                &question_weights,
                &key_names,
                &interval,
                confidence.0,
            )
        })
    })?;
    Ok((
        PyRecordBatch::new(segments).into_pyarrow(py)?,
        PyRecordBatch::new(overall).into_pyarrow(py)?,
    ))
}
