//! Driver statistics (key driver analysis) as a Python object: Arrow import, GIL release and
//! error mapping around `cxmetrics_core::drivers`. No arithmetic here.

use std::sync::{Mutex, MutexGuard};

use arrow_array::ArrayRef;
use cxmetrics_core::drivers::format;
use cxmetrics_core::drivers::importance::Method;
use cxmetrics_core::drivers::interval::Interval;
use cxmetrics_core::drivers::report::{report_batch, Request};
use cxmetrics_core::drivers::state::{Columns, DriversState, Resampling};
use cxmetrics_core::error::CoreError;
use cxmetrics_core::streams::ReplicateStreams as Streams;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::PyRecordBatch;

use crate::accumulator_state::chunks;
use crate::errors::{run_detached, to_py_err, unsupported, Names};

/// One Arrow array (a pyarrow Array or anything exporting `__arrow_c_array__`), imported as
/// every input column is (`accumulator_state::chunks`), as one chunk.
fn array(py: Python<'_>, obj: &Bound<'_, PyAny>, column: &str) -> PyResult<ArrayRef> {
    let (mut parts, _) = chunks(py, obj, column)?;
    match parts.len() {
        1 => Ok(parts.remove(0)),
        n => Err(unsupported(
            py,
            column,
            format!("column {column:?}: expected one Arrow array, got {n} chunks"),
        )),
    }
}

/// Error names: the outcome as the score, drivers then segment keys as the keys.
fn names(outcome: &str, drivers: &[String], keys: &[String], weight: Option<&str>) -> Names {
    Names {
        score: outcome.to_string(),
        keys: drivers.iter().chain(keys).cloned().collect(),
        weight: weight.unwrap_or("weight").to_string(),
    }
}

/// Per-segment Gram matrices (and bootstrap replicates) of an outcome and its drivers.
#[pyclass(frozen, module = "cxmetrics._native")]
pub struct DriverStats {
    state: Mutex<DriversState>,
    rows: Mutex<u64>,
}

impl DriverStats {
    fn from_state(state: DriversState) -> Self {
        Self {
            state: Mutex::new(state),
            rows: Mutex::new(0),
        }
    }
    fn locked(&self) -> MutexGuard<'_, DriversState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl DriverStats {
    #[new]
    #[pyo3(signature = (n_drivers, n_keys, weighted, replicates=None, seed=None, stream=0))]
    fn new(
        py: Python<'_>,
        n_drivers: usize,
        n_keys: usize,
        weighted: bool,
        replicates: Option<usize>,
        seed: Option<u64>,
        stream: u64,
    ) -> PyResult<Self> {
        let build = || -> Result<DriversState, CoreError> {
            let streams = replicates
                .map(|b| Streams::new(b, seed, stream))
                .transpose()?;
            DriversState::new(n_drivers, n_keys, weighted, streams)
        };
        Ok(Self::from_state(
            build().map_err(|e| to_py_err(py, e, &Names::default()))?,
        ))
    }

    #[getter]
    fn n_drivers(&self) -> usize {
        self.locked().p
    }
    #[getter]
    fn n_keys(&self) -> usize {
        self.locked().n_keys
    }
    #[getter]
    fn weighted(&self) -> bool {
        self.locked().weighted
    }
    #[getter]
    fn replicates(&self) -> Option<usize> {
        self.locked().streams.as_ref().map(|s| s.replicates)
    }
    /// Where the bootstrap replicates come from: "tuples" (drawn when reported from the
    /// histogram of distinct tuples), "rows" (drawn per row), or None without replicates.
    #[getter]
    fn resampling(&self) -> Option<&'static str> {
        let state = self.locked();
        state.streams.as_ref().map(|_| match state.resampling {
            Resampling::Tuples => "tuples",
            Resampling::Rows => "rows",
        })
    }
    #[getter]
    fn seed(&self) -> Option<u64> {
        self.locked().streams.as_ref().and_then(|s| s.seed)
    }

    /// Adds rows; all-or-nothing; releases the GIL.
    #[pyo3(signature = (outcome, drivers, weight, keys, outcome_name, driver_names, weight_name, key_names))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        outcome: Bound<'_, PyAny>,
        drivers: Vec<Bound<'_, PyAny>>,
        weight: Option<Bound<'_, PyAny>>,
        keys: Vec<Bound<'_, PyAny>>,
        outcome_name: String,
        driver_names: Vec<String>,
        weight_name: Option<String>,
        key_names: Vec<String>,
    ) -> PyResult<()> {
        let names = names(
            &outcome_name,
            &driver_names,
            &key_names,
            weight_name.as_deref(),
        );
        let outcome = array(py, &outcome, &outcome_name)?;
        let drivers = drivers
            .iter()
            .zip(&driver_names)
            .map(|(d, n)| array(py, d, n))
            .collect::<PyResult<Vec<_>>>()?;
        let weight = weight.map(|w| array(py, &w, &names.weight)).transpose()?;
        let keys = keys
            .iter()
            .zip(&key_names)
            .map(|(k, n)| array(py, k, n))
            .collect::<PyResult<Vec<_>>>()?;
        run_detached(py, &names, || {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            let columns = Columns {
                outcome: &outcome,
                drivers: &drivers,
                weight: weight.as_ref(),
                keys: &keys,
            };
            // Update a copy: the state is unchanged when the batch is refused.
            let mut next = state.clone();
            next.update(&columns, *rows)?;
            *state = next;
            *rows += outcome.len() as u64;
            Ok(())
        })
    }

    /// A new object with both inputs' statistics.
    fn merged(&self, py: Python<'_>, other: &DriverStats) -> PyResult<DriverStats> {
        // One lock at a time: `other` may be `self`.
        let a = self.locked().clone();
        let b = other.locked().clone();
        let merged = run_detached(py, &Names::default(), || a.merge(&b))?;
        Ok(Self::from_state(merged))
    }

    fn copy(&self) -> DriverStats {
        Self::from_state(self.locked().clone())
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let state = self.locked().clone();
        let bytes = py.detach(|| format::encode(&state));
        PyBytes::new(py, &bytes)
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<DriverStats> {
        let data = data.to_vec();
        let state = run_detached(py, &Names::default(), || format::decode(&data))?;
        Ok(Self::from_state(state))
    }

    /// The result table (one row per segment and driver) as a pyarrow RecordBatch.
    #[pyo3(signature = (method, driver_names, key_names, confidence=0.95, min_n=0, exact_up_to=20, permutations=2000, seed=0, bootstrap="percentile"))]
    #[allow(clippy::too_many_arguments)]
    fn report<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        driver_names: Vec<String>,
        key_names: Vec<String>,
        confidence: f64,
        min_n: u64,
        exact_up_to: usize,
        permutations: usize,
        seed: u64,
        bootstrap: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let state = self.locked().clone();
        let method = method.to_string();
        let bootstrap = bootstrap.to_string();
        let batch = run_detached(py, &Names::default(), || {
            let interval = Interval::parse(&bootstrap)?;
            let method = match method.as_str() {
                "relative-weights" => Method::RelativeWeights,
                "shapley" => Method::Shapley {
                    exact_up_to,
                    permutations,
                    seed,
                },
                other => {
                    return Err(CoreError::InvalidArgument(format!(
                        "method={other:?} is not a driver method (relative-weights, shapley)"
                    )))
                }
            };
            let request = Request {
                method,
                confidence,
                interval,
                min_n,
            };
            report_batch(&state, &request, &driver_names, &key_names)
        })?;
        PyRecordBatch::new(batch).into_pyarrow(py)
    }
}
