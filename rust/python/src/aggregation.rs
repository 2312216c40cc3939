//! The mergeable per-segment tallies, as a Python object.

use std::sync::{Mutex, MutexGuard};

use arrow_array::ArrayRef;
use cxmetrics_core::bootstrap::{BootstrapMethod, BootstrapSpec};
use cxmetrics_core::error::CoreError;
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::group::logical_key_type;
use cxmetrics_core::quantile::check_confidence;
use cxmetrics_core::report::{estimate_batch, IntervalRequest};
use cxmetrics_core::scale::Scale;
use cxmetrics_core::state::{self, State};
use cxmetrics_core::streams::{ReplicateStreams, OVERALL_STREAM};
use cxmetrics_core::tally::Columns;
use cxmetrics_core::weighted_bootstrap::{cells_by_segment, pooled};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_schema::DataType;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyRecordBatch;

use crate::errors::{raise, run_detached, to_py_err, Names};
use crate::metric::Metric;

/// The chunks of an Arrow array or stream, and its declared type (which a stream of zero
/// chunks still has). Import runs under `catch_unwind`: arrow-rs asserts on buffers it cannot
/// use (e.g. misaligned ones), and that must become an error, not a panic in Python.
fn chunks(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    role: &str,
) -> PyResult<(Vec<ArrayRef>, DataType)> {
    let imported = catch_unwind(AssertUnwindSafe(
        || -> PyResult<(Vec<ArrayRef>, DataType)> {
            let (chunks, field) = obj
                .extract::<AnyArray>()?
                .into_chunked_array()?
                .into_inner();
            Ok((chunks, field.data_type().clone()))
        },
    ));
    imported.unwrap_or_else(|_| {
        Err(raise(
            py,
            "UnsupportedTypeError",
            format!(
                "{role}: the Arrow data could not be imported (misaligned or malformed buffers)"
            ),
            &[],
        ))
    })
}

/// Segmented tallies of one or many inputs (the sufficient statistic), mergeable.
#[pyclass(frozen, module = "cxmetrics._native")]
pub struct Aggregation {
    /// The aggregator inside is created by the first update, which fixes the key types.
    state: Mutex<State>,
    /// Rows seen so far, to number rows in error messages across batches.
    rows: Mutex<u64>,
}

