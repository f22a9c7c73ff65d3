//! The native study and trial: thin handles over [`sweep::study::Study`] and
//! [`sweep::study::Trial`] that release the GIL around every call into the engine, so
//! Python threads (`Study.optimize(n_jobs=...)`) run their objectives while sweep proposes,
//! records or commits.

use crate::convert::{builder, params_to_py};
use crate::errors::{raise, study_error};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use sweep::study::{Outcome, StopReason, Study, Trial, Verdict};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The study a `Study` handle and its trials share; `None` once closed, so that closing
/// releases the sweep (its lock) even while trial objects are still referenced.
type Shared = Arc<RwLock<Option<Study>>>;

fn current(shared: &Shared) -> Option<Study> {
    shared
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn closed(py: Python<'_>) -> PyErr {
    raise(py, "SweepError", "the study is closed".into(), None)
}

/// A sweep driven from Python (the native half of `sweep.Study`, which adds `optimize`,
/// the trial records and the data frame). Thread-safe: trials may be asked, reported and
/// told from several threads.
#[pyclass(module = "sweep._sweep", name = "Study", frozen)]
pub struct PyStudy {
    inner: Shared,
}

impl PyStudy {
    fn study(&self, py: Python<'_>) -> PyResult<Study> {
        current(&self.inner).ok_or_else(|| closed(py))
    }
}

#[pymethods]
impl PyStudy {
    /// Creates (`mode="build"`), continues (`"open"`, the sweep `key`) or continues-or-creates
    /// (`"open_or_build"`, by name) a study from a definition dictionary.
    #[staticmethod]
    #[pyo3(signature = (definition, mode, key=None))]
    fn create(
        py: Python<'_>,
        definition: &Bound<'_, PyDict>,
        mode: &str,
        key: Option<String>,
    ) -> PyResult<PyStudy> {
        let b = match builder(definition)? {
            Ok(b) => b,
            Err(e) => return Err(study_error(py, e)),
        };
        let made = match mode {
            "build" => py.detach(move || b.build()),
            "open" => {
                let key = key.ok_or_else(|| PyValueError::new_err("mode \"open\" needs a key"))?;
                py.detach(move || b.open(&key))
            }
            "open_or_build" => py.detach(move || b.open_or_build()),
            other => return Err(PyValueError::new_err(format!("unknown mode {other:?}"))),
        };
        match made {
            Ok(s) => Ok(PyStudy {
                inner: Arc::new(RwLock::new(Some(s))),
            }),
            Err(e) => Err(study_error(py, e)),
        }
    }

    /// The next trial, or `None` once the study is done (budget reached, space exhausted,
    /// `max_duration` passed or stopped). Raises `WaitError` when the sampler needs a pending
    /// trial's result first.
    fn ask(&self, py: Python<'_>) -> PyResult<Option<PyTrial>> {
        let s = self.study(py)?;
        match py.detach(move || s.ask()) {
            Ok(Some(t)) => Ok(Some(PyTrial::new(py, self.inner.clone(), t)?)),
            Ok(None) => Ok(None),
            Err(e) => Err(study_error(py, e)),
        }
    }

    /// Finishes `trial`: `state` is `"completed"` (with `value` as its final report, or
    /// its best report without), `"pruned"` or `"failed"` (with `reason`). With `wait`
    /// (the default) it returns once the outcome is committed to the history.
    #[pyo3(signature = (trial, state, value=None, reason=None, wait=true))]
    fn tell(
        &self,
        py: Python<'_>,
        trial: &PyTrial,
        state: &str,
        value: Option<f64>,
        reason: Option<String>,
        wait: bool,
    ) -> PyResult<()> {
        let outcome = match (state, value) {
            ("completed", Some(v)) => Outcome::Value(v),
            ("completed", None) => Outcome::Completed,
            ("pruned", None) => Outcome::Pruned,
            ("failed", None) => Outcome::Failed(reason.unwrap_or_default()),
            ("pruned" | "failed", Some(_)) => {
                return Err(PyValueError::new_err(format!(
                    "a {state} trial takes no value: report it with trial.report() before telling"
                )))
            }
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "state must be \"completed\", \"pruned\" or \"failed\", got {other:?}"
                )))
            }
        };
        let study = self.study(py)?;
        let Some(t) = lock(&trial.trial).take() else {
            return Err(PyValueError::new_err(format!(
                "trial {} was told already",
                trial.number
            )));
        };
        let told = py.detach(move || {
            study.tell(t, outcome)?;
            if wait {
                study.flush()?;
            }
            Ok(())
        });
        told.map_err(|e| study_error(py, e))
    }

    /// Waits until everything recorded so far is committed to the history.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.study(py)?;
        py.detach(move || s.flush()).map_err(|e| study_error(py, e))
    }

    /// Stops asking trials: live trials are told to stop by their next report, and the
    /// sweep ends `canceled` with `reason` once they are told.
    fn stop(&self, py: Python<'_>, reason: &str) -> PyResult<()> {
        let s = self.study(py)?;
        let reason = reason.to_string();
        py.detach(move || s.stop(&reason));
        Ok(())
    }

    /// Flushes the history and lets go of the study, releasing its sweep for another
    /// process or handle. Further calls, and reports of its trials, raise `SweepError`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match taken {
            Some(s) => py.detach(move || s.flush()).map_err(|e| study_error(py, e)),
            None => Ok(()),
        }
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        current(&self.inner).is_none()
    }

    /// The best trial so far as `{number, id, value, params}`, or `None`.
    fn best<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let s = self.study(py)?;
        let Some(b) = py.detach(move || s.best()) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("number", b.number)?;
        d.set_item("id", &b.id)?;
        d.set_item("value", b.value)?;
        d.set_item("params", params_to_py(py, &b.params)?)?;
        Ok(Some(d))
    }

    /// Counts by state, how the study ended (if it did) and the best value.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.study(py)?;
        let sum = py.detach(move || s.summary());
        let d = PyDict::new(py);
        d.set_item("sweep_id", &sum.sweep_id)?;
        d.set_item("state", sum.state.map(|s| s.as_str()))?;
        d.set_item("reason", sum.reason.as_deref())?;
        d.set_item("trials", sum.trials)?;
        d.set_item("completed", sum.completed)?;
        d.set_item("failed", sum.failed)?;
        d.set_item("canceled", sum.canceled)?;
        d.set_item("running", sum.running)?;
        d.set_item("best_value", sum.best.as_ref().map(|b| b.value))?;
        Ok(d)
    }

    /// The sweep id (what `sweep status` lists).
    #[getter]
    fn id(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.study(py)?.id().to_string())
    }

    /// The sweep's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.study(py)?.name().to_string())
    }

    /// The workspace directory.
    #[getter]
    fn workspace(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.study(py)?.workspace().display().to_string())
    }

    /// The sampling seed in use (recorded with the sweep).
    #[getter]
    fn seed(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.study(py)?.seed())
    }

    /// The definition as recorded: metric, goal, sampling, policy, limits and the space.
    fn definition<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let study = self.study(py)?;
        let spec = study.spec();
        let d = PyDict::new(py);
        d.set_item("metric", &spec.primary_metric)?;
        d.set_item("goal", spec.goal.as_str())?;
        d.set_item("sampling", spec.sampling.name())?;
        d.set_item("policy", spec.policy.name())?;
        d.set_item("max_total_runs", spec.limits.max_total_runs)?;
        d.set_item("max_concurrent_runs", spec.limits.max_concurrent_runs)?;
        d.set_item("max_duration_minutes", spec.limits.max_duration_minutes)?;
        d.set_item(
            "max_run_duration_seconds",
            spec.limits.max_run_duration_seconds,
        )?;
        let params = PyList::empty(py);
        for p in spec.space.params() {
            params.append((&p.name, p.domain.describe()))?;
        }
        d.set_item("space", params)?;
        Ok(d)
    }
}

