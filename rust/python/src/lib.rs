//! PyO3 glue for cxmetrics: imports Arrow data through the PyCapsule interface, releases the GIL
//! around every pass over data, maps core errors to the typed Python exceptions of
//! `cxmetrics.errors`, and converts panics into errors. No arithmetic lives here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use arrow_array::ArrayRef;
use cxmetrics_core::error::{CoreError, Role};
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::group::logical_key_type;
use cxmetrics_core::histogram::{Aggregator, Columns};
use cxmetrics_core::metric::MetricSpec;
use cxmetrics_core::report::{estimate_batch, IntervalRequest};
use cxmetrics_core::scale::Scale;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::PyRecordBatch;

/// Column names of one call, to name the offending column in errors.
#[derive(Clone, Default)]
struct Names {
    score: String,
    keys: Vec<String>,
    weight: String,
}

impl Names {
    fn of(&self, role: Role) -> &str {
        match role {
            Role::Score => &self.score,
            Role::Key(i) => self.keys.get(i).map_or("by", String::as_str),
            Role::Weight => &self.weight,
        }
    }
}

fn raise(py: Python<'_>, class: &str, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = py.import("cxmetrics.errors")?;
        let kwargs = PyDict::new(py);
        for (k, v) in attrs {
            kwargs.set_item(k, v)?;
        }
        let err = module.getattr(class)?.call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(err))
    };
    build().unwrap_or_else(|e| e)
}

fn to_py_err(py: Python<'_>, err: CoreError, names: &Names) -> PyErr {
    let text = |v: &str| v.into_pyobject(py).expect("str").into_any().unbind();
    let int = |v: u64| v.into_pyobject(py).expect("int").into_any().unbind();
    match err {
        CoreError::InvalidScore {
            role,
            count,
            first_row,
            first_value,
        }
        | CoreError::InvalidWeight {
            role,
            count,
            first_row,
            first_value,
        } => {
            let (class, what) = if role == Role::Weight {
                ("InvalidWeightError", "weight")
            } else {
                ("InvalidScoreError", "score")
            };
            let column = names.of(role);
            let message = format!(
                "column {column:?}: {count} invalid {what} value(s); first at row {first_row}: {first_value}"
            );
            raise(
                py,
                class,
                message,
                &[
                    ("column", text(column)),
                    ("count", int(count)),
                    ("first_row", int(first_row)),
                    ("first_value", text(&first_value)),
                ],
            )
        }
        CoreError::UnsupportedType {
            role,
            data_type,
            why,
        } => {
            let column = names.of(role);
            raise(
                py,
                "UnsupportedTypeError",
                format!("column {column:?} has type {data_type}, which is not supported: {why}"),
                &[("column", text(column))],
            )
        }
        CoreError::LengthMismatch {
            role,
            expected,
            actual,
        } => {
            let column = names.of(role);
            raise(
                py,
                "LengthMismatchError",
                format!("column {column:?} has {actual} rows but the scores have {expected}"),
                &[("column", text(column))],
            )
        }
        CoreError::CorruptState(m) => raise(py, "CorruptStateError", m, &[]),
        other => raise(py, "CxError", other.to_string(), &[]),
    }
}

/// Runs `work` without the GIL and turns a panic into an error instead of letting it unwind
/// into Python.
fn run_detached<T: Send>(
    py: Python<'_>,
    names: &Names,
    work: impl FnOnce() -> Result<T, CoreError> + Send,
) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(to_py_err(py, e, names)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Err(raise(
                py,
                "CxError",
                format!("internal error (please report): {what}"),
                &[],
            ))
        }
    }
}

fn chunks(array: AnyArray) -> PyResult<Vec<ArrayRef>> {
    Ok(array.into_chunked_array()?.into_inner().0)
}

/// A metric definition: a net score, a share, or a mean on an integer scale.
#[pyclass(frozen, module = "cxmetrics._native")]
struct Metric {
    spec: MetricSpec,
}

#[pymethods]
impl Metric {
    #[staticmethod]
    fn net(
        py: Python<'_>,
        low: i64,
        high: i64,
        positive: (i64, i64),
        negative: (i64, i64),
    ) -> PyResult<Self> {
        let spec = Scale::new(low, high).and_then(|s| MetricSpec::net(s, positive, negative));
        spec.map(|spec| Self { spec })
            .map_err(|e| to_py_err(py, e, &Names::default()))
    }

