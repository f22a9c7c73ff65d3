//! Conversions between Python objects and sweep's types: parameter values, a study's
//! definition (the dictionary `sweep.study` builds) into a [`StudyBuilder`], and search
//! spaces for the bare samplers.
//!
//! The Python layer checks types and arities and says what is wrong in Python terms; this
//! side still rejects anything malformed with a `ValueError` or `TypeError` rather than
//! trusting it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};
use std::path::PathBuf;
use std::time::Duration;
use sweep::space::{Params, SearchSpace, Value};
use sweep::spec::Policy;
use sweep::study::{Study, StudyBuilder};

/// A Python value as a parameter value: `bool`, `int`, `float` or `str` (checked in that
/// order, since `bool` is an `int` in Python).
pub fn value_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_instance_of::<PyBool>() {
        Ok(Value::Bool(obj.extract()?))
    } else if obj.is_instance_of::<PyInt>() {
        Ok(Value::Int(obj.extract()?))
    } else if obj.is_instance_of::<PyFloat>() {
        Ok(Value::Float(obj.extract()?))
    } else if obj.is_instance_of::<PyString>() {
        Ok(Value::Str(obj.extract()?))
    } else {
        Err(PyTypeError::new_err(format!(
            "a parameter value must be an int, float, str or bool, not {}",
            obj.get_type().name()?
        )))
    }
}

/// A parameter value as the Python object of its type.
pub fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Float(f) => f.into_pyobject(py)?.into_any(),
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
    })
}

/// Parameters as a `dict` in parameter-space order.
pub fn params_to_py<'py>(py: Python<'py>, p: &Params) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, v) in p.iter() {
        d.set_item(name, value_to_py(py, v)?)?;
    }
    Ok(d)
}

/// A `dict` of parameters as [`Params`] in the order of `space`; names the space does not
/// activate are ignored, and a value missing for an active name is an error.
pub fn params_from_py(space: &SearchSpace, d: &Bound<'_, PyDict>) -> PyResult<Params> {
    let mut out = Vec::with_capacity(space.dim());
    for p in space.params() {
        if let Some(v) = d.get_item(&p.name)? {
            // A name reused under several options of a conditional choice is kept once.
            if !out.iter().any(|(n, _): &(String, Value)| *n == p.name) {
                out.push((p.name.clone(), value_from_py(&v)?));
            }
        }
    }
    let params = Params(out);
    if space.contains(&params) {
        Ok(params)
    } else {
        Err(PyValueError::new_err(format!(
            "parameters {} do not lie in the search space",
            params.to_json()
        )))
    }
}

fn get<'py, T: FromPyObjectOwned<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => Ok(Some(v.extract::<T>().map_err(Into::into)?)),
        _ => Ok(None),
    }
}

/// One parameter of a definition's `space` list, `(name, expression, args, parent,
/// option)`, added to the builder (with its condition when `parent` is set).
fn add_param(b: StudyBuilder, item: &Bound<'_, PyAny>) -> PyResult<StudyBuilder> {
    let (name, expr, args, parent, option): (
        String,
        String,
        Bound<'_, PyList>,
        Option<String>,
        Option<usize>,
    ) = item.extract()?;
    let want = match expr.as_str() {
        "choice" => args.len().max(1),
        "randint" => 1,
        "uniform" | "loguniform" | "normal" | "lognormal" => 2,
        "quniform" | "qloguniform" | "qnormal" | "qlognormal" => 3,
        other => {
            return Err(PyValueError::new_err(format!(
                "parameter `{name}`: unknown expression `{other}`"
            )))
        }
    };
    if args.len() != want {
        return Err(PyValueError::new_err(format!(
            "parameter `{name}`: `{expr}` takes {want} values, got {}",
            args.len()
        )));
    }
    let f = |i: usize| -> PyResult<f64> { args.get_item(i)?.extract() };
    let n = name.as_str();
    let b = match expr.as_str() {
        "choice" => {
            let options = args
                .iter()
                .map(|o| value_from_py(&o))
                .collect::<PyResult<Vec<Value>>>()?;
            b.choice(n, options)
        }
        "randint" => b.randint(n, args.get_item(0)?.extract()?),
        "uniform" => b.uniform(n, f(0)?, f(1)?),
        "quniform" => b.quniform(n, f(0)?, f(1)?, f(2)?),
        "loguniform" => b.loguniform(n, f(0)?, f(1)?),
        "qloguniform" => b.qloguniform(n, f(0)?, f(1)?, f(2)?),
        "normal" => b.normal(n, f(0)?, f(1)?),
        "qnormal" => b.qnormal(n, f(0)?, f(1)?, f(2)?),
        "lognormal" => b.lognormal(n, f(0)?, f(1)?),
        _ => b.qlognormal(n, f(0)?, f(1)?, f(2)?),
    };
    Ok(match (parent, option) {
        (Some(parent), Some(option)) => b.condition(&parent, option),
        _ => b,
    })
}

