//! sweep's Rust errors as Python exceptions. The classes live in `sweep.errors` (plain
//! Python, so they carry structured fields, pickle, and have stubs); this module picks the
//! class for each error and raises it with the same text the command line prints.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use sweep::config::diag::Severity;
use sweep::config::Problems;
use sweep::store::StoreError;
use sweep::study::StudyError;

/// An instance of `sweep.errors.<class>` built with `message` and keyword arguments, as a
/// `PyErr`; if the class cannot be loaded, a `RuntimeError` with the same message.
pub fn raise(
    py: Python<'_>,
    class: &str,
    message: String,
    kwargs: Option<Bound<'_, PyDict>>,
) -> PyErr {
    let built = py
        .import("sweep.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call((message.clone(),), kwargs.as_ref()));
    match built {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => {
            PyRuntimeError::new_err(format!("{message} (and sweep.errors.{class} failed: {e})"))
        }
    }
}

/// `sweep.errors.ConfigError` carrying every diagnostic with its file, line, column, message,
/// hint, severity and rendered text; its message is the full rendering `sweep validate`
/// prints.
pub fn config_error(py: Python<'_>, p: &Problems) -> PyErr {
    let build = || -> PyResult<Bound<'_, PyDict>> {
        let list = PyList::empty(py);
        for d in &p.diagnostics {
            let item = PyDict::new(py);
            item.set_item("file", &d.source.name)?;
            item.set_item("line", d.span.map(|s| s.line))?;
            item.set_item("column", d.span.map(|s| s.col))?;
            item.set_item("message", &d.message)?;
            item.set_item("hint", d.hint.as_deref())?;
            item.set_item(
                "severity",
                match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Note => "note",
                },
            )?;
            item.set_item("rendered", d.render())?;
            list.append(item)?;
        }
        let kw = PyDict::new(py);
        kw.set_item("problems", list)?;
        Ok(kw)
    };
    match build() {
        Ok(kw) => raise(py, "ConfigError", p.rendered.clone(), Some(kw)),
        Err(e) => e,
    }
}

/// The history's errors: an unknown sweep is `SweepNotFoundError`, anything else
/// `StoreError`.
pub fn store_error(py: Python<'_>, e: &StoreError) -> PyErr {
    match e {
        StoreError::NotFound(_) => raise(py, "SweepNotFoundError", e.to_string(), None),
        _ => raise(py, "StoreError", e.to_string(), None),
    }
}

/// A library error as the matching `sweep.errors` class.
pub fn study_error(py: Python<'_>, e: StudyError) -> PyErr {
    let text = e.to_string();
    match e {
        StudyError::Config(p) => config_error(py, &p),
        StudyError::Invalid(_) | StudyError::Policy(_) => {
            raise(py, "InvalidStudyError", text, None)
        }
        StudyError::Store(s) => store_error(py, &s),
        StudyError::Mismatch { sweep, .. } => raise(
            py,
            "MismatchError",
            text,
            kwargs(py, &[("sweep_id", sweep)]),
        ),
        StudyError::Busy { sweep, pid } => raise(
            py,
            "BusyError",
            text,
            kwargs(py, &[("sweep_id", sweep), ("pid", pid)]),
        ),
        StudyError::Wait => raise(py, "WaitError", text, None),
        StudyError::Param(_) => raise(py, "ParamError", text, None),
        _ => raise(py, "SweepError", text, None),
    }
}

fn kwargs<'py>(py: Python<'py>, items: &[(&str, String)]) -> Option<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in items {
        d.set_item(*k, v).ok()?;
    }
    Some(d)
}
