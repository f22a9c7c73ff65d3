//! Compute targets: where runs execute. The [`ComputeTarget`] trait is what the engine
//! drives (launch, stop, kill, re-adopt by a persisted handle); [`local`] runs processes on
//! this machine, [`ssh`] on SSH hosts, [`slurm`] as jobs of a Slurm cluster, `fake` is a
//! scripted target for engine tests (built with them only), [`registry`] builds a target
//! from its name (the targets file), and [`snapshot`] builds the sweep's source snapshot
//! every run's working directory is copied from. [`rundir`] is the layout of a run's directory and the
//! environment a run gets, the same on every target.
//!
//! A target reports back through a channel of [`TargetEvent`]s: metric reports read while
//! the run is alive, a malformed-line warning (once per run), `Restarted` when the target
//! itself starts the run over (Slurm's requeue), and finally `Exited`, sent only after the
//! run's output has been read to the end, so no metric arrives after it.

#[cfg(test)]
pub mod fake;
mod handle;
pub mod local;
mod procs;
pub mod pyshim;
pub mod registry;
pub mod rundir;
pub mod shell;
pub mod slurm;
pub mod snapshot;
pub mod ssh;
mod supervise;
mod watch;

use crate::metrics::Report;
use crate::store::EndReason;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a target needs to start one run.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The sweep id (`SWEEP_SWEEP_ID`).
    pub sweep_id: String,
    /// The run id (`SWEEP_RUN_ID`).
    pub run_id: String,
    /// The argument vector; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// Extra environment variables from the run configuration. Their values are secrets as
    /// far as sweep is concerned: never logged, never stored.
    pub env: Vec<(String, String)>,
    /// The parameters as a JSON object (`SWEEP_PARAMS`).
    pub params_json: String,
    /// The sweep's source snapshot, copied into the run's working directory.
    pub snapshot: PathBuf,
    /// The run's directory (`.sweep/sweeps/<sweep>/runs/<run>/`).
    pub run_dir: PathBuf,
    /// The primary metric's name.
    pub primary_metric: String,
    /// Directories made in the run's `outputs/` before the program starts (a v2 job's
    /// folder outputs); plain names, checked when the config was read.
    pub output_dirs: Vec<String>,
    /// The configured pattern for output lines (`metrics: {pattern: …}`), if any.
    pub pattern: Option<crate::metrics::Pattern>,
}

impl LaunchRequest {
    /// The working directory a run gets inside its run directory.
    pub fn workdir(&self) -> PathBuf {
        rundir::RunDir::new(&self.run_dir).work()
    }

    /// Makes the run's output directories ([`LaunchRequest::output_dirs`]) in `outputs`.
    pub fn make_output_dirs(&self, outputs: &std::path::Path) -> std::io::Result<()> {
        for d in &self.output_dirs {
            std::fs::create_dir_all(outputs.join(d))?;
        }
        Ok(())
    }

    /// The program, `argv[0]`; a launch error for an empty argument vector.
    pub fn program(&self) -> Result<&str, TargetError> {
        let empty = || TargetError::Launch("empty argument vector".into());
        self.argv.first().map(String::as_str).ok_or_else(empty)
    }
}

/// An opaque, persisted identity of a launched run, enough to stop or re-adopt it later
/// (from another `sweep` process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHandle(pub String);

/// How a run ended, as its target observed it (the engine turns it into the run's
/// [`crate::store::EndReason`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was ended by this signal.
    Signal(i32),
    /// The status could not be observed (a re-adopted run, a host that stopped answering);
    /// the text says why. The run is recorded `lost: <why>`.
    Unknown(String),
    /// The Slurm controller ended the job for its own reason (time limit, node failure);
    /// the text says which. The run is recorded `slurm: <why>`.
    Slurm(String),
}

impl ExitStatus {
    /// A run whose host stopped answering: reason `lost: <why>`.
    pub fn lost(why: &str) -> ExitStatus {
        ExitStatus::Unknown(why.to_string())
    }

    /// A run the Slurm controller ended for its own reason (time limit, node failure):
    /// reason `slurm: <why>`.
    pub fn slurm(why: &str) -> ExitStatus {
        ExitStatus::Slurm(why.to_string())
    }

