//! Building a target from its name: `local` is built in, other names come from the targets
//! file ([`crate::config::targets`]). `sweep run`, `sweep targets` and `sweep resume` (which
//! re-adopts live runs through the target recorded with the sweep) all go through here.

use super::local::LocalTarget;
use super::slurm::{JobShape, SlurmTarget};
use super::ssh::SshTarget;
use super::ComputeTarget;
use crate::config::targets::{self, TargetDef, TargetKind, TargetsFile};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a run needs from its target beyond the trait: its capacity.
pub struct Built {
    /// The target.
    pub target: Arc<dyn ComputeTarget>,
    /// Runs it takes at once (`None`: no limit of its own), already bounded by `max_runs`.
    pub capacity: Option<u64>,
}

/// Why a target could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The targets file is broken (rendered diagnostics).
    #[error("{0}")]
    File(String),
    /// No target of that name; the text has a hint.
    #[error("{0}")]
    Unknown(String),
    /// The target could not be set up (I/O).
    #[error("{0}")]
    Setup(String),
}

/// Finds and loads the targets file: `explicit` (`--targets`), `$SWEEP_TARGETS`, or the
/// first `targets.yml` in `dirs`. `Ok(None)` when there is none.
pub fn load_file(
    explicit: Option<&Path>,
    dirs: &[PathBuf],
) -> Result<Option<TargetsFile>, RegistryError> {
    match targets::locate(explicit, dirs) {
        None => Ok(None),
        Some(p) => targets::load(&p)
            .map(Some)
            .map_err(|e| RegistryError::File(e.rendered.trim_end().to_string())),
    }
}

/// The job shape a sweep's runconfig asks for (`maxRunDurationSeconds`, `nodeCount`), for
/// targets that schedule jobs.
pub fn shape_of(spec: &crate::spec::SweepSpec) -> JobShape {
    JobShape {
        max_run_seconds: spec.limits.max_run_duration_seconds,
        nodes: spec.run.node_count.max(1),
    }
}

/// Builds target `name` (`local`, or one defined in `file`); `shape` is what the sweep's
/// runconfig asks of each job (see [`shape_of`]).
pub fn build(
    name: &str,
    file: Option<&TargetsFile>,
    shape: JobShape,
) -> Result<Built, RegistryError> {
    if name.is_empty() || name == "local" {
        return Ok(Built {
            target: Arc::new(LocalTarget::new()),
            capacity: None,
        });
    }
    let def = file.and_then(|f| f.get(name)).ok_or_else(|| {
        RegistryError::Unknown(format!(
            "unknown compute target `{name}`\n  = hint: {}",
            targets::unknown_target_hint(file, name)
        ))
    })?;
    build_def(def, shape)
}

/// Builds a target from its definition.
pub fn build_def(def: &TargetDef, shape: JobShape) -> Result<Built, RegistryError> {
    let (target, own): (Arc<dyn ComputeTarget>, Option<u64>) = match &def.kind {
        TargetKind::Ssh(cfg) => {
            let t = SshTarget::new(&def.name, cfg.clone())
                .map_err(|e| RegistryError::Setup(format!("target {}: {e}", def.name)))?;
            let cap = t.capacity();
            (Arc::new(t), Some(cap))
        }
        TargetKind::Slurm(cfg) => (
            Arc::new(SlurmTarget::new(&def.name, cfg.clone(), shape)),
            None,
        ),
    };
    let capacity = match (own, def.max_runs) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(Built { target, capacity })
}
