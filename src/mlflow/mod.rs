//! Logging sweeps to an MLflow tracking server through its REST API (`/api/2.0/mlflow/...`):
//! the sweep is a parent run, each run a child run (tag `mlflow.parentRunId`) with its
//! parameters, every metric point with its step, its final status and tags for its reason
//! and the sweep id.
//!
//! `client` speaks to the server (requests, retries, batching, the API's JSON shapes);
//! `follower` mirrors a sweep's history into it while the sweep runs, for `sweep run
//! --mlflow` and `sweep mlflow`. Credentials (`MLFLOW_TRACKING_TOKEN`,
//! `MLFLOW_TRACKING_USERNAME`/`PASSWORD`, or a password in the URI) are sent as headers and
//! never printed.

mod client;
mod follower;

pub use client::{key, redact, Client, Metric};
pub use follower::{experiment_name, start_for_run, status_of, FollowOptions, Follower, Summary};

use crate::store::StoreError;

/// An MLflow error.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// Worth retrying: the server could not be reached, timed out, or answered 429/5xx.
    #[error("{0}")]
    Transient(String),
    /// The server refused the request (4xx): retrying the same request will not help.
    #[error("{0}")]
    Rejected(String),
    /// The URI cannot be used.
    #[error("{0}")]
    BadUri(String),
    /// Reading the run history failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
