//! Reading the workspace's history (`sweep.db`) with the store's readers, the same ones
//! `sweep status`, `sweep runs` and `sweep best` use: any sweep, started by the CLI or by a
//! program, as plain dictionaries that `sweep.history` turns into records.

use crate::errors::store_error;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::collections::HashMap;
use std::path::PathBuf;
use sweep::store::{Reader, SweepRecord};

fn sweep_dict<'py>(py: Python<'py>, s: &SweepRecord) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", &s.id)?;
    d.set_item("name", &s.name)?;
    d.set_item("experiment", s.experiment.as_deref())?;
    d.set_item("created", s.created)?;
    d.set_item("ended", s.ended)?;
    d.set_item("state", s.state.as_str())?;
    d.set_item("reason", s.reason.as_deref())?;
    d.set_item("metric", &s.primary_metric)?;
    d.set_item("goal", &s.goal)?;
    d.set_item("seed", s.seed)?;
    d.set_item("sampling", s.sampling.as_deref())?;
    d.set_item("policy", s.policy.as_deref())?;
    d.set_item("max_total_runs", s.max_total_runs)?;
    d.set_item("max_concurrent_runs", s.max_concurrent_runs)?;
    d.set_item("target", s.target.as_deref())?;
    Ok(d)
}

fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        serde_json::Value::Null => py.None().into_bound(py),
        serde_json::Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        serde_json::Value::String(s) => s.into_pyobject(py)?.into_any(),
        serde_json::Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        serde_json::Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// The sweeps of a workspace, newest first (as `sweep status` lists them), as dictionaries.
#[pyfunction]
pub fn list_sweeps<'py>(py: Python<'py>, workspace: PathBuf) -> PyResult<Bound<'py, PyList>> {
    let sweeps = py
        .detach(move || Reader::open(&workspace).and_then(|r| r.sweeps()))
        .map_err(|e| store_error(py, &e))?;
    let out = PyList::empty(py);
    for s in &sweeps {
        out.append(sweep_dict(py, s)?)?;
    }
    Ok(out)
}

/// Sweep `key` (an id, a name or `latest`) with its runs: each run's state, reason, best
/// value, parameters, command line, times, and its reports of every metric as
/// `(interval, step, value)` lists by name.
#[pyfunction]
pub fn read_sweep<'py>(
    py: Python<'py>,
    workspace: PathBuf,
    key: String,
) -> PyResult<Bound<'py, PyDict>> {
    let (sweep, runs, metrics) = py
        .detach(move || {
            let r = Reader::open(&workspace)?;
            let s = r.resolve(&key)?;
            let runs = r.runs(&s)?;
            let metrics = r.metrics(&s)?;
            Ok::<_, sweep::store::StoreError>((s, runs, metrics))
        })
        .map_err(|e| store_error(py, &e))?;
    let mut by_run: HashMap<&str, Vec<&sweep::store::MetricRecord>> = HashMap::new();
    for m in &metrics {
        by_run.entry(m.run_id.as_str()).or_default().push(m);
    }
    let d = sweep_dict(py, &sweep)?;
    let trials = PyList::empty(py);
    for r in &runs {
        let t = PyDict::new(py);
        t.set_item("number", r.seq)?;
        t.set_item("id", &r.id)?;
        t.set_item("state", r.state.as_str())?;
        t.set_item("reason", r.reason.as_ref().map(ToString::to_string))?;
        t.set_item("value", r.best)?;
        let params = PyDict::new(py);
        for (n, v) in &r.params {
            params.set_item(n, json_to_py(py, v)?)?;
        }
        t.set_item("params", params)?;
        t.set_item("argv", &r.argv)?;
        t.set_item("queued", r.queued)?;
        t.set_item("started", r.started)?;
        t.set_item("ended", r.ended)?;
        t.set_item("exit_code", r.exit_code)?;
        t.set_item("run_dir", &r.run_dir)?;
        t.set_item(
            "detail",
            match &r.detail {
                Some(v) => json_to_py(py, v)?,
                None => py.None().into_bound(py),
            },
        )?;
        let reports = PyDict::new(py);
        for m in by_run.get(r.id.as_str()).into_iter().flatten() {
            let entry = match reports.get_item(&m.name)? {
                Some(l) => l.cast_into::<PyList>()?,
                None => {
                    let l = PyList::empty(py);
                    reports.set_item(&m.name, &l)?;
                    l
                }
            };
            entry.append((m.interval, m.step, m.value))?;
        }
        t.set_item("metrics", reports)?;
        trials.append(t)?;
    }
    d.set_item("trials", trials)?;
    Ok(d)
}
