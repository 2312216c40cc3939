//! Core errors -> the typed Python exceptions of `cxmetrics.errors`; panics -> errors; Ctrl-C
//! during long work -> `KeyboardInterrupt` within a poll interval.
//!
//! The exception classes are imported once (`import_exception!`), so a misspelt class fails to
//! compile rather than at run time. [`Error`] wraps a [`CoreError`] so `?` converts core
//! results inside functions that return `Result<_, Error>` or `PyResult`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use cxmetrics_core::cancel;
use cxmetrics_core::error::{CoreError, Role};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyTypeInfo;

pyo3::import_exception!(cxmetrics.errors, CxError);
pyo3::import_exception!(cxmetrics.errors, ArgumentError);
pyo3::import_exception!(cxmetrics.errors, CorruptStateError);
pyo3::import_exception!(cxmetrics.errors, IncompatibleAccumulatorError);
pyo3::import_exception!(cxmetrics.errors, InvalidScoreError);
pyo3::import_exception!(cxmetrics.errors, InvalidWeightError);
pyo3::import_exception!(cxmetrics.errors, LengthMismatchError);
pyo3::import_exception!(cxmetrics.errors, UnsupportedTypeError);

/// What a valid weight is (the range keeps weight sums exact: see `exact_sum`).
const WEIGHT_RULE: &str =
    " (weights must be finite, not null, and 0 or between 2^-38 ≈ 3.6e-12 and 2^32 ≈ 4.3e9)";

/// How often long work looks for a pending signal (Ctrl-C) while it runs without the GIL.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Column names of one call, to name the offending column in errors.
#[derive(Clone, Default)]
pub struct Names {
    pub score: String,
    pub keys: Vec<String>,
    pub weight: String,
}

impl Names {
    fn of(&self, role: Role) -> String {
        let given = match role {
            Role::Score => &self.score,
            Role::Key(i) => self.keys.get(i).unwrap_or(&self.score),
            Role::Weight => &self.weight,
        };
        if given.is_empty() || matches!(role, Role::Key(i) if i >= self.keys.len()) {
            // No names known (e.g. a merge): the role is the best name there is.
            match role {
                Role::Score => "score".into(),
                Role::Key(i) => format!("by[{i}]"),
                Role::Weight => "weight".into(),
            }
        } else {
            given.clone()
        }
    }
}

/// A core error on its way to Python (the orphan rule forbids `From<CoreError> for PyErr`).
pub struct Error(pub CoreError);

impl From<CoreError> for Error {
    fn from(err: CoreError) -> Self {
        Error(err)
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> Self {
        Python::attach(|py| to_py_err(py, err.0, &Names::default()))
    }
}

/// An instance of `class(message, **attrs)` as a Python error.
fn build<T: PyTypeInfo>(py: Python<'_>, message: String, attrs: &[(&str, Py<PyAny>)]) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        for (k, v) in attrs {
            kwargs.set_item(k, v)?;
        }
        let err = T::type_object(py).call((message,), Some(&kwargs))?;
        Ok(PyErr::from_value(err))
    };
    make().unwrap_or_else(|e| e)
}

/// An `UnsupportedTypeError` naming the column (for faults found while importing data).
pub fn unsupported(py: Python<'_>, column: &str, message: String) -> PyErr {
    let name = column.into_pyobject(py).expect("str").into_any().unbind();
    build::<UnsupportedTypeError>(py, message, &[("column", name)])
}

/// An `ArgumentError` with `message`.
pub fn argument(message: impl Into<String>) -> PyErr {
    ArgumentError::new_err(message.into())
}

