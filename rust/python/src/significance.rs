//! Comparisons of two groups, complements of segments ("the rest") and the small helpers the
//! analyst layer needs from the core (see `cxmetrics_core::{compare, unions, streams}`): glue
//! only.

use cxmetrics_core::bootstrap::BootstrapSpec;
use cxmetrics_core::compare::{
    compare as compare_sides, Alternative, DiffMethod, Side, TestMethod,
};
use cxmetrics_core::streams;
use cxmetrics_core::unions::estimate_complements as complements;
use pyo3::prelude::*;

use crate::accumulator_state::PyAccumulatorState;
use crate::errors::{argument, run_detached, Names};
use crate::groups::estimate_rows_of;
use crate::metric::Metric;
use crate::options::{
    interval_request, Bootstrap, Ci, CompareMethod, Confidence, Resamples, Seed, DEFAULT_BOOTSTRAP,
    DEFAULT_RESAMPLES,
};

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

/// a − b: (value, se, low, high, z, p_value, note); `test` is "pooled" or "wald",
/// `alternative` "two-sided", "greater" or "less".
#[pyfunction]
#[pyo3(signature = (metric, a, b, method, confidence, test="pooled", alternative="two-sided", bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES, seed=Seed(0), stream=0),
       text_signature = "(metric, a, b, method, confidence, test='pooled', alternative='two-sided', bootstrap='bca', n_resamples=10000, seed=0, stream=0)")]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    metric: &Metric,
    a: SideArgs,
    b: SideArgs,
    method: CompareMethod,
    confidence: Confidence,
    test: &str,
    alternative: &str,
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
    let test = match test {
        "pooled" => TestMethod::Pooled,
        "wald" => TestMethod::Wald,
        other => {
            return Err(argument(format!(
                "test must be 'pooled' or 'wald', got {other:?}"
            )))
        }
    };
    let alternative = match alternative {
        "two-sided" => Alternative::TwoSided,
        "greater" => Alternative::Greater,
        "less" => Alternative::Less,
        other => {
            return Err(argument(format!(
                "alternative must be 'two-sided', 'greater' or 'less', got {other:?}"
            )))
        }
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
            test,
            alternative,
            confidence.0,
            stream,
        )?;
        Ok((d.value, d.se, d.low, d.high, d.z, d.p_value, d.note))
    })
}

/// One row per `(universe, part)`: the union of universe `universes[u]` minus the union of
/// `part` (segment indices in result order), estimated like a segment; key column `group`.
#[pyfunction]
#[pyo3(signature = (source, metric, universes, parts, ci, confidence, bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES, seed=Seed(0)),
       text_signature = "(source, metric, universes, parts, ci, confidence, bootstrap='bca', n_resamples=10000, seed=0)")]
#[allow(clippy::too_many_arguments)]
pub fn estimate_complements<'py>(
    py: Python<'py>,
    source: &PyAccumulatorState,
    metric: &Metric,
    universes: Vec<Vec<usize>>,
    parts: Vec<(usize, Vec<usize>)>,
    ci: Ci,
    confidence: Confidence,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
    seed: Seed,
) -> PyResult<Bound<'py, PyAny>> {
    let request = interval_request(ci, confidence, bootstrap, n_resamples, seed);
    estimate_rows_of(py, source, metric, &request, |state, spec, request| {
        complements(state, spec, &universes, &parts, request)
    })
}

/// The random-stream id of some key bytes (the core's derivation for segment keys).
#[pyfunction]
pub fn key_stream(data: &[u8]) -> u64 {
    streams::key_stream(data)
}
