//! The engine: one dispatcher task that owns a sweep's state, launches candidates on a
//! [`ComputeTarget`] within the limits, reads their metrics, stops runs (timeouts, policy,
//! user, sweep limits) and records everything in the [`Store`] before acting on it.
//!
//! Run lifecycle: `Queued → Starting → Running → Completed | Failed | Canceled`, with a reason
//! on every terminal state ([`EndReason`]: `exit code N`, `signal N (NAME)`, `timeout: …`,
//! `policy:<name>`, `user cancel`, `sweep limit: …`, `launch failed: …`, `lost: …`); each
//! run's state machine is `phase`, the live event loop `dispatch`, and what a resumed sweep
//! rebuilds from its history `replay`.
//!
//! Concurrency: a run holds a slot from the moment it is recorded `Starting` until its exit
//! has been observed (its process group is gone), so neither `max_concurrent_runs` nor the
//! target's own capacity ([`EngineOptions::target_capacity`]) is ever exceeded. Proposals run
//! on a blocking worker thread, never on the dispatcher. Whenever nothing is launched, the
//! dispatcher knows why ([`Waiting`]) and records it with the sweep when it changes.
//!
//! Fail fast: if the first [`EngineOptions::fail_fast_runs`] runs to finish (default
//! [`DEFAULT_FAIL_FAST_RUNS`]) all failed the same way (same exit status), the sweep stops
//! with state `failed`, since a broken script should not burn the whole budget.
//!
//! No result can come: if the first [`EngineOptions::no_metric_runs`] runs to complete
//! (default [`DEFAULT_NO_METRIC_RUNS`]) all ended without reporting the primary metric, the
//! sweep stops `failed` and says what the runs reported instead: a misspelt metric name or
//! a script that never prints it would otherwise burn the budget for no best run.

pub mod argv;
mod dispatch;
mod phase;
mod replay;
pub mod resume;
mod skip;
mod waiting;

pub use waiting::Waiting;

use crate::policy::EarlyStop;
use crate::sampler::Sampler;
use crate::space::Params;
use crate::spec::SweepSpec;
use crate::store::{EndReason, NewSweep, RunState, Store, StoreError, SweepState};
use crate::target::ComputeTarget;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How many first-finished runs must all fail the same way to stop the sweep.
pub const DEFAULT_FAIL_FAST_RUNS: usize = 3;

/// How many first-completed runs must all end without reporting the primary metric to stop
/// the sweep.
pub const DEFAULT_NO_METRIC_RUNS: usize = 5;

/// The default grace period between SIGTERM and SIGKILL when stopping a run.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// The most candidates asked of the sampler at once. A grid of a billion points with no
/// `max_concurrent_runs` may run them all at once; the sampler is still asked for a batch
/// at a time, so the first runs start at once and an interrupt is answered between batches.
pub const PROPOSAL_BATCH: usize = 64;

/// The longest time limit the engine keeps (about 31 years): `max_duration_minutes: 1e20`
/// is accepted, and means no practical limit, as every duration past this one does.
pub const MAX_LIMIT_SECONDS: f64 = 1e9;

/// `secs` as a duration: negative and NaN give zero, anything past [`MAX_LIMIT_SECONDS`]
/// gives that (never a panic, whatever a config or the environment says).
pub fn limit_duration(secs: f64) -> Duration {
    if secs > 0.0 {
        Duration::from_secs_f64(secs.min(MAX_LIMIT_SECONDS))
    } else {
        Duration::ZERO
    }
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
        reason: Option<EndReason>,
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
    /// A run reported its primary metric: the latest interval and value (one event per
    /// batch of reports read together).
    Interval {
        /// The run id.
        run_id: String,
        /// Its primary-metric reports so far.
        interval: u32,
        /// The latest value.
        value: f64,
    },
    /// The last lines of a failed run's output, sent just before its `Failed` state.
    Output {
        /// The run id.
        run_id: String,
        /// Its last output lines (at most ten), oldest first.
        lines: Vec<String>,
    },
    /// A warning about a run or the sweep (also recorded as an event).
    Warning(String),
    /// The sweep is stopping (limit, interrupt, fail-fast); the text says why.
    Stopping(String),
    /// Why nothing is launched now changed; `None`: runs are being launched.
    Waiting(Option<Waiting>),
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
    /// Stop the sweep when this many first-completed runs all reported no primary metric
    /// (0 disables).
    pub no_metric_runs: usize,
    /// How many times a lost run (its process or host vanished without an exit status) is
    /// relaunched as a new attempt of the same candidate.
    pub max_retries: u32,
    /// Observations of earlier sweeps (`resume_from`): they feed the sampler and the policy
    /// pools, and are never runs of this sweep.
    pub warm_start: Vec<resume::WarmRun>,
    /// Earlier runs to run again first, from their checkpoints (`resume_child_runs`):
    /// they are the sweep's first candidates.
    pub child_runs: Vec<resume::ChildRun>,
    /// How often the running time used so far is recorded (what a resumed sweep's
    /// `max_duration_minutes` counts from).
    pub heartbeat: Duration,
    /// Runs the target takes at once (an SSH target's slots, a target's `max_runs`), if it
    /// has a bound of its own: live runs never exceed it nor `max_concurrent_runs`.
    pub target_capacity: Option<u64>,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            stop_grace: DEFAULT_STOP_GRACE,
            fail_fast_runs: DEFAULT_FAIL_FAST_RUNS,
            no_metric_runs: DEFAULT_NO_METRIC_RUNS,
            max_retries: 0,
            warm_start: Vec::new(),
            child_runs: Vec::new(),
            heartbeat: Duration::from_secs(5),
            target_capacity: None,
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
    /// The config files the spec was read from (sweep config, then runconfig); a resumed
    /// sweep reads its environment variables' values from them again.
    pub config_files: Vec<PathBuf>,
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
    /// The source snapshot could not be made (the sweep is recorded `failed` with this
    /// reason).
    #[error("source snapshot: {0}")]
    Snapshot(crate::target::snapshot::SnapshotError),
    /// Another `sweep` process is running this sweep.
    #[error("sweep {id} is already being run by process {pid}; stop it with `sweep cancel {id}`, or wait for it")]
    Busy {
        /// The sweep id.
        id: String,
        /// The process holding it.
        pid: String,
    },
    /// The sweep's lock file could not be taken.
    #[error("cannot lock sweep {0}: {1}")]
    Lock(String, std::io::Error),
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
    dispatch::Dispatcher::start(sweep, store, control, progress, None)
        .await?
        .run()
        .await
}

