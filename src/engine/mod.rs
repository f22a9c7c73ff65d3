//! The engine: one dispatcher task that owns a sweep's state, launches candidates on a
//! [`ComputeTarget`] within the limits, reads their metrics, stops runs (timeouts, policy,
//! user, sweep limits) and records everything in the [`Store`] before acting on it.
//!
//! Run lifecycle: `Queued → Starting → Running → Completed | Failed | Canceled`, with a reason
//! on every terminal state (`exit code N`, `signal N (NAME)`, `timeout: …`, `policy:<name>`,
//! `user cancel`, `sweep limit: …`, `launch failed: …`).
//!
//! Concurrency: a run holds a slot from the moment it is recorded `Starting` until its exit
//! has been observed (its process group is gone), so `max_concurrent_runs` is never exceeded.
//! Proposals run on a blocking worker thread, never on the dispatcher.
//!
//! Fail fast: if the first [`EngineOptions::fail_fast_runs`] runs to finish (default
//! [`DEFAULT_FAIL_FAST_RUNS`]) all failed the same way (same exit status), the sweep stops
//! with state `failed`, since a broken script should not burn the whole budget.

pub mod argv;
mod dispatch;

use crate::sampler::Sampler;
use crate::space::Params;
use crate::spec::SweepSpec;
use crate::store::{RunState, Store, StoreError, SweepState};
use crate::target::ComputeTarget;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How many first-finished runs must all fail the same way to stop the sweep.
pub const DEFAULT_FAIL_FAST_RUNS: usize = 3;

/// The default grace period between SIGTERM and SIGKILL when stopping a run.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// An early-termination hook: the engine reports every primary-metric interval of every run
/// and stops the run (`Canceled`, reason `policy:<name>`) when the hook says so. The
/// policies in `crate::policy` plug in here.
pub trait EarlyStop: Send {
    /// The policy's name, recorded in the cancel reason.
    fn name(&self) -> &str;
    /// Run `run_id` reported its `interval`-th value (1-based) of the primary metric (every
    /// report is passed, including a stopping run's, so the pool stays complete); returns
    /// whether the run should be stopped now.
    fn observe(&mut self, run_id: &str, interval: u32, value: f64) -> bool;
    /// Run `run_id` ended (its values stay in the pool).
    fn finished(&mut self, _run_id: &str) {}
}

/// A request from outside the dispatcher (the CLI's signal handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop launching, stop live runs gracefully, record, end `Canceled`.
    Interrupt,
    /// Kill every live run now.
    Kill,
}

/// What the engine tells an observer (the progress view) as the sweep goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The sweep is recorded and about to launch runs.
    Started {
        /// The sweep id.
        sweep_id: String,
    },
    /// A run changed state.
    RunState {
        /// The run id.
        run_id: String,
        /// Its parameters.
        params: Params,
        /// The new state.
        state: RunState,
        /// The reason (terminal states).
        reason: Option<String>,
    },
    /// A run's value became the best so far.
    NewBest {
        /// The run id.
        run_id: String,
        /// The value.
        value: f64,
        /// Its parameters.
        params: Params,
    },
    /// A warning about a run or the sweep (also recorded as an event).
    Warning(String),
    /// The sweep is stopping (limit, interrupt, fail-fast); the text says why.
    Stopping(String),
}

/// The best run of a finished sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct BestRun {
    /// The run id.
    pub run_id: String,
    /// Its best finite primary value.
    pub value: f64,
    /// Its parameters.
    pub params: Params,
    /// Its argument vector.
    pub argv: Vec<String>,
}

/// How a sweep ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The sweep id.
    pub sweep_id: String,
    /// Final state.
    pub state: SweepState,
    /// Why it ended.
    pub reason: String,
    /// The best run, if any qualified.
    pub best: Option<BestRun>,
    /// Runs created.
    pub runs: u64,
    /// Runs by terminal state: completed, failed, canceled.
    pub completed: u64,
    /// Failed runs.
    pub failed: u64,
    /// Canceled runs.
    pub canceled: u64,
}

/// Knobs of the engine that are not part of the sweep spec.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// SIGTERM-to-SIGKILL grace when stopping a run.
    pub stop_grace: Duration,
    /// Fail-fast window (0 disables).
    pub fail_fast_runs: usize,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            stop_grace: DEFAULT_STOP_GRACE,
            fail_fast_runs: DEFAULT_FAIL_FAST_RUNS,
        }
    }
}

/// The identity and files of a sweep about to run.
#[derive(Debug, Clone)]
pub struct SweepSetup {
    /// The sweep id (see [`new_sweep_id`]).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The experiment name.
    pub experiment: Option<String>,
    /// The workspace directory.
    pub workspace: PathBuf,
    /// The seed the sampler was built with.
    pub seed: u64,
    /// The command line that started it, recorded for the resume hint.
    pub invocation: Vec<String>,
}

impl SweepSetup {
    /// `<workspace>/sweeps/<id>`.
    pub fn sweep_dir(&self) -> PathBuf {
        self.workspace.join("sweeps").join(&self.id)
    }
}

/// An engine error: the sweep could not run at all (the history or the snapshot failed).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The history failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source snapshot could not be made.
    #[error("source snapshot: {0}")]
    Snapshot(std::io::Error),
}

/// Everything one sweep needs.
pub struct Sweep {
    /// The validated spec.
    pub spec: SweepSpec,
    /// Identity and workspace.
    pub setup: SweepSetup,
    /// Where runs execute.
    pub target: Arc<dyn ComputeTarget>,
    /// The candidate generator (built with `setup.seed`).
    pub sampler: Box<dyn Sampler>,
    /// The early-termination hook, if the spec has a policy.
    pub policy: Option<Box<dyn EarlyStop>>,
    /// Engine knobs.
    pub options: EngineOptions,
}

/// Runs a sweep to the end: records it, snapshots its source, launches and watches runs,
/// and returns how it ended. `control` carries interrupts; `progress` (if any) receives
/// [`Progress`] events.
pub async fn run(
    sweep: Sweep,
    store: Arc<Store>,
    control: tokio::sync::mpsc::UnboundedReceiver<Control>,
    progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
) -> Result<Outcome, EngineError> {
    dispatch::Dispatcher::start(sweep, store, control, progress)
        .await?
        .run()
        .await
}

/// A new sweep id: `sw_` then the creation time and a random suffix, so ids sort by time
/// and two sweeps started in the same second still differ.
pub fn new_sweep_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let salt = (now.subsec_nanos() as u64 ^ (u64::from(std::process::id()) << 20)) & 0xffff;
    format!("sw_{:x}_{:04x}", now.as_secs(), salt)
}

#[cfg(test)]
mod tests;
