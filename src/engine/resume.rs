//! What a sweep saves so that another `sweep` process can continue it (`sweep resume`,
//! `sweep cancel` of a sweep whose controller died), and the history it continues from.
//!
//! The spec is saved as JSON with the sweep, with the values of the run configuration's
//! environment variables left out: they may be secrets, which never reach the database. Nor
//! is a managed environment's dependency list (pip options can carry index credentials),
//! only where the environment is. A resumed sweep reads both again from the config files it
//! was started from.

use crate::space::{Params, Value};
use crate::spec::SweepSpec;
use crate::store::{MetricRecord, Reader, RunRecord, StoreError, SweepRecord};
use std::path::{Path, PathBuf};

/// Version of [`SavedSweep`]'s JSON layout.
const SAVED_VERSION: u32 = 1;

/// Everything needed to rebuild a sweep's engine, saved with the sweep.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedSweep {
    /// Layout version.
    pub version: u32,
    /// The validated spec; environment variable values are blank.
    pub spec: SweepSpec,
    /// The config files the spec was read from (the sweep config, then the runconfig).
    pub config_files: Vec<PathBuf>,
    /// How many times a lost run is relaunched.
    pub max_retries: u32,
    /// Earlier runs this sweep runs again first (`resume_child_runs`).
    #[serde(default)]
    pub child_runs: Vec<ChildRun>,
}

/// An earlier run to run again from its checkpoint: its parameters, with
/// `--resume-from <its outputs directory>` appended to its arguments.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChildRun {
    /// The earlier run's id.
    pub run_id: String,
    /// Its parameters.
    pub params: Vec<(String, serde_json::Value)>,
    /// Its outputs directory (absolute).
    pub outputs: PathBuf,
}

impl ChildRun {
    /// The parameters as the sampler would have proposed them.
    pub fn params(&self) -> Params {
        params_from_json(&self.params)
    }
}

/// Finds the runs `ids` (run ids, in any sweep of `workspace`) to run again.
pub fn child_runs(workspace: &Path, ids: &[String]) -> Result<Vec<ChildRun>, ResumeError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let r = Reader::open(workspace)?;
    let mut out = Vec::new();
    for id in ids {
        let sweep_id = id.rsplit_once('_').map(|(s, _)| s).unwrap_or(id);
        let found = r
            .resolve(sweep_id)
            .ok()
            .and_then(|sw| r.runs(&sw).ok())
            .and_then(|runs| runs.into_iter().find(|run| &run.id == id));
        let Some(run) = found else {
            return Err(ResumeError::Cannot(format!(
                "resume_child_runs: no run {id:?} in this workspace (see `sweep runs SWEEP` for run ids)"
            )));
        };
        let dir = PathBuf::from(&run.run_dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().map(|c| c.join(&dir)).unwrap_or(dir)
        };
        out.push(ChildRun {
            run_id: run.id.clone(),
            params: run.params.clone(),
            outputs: dir.join(crate::target::rundir::OUTPUTS_DIR),
        });
    }
    Ok(out)
}

impl SavedSweep {
    /// The saved form of `spec` (environment values blanked).
    pub fn new(
        spec: &SweepSpec,
        config_files: Vec<PathBuf>,
        max_retries: u32,
        child_runs: Vec<ChildRun>,
    ) -> SavedSweep {
        let mut spec = spec.clone();
        for v in spec.run.environment.values_mut() {
            v.clear();
        }
        SavedSweep {
            version: SAVED_VERSION,
            spec,
            config_files,
            max_retries,
            child_runs,
        }
    }

    /// JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses what [`SavedSweep::to_json`] wrote.
    pub fn from_json(s: &str) -> Result<SavedSweep, String> {
        let v: SavedSweep = serde_json::from_str(s)
            .map_err(|e| format!("the saved sweep definition cannot be read: {e}"))?;
        if v.version > SAVED_VERSION {
            return Err(format!(
                "the sweep was saved by a newer sweep (layout {}); upgrade sweep",
                v.version
            ));
        }
        Ok(v)
    }

