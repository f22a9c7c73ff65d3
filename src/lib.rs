//! sweep: a hyperparameter sweep scheduler.
//!
//! It reads HyperDrive sweep configs (and Azure ML v2 sweep jobs), samples candidates by
//! grid, random, Sobol or Bayesian optimisation, runs them on compute targets and stops
//! the ones that fall behind. The `sweep` binary is a thin layer over this library; its
//! command line (`src/cli/`) is part of the binary only.
//!
//! To drive a sweep from a Rust training pipeline, start at [`study`]: a [`Study`] asks
//! trials, takes their intermediate values (answering whether the policy stops them) and
//! their outcomes, or runs an async objective, with the same samplers, policies, history
//! and workspace as the command line (`docs/library.md`).
//!
//! The modules, from the bottom up: each uses only modules listed before it, except that
//! the policies plug into the engine's early-stopping hook (`scripts/module-graph.py`
//! checks that no two modules depend on each other).
//!
//! - [`human`]: numbers and times as people read them; [`space`]: parameter domains,
//!   values and the unit-cube map; [`spec`]: the validated
//!   sweep specification every config format compiles into; [`metrics`]: the metric
//!   protocol runs print.
//! - [`config`]: reading HyperDrive, v2, runconfig, targets and dependency files into a
//!   spec, every problem located ([`config::load`]).
//! - [`sampler`] and [`policy`]: candidate generation and early termination; [`store`]: the
//!   run history and its readers; [`target`]: the [`target::ComputeTarget`] trait and the
//!   local, SSH and Slurm targets; [`managed_env`]: building and caching the Python
//!   environments runs use.
//! - [`engine`]: the dispatcher that runs a sweep on a target; [`study`]: the library API.
//! - [`report`] and [`mlflow`]: showing a recorded sweep's results (the HTML report) and
//!   logging them to an MLflow server.
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod human;
pub mod managed_env;
pub mod metrics;
pub mod mlflow;
pub mod policy;
pub mod report;
pub mod sampler;
pub mod space;
pub mod spec;
pub mod store;
pub mod study;
pub mod target;

pub use study::{Outcome, Reporter, Study, StudyBuilder, StudyError, Trial, Verdict};
