//! The mergeable per-segment tallies, as a Python object.

use std::sync::{Mutex, MutexGuard};

use arrow_array::{
    Array, ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt64Array,
};
use cxmetrics_core::error::CoreError;
use cxmetrics_core::group::logical_key_type;
use cxmetrics_core::scale::Scale;
use cxmetrics_core::state::{self, AccumulatorState};
use cxmetrics_core::state_report::{estimate_state, Estimates};
use cxmetrics_core::streams::ReplicateStreams;
use cxmetrics_core::tally::Columns;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::panic::{catch_unwind, AssertUnwindSafe};

use arrow_schema::DataType;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyRecordBatch;

use crate::errors::{run_detached_sized, to_py_err, unsupported, Names, UNSIZED};
use crate::metric::Metric;
use crate::options::{
    interval_request, Bootstrap, Ci, Confidence, OnInvalid, Resamples, Seed, DEFAULT_BOOTSTRAP,
    DEFAULT_RESAMPLES,
};

/// The chunks of an Arrow array or stream, and its declared type (which a stream of zero
/// chunks still has). Import runs under `catch_unwind`: arrow-rs asserts on buffers it cannot
/// use (e.g. misaligned ones), and that must become an error, not a panic in Python.
pub(crate) fn chunks(
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
        Err(unsupported(
            py,
            role,
            format!(
                "{role}: the Arrow data could not be imported (misaligned or malformed buffers)"
            ),
        ))
    })
}

/// Segmented tallies of one or many inputs (the sufficient statistic), mergeable.
#[pyclass(name = "AccumulatorState", frozen, module = "cxmetrics._native")]
pub struct PyAccumulatorState {
    /// The aggregator inside is created by the first update, which fixes the key types.
    state: Mutex<AccumulatorState>,
    /// Rows seen so far, to number rows in error messages across batches.
    rows: Mutex<u64>,
}

impl PyAccumulatorState {
    pub(crate) fn from_state(state: AccumulatorState) -> Self {
        Self {
            state: Mutex::new(state),
            rows: Mutex::new(0),
        }
    }

    /// Numbers the state holds (segments × scale points × (1 + replicates)): the size of a
    /// merge, encode or copy, to decide whether it runs inline (see `run_detached_sized`).
    pub(crate) fn work_units(&self) -> u64 {
        let state = self.locked();
        let segments = state.aggregator().map_or(0, |a| a.tallies().segments()) as u64;
        let points = state.scale().points() as u64;
        segments * points * (1 + state.replicates() as u64)
    }

    pub(crate) fn snapshot(&self) -> AccumulatorState {
        self.locked().clone()
    }

