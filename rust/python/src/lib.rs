//! PyO3 glue for cxmetrics: imports Arrow data through the PyCapsule interface, releases the GIL
//! around every pass over data, maps core errors to the typed Python exceptions of
//! `cxmetrics.errors`, and converts panics into errors. No arithmetic lives here.

use pyo3::prelude::*;

mod aggregation;
mod drivers;
mod errors;
mod functions;
mod metric;

use aggregation::Aggregation;
use metric::Metric;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Metric>()?;
    m.add_class::<Aggregation>()?;
    m.add_class::<drivers::DriverStats>()?;
    m.add_function(wrap_pyfunction!(functions::compare, m)?)?;
    m.add_function(wrap_pyfunction!(functions::composite_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(functions::margin_of_error, m)?)?;
    m.add_function(wrap_pyfunction!(functions::sample_size, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