/// Why a trial should stop: the early-termination policy's decision with the numbers
/// behind it, or the sweep limit that was reached.
#[pyclass(module = "sweep._sweep", name = "StopReason", frozen, get_all)]
pub struct PyStopReason {
    /// `"policy"` or `"limit"`.
    kind: String,
    /// The policy's name (`bandit`, `median_stopping`, `truncation_selection`), if a policy
    /// decided.
    policy: Option<String>,
    /// The interval (report count) at which the policy evaluated the trial.
    interval: Option<u32>,
    /// The trial's best value over intervals 1..interval.
    value: Option<f64>,
    /// The value it had to beat (Bandit's best less the slack, the median, the cut-off).
    threshold: Option<f64>,
    /// How many other trials it was compared with.
    pool: Option<u32>,
    /// The reason recorded with the canceled trial (`policy:bandit`, `sweep limit: ...`).
    reason: String,
    /// The full sentence, with the numbers.
    message: String,
}

impl PyStopReason {
    fn new(r: &StopReason) -> PyStopReason {
        let (kind, d) = match r {
            StopReason::Policy(d) => ("policy", Some(d)),
            _ => ("limit", None),
        };
        PyStopReason {
            kind: kind.into(),
            policy: d.map(|d| d.policy.to_string()),
            interval: d.map(|d| d.interval),
            value: d.map(|d| d.value),
            threshold: d.map(|d| d.threshold),
            pool: d.map(|d| d.pool),
            reason: r.reason(),
            message: r.to_string(),
        }
    }
}