    /// The state, locked (for reading a field without copying the tallies). With the GIL held,
    /// only for reads that cannot wait on anything: holders never wait for the GIL.
    fn locked(&self) -> MutexGuard<'_, AccumulatorState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyAccumulatorState {
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
        let build = || -> Result<AccumulatorState, CoreError> {
            let scale = Scale::new(low, high)?;
            let streams = replicates
                .map(|b| ReplicateStreams::new(b, seed, stream))
                .transpose()?;
            AccumulatorState::new(scale, weighted, n_keys, streams)
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
    fn with_stream(&self, py: Python<'_>, stream: u64) -> PyResult<PyAccumulatorState> {
        let state = self.snapshot();
        let out = run_detached_sized(py, &Names::default(), 0, || state.with_stream(stream))?;
        Ok(PyAccumulatorState::from_state(out))
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
    #[pyo3(signature = (score, keys, weight, on_invalid, score_name, key_names, weight_name))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        score: Bound<'_, PyAny>,
        keys: Vec<Bound<'_, PyAny>>,
        weight: Option<Bound<'_, PyAny>>,
        on_invalid: OnInvalid,
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
        let rows: u64 = columns.score.iter().map(|c| c.len() as u64).sum();
        let replicates = self.locked().replicates() as u64;
        run_detached_sized(py, &names, rows.saturating_mul(1 + replicates), || {
            let started = std::time::Instant::now();
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            state.update(&columns, key_types, on_invalid.drop, *rows)?;
            *rows += columns.score.iter().map(|c| c.len() as u64).sum::<u64>();
            crate::test_slowdown::stretch(started);
            Ok(())
        })
    }

    /// A new aggregation holding both inputs' tallies; an empty one is the identity.
    fn merged(&self, py: Python<'_>, other: &PyAccumulatorState) -> PyResult<PyAccumulatorState> {
        // Both states are read in place (no copies of the inputs).
        let units = self.work_units() + other.work_units();
        let state = run_detached_sized(py, &Names::default(), units, || {
            self.with_locked_pair(Some(other), |mine, theirs| {
                mine.merge(theirs.expect("a pair"))
            })
        })?;
        Ok(PyAccumulatorState::from_state(state))
    }

    fn copy(&self) -> PyAccumulatorState {
        PyAccumulatorState::from_state(self.snapshot())
    }

    /// The versioned, checksummed binary form of the state.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let units = self.work_units();
        let bytes = run_detached_sized(py, &Names::default(), units, || {
            state::encode(&self.locked())
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<PyAccumulatorState> {
        let owned = data.to_vec();
        // Eight bytes per count or sum: a size comparable to the other states' work units.
        let units = (owned.len() / 8) as u64;
        let state = run_detached_sized(py, &Names::default(), units, || state::decode(&owned))?;
        Ok(PyAccumulatorState::from_state(state))
    }

    /// The unweighted state behind a segmented result, rebuilt from its per-segment columns:
    /// the key columns (in key order), each segment's counts per scale point (flat, `high −
    /// low + 1` per segment), and its missing and invalid rows. A result keeps these columns
    /// anyway, so it need not keep the state as well.
    #[staticmethod]
    fn from_segment_counts(
        py: Python<'_>,
        low: i64,
        high: i64,
        keys: Vec<Bound<'_, PyAny>>,
        distribution: Bound<'_, PyAny>,
        missing: Bound<'_, PyAny>,
        invalid: Bound<'_, PyAny>,
    ) -> PyResult<PyAccumulatorState> {
        // One array each (Python combines chunks first).
        let whole = |obj: &Bound<'_, PyAny>, role: &str| -> PyResult<ArrayRef> {
            let (mut parts, _) = chunks(py, obj, role)?;
            match parts.len() {
                1 => Ok(parts.remove(0)),
                n => Err(crate::errors::argument(format!(
                    "{role}: expected one array, got {n} chunks"
                ))),
            }
        };
        let counts = |obj: &Bound<'_, PyAny>, role: &str| -> PyResult<Vec<u64>> {
            let array = whole(obj, role)?;
            let values = array
                .as_any()
                .downcast_ref::<UInt64Array>()
                .filter(|a| a.null_count() == 0)
                .ok_or_else(|| {
                    crate::errors::argument(format!("{role}: expected uint64 counts"))
                })?;
            Ok(values.values().to_vec())
        };
        let keys = keys
            .iter()
            .map(|k| whole(k, "key"))
            .collect::<PyResult<Vec<_>>>()?;
        let distribution = counts(&distribution, "distribution")?;
        let missing = counts(&missing, "n_missing")?;
        let invalid = counts(&invalid, "n_invalid")?;
        let state = run_detached_sized(py, &Names::default(), distribution.len() as u64, || {
            AccumulatorState::from_segment_counts(
                Scale::new(low, high)?,
                &keys,
                &distribution,
                &missing,
                &invalid,
            )
        })?;
        Ok(PyAccumulatorState::from_state(state))
    }

    /// Estimates per segment and overall. `ci="bootstrap"` uses `bootstrap` ("percentile",
    /// "basic", "bca"), `n_resamples` and `seed`.
    ///
    /// A weighted bootstrap needs `weight_cells`: an unweighted aggregation of the same rows
    /// with the weight column as one more (last) key.
    ///
    /// `output` says what comes back (see [`Output`]): two pyarrow batches by default; a
    /// one-shot call takes the overall row as a dict and the segments as a native batch that
    /// Python hands to pyarrow only when they are read.
    #[pyo3(signature = (metric, key_names, ci, confidence, bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES, seed=Seed(0), weight_cells=None, output=Output::Batches),
           text_signature = "($self, metric, key_names, ci, confidence, bootstrap='bca', n_resamples=10000, seed=0, weight_cells=None, output='batches')")]
    #[allow(clippy::too_many_arguments)]
    fn estimate<'py>(
        &self,
        py: Python<'py>,
        metric: &Metric,
        key_names: Vec<String>,
        ci: Ci,
        confidence: Confidence,
        bootstrap: Bootstrap,
        n_resamples: Resamples,
        seed: Seed,
        weight_cells: Option<&PyAccumulatorState>,
        output: Output,
    ) -> PyResult<(Option<Bound<'py, PyAny>>, Bound<'py, PyAny>)> {
        let Estimates { segments, overall } = self.estimates(
            py,
            metric,
            &key_names,
            interval_request(ci, confidence, bootstrap, n_resamples, seed),
            weight_cells,
        )?;
        Ok(match output {
            Output::Batches => (
                Some(PyRecordBatch::new(segments).into_pyarrow(py)?),
                PyRecordBatch::new(overall).into_pyarrow(py)?,
            ),
            Output::Segments => (
                Some(Bound::new(py, PyRecordBatch::new(segments))?.into_any()),
                first_row(py, &overall)?.into_any(),
            ),
            Output::Overall => (None, first_row(py, &overall)?.into_any()),
        })
    }
}

