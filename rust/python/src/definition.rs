//! An accumulator's definition between Python (the facade's dict) and the core's typed
//! [`Definition`], and the accumulator byte format: encoding, decoding (format 3 and the legacy
//! envelope) and the merge rule all run in the core; this only converts.

use cxmetrics_core::error::CoreError;
use cxmetrics_core::scale::Scale;
use cxmetrics_core::state::definition::{
    statistic_name, variant_name, CesVariant, Definition, MetricOptions, OnInvalid, Statistic,
};
use cxmetrics_core::state::format::legacy::split_legacy;
use cxmetrics_core::state::{decode, decode_accumulator, encode_accumulator};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString};

use crate::accumulator_state::PyAccumulatorState;
use crate::errors::{run_detached_sized, to_py_err, Names};

/// Each metric's option names as the facade's definition dict holds them, in the order of the
/// metric function's signature (the facade's registry is checked against this by a test).
pub const METRIC_OPTIONS: [(&str, &[&str]); 6] = [
    ("nps", &["scale", "promoters", "detractors"]),
    ("csat", &["scale", "satisfied", "statistic"]),
    ("ces", &["variant", "statistic"]),
    ("top_box", &["scale", "top"]),
    ("bottom_box", &["scale", "bottom"]),
    ("mean", &["scale"]),
];

