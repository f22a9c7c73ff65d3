//! The integration tests: one binary, one module per area, all on one harness
//! (`support.rs`) and one place that starts the real services (`services.rs`).

mod azure;
mod config;
mod config_fuzz;
mod envs;
mod exit_codes;
mod first_hour;
mod history;
mod hostile;
mod library;
mod local_runs;
mod metric_formats;
mod mlflow;
mod report;
mod resume;
mod services;
mod slurm;
mod space_props;
mod ssh;
mod status;
mod support;
mod target_suite;
mod terminal;
