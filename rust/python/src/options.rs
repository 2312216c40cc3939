//! The option vocabulary of every call, parsed once: one `FromPyObject` type per option. An
//! option that does not fit raises the documented `cxmetrics.errors.ArgumentError` naming the
//! option, what it accepts and what it got. The names come from the core's lists
//! (`Interval::NAMES`, `BootstrapMethod::NAMES`) and limits from its constants, and are
//! exported to Python so its `Literal` types can be checked against them by a test.

use cxmetrics_core::bootstrap::{check_resamples, BootstrapMethod, BootstrapSpec, MAX_RESAMPLES};
use cxmetrics_core::estimate::Interval;
use cxmetrics_core::quantile::check_confidence;
use cxmetrics_core::report::IntervalRequest;
use cxmetrics_core::streams::MAX_REPLICATES;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use crate::errors::{argument, Error};

/// The resampling methods that `ci=` accepts besides the closed-form intervals.
const RESAMPLING: [&str; 2] = ["bootstrap", "bayes"];
/// `on_invalid=` values.
pub const ON_INVALID: [&str; 2] = ["raise", "drop"];
/// Methods of a difference between two results (`cx.compare(..., ci=)`).
pub const COMPARE_METHODS: [&str; 3] = ["wald", "newcombe", "bootstrap"];

/// Every `ci=` name: the closed-form intervals, then the resampling methods.
pub fn ci_methods() -> Vec<&'static str> {
    Interval::NAMES
        .iter()
        .chain(RESAMPLING.iter())
        .copied()
        .collect()
}

/// `repr(obj)` for messages.
fn shown(obj: &Borrowed<'_, '_, PyAny>) -> String {
    obj.repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unprintable>".into())
}

/// The string `obj` must be, one of `choices`.
fn choice(obj: &Borrowed<'_, '_, PyAny>, option: &str, choices: &[&str]) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) if choices.contains(&s.to_str()?) => Ok(s.to_str()?.to_owned()),
        _ => Err(argument(format!(
            "{option} must be one of {choices:?}, got {}",
            shown(obj)
        ))),
    }
}

/// A Python int (not a bool) in `range`, for `option`.
fn whole(
    obj: &Borrowed<'_, '_, PyAny>,
    option: &str,
    range: std::ops::RangeInclusive<u64>,
) -> PyResult<u64> {
    let fits = if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        None
    } else {
        obj.extract::<u64>().ok().filter(|v| range.contains(v))
    };
    fits.ok_or_else(|| {
        argument(format!(
            "{option} must be an int between {} and {}, got {}",
            range.start(),
            range.end(),
            shown(obj)
        ))
    })
}

/// `ci=`: None, a closed-form interval, or a resampling method.
#[derive(Clone, Copy, Debug)]
pub enum Ci {
    Closed(Interval),
    Bootstrap,
    Bayes,
}

impl<'a, 'py> FromPyObject<'a, 'py> for Ci {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_none() {
            return Ok(Ci::Closed(Interval::None));
        }
        let methods = ci_methods();
        let name = choice(&obj, "ci", &methods).map_err(|_| {
            argument(format!(
                "ci must be one of {methods:?} or None, got {}",
                shown(&obj)
            ))
        })?;
        Ok(match name.as_str() {
            "bootstrap" => Ci::Bootstrap,
            "bayes" => Ci::Bayes,
            closed => Ci::Closed(Interval::parse(Some(closed)).map_err(Error::from)?),
        })
    }
}

/// `confidence=`: a number strictly between 0 and 1.
#[derive(Clone, Copy, Debug)]
pub struct Confidence(pub f64);

impl<'a, 'py> FromPyObject<'a, 'py> for Confidence {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let number = (obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyInt>())
            && !obj.is_instance_of::<PyBool>();
        let value = if number {
            obj.extract::<f64>().ok()
        } else {
            None
        };
        match value.map(check_confidence) {
            Some(Ok(c)) => Ok(Confidence(c)),
            _ => Err(argument(format!(
                "confidence must be a number strictly between 0 and 1, got {}",
                shown(&obj)
            ))),
        }
    }
}

/// `bootstrap=`: the bootstrap interval method.
#[derive(Clone, Copy, Debug)]
pub struct Bootstrap(pub BootstrapMethod);

impl<'a, 'py> FromPyObject<'a, 'py> for Bootstrap {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let name = choice(&obj, "bootstrap", &BootstrapMethod::NAMES)?;
        Ok(Bootstrap(
            BootstrapMethod::parse(&name).map_err(Error::from)?,
        ))
    }
}

/// `n_resamples=`: 1 to the core's `MAX_RESAMPLES`, checked before anything is allocated.
#[derive(Clone, Copy, Debug)]
pub struct Resamples(pub usize);

/// The default of every `n_resamples=` (the core's; Python's registry reads it).
pub const DEFAULT_RESAMPLES: Resamples = Resamples(cxmetrics_core::bootstrap::DEFAULT_RESAMPLES);
/// The default of every `bootstrap=` (BCa).
pub const DEFAULT_BOOTSTRAP: Bootstrap = Bootstrap(BootstrapMethod::Bca);

