//! `sweep._sweep`: the compiled half of the `sweep` Python package (`python/sweep/`).
//!
//! It exposes sweep's library over PyO3: a study with ask/report/tell on the same
//! samplers, policies and history as the `sweep` command (module `study`), the workspace's
//! history for reading any sweep (`history`), and the bare samplers the Optuna adapter
//! drives (`sampler`); `convert` turns Python values and definitions into sweep's types,
//! and `errors` raises sweep's errors as the exceptions of `sweep.errors`. The Python
//! package wraps these in a typed, documented API; the reporting client for scripts that
//! `sweep run` launches is plain Python and needs none of this.
#![warn(missing_docs)]

mod convert;
mod errors;
mod history;
mod sampler;
mod study;

use pyo3::prelude::*;

/// The compiled half of the `sweep` package.
#[pymodule]
fn _sweep(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<study::PyStudy>()?;
    m.add_class::<study::PyTrial>()?;
    m.add_class::<study::PyStopReason>()?;
    m.add_class::<sampler::PySampler>()?;
    m.add_function(wrap_pyfunction!(history::list_sweeps, m)?)?;
    m.add_function(wrap_pyfunction!(history::read_sweep, m)?)?;
    Ok(())
}
