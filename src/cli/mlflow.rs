//! `sweep mlflow SWEEP [--uri URI]`: logs a sweep already in the history to an MLflow
//! tracking server, with the same code `sweep run --mlflow` uses. A sweep still running in
//! another `sweep` process is followed until it ends.

use super::runs::open_sweep;
use super::{CliError, CliResult, Common};
use clap::Args;
use sweep::mlflow::{experiment_name, Client, FollowOptions, Follower};

/// `sweep mlflow SWEEP [--uri URI] [--experiment NAME]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep mlflow latest --uri http://127.0.0.1:5000
  MLFLOW_TRACKING_URI=http://127.0.0.1:5000 sweep mlflow my-sweep --experiment tuning")]
pub struct MlflowArgs {
    /// A sweep id, name, or `latest`.
    pub sweep: String,
    /// The tracking server [default: $MLFLOW_TRACKING_URI].
    #[arg(long, value_name = "URI")]
    pub uri: Option<String>,
    /// The MLflow experiment [default: the sweep's experiment, else $MLFLOW_EXPERIMENT_NAME,
    /// else `Default`].
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Runs `sweep mlflow`.
pub fn run(args: &MlflowArgs) -> CliResult {
    let (_reader, sweep) = open_sweep(&args.common, &args.sweep)?;
    let uri = args
        .uri
        .clone()
        .or_else(|| std::env::var("MLFLOW_TRACKING_URI").ok())
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            CliError::BadInput(
                "no tracking server: pass --uri http://HOST:PORT or set MLFLOW_TRACKING_URI".into(),
            )
        })?;
    let client = Client::new(&uri)?;
    let experiment = experiment_name(args.experiment.as_deref(), &sweep);
    // Logging the same sweep twice would duplicate every run.
    let mlflow = |e| CliError::from(e).context("MLflow");
    let exp = client.experiment_id(&experiment).map_err(mlflow)?;
    let found = client
        .search_runs(&exp, &format!("tags.`sweep.id` = '{}'", sweep.id), 1)
        .map_err(mlflow)?;
    if let Some(run) = found.first() {
        return Err(CliError::BadInput(format!(
            "sweep {} is already logged in MLflow experiment {experiment:?} as run {}; delete that run to log it again",
            sweep.id,
            run
        )));
    }
    let mut opts = FollowOptions::new(&uri, &args.common.workspace_dir(), &sweep.id);
    opts.experiment = Some(experiment);
    if sweep.state == sweep::store::SweepState::Running {
        eprintln!(
            "sweep {} is running: following it until it ends (Ctrl-C stops following)",
            sweep.id
        );
    }
    let summary = Follower::start(opts)?.wait();
    let line = summary.line();
    if summary.complete {
        println!("{line}");
        Ok(())
    } else {
        Err(CliError::Failure(line))
    }
}