impl Aggregation {
    fn from_state(state: State) -> Self {
        Self {
            state: Mutex::new(state),
            rows: Mutex::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> State {
        self.locked().clone()
    }

    /// The state, locked (for reading a field without copying the tallies). With the GIL held,
    /// only for reads that cannot wait on anything: holders never wait for the GIL.
    fn locked(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl Aggregation {
    /// `replicates`: keep that many Poisson-bootstrap replicates (weighted only), drawn from
    /// stream `stream` of `seed` (None: a random stream per accumulator).
    #[new]
    #[pyo3(signature = (low, high, n_keys, weighted, replicates=None, seed=None, stream=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        low: i64,
        high: i64,
        n_keys: usize,
        weighted: bool,
        replicates: Option<usize>,
        seed: Option<u64>,
        stream: u64,
    ) -> PyResult<Self> {
        let build = || -> Result<State, CoreError> {
            let scale = Scale::new(low, high)?;
            let streams = replicates
                .map(|b| ReplicateStreams::new(b, seed, stream))
                .transpose()?;
            State::new(scale, weighted, n_keys, streams)
        };
        Ok(Self::from_state(
            build().map_err(|e| to_py_err(py, e, &Names::default()))?,
        ))
    }

    /// Bootstrap replicates kept (None: none).
    #[getter]
    fn replicates(&self) -> Option<usize> {
        self.locked().streams().map(|s| s.replicates)
    }
    /// The replicates' seed (None: random streams, or no replicates).
    #[getter]
    fn seed(&self) -> Option<u64> {
        self.locked().streams().and_then(|s| s.seed)
    }
    /// The replicates' stream number within the seed.
    #[getter]
    fn stream(&self) -> Option<u64> {
        self.locked().streams().map(|s| s.stream)
    }

    /// A copy whose replicates draw from stream `stream` (only before the first update).
    fn with_stream(&self, py: Python<'_>, stream: u64) -> PyResult<Aggregation> {
        let state = self.snapshot();
        let out = run_detached(py, &Names::default(), || state.with_stream(stream))?;
        Ok(Aggregation::from_state(out))
    }

    #[getter]
    fn low(&self) -> i64 {
        self.locked().scale().low
    }
    #[getter]
    fn high(&self) -> i64 {
        self.locked().scale().high
    }
    #[getter]
    fn n_keys(&self) -> usize {
        self.locked().n_keys()
    }
    #[getter]
    fn weighted(&self) -> bool {
        self.locked().weighted()
    }

    /// Adds a batch of rows: scores, key columns and weights (Arrow arrays or streams).
    #[pyo3(signature = (score, keys, weight, drop_invalid, score_name, key_names, weight_name))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        score: Bound<'_, PyAny>,
        keys: Vec<Bound<'_, PyAny>>,
        weight: Option<Bound<'_, PyAny>>,
        drop_invalid: bool,
        score_name: String,
        key_names: Vec<String>,
        weight_name: Option<String>,
    ) -> PyResult<()> {
        let names = Names {
            score: score_name,
            keys: key_names,
            weight: weight_name.unwrap_or_else(|| "weight".into()),
        };
        let (score, _) = chunks(py, &score, &names.score)?;
        let mut key_types = Vec::with_capacity(keys.len());
        let mut key_chunks = Vec::with_capacity(keys.len());
        for (j, k) in keys.iter().enumerate() {
            let (c, t) = chunks(py, k, names.keys.get(j).map_or("by", String::as_str))?;
            key_chunks.push(c);
            key_types.push(logical_key_type(&t));
        }
        let weight = match &weight {
            Some(w) => Some(chunks(py, w, &names.weight)?.0),
            None => None,
        };
        let columns = Columns {
            score,
            keys: key_chunks,
            weight,
        };
        run_detached(py, &names, || {
            let started = std::time::Instant::now();
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            state.update(&columns, key_types, drop_invalid, *rows)?;
            *rows += columns.score.iter().map(|c| c.len() as u64).sum::<u64>();
            crate::test_slowdown::stretch(started);
            Ok(())
        })
    }

    /// A new aggregation holding both inputs' tallies; an empty one is the identity.
    fn merged(&self, py: Python<'_>, other: &Aggregation) -> PyResult<Aggregation> {
        // Both states are read in place (no copies of the inputs). Locks are taken only with
        // the GIL released (a thread waiting for the GIL must not hold them), in address order
        // (so concurrent a.merged(b) and b.merged(a) cannot deadlock).
        let state = run_detached(py, &Names::default(), || {
            if std::ptr::eq(self, other) {
                let mine = self.locked();
                return mine.merge(&mine);
            }
            let (first, second) = if (self as *const Self) < (other as *const Self) {
                (self, other)
            } else {
                (other, self)
            };
            let (a, b) = (first.locked(), second.locked());
            let (mine, theirs) = if std::ptr::eq(first, self) {
                (&*a, &*b)
            } else {
                (&*b, &*a)
            };
            mine.merge(theirs)
        })?;
        Ok(Aggregation::from_state(state))
    }

    fn copy(&self) -> Aggregation {
        Aggregation::from_state(self.snapshot())
    }

    /// The versioned, checksummed binary form of the state.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = run_detached(py, &Names::default(), || state::encode(&self.locked()))?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Aggregation> {
        let owned = data.to_vec();
        let state = run_detached(py, &Names::default(), || state::decode(&owned))?;
        Ok(Aggregation::from_state(state))
    }

    /// Estimates per segment and overall, as two pyarrow RecordBatches. `ci="bootstrap"` uses
    /// `bootstrap` ("percentile", "basic", "bca"), `n_resamples` and `seed`.
    ///
    /// A weighted bootstrap needs `weight_cells`: an unweighted aggregation of the same rows
    /// with the weight column as one more (last) key.
    #[pyo3(signature = (metric, key_names, ci, confidence, bootstrap="bca", n_resamples=10_000, seed=0, weight_cells=None))]
    #[allow(clippy::too_many_arguments)]
    fn estimate<'py>(
        &self,
        py: Python<'py>,
        metric: &Metric,
        key_names: Vec<String>,
        ci: Option<String>,
        confidence: f64,
        bootstrap: &str,
        n_resamples: usize,
        seed: u64,
        weight_cells: Option<&Aggregation>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let bootstrap = bootstrap.to_string();
        let spec = metric.spec.clone();
        let state = self.snapshot();
        let cells_state = weight_cells.map(|c| c.snapshot());
        let (segments, overall) = run_detached(py, &Names::default(), || {
            if spec.scale != state.scale() {
                return Err(CoreError::InvalidArgument(format!(
                    "metric scale {}..{} differs from the aggregation's {}..{}",
                    spec.scale.low,
                    spec.scale.high,
                    state.scale().low,
                    state.scale().high
                )));
            }
            let mut request =
                interval_request(ci.as_deref(), confidence, &bootstrap, n_resamples, seed)?;
            let agg = match state.aggregator() {
                Some(a) => a.clone(),
                None => state.empty_aggregator()?,
            };
            let grouped = agg.finish()?;
            let mut pooled_cells = None;
            if let Some(cells_agg) = cells_state.and_then(|c| c.aggregator().cloned()) {
                let cells = cells_by_segment(&spec, &cells_agg.finish()?, state.n_keys())?;
                if cells.len() != grouped.tallies.segments() {
                    return Err(CoreError::InvalidArgument(
                        "weight cells do not match the segments (different rows?)".into(),
                    ));
                }
                pooled_cells = Some(vec![pooled(&cells)]);
                request.weight_cells = Some(cells);
            }
            let segments = estimate_batch(
                &spec,
                &grouped.tallies,
                &grouped.streams,
                &grouped.keys,
                &key_names,
                &request,
            )?;
            // Unsegmented: the one segment is the overall estimate (same rows, same stream).
            let overall = if state.n_keys() == 0 {
                segments.clone()
            } else {
                request.weight_cells = pooled_cells;
                estimate_batch(
                    &spec,
                    &grouped.tallies.total(),
                    &[OVERALL_STREAM],
                    &[],
                    &[],
                    &request,
                )?
            };
            Ok((segments, overall))
        })?;
        Ok((
            PyRecordBatch::new(segments).into_pyarrow(py)?,
            PyRecordBatch::new(overall).into_pyarrow(py)?,
        ))
    }
}

/// Parses the interval options of one call (shared by estimates and comparisons).
pub fn interval_request(
    ci: Option<&str>,
    confidence: f64,
    bootstrap: &str,
    n_resamples: usize,
    seed: u64,
) -> Result<IntervalRequest, CoreError> {
    let confidence = check_confidence(confidence)?;
    let mut request = IntervalRequest {
        interval: Interval::None,
        confidence,
        bootstrap: None,
        bayes: None,
        weight_cells: None,
    };
    match ci {
        Some("bootstrap") => {
            request.bootstrap = Some(BootstrapSpec {
                n_resamples,
                method: bootstrap_method(bootstrap)?,
                confidence,
                seed,
            })
        }
        Some("bayes") => request.bayes = Some((n_resamples, seed)),
        other => request.interval = Interval::parse(other)?,
    }
    Ok(request)
}

pub fn bootstrap_method(name: &str) -> Result<BootstrapMethod, CoreError> {
    match name {
        "percentile" => Ok(BootstrapMethod::Percentile),
        "basic" => Ok(BootstrapMethod::Basic),
        "bca" => Ok(BootstrapMethod::Bca),
        other => Err(CoreError::InvalidArgument(format!(
            "unknown bootstrap method {other:?}"
        ))),
    }
}