    /// The reason a run that ended this way is recorded with (unless sweep had asked it
    /// to stop): `exit code N`, `signal N (NAME)`, `lost: <why>` or `slurm: <why>`.
    pub fn reason(&self) -> EndReason {
        match self {
            ExitStatus::Code(c) => EndReason::Exit(*c),
            ExitStatus::Signal(s) => EndReason::Signal(*s),
            ExitStatus::Unknown(why) => EndReason::Lost(why.clone()),
            ExitStatus::Slurm(why) => EndReason::Slurm(why.clone()),
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.reason().fmt(f)
    }
}

/// What a target tells the engine about a run.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetEvent {
    /// Metric reports, in the order the run made them.
    Metrics {
        /// The run.
        run_id: String,
        /// The reports.
        reports: Vec<Report>,
    },
    /// What the run's script recorded beside its reports (parameters, tags, values logged
    /// to other runs), in the order it recorded them. A value logged to another run is sent
    /// once per metric name and run, for at most [`crate::metrics::MAX_OTHER_RUN_NAMES`] names.
    Logged {
        /// The run.
        run_id: String,
        /// What it recorded.
        items: Vec<crate::metrics::Logged>,
    },
    /// The first malformed metric line of a run (later ones are only counted).
    Malformed {
        /// The run.
        run_id: String,
        /// Why the line is malformed, and where it was.
        message: String,
    },
    /// The run was started over from the beginning by the target itself (a Slurm job
    /// requeued after a preemption): the reports that follow are its `restart`-th rerun's,
    /// from interval 1 again. Reports sent before it belong to earlier attempts. A target
    /// following a run from its start again (an adopted run) sends it again for every
    /// restart it passes, so the engine ignores a `restart` it has already recorded.
    Restarted {
        /// The run.
        run_id: String,
        /// How many times it has been restarted (1 for the first rerun).
        restart: u32,
        /// Why, for the history's events.
        why: String,
    },
    /// The run ended and its output has been read to the end.
    Exited {
        /// The run.
        run_id: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines of its output (for failure reports).
        tail: Vec<String>,
        /// How many malformed metric lines it printed in all.
        malformed: u64,
    },
}

/// The sending side of a target's event channel.
pub type EventSender = tokio::sync::mpsc::UnboundedSender<TargetEvent>;

/// A target error (launch failures, unknown handles).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The run could not be started.
    #[error("could not launch: {0}")]
    Launch(String),
    /// The handle is not one this target understands.
    #[error("bad run handle: {0}")]
    BadHandle(String),
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A place runs execute. Methods may block briefly (copying a working directory, spawning a
/// process); the engine calls them off its dispatcher thread.
pub trait ComputeTarget: Send + Sync {
    /// The target's name (`local`, `ssh:<host>`, ...).
    fn name(&self) -> &str;

    /// Starts a run. Returns its handle once it is alive; from then on events arrive on
    /// `events`, ending with exactly one [`TargetEvent::Exited`].
    fn launch(&self, req: &LaunchRequest, events: EventSender) -> Result<RunHandle, TargetError>;

    /// [`ComputeTarget::launch`], once `ready` returns true (the engine's record that the
    /// run is `Starting` is committed); `None`, launching nothing, if it returns false. A
    /// target may do before asking whatever has no effect outside the run's own directory,
    /// to overlap it with the commit. The default asks first.
    fn launch_when_ready(
        &self,
        req: &LaunchRequest,
        events: EventSender,
        ready: &mut dyn FnMut() -> bool,
    ) -> Option<Result<RunHandle, TargetError>> {
        if !ready() {
            return None;
        }
        Some(self.launch(req, events))
    }

    /// Asks a run to stop (docs/run-protocol.md, "Stopping a run": stop file, SIGTERM to its process group, SIGKILL
    /// after `grace`). Returns at once; the run's `Exited` event follows.
    fn stop(&self, handle: &RunHandle, grace: Duration);

    /// Kills a run and everything it started, now.
    fn kill(&self, handle: &RunHandle);

    /// Finds a run whose launch was interrupted (a `sweep` that died after recording it
    /// `Starting` but before recording its handle): its handle if it was started, `None` if
    /// it never was and may be launched now. The default, for targets that cannot tell,
    /// is `None`.
    fn recover(&self, _req: &LaunchRequest) -> Option<RunHandle> {
        None
    }

    /// Watches a run launched earlier (possibly by another `sweep` process) by its persisted
    /// handle, sending its events as for a launched run.
    fn adopt(
        &self,
        handle: &RunHandle,
        req: &LaunchRequest,
        events: EventSender,
    ) -> Result<(), TargetError>;
}