    /// Reads again from the config files what is not saved: the environment variables'
    /// values and, for a sweep that ran in a managed environment, its dependency list
    /// (returned; `None` when the runconfig no longer asks for a managed environment).
    /// Every variable the sweep started with must still be defined there, except those the
    /// managed environment set ([`crate::managed_env::APPLIED_VARS`]): they are dropped, to be set
    /// again when the environment is applied.
    pub fn restore_environment(&mut self) -> Result<Option<crate::spec::ManagedEnv>, String> {
        let managed = self.spec.run.managed_prefix.is_some();
        if self.spec.run.environment.is_empty() && !managed {
            return Ok(None);
        }
        let hd = self.config_files.first().cloned().unwrap_or_default();
        let rc = self.config_files.get(1).cloned();
        // The saved script is what the runs run (it may have been given on the command
        // line instead of the runconfig's): the file's own need not exist.
        let run = &self.spec.run;
        let script = run
            .script
            .clone()
            .filter(|_| rc.is_some() && !run.is_command)
            .map(|script| crate::config::ScriptOverride {
                script,
                arguments: run.arguments.clone(),
            });
        let loaded = crate::config::load_with(&hd, rc.as_deref(), script.as_ref()).map_err(|p| {
            format!(
                "the run's environment variables are read again from its config files, which no longer load:\n{}",
                p.rendered.trim_end()
            )
        })?;
        let fresh = loaded.spec.run.environment;
        let mut restored = std::collections::BTreeMap::new();
        for k in self.spec.run.environment.keys() {
            match fresh.get(k) {
                Some(f) => {
                    restored.insert(k.clone(), f.clone());
                }
                None if managed && crate::managed_env::APPLIED_VARS.contains(&k.as_str()) => {}
                None => {
                    return Err(format!(
                        "environment variable {k} is no longer defined in {}; its value is not stored with the sweep (it may be a secret), so restore it there to resume",
                        self.config_files
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ))
                }
            }
        }
        self.spec.run.environment = restored;
        Ok(if managed {
            loaded.spec.run.managed_env
        } else {
            None
        })
    }
}

/// A sweep's history as a resumed engine continues from it.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The sweep's row.
    pub sweep: SweepRecord,
    /// Its runs, in proposal order.
    pub runs: Vec<RunRecord>,
    /// Its metric values, in the order they were recorded.
    pub metrics: Vec<MetricRecord>,
    /// How far each source of each run has been recorded (current attempts only):
    /// `(run id, source path, offset)`.
    pub positions: Vec<(String, String, u64)>,
}

/// A resume error.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The history could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sweep cannot be resumed; the text says why.
    #[error("{0}")]
    Cannot(String),
}

/// Loads what resuming sweep `key` (id, name or `latest`) needs from the workspace.
pub fn load(workspace: &Path, key: &str) -> Result<(SavedSweep, Recovered), ResumeError> {
    let r = Reader::open(workspace)?;
    let sweep = r.resolve(key)?;
    let Some(text) = r.spec(&sweep)? else {
        return Err(ResumeError::Cannot(format!(
            "sweep {} cannot be resumed by `sweep resume`: its definition was not saved with it (it is a library study, which `Study::open` resumes, or it was recorded by an older sweep)",
            sweep.id
        )));
    };
    let saved = SavedSweep::from_json(&text).map_err(ResumeError::Cannot)?;
    let runs = r.runs(&sweep)?;
    let metrics = r.metrics_in_order(&sweep)?;
    let positions = r.positions(&sweep)?;
    Ok((
        saved,
        Recovered {
            sweep,
            runs,
            metrics,
            positions,
        },
    ))
}

/// A recorded run's parameters as the sampler proposed them.
pub(crate) fn params_of(run: &RunRecord) -> Params {
    params_from_json(&run.params)
}

/// Recorded parameters (JSON values) as the sampler proposed them; a value of no known
/// form stays as its JSON text.
fn params_from_json(params: &[(String, serde_json::Value)]) -> Params {
    Params(
        params
            .iter()
            .map(|(n, v)| {
                let v = Value::from_json(v).unwrap_or_else(|| Value::Str(v.to_string()));
                (n.clone(), v)
            })
            .collect(),
    )
}

/// One run of an earlier sweep that warm-starts a new one (`resume_from`).
#[derive(Debug, Clone, PartialEq)]
pub struct WarmRun {
    /// `<sweep id>/<run id>`: how the policy pools name it.
    pub key: String,
    /// Its parameters.
    pub params: Params,
    /// Its best primary value (`None`: failed or never reported one).
    pub value: Option<f64>,
    /// Every primary value it reported, in interval order.
    pub primary: Vec<f64>,
    /// Whether its parameters are a point of this sweep's space: only those feed the
    /// sampler; every run feeds the policy pools, which compare values, not parameters.
    pub in_space: bool,
}

