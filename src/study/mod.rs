//! The library API: a sweep embedded in a Rust program, with the same samplers, policies,
//! history and workspace as the `sweep` command line.
//!
//! A [`Study`] is one sweep. Build it in code with [`Study::builder`] (search space, goal,
//! limits, sampler, policy, workspace) or from a config file with
//! [`StudyBuilder::from_config`], then either
//!
//! - drive it yourself with **ask/tell**: [`Study::ask`] gives a [`Trial`] with its
//!   parameters, [`Study::report`] records an intermediate value of the primary metric and
//!   answers whether the trial should stop (the policy's [`Verdict`]), and [`Study::tell`]
//!   finishes it with an [`Outcome`]; or
//! - hand it an async objective with [`Study::run`], which calls it for each candidate, up
//!   to `max_concurrent_runs` at once on the tokio runtime, with a [`Reporter`] whose
//!   [`Reporter::report`] returns the same verdict.
//!
//! Every trial is a run in the workspace's history, written through [`crate::store::Store`]
//! as the engine writes its runs, so `sweep status`, `sweep runs`, `sweep best` and
//! `sweep export` show library sweeps like any other. Opening an existing sweep by id or name
//! ([`StudyBuilder::open`]) continues it: the sampler replays the recorded candidates and the
//! policy reloads the recorded metrics; trials that were never told (the program that asked
//! them ended) are recorded `failed` with reason `lost` and are not asked again.
//!
//! ```
//! use sweep::study::{Outcome, Study};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let study = Study::builder()
//!     .name("quadratic")
//!     .workspace(dir.path())
//!     .minimize("loss")
//!     .uniform("x", -2.0, 2.0)
//!     .choice("shift", [0.0, 0.5])
//!     .random()
//!     .seed(7)
//!     .max_total_runs(20)
//!     .build()?;
//! while let Some(trial) = study.ask()? {
//!     let x = trial.get_f64("x")?;
//!     let shift = trial.get_f64("shift")?;
//!     study.tell(trial, Outcome::Value((x - shift).powi(2)))?;
//! }
//! let best = study.best().expect("20 trials told");
//! assert!(best.value < 0.1);
//! # Ok::<(), sweep::study::StudyError>(())
//! ```

mod builder;
mod core;
mod objective;
mod parts;
mod trial;

pub use builder::StudyBuilder;
pub use core::{BestTrial, Study, Summary};
pub use objective::Reporter;
pub use parts::{resolve_seed, Parts};
pub use trial::{ParamError, Trial};

/// `docs/library.md`, compiled and run as doctests so the guide cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
pub struct LibraryGuide;

use crate::policy::Decision;
use crate::store::EndReason;

/// A library error. Every variant's text says what went wrong and, where it helps, what to
/// do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    /// The sweep config could not be loaded; the text holds every problem with its
    /// `file:line:col`.
    #[error("{0}")]
    Config(Box<crate::config::Problems>),
    /// The study definition is invalid (an empty space, a bad bound, a missing goal).
    #[error("invalid study: {0}")]
    Invalid(String),
    /// The early-termination policy's parameters are invalid.
    #[error("early termination policy: {0}")]
    Policy(#[from] crate::policy::PolicyError),
    /// The run history failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An existing sweep does not match the definition it is opened with.
    #[error("cannot continue sweep {sweep}: {why}")]
    Mismatch {
        /// The sweep id.
        sweep: String,
        /// What differs, and how to fix it.
        why: String,
    },
    /// The sampler has no candidate until a pending trial is told (only with trials still
    /// pending; with none pending, [`Study::ask`] returns `Ok(None)`).
    #[error("no candidate yet: the sampler waits for results; tell a pending trial first")]
    Wait,
    /// The trial belongs to another study.
    #[error("trial {0} belongs to another study")]
    ForeignTrial(String),
    /// A parameter is missing or has another type.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Another process (a program using this library, or `sweep run`/`resume`) has the
    /// sweep open.
    #[error("sweep {sweep} is open in process {pid}; close it there first (one process drives a sweep at a time)")]
    Busy {
        /// The sweep id.
        sweep: String,
        /// The process holding it, as recorded in its lock file.
        pid: String,
    },
    /// The async runtime failed (a worker task could not be joined).
    #[error("runtime: {0}")]
    Runtime(String),
}

impl From<crate::config::Problems> for StudyError {
    fn from(p: crate::config::Problems) -> StudyError {
        StudyError::Config(Box::new(p))
    }
}

/// How a trial ended, as told by [`Study::tell`] or returned by an objective given to
/// [`Study::run`].
///
/// A trial the policy decided to stop ends `canceled` with reason `policy:<name>` whatever
/// outcome it is told with (as a CLI run the policy stops does), and a trial stopped by a
/// sweep limit ends `canceled` with that limit as its reason.
///
/// Objectives may return anything that converts into an outcome: an `f64` is a final
/// value, and a `Result` is its `Ok` outcome or a failure with the error's text.
///
/// ```
/// use sweep::study::Outcome;
///
/// assert_eq!(Outcome::from(0.25), Outcome::Value(0.25));
/// let failed: Result<f64, String> = Err("diverged".into());
/// assert_eq!(Outcome::from(failed), Outcome::Failed("diverged".into()));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// Finished with this final value of the primary metric, recorded as one more report
    /// (interval) of it after any intermediate reports. The trial's value is, as for every
    /// run, its best reported value.
    Value(f64),
    /// Finished; its value is its best intermediate report (nothing more is recorded).
    Completed,
    /// Failed with this reason; a failed trial is never the best and the sampler sees it
    /// as a failure.
    Failed(String),
    /// Stopped early by the caller (or after a [`Verdict::Stop`]); it counts at its best
    /// reported value, for the sampler and for the best run.
    Pruned,
}

impl From<f64> for Outcome {
    fn from(v: f64) -> Outcome {
        Outcome::Value(v)
    }
}

impl<T: Into<Outcome>, E: std::fmt::Display> From<Result<T, E>> for Outcome {
    fn from(r: Result<T, E>) -> Outcome {
        match r {
            Ok(t) => t.into(),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}

/// Why a trial should stop.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StopReason {
    /// The early-termination policy decided it (the numbers behind the decision).
    Policy(Decision),
    /// A limit was reached (the sweep's `max_duration_minutes`, the trial's
    /// `max_run_duration_seconds`, [`Study::stop`]): the reason recorded with the trial.
    Limit(EndReason),
}

impl StopReason {
    /// The reason recorded with the canceled run (`policy:bandit`, `sweep limit: ...`).
    pub fn reason(&self) -> String {
        self.end_reason().to_string()
    }

    /// The reason recorded with the canceled run, typed.
    pub fn end_reason(&self) -> EndReason {
        match self {
            StopReason::Policy(d) => EndReason::Policy(d.policy.to_string()),
            StopReason::Limit(r) => r.clone(),
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Policy(d) => d.fmt(f),
            StopReason::Limit(r) => r.fmt(f),
        }
    }
}

/// The answer to a report: go on, or stop (and why).
///
/// ```
/// use sweep::study::Verdict;
///
/// assert!(!Verdict::Continue.should_stop());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a trial the policy stops should stop: check `should_stop()`"]
#[non_exhaustive]
pub enum Verdict {
    /// Keep training.
    Continue,
    /// Stop this trial (then tell it, e.g. with [`Outcome::Pruned`]).
    Stop(StopReason),
}

impl Verdict {
    /// Whether the trial should stop.
    pub fn should_stop(&self) -> bool {
        matches!(self, Verdict::Stop(_))
    }
}
