//! sweep: a hyperparameter sweep scheduler.
//!
//! It reads HyperDrive sweep configs (and Azure ML v2 sweep jobs), samples candidates by
//! grid, random, Sobol or Bayesian optimisation, runs them on compute targets and stops
//! the ones that fall behind. The `sweep` binary is a thin layer over this library.
//!
//! To drive a sweep from a Rust training pipeline, start at [`study`]: a [`Study`] asks
//! trials, takes their intermediate values (answering whether the policy stops them) and
//! their outcomes, or runs an async objective, with the same samplers, policies, history
//! and workspace as the command line (`docs/library.md`).
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod engine;
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
