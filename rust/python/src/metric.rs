//! The metric definition handed from Python to the core.

use cxmetrics_core::metric::{box_range as core_box_range, MetricSpec};
use cxmetrics_core::scale::Scale;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::errors::{to_py_err, Names};

/// A metric definition: a net score, a share, or a mean on an integer scale.
#[pyclass(frozen, module = "cxmetrics._native")]
pub struct Metric {
    pub spec: MetricSpec,
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

/// The inclusive score range of the `k` highest (`top`) or lowest points of `low..high` (the
/// bucket of a top- or bottom-box share); `ArgumentError` unless `k` is an int in 1..points.
#[pyfunction]
pub fn box_range(
    py: Python<'_>,
    low: i64,
    high: i64,
    k: &Bound<'_, PyAny>,
    top: bool,
) -> PyResult<(i64, i64)> {
    // Anything but an int that fits (a bool, a float, a huge int) is out of range: 0.
    let k = if k.is_instance_of::<PyBool>() || !k.is_instance_of::<PyInt>() {
        0
    } else {
        k.extract::<i64>().unwrap_or(0)
    };
    Scale::new(low, high)
        .and_then(|s| core_box_range(s, k, top))
        .map_err(|e| to_py_err(py, e, &Names::default()))
}