/// Continues a sweep from its recorded history (`sweep resume`): re-adopts runs that are
/// still alive, records the real outcome of runs that ended meanwhile, launches runs that
/// never started, replays the sampler and the policy, and goes on until the sweep's limits.
/// `sweep.setup` must carry the recorded id, name, seed and workspace, and `sweep.sampler`
/// a fresh sampler built with the recorded seed.
pub async fn resume(
    sweep: Sweep,
    recovered: resume::Recovered,
    store: Arc<Store>,
    control: tokio::sync::mpsc::UnboundedReceiver<Control>,
    progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
) -> Result<Outcome, EngineError> {
    dispatch::Dispatcher::start(sweep, store, control, progress, Some(recovered))
        .await?
        .run()
        .await
}

/// The lock file a running sweep holds (its content is the holder's pid).
pub const LOCK_FILE: &str = "lock";

/// Takes the lock of a sweep's directory, failing with [`EngineError::Busy`] if another
/// process holds it.
pub fn lock_sweep(
    sweep_dir: &std::path::Path,
    id: &str,
) -> Result<nix::fcntl::Flock<std::fs::File>, EngineError> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(sweep_dir).map_err(|e| EngineError::Lock(id.into(), e))?;
    let path = sweep_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| EngineError::Lock(id.into(), e))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut f) => {
            let _ = f.set_len(0);
            let _ = f.rewind();
            let _ = writeln!(f, "{}", std::process::id());
            let _ = f.flush();
            Ok(f)
        }
        Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            Err(EngineError::Busy {
                id: id.into(),
                pid: pid.trim().to_string(),
            })
        }
        Err((_, e)) => Err(EngineError::Lock(id.into(), std::io::Error::from(e))),
    }
}

/// The pid of the process running sweep `sweep_dir`, if one holds its lock now.
pub fn controller_pid(sweep_dir: &std::path::Path) -> Option<i32> {
    let path = sweep_dir.join(LOCK_FILE);
    let file = std::fs::File::open(&path).ok()?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockSharedNonblock) {
        // Nobody holds it.
        Ok(_) => None,
        Err(_) => std::fs::read_to_string(&path).ok()?.trim().parse().ok(),
    }
}

/// The history row of a new sweep of `spec`, with what the engine and a library study
/// record alike; the caller sets where it runs (source, git state, target, invocation) and
/// what resumes it.
pub(crate) fn sweep_row(
    id: &str,
    name: String,
    experiment: Option<String>,
    seed: u64,
    spec: &SweepSpec,
) -> NewSweep {
    let l = &spec.limits;
    NewSweep {
        id: id.to_string(),
        name,
        experiment,
        created: crate::store::now(),
        primary_metric: spec.primary_metric.clone(),
        goal: spec.goal.as_str().into(),
        seed,
        sampling: spec.sampling.name().into(),
        policy: spec.policy.name().into(),
        max_total_runs: l.max_total_runs,
        max_concurrent_runs: l.max_concurrent_runs,
        max_duration_minutes: l.max_duration_minutes,
        max_run_duration_seconds: l.max_run_duration_seconds,
        ..NewSweep::default()
    }
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