/// The warm-start observations of `spec.resume_from` (sweep ids or names in `workspace`):
/// every run of those sweeps. The earlier sweeps must have the same primary metric and
/// goal. Also returns how many runs are not points of this sweep's space (they feed the
/// policy pools but not the sampler).
pub fn warm_start(
    workspace: &Path,
    spec: &SweepSpec,
) -> Result<(Vec<WarmRun>, usize), ResumeError> {
    if spec.resume_from.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let r = Reader::open(workspace)?;
    let mut out = Vec::new();
    let mut skipped = 0;
    for key in &spec.resume_from {
        let sw = r
            .resolve(key)
            .map_err(|e| ResumeError::Cannot(format!("resume_from {key:?}: {e}")))?;
        if sw.primary_metric != spec.primary_metric || sw.goal != spec.goal.as_str() {
            return Err(ResumeError::Cannot(format!(
                "resume_from {key:?}: sweep {} optimises {:?} ({}), this sweep {:?} ({}); a warm start needs the same primary metric and goal",
                sw.id,
                sw.primary_metric,
                sw.goal,
                spec.primary_metric,
                spec.goal.as_str()
            )));
        }
        let mut values: std::collections::HashMap<String, Vec<f64>> = Default::default();
        for m in r.metrics_in_order(&sw)? {
            if m.name == spec.primary_metric {
                values.entry(m.run_id).or_default().push(m.value);
            }
        }
        for run in r.runs(&sw)? {
            let params = params_of(&run);
            let in_space = spec.space.contains(&params);
            if !in_space {
                skipped += 1;
            }
            let failed = run.state == crate::store::RunState::Failed;
            out.push(WarmRun {
                key: format!("{}/{}", sw.id, run.id),
                params,
                value: if failed { None } else { run.best },
                primary: values.remove(&run.id).unwrap_or_default(),
                in_space,
            });
        }
    }
    Ok((out, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: &str = "sampling:\n  type: grid\n  parameter_space:\n    - name: x\n      expression: choice\n      values: [1]\nprimary_metric_name: acc\nprimary_metric_goal: maximize\n";

    /// A project whose runconfig defines `vars` and, with `managed`, a requirements file;
    /// returns it and the saved form of its spec.
    fn saved(managed: bool, vars: &str) -> (tempfile::TempDir, SavedSweep) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("hd.yml"), HD).unwrap();
        std::fs::write(p.join("t.py"), "").unwrap();
        std::fs::write(p.join("requirements.txt"), "tomli\n").unwrap();
        write_runconfig(p, managed, vars);
        let files = vec![p.join("hd.yml"), p.join("t.runconfig")];
        let spec = crate::config::load(&files[0], Some(&files[1]))
            .unwrap()
            .spec;
        (dir, SavedSweep::new(&spec, files, 0, Vec::new()))
    }

    fn write_runconfig(p: &Path, managed: bool, vars: &str) {
        let python = if managed {
            "  python:\n    userManagedDependencies: false\n    requirementsFile: requirements.txt\n"
        } else {
            ""
        };
        std::fs::write(
            p.join("t.runconfig"),
            format!("script: t.py\nenvironment:\n  environmentVariables:\n{vars}{python}"),
        )
        .unwrap();
    }

    /// What `apply` leaves in a saved spec: the variables it set, blanked, and the prefix.
    fn as_applied(s: &mut SavedSweep) {
        for k in ["PATH", "VIRTUAL_ENV"] {
            s.spec.run.environment.insert(k.into(), String::new());
        }
        s.spec.run.managed_prefix = Some("/cache/0123456789abcdef/env".into());
    }

    #[test]
    fn a_managed_sweep_drops_what_its_environment_set_and_gets_its_dependencies_again() {
        let (_dir, mut s) = saved(true, "    TOKEN: secret\n    PATH: /mine:/usr/bin\n");
        as_applied(&mut s);
        let req = s
            .restore_environment()
            .unwrap()
            .expect("the dependency list");
        assert_eq!(req.deps.pip, ["tomli"]);
        // The runconfig's own PATH comes back from it; VIRTUAL_ENV is set again when the
        // environment is applied.
        let env: Vec<(&str, &str)> = s
            .spec
            .run
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("PATH", "/mine:/usr/bin"), ("TOKEN", "secret")]);
    }

    #[test]
    fn a_managed_sweep_whose_runconfig_dropped_its_environment_gets_none() {
        let (dir, mut s) = saved(true, "    TOKEN: secret\n");
        as_applied(&mut s);
        write_runconfig(dir.path(), false, "    TOKEN: secret\n");
        assert_eq!(s.restore_environment().unwrap(), None);
        assert_eq!(s.spec.run.environment.keys().collect::<Vec<_>>(), ["TOKEN"]);
    }

    #[test]
    fn without_a_managed_environment_every_variable_must_still_be_defined() {
        let (dir, mut s) = saved(false, "    TOKEN: secret\n    PATH: /mine\n");
        write_runconfig(dir.path(), true, "    TOKEN: secret\n");
        let err = s.restore_environment().unwrap_err();
        assert!(
            err.starts_with("environment variable PATH is no longer defined"),
            "{err}"
        );
        // A runconfig asking for a managed environment now does not put the sweep in one.
        write_runconfig(dir.path(), true, "    TOKEN: secret\n    PATH: /mine\n");
        assert_eq!(s.restore_environment().unwrap(), None);
        assert_eq!(s.spec.run.environment["PATH"], "/mine");
    }
}
