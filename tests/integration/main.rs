//! The integration tests: one binary, one module per area.

mod config;
mod envs;
mod exit_codes;
mod library;
mod local_runs;
mod mlflow;
mod report;
mod resume;
mod services;
mod slurm;
mod space_props;
mod ssh;
mod status;
mod target_suite;