pub fn to_py_err(py: Python<'_>, err: CoreError, names: &Names) -> PyErr {
    let text = |v: &str| v.into_pyobject(py).expect("str").into_any().unbind();
    let int = |v: u64| v.into_pyobject(py).expect("int").into_any().unbind();
    // The attributes of an error about bad values in one column.
    let located = |column: &str, count: u64, first_row: u64, first_value: &str| {
        [
            ("column", text(column)),
            ("count", int(count)),
            ("first_row", int(first_row)),
            ("first_value", text(first_value)),
        ]
    };
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
            let column = names.of(role);
            let weight = role == Role::Weight;
            let (what, rule) = if weight {
                ("weight", WEIGHT_RULE)
            } else {
                (
                    "score",
                    " (scores must be whole numbers on the scale; pass on_invalid=\"drop\", or \
                     --on-invalid drop in the CLI, to count and skip such rows)",
                )
            };
            let message = format!(
                "column {column:?}: {count} invalid {what} value(s); first at row {first_row} \
                 (rows count from 0): {first_value}{rule}"
            );
            let attrs = located(&column, count, first_row, &first_value);
            if weight {
                build::<InvalidWeightError>(py, message, &attrs)
            } else {
                build::<InvalidScoreError>(py, message, &attrs)
            }
        }
        CoreError::InvalidValue {
            role,
            count,
            first_row,
            first_value,
            rule,
        } => {
            let column = names.of(role);
            let message = format!(
                "column {column:?}: {count} invalid value(s); first at row {first_row} \
                 (rows count from 0): {first_value} ({rule})"
            );
            let attrs = located(&column, count, first_row, &first_value);
            build::<InvalidScoreError>(py, message, &attrs)
        }
        CoreError::UnsupportedType {
            role,
            data_type,
            why,
        } => {
            let column = names.of(role);
            let message =
                format!("column {column:?} has type {data_type}, which is not supported: {why}");
            unsupported(py, &column, message)
        }
        CoreError::LengthMismatch {
            role,
            expected,
            actual,
        } => {
            let column = names.of(role);
            build::<LengthMismatchError>(
                py,
                format!("column {column:?} has {actual} rows but the scores have {expected}"),
                &[("column", text(&column))],
            )
        }
        CoreError::CorruptState(m) => CorruptStateError::new_err(m),
        CoreError::InvalidArgument(m) => ArgumentError::new_err(m),
        CoreError::Incompatible(m) => IncompatibleAccumulatorError::new_err(m),
        other => CxError::new_err(other.to_string()),
    }
}

/// Work up to this many units (rows passed over, counting each replicate) runs on the calling
/// thread: it ends well inside the second Ctrl-C may take, and handing it to a watched worker
/// thread would cost more than the work itself on a request-sized call.
pub const INLINE_WORK: u64 = 2_000_000;

/// The size of work that cannot be told in advance: always watched.
pub const UNSIZED: u64 = u64::MAX;

/// Runs `work` without the GIL and turns a panic into an error instead of letting it unwind
/// into Python. Work of more than [`INLINE_WORK`] `units` runs on a worker thread while the
/// calling thread looks for signals every [`SIGNAL_POLL`]: on Ctrl-C it cancels the work (see
/// `cxmetrics_core::cancel`), waits for the worker to stop and raises the `KeyboardInterrupt`.
/// Smaller work runs on this thread. Either way a result is refused if another thread's
/// cancellation overlapped it.
pub fn run_detached_sized<T: Send>(
    py: Python<'_>,
    names: &Names,
    units: u64,
    work: impl FnOnce() -> Result<T, CoreError> + Send,
) -> PyResult<T> {
    crate::threads::configure();
    let watch = cancel::Watch::start();
    let (outcome, signal) = if units > INLINE_WORK {
        py.detach(|| watched(work))
    } else {
        (py.detach(|| catch_unwind(AssertUnwindSafe(work))), None)
    };
    if let Some(interrupt) = signal {
        return Err(interrupt);
    }
    finish(py, names, &watch, outcome)
}

/// [`run_detached_sized`] for work of unknown size ([`UNSIZED`]).
pub fn run_detached<T: Send>(
    py: Python<'_>,
    names: &Names,
    work: impl FnOnce() -> Result<T, CoreError> + Send,
) -> PyResult<T> {
    run_detached_sized(py, names, UNSIZED, work)
}

/// The Python result of finished work.
fn finish<T>(
    py: Python<'_>,
    names: &Names,
    watch: &cancel::Watch,
    outcome: Outcome<T>,
) -> PyResult<T> {
    if watch.interrupted() {
        // Another thread's Ctrl-C cancelled shared kernels while this ran: its result may be
        // incomplete, so it is refused rather than returned.
        return Err(CxError::new_err(
            "interrupted: a KeyboardInterrupt cancelled running computations; run this again",
        ));
    }
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(to_py_err(py, e, names)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into());
            Err(CxError::new_err(format!(
                "internal error (please report): {what}"
            )))
        }
    }
}

type Outcome<T> = std::thread::Result<Result<T, CoreError>>;

/// `work` on a scoped worker thread while this thread polls for signals (only the main
/// thread's poll can see them; elsewhere `check_signals` returns at once).
fn watched<T: Send>(
    work: impl FnOnce() -> Result<T, CoreError> + Send,
) -> (Outcome<T>, Option<PyErr>) {
    std::thread::scope(|scope| {
        let (done, result) = channel();
        scope.spawn(move || {
            // The receiver lives until this scope ends, so the send cannot fail.
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        let mut signal = None;
        let mut cancellation = None;
        loop {
            match result.recv_timeout(SIGNAL_POLL) {
                Ok(outcome) => {
                    drop(cancellation);
                    return (outcome, signal);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if signal.is_none() {
                        if let Err(err) = Python::attach(|py| py.check_signals()) {
                            cancellation = Some(cancel::request());
                            signal = Some(err);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let lost: Box<dyn std::any::Any + Send> = Box::new("worker thread vanished");
                    return (Err(lost), signal);
                }
            }
        }
    })
}