    #[staticmethod]
    fn share(py: Python<'_>, low: i64, high: i64, hit: (i64, i64)) -> PyResult<Self> {
        let spec = Scale::new(low, high).and_then(|s| MetricSpec::share(s, hit));
        spec.map(|spec| Self { spec })
            .map_err(|e| to_py_err(py, e, &Names::default()))
    }

    #[staticmethod]
    fn mean(py: Python<'_>, low: i64, high: i64) -> PyResult<Self> {
        Scale::new(low, high)
            .map(|s| Self {
                spec: MetricSpec::mean(s),
            })
            .map_err(|e| to_py_err(py, e, &Names::default()))
    }
}

/// Segmented tallies of one or many inputs (the sufficient statistic), mergeable.
#[pyclass(frozen, module = "cxmetrics._native")]
struct Aggregation {
    scale: Scale,
    weighted: bool,
    n_keys: usize,
    /// Created by the first update, which fixes the key types.
    state: Mutex<Option<Aggregator>>,
    rows: Mutex<u64>,
}

#[pymethods]
impl Aggregation {
    #[new]
    fn new(py: Python<'_>, low: i64, high: i64, n_keys: usize, weighted: bool) -> PyResult<Self> {
        let scale = Scale::new(low, high).map_err(|e| to_py_err(py, e, &Names::default()))?;
        Ok(Self {
            scale,
            weighted,
            n_keys,
            state: Mutex::new(None),
            rows: Mutex::new(0),
        })
    }

    /// Adds a batch of rows: scores, key columns and weights (Arrow arrays or streams).
    #[pyo3(signature = (score, keys, weight, drop_invalid, score_name, key_names, weight_name))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        score: AnyArray,
        keys: Vec<AnyArray>,
        weight: Option<AnyArray>,
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
        let columns = Columns {
            score: chunks(score)?,
            keys: keys.into_iter().map(chunks).collect::<PyResult<_>>()?,
            weight: weight.map(chunks).transpose()?,
        };
        let (scale, weighted, n_keys) = (self.scale, self.weighted, self.n_keys);
        run_detached(py, &names, || {
            if columns.keys.len() != n_keys {
                return Err(CoreError::InvalidArgument(format!(
                    "expected {n_keys} key column(s), got {}",
                    columns.keys.len()
                )));
            }
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
            if state.is_none() {
                let key_types = columns
                    .keys
                    .iter()
                    .map(|k| {
                        k.first().map_or(arrow_schema::DataType::Null, |c| {
                            logical_key_type(c.data_type())
                        })
                    })
                    .collect();
                *state = Some(Aggregator::new(scale, Some(key_types), weighted)?);
            }
            let agg = state.as_mut().expect("just created");
            agg.update(&columns, drop_invalid, *rows)?;
            *rows += columns.score.iter().map(|c| c.len() as u64).sum::<u64>();
            Ok(())
        })
    }

    /// Estimates per segment and overall, as two pyarrow RecordBatches.
    #[pyo3(signature = (metric, key_names, ci, confidence))]
    fn estimate<'py>(
        &self,
        py: Python<'py>,
        metric: &Metric,
        key_names: Vec<String>,
        ci: Option<String>,
        confidence: f64,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let names = Names::default();
        let spec = metric.spec.clone();
        let (scale, weighted) = (self.scale, self.weighted);
        let (segments, overall) = run_detached(py, &names, || {
            if spec.scale != scale {
                return Err(CoreError::InvalidArgument(format!(
                    "metric scale {}..{} differs from the aggregation's {}..{}",
                    spec.scale.low, spec.scale.high, scale.low, scale.high
                )));
            }
            let request = IntervalRequest {
                interval: Interval::parse(ci.as_deref())?,
                confidence,
            };
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let empty;
            let agg = match state.as_ref() {
                Some(a) => a,
                None => {
                    empty = Aggregator::new(
                        scale,
                        Some(vec![arrow_schema::DataType::Null; key_names.len()]),
                        weighted,
                    )?;
                    &empty
                }
            };
            let grouped = agg.finish()?;
            let segments =
                estimate_batch(&spec, &grouped.tallies, &grouped.keys, &key_names, &request)?;
            let overall = estimate_batch(&spec, &grouped.tallies.total(), &[], &[], &request)?;
            Ok((segments, overall))
        })?;
        Ok((
            PyRecordBatch::new(segments).into_pyarrow(py)?,
            PyRecordBatch::new(overall).into_pyarrow(py)?,
        ))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Metric>()?;
    m.add_class::<Aggregation>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
