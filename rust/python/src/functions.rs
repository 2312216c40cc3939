//! Module-level functions: comparisons of two results and survey planning.

use cxmetrics_core::bootstrap::BootstrapSpec;
use cxmetrics_core::compare::{compare as compare_sides, DiffMethod, Side};
use cxmetrics_core::composite::{
    composite_batch, pooled, segment_keys, tuple_cells, CompositeInterval,
};
use cxmetrics_core::error::CoreError;
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::planning;
use cxmetrics_core::streams::OVERALL_STREAM;
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use crate::aggregation::{bootstrap_method, interval_request, Aggregation};
use crate::errors::{run_detached, Names};
use crate::metric::Metric;

/// One side of a comparison: per-point counts, value, se, effective n, weighted flag.
type SideArgs = (Vec<u64>, f64, f64, f64, bool);

/// (value, se, low, high, z, p_value, note) of a difference.
type DifferenceTuple = (f64, f64, f64, f64, f64, f64, Option<&'static str>);

fn as_side(s: &SideArgs) -> Side<'_> {
    Side {
        counts: &s.0,
        value: s.1,
        se: s.2,
        effective_n: s.3,
        weighted: s.4,
    }
}

/// a − b: (value, se, low, high, z, p_value, note).
#[pyfunction]
#[pyo3(signature = (metric, a, b, method, confidence, bootstrap="bca", n_resamples=10_000, seed=0, stream=0))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    metric: &Metric,
    a: SideArgs,
    b: SideArgs,
    method: &str,
    confidence: f64,
    bootstrap: &str,
    n_resamples: usize,
    seed: u64,
    stream: u64,
) -> PyResult<DifferenceTuple> {
    let spec = metric.spec.clone();
    let (method, bootstrap) = (method.to_string(), bootstrap.to_string());
    run_detached(py, &Names::default(), || {
        let method = match method.as_str() {
            "wald" => DiffMethod::Wald,
            "newcombe" => DiffMethod::Newcombe,
            "bootstrap" => DiffMethod::Bootstrap(BootstrapSpec {
                n_resamples,
                method: bootstrap_method(&bootstrap)?,
                confidence,
                seed,
            }),
            other => {
                return Err(CoreError::InvalidArgument(format!(
                    "ci={other:?} is not a comparison method (wald, newcombe, bootstrap)"
                )))
            }
        };
        let side = |s: &SideArgs| -> Result<(), CoreError> {
            if s.0.len() != spec.scale.points() {
                return Err(CoreError::InvalidArgument(
                    "the results compared are on a different scale from the metric".into(),
                ));
            }
            Ok(())
        };
        side(&a)?;
        side(&b)?;
        let d = compare_sides(
            &spec,
            &as_side(&a),
            &as_side(&b),
            method,
            confidence,
            stream,
        )?;
        Ok((d.value, d.se, d.low, d.high, d.z, d.p_value, d.note))
    })
}

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

/// Composite index estimates from an aggregation keyed by (segment keys…, answers…): per
/// segment and overall, as pyarrow RecordBatches in the layout of `Aggregation.estimate`.
#[pyfunction]
#[pyo3(signature = (cells, n_keys, question_weights, key_names, ci, confidence, bootstrap="bca", n_resamples=10_000, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn composite_estimate<'py>(
    py: Python<'py>,
    cells: &Aggregation,
    n_keys: usize,
    question_weights: Vec<f64>,
    key_names: Vec<String>,
    ci: Option<String>,
    confidence: f64,
    bootstrap: &str,
    n_resamples: usize,
    seed: u64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let state = cells.snapshot();
    let bootstrap = bootstrap.to_string();
    let (segments, overall) = run_detached(py, &Names::default(), || {
        // The same option parsing as every metric; a composite takes t, Wald or bootstrap.
        let request = interval_request(ci.as_deref(), confidence, &bootstrap, n_resamples, seed)?;
        let interval = match (request.bootstrap, request.bayes, request.interval) {
            (Some(spec), _, _) => CompositeInterval::Bootstrap(spec),
            (None, None, Interval::None) => CompositeInterval::None,
            (None, None, Interval::Wald) => CompositeInterval::Wald,
            (None, None, Interval::T) => CompositeInterval::T,
            _ => {
                return Err(CoreError::InvalidArgument(format!(
                    "ci={:?} does not apply to a composite index (t, wald, bootstrap)",
                    ci.as_deref().unwrap_or("none")
                )))
            }
        };
        let grouped = match state.aggregator() {
            Some(agg) => agg.finish()?,
            None => state.empty_aggregator()?.finish()?,
        };
        let per_segment = tuple_cells(&grouped, n_keys, state.scale(), &question_weights)?;
        let (keys, streams) = segment_keys(&grouped, n_keys)?;
        let segments = composite_batch(
            &per_segment,
            &streams,
            &keys,
            &key_names,
            &interval,
            confidence,
        )?;
        let overall = composite_batch(
            &[pooled(&per_segment)],
            &[OVERALL_STREAM],
            &[],
            &[],
            &interval,
            confidence,
        )?;
        Ok((segments, overall))
    })?;
    Ok((
        PyRecordBatch::new(segments).into_pyarrow(py)?,
        PyRecordBatch::new(overall).into_pyarrow(py)?,
    ))
}
