//! Core errors -> the typed Python exceptions of `cxmetrics.errors`; panics -> errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cxmetrics_core::error::{CoreError, Role};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// What a valid weight is (the range keeps weight sums exact: see `exact_sum`).
const WEIGHT_RULE: &str =
    " (weights must be finite, not null, and 0 or between 2^-38 ≈ 3.6e-12 and 2^32 ≈ 4.3e9)";

/// Column names of one call, to name the offending column in errors.
#[derive(Clone, Default)]
pub struct Names {
    pub score: String,
    pub keys: Vec<String>,
    pub weight: String,
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

pub fn raise(py: Python<'_>, class: &str, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
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

pub fn to_py_err(py: Python<'_>, err: CoreError, names: &Names) -> PyErr {
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
            let rule = if role == Role::Weight {
                WEIGHT_RULE
            } else {
                ""
            };
            let message = format!(
                "column {column:?}: {count} invalid {what} value(s); first at row {first_row}: {first_value}{rule}"
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
        CoreError::InvalidArgument(m) => raise(py, "ArgumentError", m, &[]),
        CoreError::Incompatible(m) => raise(py, "IncompatibleAccumulatorError", m, &[]),
        other => raise(py, "CxError", other.to_string(), &[]),
    }
}

/// Runs `work` without the GIL and turns a panic into an error instead of letting it unwind
/// into Python.
pub fn run_detached<T: Send>(
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