/// Reads the facade's definition dict. `Err` names what is wrong (the caller decides whether
/// that is a bad argument or corrupt bytes).
fn from_py(obj: &Bound<'_, PyAny>) -> Result<Definition, String> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| "the definition is not a dict".to_string())?;
    let mut fields: Vec<String> = d
        .keys()
        .iter()
        .map(|k| k.extract::<String>())
        .collect::<PyResult<_>>()
        .map_err(|_| "the definition has a key that is not a string".to_string())?;
    fields.sort();
    let expected = [
        "by",
        "metric",
        "on_invalid",
        "options",
        "score",
        "table",
        "weight",
    ];
    let with_bootstrap = fields.iter().any(|f| f == "bootstrap");
    if fields
        .iter()
        .filter(|f| *f != "bootstrap")
        .ne(expected.iter())
    {
        return Err(format!(
            "the definition has the fields {fields:?}, expected {expected:?} (and bootstrap)"
        ));
    }
    let get = |k: &str| d.get_item(k).ok().flatten().expect("checked above");
    let text = |v: &Bound<'_, PyAny>, what: &str| -> Result<String, String> {
        v.cast::<PyString>()
            .map_err(|_| format!("{what} is not a string"))?
            .to_str()
            .map(str::to_string)
            .map_err(|_| format!("{what} is not valid text"))
    };
    let name = |k: &str| -> Result<Option<String>, String> {
        let v = get(k);
        if v.is_none() {
            Ok(None)
        } else {
            text(&v, k).map(Some)
        }
    };
    let options_obj = get("options");
    let options = options_obj
        .cast::<PyDict>()
        .map_err(|_| "options is not a dict".to_string())?;
    let metric_name = text(&get("metric"), "metric")?;
    let option_names = METRIC_OPTIONS
        .iter()
        .find(|(name, _)| *name == metric_name)
        .map(|(_, names)| *names)
        .ok_or_else(|| format!("unknown metric {metric_name:?}"))?;
    let mut given: Vec<String> = options
        .keys()
        .iter()
        .map(|k| k.extract::<String>())
        .collect::<PyResult<_>>()
        .map_err(|_| "an option name is not a string".to_string())?;
    given.sort();
    let mut wanted: Vec<&str> = option_names.to_vec();
    wanted.sort();
    if given.iter().map(String::as_str).ne(wanted.iter().copied()) {
        return Err(format!(
            "{metric_name} has the options {wanted:?}, the definition {given:?}"
        ));
    }
    let option = |k: &str| options.get_item(k).ok().flatten().expect("checked above");
    let pair = |k: &str| -> Result<(i64, i64), String> {
        let v = option(k);
        let list = v
            .cast::<PyList>()
            .map_err(|_| format!("{k} is not a list of two ints"))?;
        let items: Vec<i64> = list
            .iter()
            .map(|x| int(&x))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{k} is not a list of two ints"))?;
        match items[..] {
            [a, b] => Ok((a, b)),
            _ => Err(format!("{k} is not a list of two ints")),
        }
    };
    let statistic = || match text(&option("statistic"), "statistic")?.as_str() {
        "share" => Ok(Statistic::Share),
        "mean" => Ok(Statistic::Mean),
        other => Err(format!("unknown statistic {other:?}")),
    };
    let k = |key: &str| int(&option(key)).ok_or_else(|| format!("{key} is not an int"));
    let metric = match metric_name.as_str() {
        "nps" => MetricOptions::Nps {
            promoters: pair("promoters")?,
            detractors: pair("detractors")?,
        },
        "csat" => MetricOptions::Csat {
            satisfied: pair("satisfied")?,
            statistic: statistic()?,
        },
        "ces" => MetricOptions::Ces {
            variant: match text(&option("variant"), "variant")?.as_str() {
                "2.0" => CesVariant::Agreement,
                "effort" => CesVariant::Effort,
                other => return Err(format!("unknown ces variant {other:?}")),
            },
            statistic: statistic()?,
        },
        "top_box" => MetricOptions::TopBox { k: k("top")? },
        "bottom_box" => MetricOptions::BottomBox { k: k("bottom")? },
        _ => MetricOptions::Mean,
    };
    let scale = match &metric {
        MetricOptions::Ces { variant, .. } => variant.scale(),
        _ => {
            let (low, high) = pair("scale")?;
            Scale::new(low, high).map_err(|e| e.to_string())?
        }
    };
    let on_invalid = match text(&get("on_invalid"), "on_invalid")?.as_str() {
        "raise" => OnInvalid::Raise,
        "drop" => OnInvalid::Drop,
        other => return Err(format!("unknown on_invalid {other:?}")),
    };
    let table = get("table")
        .cast::<PyBool>()
        .map_err(|_| "table is not a bool".to_string())?
        .is_true();
    let by_obj = get("by");
    let by = if by_obj.is_none() {
        None
    } else {
        let list = by_obj
            .cast::<PyList>()
            .map_err(|_| "by is not a list of names".to_string())?;
        Some(
            list.iter()
                .map(|n| text(&n, "a by name"))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let replicates = if with_bootstrap {
        let b = get("bootstrap");
        let b = b
            .cast::<PyDict>()
            .map_err(|_| "bootstrap is not a dict".to_string())?;
        let mut keys: Vec<String> = b
            .keys()
            .iter()
            .map(|k| k.extract::<String>())
            .collect::<PyResult<_>>()
            .map_err(|_| "a bootstrap key is not a string".to_string())?;
        keys.sort();
        if keys != ["replicates", "seed"] {
            return Err("bootstrap must have exactly replicates and seed".into());
        }
        let item = |k: &str| b.get_item(k).ok().flatten().expect("checked above");
        let count = int(&item("replicates"))
            .and_then(|r| usize::try_from(r).ok())
            .ok_or("bootstrap replicates is not a count")?;
        let seed = item("seed");
        let seed = if seed.is_none() {
            None
        } else if seed.is_instance_of::<PyBool>() {
            return Err("bootstrap seed is not an int".into());
        } else {
            Some(
                seed.extract::<u64>()
                    .map_err(|_| "bootstrap seed is not an int in [0, 2**64)".to_string())?,
            )
        };
        Some((count, seed))
    } else {
        None
    };
    Ok(Definition {
        metric,
        scale,
        on_invalid,
        table,
        score: name("score")?,
        by,
        weight: name("weight")?,
        replicates,
    })
}

/// An int that is not a bool and fits i64.
fn int(v: &Bound<'_, PyAny>) -> Option<i64> {
    if v.is_instance_of::<PyBool>() {
        return None;
    }
    v.extract::<i64>().ok()
}

/// The facade's definition dict (options in the order of each metric's signature).
fn to_py<'py>(py: Python<'py>, d: &Definition) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let options = PyDict::new(py);
    let scale = vec![d.scale.low, d.scale.high];
    let pair = |(a, b): (i64, i64)| vec![a, b];
    match &d.metric {
        MetricOptions::Nps {
            promoters,
            detractors,
        } => {
            options.set_item("scale", scale)?;
            options.set_item("promoters", pair(*promoters))?;
            options.set_item("detractors", pair(*detractors))?;
        }
        MetricOptions::Csat {
            satisfied,
            statistic,
        } => {
            options.set_item("scale", scale)?;
            options.set_item("satisfied", pair(*satisfied))?;
            options.set_item("statistic", statistic_name(*statistic))?;
        }
        MetricOptions::Ces { variant, statistic } => {
            options.set_item("variant", variant_name(*variant))?;
            options.set_item("statistic", statistic_name(*statistic))?;
        }
        MetricOptions::TopBox { k } => {
            options.set_item("scale", scale)?;
            options.set_item("top", k)?;
        }
        MetricOptions::BottomBox { k } => {
            options.set_item("scale", scale)?;
            options.set_item("bottom", k)?;
        }
        MetricOptions::Mean => options.set_item("scale", scale)?,
    }
    out.set_item("metric", d.metric.name())?;
    out.set_item("options", options)?;
    out.set_item("on_invalid", d.on_invalid_name())?;
    out.set_item("table", d.table)?;
    out.set_item("score", d.score.as_deref())?;
    out.set_item("by", d.by.clone())?;
    out.set_item("weight", d.weight.as_deref())?;
    if let Some((replicates, seed)) = d.replicates {
        let b = PyDict::new(py);
        b.set_item("replicates", replicates)?;
        b.set_item("seed", seed)?;
        out.set_item("bootstrap", b)?;
    }
    Ok(out)
}