/// What `estimate` returns.
#[derive(Clone, Copy)]
enum Output {
    /// `(segments, overall)` as pyarrow RecordBatches.
    Batches,
    /// `(segments, overall row)`: the segments as a native batch that exports itself through
    /// `__arrow_c_array__` (no pyarrow call until it is read), the overall row as a dict.
    Segments,
    /// `(None, overall row)`: an unsegmented one-shot call.
    Overall,
}

impl<'a, 'py> FromPyObject<'a, 'py> for Output {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match &*obj.extract::<std::borrow::Cow<'_, str>>()? {
            "batches" => Ok(Output::Batches),
            "segments" => Ok(Output::Segments),
            "overall" => Ok(Output::Overall),
            other => Err(crate::errors::argument(format!(
                "output must be 'batches', 'segments' or 'overall', got {other:?}"
            ))),
        }
    }
}

impl PyAccumulatorState {
    /// The per-segment and overall record batches, computed in the core without the GIL.
    /// The states are read in place, locked (an estimate only reads: no copy of the tallies
    /// and keys, which with many segments cost as much as the estimate itself).
    fn estimates(
        &self,
        py: Python<'_>,
        metric: &Metric,
        key_names: &[String],
        request: cxmetrics_core::report::IntervalRequest,
        weight_cells: Option<&PyAccumulatorState>,
    ) -> PyResult<Estimates> {
        let spec = metric.spec.clone();
        // Analytic intervals cost a few operations per segment; resampling can take long.
        let resampled = request.bootstrap.is_some() || request.bayes.is_some();
        let segments = self.segments() as u64;
        let units = if resampled { UNSIZED } else { segments };
        run_detached_sized(py, &Names::default(), units, || {
            self.with_locked_pair(weight_cells, |state, cells| {
                estimate_state(&spec, state, cells, key_names, request)
            })
        })
    }

    /// Segments held (1 before the first update): the size of an estimate.
    pub(crate) fn segments(&self) -> usize {
        self.locked()
            .aggregator()
            .map_or(1, |a| a.tallies().segments())
    }

    /// Runs `read` on this state and `other` (if any), both locked. Call only with the GIL
    /// released (a thread waiting for the GIL must not hold these locks). Locks are taken in
    /// address order, so that two threads locking the same pair cannot deadlock, and once when
    /// `other` is this state.
    pub(crate) fn with_locked_pair<T>(
        &self,
        other: Option<&PyAccumulatorState>,
        read: impl FnOnce(&AccumulatorState, Option<&AccumulatorState>) -> T,
    ) -> T {
        let Some(other) = other else {
            return read(&self.locked(), None);
        };
        if std::ptr::eq(self, other) {
            let mine = self.locked();
            return read(&mine, Some(&mine));
        }
        let (first, second) = if (self as *const Self) < (other as *const Self) {
            (self, other)
        } else {
            (other, self)
        };
        let (a, b) = (first.locked(), second.locked());
        if std::ptr::eq(first, self) {
            read(&a, Some(&b))
        } else {
            read(&b, Some(&a))
        }
    }
}

/// Row 0 of a result batch as {column: value}: floats, counts, the distribution list and the
/// note (the only column types `segment_batch` produces besides keys, which `overall` has none).
fn first_row<'py>(py: Python<'py>, batch: &RecordBatch) -> PyResult<Bound<'py, PyDict>> {
    let row = PyDict::new(py);
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name().as_str();
        if let Some(a) = column.as_any().downcast_ref::<Float64Array>() {
            row.set_item(name, a.value(0))?;
        } else if let Some(a) = column.as_any().downcast_ref::<UInt64Array>() {
            row.set_item(name, a.value(0))?;
        } else if let Some(a) = column.as_any().downcast_ref::<StringArray>() {
            row.set_item(name, a.is_valid(0).then(|| a.value(0)))?;
        } else if let Some(a) = column.as_any().downcast_ref::<ListArray>() {
            let values = a.value(0);
            let counts = values
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|c| c.values().to_vec())
                .unwrap_or_default();
            row.set_item(name, PyTuple::new(py, counts)?)?;
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unexpected result column {name}: {}",
                field.data_type()
            )));
        }
    }
    Ok(row)
}
