//! The metric definition handed from Python to the core.

use cxmetrics_core::metric::MetricSpec;
use cxmetrics_core::scale::Scale;
use pyo3::prelude::*;

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
