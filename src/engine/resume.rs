//! What a sweep saves so that another `sweep` process can continue it (`sweep resume`,
//! `sweep cancel` of a sweep whose controller died), and the history it continues from.
//!
//! The spec is saved as JSON with the sweep, with the values of the run configuration's
//! environment variables left out: they may be secrets, which never reach the database. A
//! resumed sweep reads them again from the config files it was started from.

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
}

impl SavedSweep {
    /// The saved form of `spec` (environment values blanked).
    pub fn new(spec: &SweepSpec, config_files: Vec<PathBuf>, max_retries: u32) -> SavedSweep {
        let mut spec = spec.clone();
        for v in spec.run.environment.values_mut() {
            v.clear();
        }
        SavedSweep {
            version: SAVED_VERSION,
            spec,
            config_files,
            max_retries,
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

    /// Reads the environment variables' values again from the config files (they are not
    /// saved). Every variable the sweep started with must still be defined there.
    pub fn restore_environment(&mut self) -> Result<(), String> {
        if self.spec.run.environment.is_empty() {
            return Ok(());
        }
        let hd = self.config_files.first().cloned().unwrap_or_default();
        let rc = self.config_files.get(1).cloned();
        let loaded = crate::config::load(&hd, rc.as_deref()).map_err(|p| {
            format!(
                "the run's environment variables are read again from its config files, which no longer load:\n{}",
                p.rendered.trim_end()
            )
        })?;
        let fresh = loaded.spec.run.environment;
        for (k, v) in self.spec.run.environment.iter_mut() {
            match fresh.get(k) {
                Some(f) => *v = f.clone(),
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
        Ok(())
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
    Ok((
        saved,
        Recovered {
            sweep,
            runs,
            metrics,
        },
    ))
}

/// A recorded run's parameters as the sampler proposed them.
pub(crate) fn params_of(run: &RunRecord) -> Params {
    Params(
        run.params
            .iter()
            .map(|(n, v)| {
                let v = Value::from_json(v).unwrap_or_else(|| Value::Str(v.to_string()));
                (n.clone(), v)
            })
            .collect(),
    )
}
