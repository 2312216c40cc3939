//! Module-level functions: comparisons of two results and survey planning.

use cxmetrics_core::bootstrap::{BootstrapMethod, BootstrapSpec};
use cxmetrics_core::compare::{compare as compare_sides, DiffMethod, Side};
use cxmetrics_core::composite::CompositeInterval;
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::planning;
use cxmetrics_core::state_report::{estimate_composite, Estimates};
use pyo3::prelude::*;
use pyo3_arrow::PyRecordBatch;

use cxmetrics_core::report::IntervalRequest;

use crate::aggregation::Aggregation;
use crate::errors::{argument, run_detached, Error, Names};
use crate::metric::Metric;
use crate::options::{interval_request, Bootstrap, Ci, CompareMethod, Confidence, Resamples, Seed};

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
#[pyo3(signature = (metric, a, b, method, confidence, bootstrap=Bootstrap(BootstrapMethod::Bca), n_resamples=Resamples(10_000), seed=Seed(0), stream=0),
       text_signature = "(metric, a, b, method, confidence, bootstrap='bca', n_resamples=10000, seed=0, stream=0)")]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    metric: &Metric,
    a: SideArgs,
    b: SideArgs,
    method: CompareMethod,
    confidence: Confidence,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
    seed: Seed,
    stream: u64,
) -> PyResult<DifferenceTuple> {
    let spec = metric.spec.clone();
    let method = match method {
        CompareMethod::Wald => DiffMethod::Wald,
        CompareMethod::Newcombe => DiffMethod::Newcombe,
        CompareMethod::Bootstrap => DiffMethod::Bootstrap(BootstrapSpec {
            n_resamples: n_resamples.0,
            method: bootstrap.0,
            confidence: confidence.0,
            seed: seed.0,
        }),
    };
    for side in [&a, &b] {
        if side.0.len() != spec.scale.points() {
            return Err(argument(
                "the results compared are on a different scale from the metric",
            ));
        }
    }
    run_detached(py, &Names::default(), || {
        let d = compare_sides(
            &spec,
            &as_side(&a),
            &as_side(&b),
            method,
            confidence.0,
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
/// segment and overall, as pyarrow RecordBatches in the layout of `Aggregation.estimate`.
#[pyfunction]
#[pyo3(signature = (cells, n_keys, question_weights, key_names, ci, confidence, bootstrap=Bootstrap(BootstrapMethod::Bca), n_resamples=Resamples(10_000), seed=Seed(0)),
       text_signature = "(cells, n_keys, question_weights, key_names, ci, confidence, bootstrap='bca', n_resamples=10000, seed=0)")]
#[allow(clippy::too_many_arguments)]
pub fn composite_estimate<'py>(
    py: Python<'py>,
    cells: &Aggregation,
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
    let state = cells.snapshot();
    let Estimates { segments, overall } = run_detached(py, &Names::default(), || {
        estimate_composite(
            &state,
            n_keys,
            &question_weights,
            &key_names,
            &interval,
            confidence.0,
        )
    })?;
    Ok((
        PyRecordBatch::new(segments).into_pyarrow(py)?,
        PyRecordBatch::new(overall).into_pyarrow(py)?,
    ))
}