/// A policy from its dictionary: `type` (`bandit`, `median_stopping`,
/// `truncation_selection`, `none`) and its settings.
fn policy(d: &Bound<'_, PyDict>) -> PyResult<Policy> {
    let kind: String = get(d, "type")?.unwrap_or_else(|| "none".into());
    let p = match kind.as_str() {
        "bandit" => match (
            get::<f64>(d, "slack_factor")?,
            get::<f64>(d, "slack_amount")?,
        ) {
            (Some(f), None) => Policy::bandit_slack_factor(f),
            (None, Some(a)) => Policy::bandit_slack_amount(a),
            _ => {
                return Err(PyValueError::new_err(
                    "BanditPolicy takes exactly one of slack_factor and slack_amount",
                ))
            }
        },
        "median_stopping" => Policy::median_stopping(),
        "truncation_selection" => {
            Policy::truncation_selection(get(d, "truncation_percentage")?.ok_or_else(|| {
                PyValueError::new_err("TruncationSelectionPolicy needs truncation_percentage")
            })?)
        }
        "none" => Policy::none(),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown policy type `{other}`"
            )))
        }
    };
    let mut p = p;
    if let Some(n) = get(d, "evaluation_interval")? {
        p = p.with_evaluation_interval(n);
    }
    if let Some(n) = get(d, "delay_evaluation")? {
        p = p.with_delay_evaluation(n);
    }
    Ok(p)
}

fn seconds(key: &str, s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        PyValueError::new_err(format!(
            "{key} must be a positive number of seconds, got {s}"
        ))
    })
}

/// The builder a definition describes. Errors in the definition itself (a bad bound, no
/// goal) are left to the builder, which reports them all at once when the study is built.
pub fn builder(d: &Bound<'_, PyDict>) -> PyResult<Result<StudyBuilder, sweep::study::StudyError>> {
    let mut b = match get::<PathBuf>(d, "config")? {
        Some(path) => {
            let rc: Option<PathBuf> = get(d, "runconfig")?;
            match StudyBuilder::from_config(&path, rc.as_deref()) {
                Ok(b) => b,
                Err(e) => return Ok(Err(e)),
            }
        }
        None => Study::builder(),
    };
    if let Some(n) = get::<String>(d, "name")? {
        b = b.name(n);
    }
    if let Some(w) = get::<PathBuf>(d, "workspace")? {
        b = b.workspace(w);
    }
    if let Some(e) = get::<String>(d, "experiment")? {
        b = b.experiment(e);
    }
    if let Some(metric) = get::<String>(d, "metric")? {
        let goal: String = get(d, "goal")?.unwrap_or_else(|| "minimize".into());
        b = match goal.as_str() {
            "maximize" => b.maximize(metric),
            "minimize" => b.minimize(metric),
            other => {
                return Err(PyValueError::new_err(format!(
                    "goal must be \"maximize\" or \"minimize\", got {other:?}"
                )))
            }
        };
    }
    if let Some(space) = get::<Bound<'_, PyList>>(d, "space")? {
        for item in space.iter() {
            b = add_param(b, &item)?;
        }
    }
    if let Some(s) = get::<String>(d, "sampling")? {
        b = match s.as_str() {
            "random" => b.random(),
            "sobol" => b.sobol(),
            "grid" => b.grid(),
            "bayesian" => b.bayesian(),
            other => {
                return Err(PyValueError::new_err(format!(
                "sampling must be \"random\", \"sobol\", \"grid\" or \"bayesian\", got {other:?}"
            )))
            }
        };
    }
    if let Some(seed) = get::<u64>(d, "seed")? {
        b = b.seed(seed);
    }
    if let Some(p) = get::<Bound<'_, PyDict>>(d, "policy")? {
        b = b.policy(policy(&p)?);
    }
    if let Some(n) = get::<u64>(d, "max_total_runs")? {
        b = b.max_total_runs(n);
    }
    if let Some(n) = get::<u64>(d, "max_concurrent_runs")? {
        b = b.max_concurrent_runs(n);
    }
    if let Some(s) = get::<f64>(d, "max_duration")? {
        b = b.max_duration(seconds("max_duration", s)?);
    }
    if let Some(s) = get::<f64>(d, "max_run_duration")? {
        b = b.max_run_duration(seconds("max_run_duration", s)?);
    }
    if let Some(argv) = get::<Vec<String>>(d, "program")? {
        b = b.program(argv);
    }
    Ok(Ok(b))
}

/// The search space of a `space` list alone (for the bare samplers), validated as a
/// study's would be.
pub fn space(list: &Bound<'_, PyList>) -> PyResult<Result<SearchSpace, sweep::study::StudyError>> {
    let mut b = Study::builder().minimize("value").max_total_runs(1);
    for item in list.iter() {
        b = add_param(b, &item)?;
    }
    Ok(b.spec().map(|s| s.space))
}