#[pymethods]
impl PyStopReason {
    fn __str__(&self) -> String {
        self.message.clone()
    }

    fn __repr__(&self) -> String {
        format!("StopReason({:?})", self.message)
    }
}

/// One candidate of a study, recorded as a run of its sweep: its parameters, and
/// `report()` for intermediate values, each answered by the early-termination policy.
#[pyclass(module = "sweep._sweep", name = "Trial", frozen)]
pub struct PyTrial {
    study: Shared,
    /// `None` once told.
    trial: Mutex<Option<Trial>>,
    number: u64,
    id: String,
    params: Py<PyDict>,
    argv: Vec<String>,
    run_dir: String,
    stop: Mutex<Option<Py<PyStopReason>>>,
}

impl PyTrial {
    fn new(py: Python<'_>, study: Shared, t: Trial) -> PyResult<PyTrial> {
        Ok(PyTrial {
            number: t.number(),
            id: t.id().to_string(),
            params: params_to_py(py, t.values())?.unbind(),
            argv: t.argv().to_vec(),
            run_dir: t.run_dir().display().to_string(),
            study,
            trial: Mutex::new(Some(t)),
            stop: Mutex::new(None),
        })
    }

    fn told(&self) -> PyErr {
        PyValueError::new_err(format!(
            "trial {} was told already; report before telling",
            self.number
        ))
    }
}

#[pymethods]
impl PyTrial {
    /// The 0-based proposal order within the sweep.
    #[getter]
    fn number(&self) -> u64 {
        self.number
    }

    /// The run id, as `sweep runs` shows it.
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// The parameters, a new `dict` in search-space order (active parameters only).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.params.bind(py).copy()
    }

    /// The argument vector a program would be launched with for this trial.
    #[getter]
    fn argv(&self) -> Vec<String> {
        self.argv.clone()
    }

    /// The run's directory in the workspace (not created by sweep).
    #[getter]
    fn run_dir(&self) -> &str {
        &self.run_dir
    }

    /// Whether the trial was told.
    #[getter]
    fn is_told(&self) -> bool {
        lock(&self.trial).is_none()
    }

    /// Records an intermediate value of the primary metric (one interval) and returns
    /// whether the trial should stop: the policy's verdict against the other trials at the
    /// same interval, or a sweep limit. `step` is recorded beside it (an epoch number).
    #[pyo3(signature = (value, step=None))]
    fn report(&self, py: Python<'_>, value: f64, step: Option<u64>) -> PyResult<bool> {
        let study = current(&self.study).ok_or_else(|| closed(py))?;
        let verdict = py.detach(|| {
            lock(&self.trial)
                .as_ref()
                .map(|t| study.report_with_step(t, value, step))
        });
        match verdict {
            None => Err(self.told()),
            Some(Verdict::Continue) => Ok(false),
            Some(Verdict::Stop(r)) => {
                let mut slot = lock(&self.stop);
                if slot.is_none() {
                    *slot = Some(Py::new(py, PyStopReason::new(&r))?);
                }
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    /// Records a value of another metric (not judged by the policy); a value under the
    /// primary metric's name is a `report`.
    #[pyo3(signature = (name, value, step=None))]
    fn log(&self, py: Python<'_>, name: &str, value: f64, step: Option<u64>) -> PyResult<()> {
        let study = current(&self.study).ok_or_else(|| closed(py))?;
        let logged = py.detach(|| {
            lock(&self.trial)
                .as_ref()
                .map(|t| study.log_metric_with_step(t, name, value, step))
        });
        match logged {
            None => Err(self.told()),
            Some(r) => r.map_err(|e| study_error(py, e)),
        }
    }

    /// Whether a report was answered "stop" (every report after that one says so too).
    fn should_stop(&self) -> bool {
        lock(&self.stop).is_some()
    }

    /// Why the trial should stop, with the policy's numbers; `None` while it should go on.
    #[getter]
    fn stop_reason(&self, py: Python<'_>) -> Option<Py<PyStopReason>> {
        lock(&self.stop).as_ref().map(|r| r.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Trial(number={}, id={:?}, params={})",
            self.number,
            self.id,
            self.params.bind(py).repr()?
        ))
    }
}