impl<'a, 'py> FromPyObject<'a, 'py> for Resamples {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let n = whole(&obj, "n_resamples", 1..=MAX_RESAMPLES)?;
        Ok(Resamples(check_resamples(n).map_err(Error::from)?))
    }
}

/// `seed=`: an int in [0, 2**64).
#[derive(Clone, Copy, Debug)]
pub struct Seed(pub u64);

impl<'a, 'py> FromPyObject<'a, 'py> for Seed {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Seed(whole(&obj, "seed", 0..=u64::MAX)?))
    }
}

/// `replicates=`: Poisson-bootstrap replicates an accumulator keeps, 1 to the core's
/// `MAX_REPLICATES`.
#[derive(Clone, Copy, Debug)]
pub struct Replicates(pub usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Replicates {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let n = whole(&obj, "replicates", 1..=MAX_REPLICATES as u64)?;
        Ok(Replicates(n as usize))
    }
}

/// `on_invalid=`: true when invalid scores are dropped (counted) rather than raised.
#[derive(Clone, Copy, Debug)]
pub struct OnInvalid {
    pub drop: bool,
}

impl<'a, 'py> FromPyObject<'a, 'py> for OnInvalid {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let name = choice(&obj, "on_invalid", &ON_INVALID)?;
        Ok(OnInvalid {
            drop: name == "drop",
        })
    }
}

/// The comparison method of `cx.compare`.
#[derive(Clone, Copy, Debug)]
pub enum CompareMethod {
    Wald,
    Newcombe,
    Bootstrap,
}

impl<'a, 'py> FromPyObject<'a, 'py> for CompareMethod {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(match choice(&obj, "ci", &COMPARE_METHODS)?.as_str() {
            "wald" => CompareMethod::Wald,
            "newcombe" => CompareMethod::Newcombe,
            _ => CompareMethod::Bootstrap,
        })
    }
}

/// The interval options of one estimate, as the core takes them.
pub fn interval_request(
    ci: Ci,
    confidence: Confidence,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
    seed: Seed,
) -> IntervalRequest {
    let mut request = IntervalRequest {
        interval: Interval::None,
        confidence: confidence.0,
        bootstrap: None,
        bayes: None,
        weight_cells: None,
    };
    match ci {
        Ci::Closed(interval) => request.interval = interval,
        Ci::Bootstrap => {
            request.bootstrap = Some(BootstrapSpec {
                n_resamples: n_resamples.0,
                method: bootstrap.0,
                confidence: confidence.0,
                seed: seed.0,
            })
        }
        Ci::Bayes => request.bayes = Some((n_resamples.0, seed.0)),
    }
    request
}

/// Checks the options of one call (every rule is the conversions above); raises
/// `ArgumentError` on the first that does not fit.
#[pyfunction]
#[pyo3(signature = (ci, confidence, on_invalid=OnInvalid { drop: false }, bootstrap=DEFAULT_BOOTSTRAP, n_resamples=DEFAULT_RESAMPLES),
       text_signature = "(ci, confidence, on_invalid='raise', bootstrap='bca', n_resamples=10000)")]
pub fn check_options(
    ci: Ci,
    confidence: Confidence,
    on_invalid: OnInvalid,
    bootstrap: Bootstrap,
    n_resamples: Resamples,
) {
    // pyo3 converts the arguments in signature order, so the first bad option is the one named.
    let _ = (ci, confidence, on_invalid, bootstrap, n_resamples);
}

/// `seed` if it is a valid seed (an int in [0, 2**64)), else `ArgumentError`.
#[pyfunction]
pub fn check_seed(seed: Seed) -> u64 {
    seed.0
}

/// `replicates` if it is a valid replicate count, else `ArgumentError`.
#[pyfunction]
pub fn check_replicates(replicates: Replicates) -> usize {
    replicates.0
}

/// Adds the vocabulary to the module, for the facade's `Literal` types to be checked against.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CI_METHODS", ci_methods())?;
    m.add("BOOTSTRAP_METHODS", BootstrapMethod::NAMES.to_vec())?;
    m.add("ON_INVALID", ON_INVALID.to_vec())?;
    m.add("COMPARE_METHODS", COMPARE_METHODS.to_vec())?;
    m.add("MAX_RESAMPLES", MAX_RESAMPLES)?;
    m.add("MAX_REPLICATES", MAX_REPLICATES)?;
    m.add("DEFAULT_RESAMPLES", DEFAULT_RESAMPLES.0)?;
    m.add(
        "DEFAULT_BOOTSTRAP",
        BootstrapMethod::NAMES[DEFAULT_BOOTSTRAP.0 as usize],
    )?;
    m.add_function(wrap_pyfunction!(check_options, m)?)?;
    m.add_function(wrap_pyfunction!(check_seed, m)?)?;
    m.add_function(wrap_pyfunction!(check_replicates, m)?)?;
    Ok(())
}