fn argument(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, CoreError::InvalidArgument(message), &Names::default())
}

fn corrupt(py: Python<'_>, message: String) -> PyErr {
    to_py_err(
        py,
        CoreError::CorruptState(format!("accumulator definition is invalid: {message}")),
        &Names::default(),
    )
}

type Decoded<'py> = (Option<Bound<'py, PyDict>>, Option<PyAccumulatorState>);

/// An accumulator's bytes (core format 3): its definition and tallies (None: column mode
/// before any data).
#[pyfunction]
#[pyo3(signature = (definition, aggregation=None))]
pub fn accumulator_to_bytes<'py>(
    py: Python<'py>,
    definition: &Bound<'py, PyAny>,
    aggregation: Option<&PyAccumulatorState>,
) -> PyResult<Bound<'py, PyBytes>> {
    let definition = from_py(definition).map_err(|m| argument(py, m))?;
    let state = aggregation.map(PyAccumulatorState::snapshot);
    let units = aggregation.map_or(0, PyAccumulatorState::work_units);
    let bytes = run_detached_sized(py, &Names::default(), units, || {
        encode_accumulator(&definition, state.as_ref())
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// The definition (None: bytes of a bare state, which has none) and tallies of accumulator
/// bytes of any core format.
#[pyfunction]
pub fn accumulator_from_bytes<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Decoded<'py>> {
    let owned = data.to_vec();
    // Eight bytes per count or sum (see `PyAccumulatorState::work_units`).
    let units = (owned.len() / 8) as u64;
    let (definition, state) =
        run_detached_sized(py, &Names::default(), units, || decode_accumulator(&owned))?;
    let definition = definition.map(|d| to_py(py, &d)).transpose()?;
    Ok((definition, state.map(PyAccumulatorState::from_state)))
}

/// The frame of a legacy (`\x89CXA`) accumulator, checked: its definition JSON and state bytes.
#[pyfunction]
pub fn split_legacy_accumulator<'py>(
    py: Python<'py>,
    data: &[u8],
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (definition, state) =
        split_legacy(data).map_err(|e| to_py_err(py, e, &Names::default()))?;
    Ok((PyBytes::new(py, definition), PyBytes::new(py, state)))
}

/// A legacy accumulator from its parsed definition and state bytes (empty: none), checked as
/// a format-3 one is; every fault is `CorruptStateError`.
#[pyfunction]
pub fn accumulator_from_legacy<'py>(
    py: Python<'py>,
    definition: &Bound<'py, PyAny>,
    state: &[u8],
) -> PyResult<(Bound<'py, PyDict>, Option<PyAccumulatorState>)> {
    let definition = from_py(definition).map_err(|m| corrupt(py, m))?;
    definition.check().map_err(|e| corrupt(py, e.to_string()))?;
    let owned = state.to_vec();
    let state = if owned.is_empty() {
        None
    } else {
        let units = (owned.len() / 8) as u64;
        Some(run_detached_sized(py, &Names::default(), units, || {
            decode(&owned)
        })?)
    };
    definition
        .check_state(state.as_ref())
        .map_err(|e| corrupt(py, e.to_string()))?;
    Ok((
        to_py(py, &definition)?,
        state.map(PyAccumulatorState::from_state),
    ))
}

/// Checks a definition (its options against its scale, its columns, its replicates) before an
/// accumulator is built; `ArgumentError` naming the fault.
#[pyfunction]
pub fn check_definition(py: Python<'_>, definition: &Bound<'_, PyAny>) -> PyResult<()> {
    let definition = from_py(definition).map_err(|m| argument(py, m))?;
    definition
        .check()
        .map_err(|e| to_py_err(py, e, &Names::default()))
}

/// Adds `METRIC_OPTIONS` to the module (a dict: metric -> its option names).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let options = PyDict::new(m.py());
    for (metric, names) in METRIC_OPTIONS {
        options.set_item(metric, names.to_vec())?;
    }
    m.add("METRIC_OPTIONS", options)
}

/// Refuses (IncompatibleAccumulatorError) to merge accumulators of different definitions;
/// columns and replicates count only when both hold data.
#[pyfunction]
pub fn check_mergeable(
    py: Python<'_>,
    mine: &Bound<'_, PyAny>,
    theirs: &Bound<'_, PyAny>,
    both_hold_data: bool,
) -> PyResult<()> {
    let mine = from_py(mine).map_err(|m| argument(py, m))?;
    let theirs = from_py(theirs).map_err(|m| argument(py, m))?;
    mine.check_mergeable(&theirs, both_hold_data)
        .map_err(|e| to_py_err(py, e, &Names::default()))
}
