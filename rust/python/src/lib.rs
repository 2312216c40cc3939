//! PyO3 glue for cxmetrics: imports Arrow data through the PyCapsule interface, releases the GIL
//! around every pass over data, maps core errors to the typed Python exceptions of
//! `cxmetrics.errors`, and converts panics into errors. No arithmetic lives here.

use pyo3::prelude::*;

/// mimalloc for the extension's own (Rust) allocations: the per-call tables and result
/// columns of many segments are tens of MB, which glibc's malloc maps and unmaps on every
/// call (page faults cost a third of a 100,000-segment call), where mimalloc reuses its pages.
/// Python's and other libraries' allocations are not affected.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accumulator_state;
mod definition;
mod drivers;
mod errors;
mod functions;
mod groups;
mod metric;
mod options;
mod significance;
mod test_slowdown;
mod threads;

use accumulator_state::PyAccumulatorState;
use metric::Metric;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Metric>()?;
    m.add_class::<PyAccumulatorState>()?;
    m.add_class::<drivers::DriverStats>()?;
    m.add_function(wrap_pyfunction!(significance::compare, m)?)?;
    m.add_function(wrap_pyfunction!(significance::estimate_complements, m)?)?;
    m.add_function(wrap_pyfunction!(significance::key_stream, m)?)?;
    m.add_function(wrap_pyfunction!(functions::composite_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(functions::margin_of_error, m)?)?;
    m.add_function(wrap_pyfunction!(groups::estimate_groups, m)?)?;
    m.add_function(wrap_pyfunction!(functions::sample_size, m)?)?;
    m.add_function(wrap_pyfunction!(functions::nps_variance, m)?)?;
    m.add_function(wrap_pyfunction!(functions::share_variance, m)?)?;
    m.add_function(wrap_pyfunction!(functions::detectable_difference, m)?)?;
    m.add_function(wrap_pyfunction!(functions::sample_size_two_groups, m)?)?;
    m.add_function(wrap_pyfunction!(metric::box_range, m)?)?;
    m.add_function(wrap_pyfunction!(definition::check_definition, m)?)?;
    m.add_function(wrap_pyfunction!(definition::accumulator_to_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(definition::accumulator_from_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(definition::split_legacy_accumulator, m)?)?;
    m.add_function(wrap_pyfunction!(definition::accumulator_from_legacy, m)?)?;
    m.add_function(wrap_pyfunction!(definition::check_mergeable, m)?)?;
    options::register(m)?;
    definition::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
