//! sweep's samplers on their own, without a study or a history: what the Optuna adapter
//! (`sweep.optuna.Sampler`) drives. The caller keeps the history and hands it over at each
//! proposal, as the engine does.

use crate::convert::{params_from_py, params_to_py, space};
use crate::errors::study_error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::sync::{Mutex, PoisonError};
use sweep::sampler::{Observation, Proposal, Sampler};
use sweep::space::{Params, SearchSpace};
use sweep::spec::{Goal, RandomRule, Sampling};

/// A sampler over a fixed search space: `propose(finished, pending, n)` returns up to `n`
/// new candidates given every finished trial (parameters and value, `None` for a failure)
/// and the candidates still pending. Proposals release the GIL.
#[pyclass(module = "sweep._sweep", name = "Sampler", frozen)]
pub struct PySampler {
    space: SearchSpace,
    inner: Mutex<Box<dyn Sampler>>,
}

#[pymethods]
impl PySampler {
    /// A sampler (`"bayesian"`, `"random"`, `"sobol"` or `"grid"`) over the parameters of
    /// `space` (the list `sweep.space.flatten` makes), for `goal` (`"minimize"` or
    /// `"maximize"`) and `seed`.
    #[new]
    fn new(
        py: Python<'_>,
        space_list: &Bound<'_, PyList>,
        sampling: &str,
        goal: &str,
        seed: u64,
    ) -> PyResult<PySampler> {
        let space = space(space_list)?.map_err(|e| study_error(py, e))?;
        let sampling = match sampling {
            "bayesian" => Sampling::Bayesian,
            "random" => Sampling::Random {
                rule: RandomRule::Plain,
            },
            "sobol" => Sampling::Random {
                rule: RandomRule::Sobol,
            },
            "grid" => Sampling::Grid,
            other => return Err(PyValueError::new_err(format!("unknown sampling {other:?}"))),
        };
        let goal = match goal {
            "minimize" => Goal::Minimize,
            "maximize" => Goal::Maximize,
            other => return Err(PyValueError::new_err(format!("unknown goal {other:?}"))),
        };
        let inner = sweep::sampler::build(&sampling, &space, goal, seed);
        Ok(PySampler {
            space,
            inner: Mutex::new(inner),
        })
    }

    /// Up to `n` new candidates as dictionaries; an empty list when the sampler has nothing
    /// now (it waits for pending results, or the space is exhausted). `finished` is a list
    /// of `(params, value)` pairs, `pending` a list of params.
    #[pyo3(signature = (finished, pending, n=1))]
    fn propose<'py>(
        &self,
        py: Python<'py>,
        finished: &Bound<'py, PyList>,
        pending: &Bound<'py, PyList>,
        n: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut obs = Vec::with_capacity(finished.len());
        for item in finished.iter() {
            let (p, value): (Bound<'py, PyDict>, Option<f64>) = item.extract()?;
            obs.push(Observation {
                params: params_from_py(&self.space, &p)?,
                value,
            });
        }
        let mut pend: Vec<Params> = Vec::with_capacity(pending.len());
        for item in pending.iter() {
            pend.push(params_from_py(&self.space, item.cast::<PyDict>()?)?);
        }
        let proposal = py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .propose(&obs, &pend, n)
        });
        let out = PyList::empty(py);
        if let Proposal::Candidates(c) = proposal {
            for p in &c {
                out.append(params_to_py(py, p)?)?;
            }
        }
        Ok(out)
    }

    /// How many candidates this sampler has proposed so far.
    #[getter]
    fn proposed(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .proposed()
    }
}
