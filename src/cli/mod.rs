//! The `sweep` command line (DESIGN §4.1): argument definitions and dispatch to one module
//! per subcommand. Every subcommand returns a [`CliError`], which says its documented exit
//! code ([`error`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub mod best;
pub mod env;
pub mod error;
pub mod export;
pub mod live;
pub mod logging;
pub mod mlflow;
pub mod report;
pub mod resume;
pub mod run;
pub mod runs;
pub mod status;
pub mod targets;
pub mod validate;

pub use error::{CliError, Exit, IoContext};

/// The result of a subcommand.
pub type CliResult = Result<(), CliError>;

/// A hyperparameter sweep scheduler for HyperDrive configs.
#[derive(Debug, Parser)]
#[command(name = "sweep", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
    /// Logging options.
    #[command(flatten)]
    pub log: logging::LogArgs,
}

/// Options every subcommand accepts.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// The workspace directory [default: $SWEEP_WORKSPACE, else ./.sweep].
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

impl Common {
    /// The workspace directory to use: `--workspace`, then `$SWEEP_WORKSPACE`, then `./.sweep`.
    pub fn workspace_dir(&self) -> PathBuf {
        self.workspace
            .clone()
            .or_else(|| std::env::var_os("SWEEP_WORKSPACE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".sweep"))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a sweep config (and runconfig): every problem at once, or a summary.
    Validate(ValidateArgs),
    /// Run a sweep (on local processes, or on a named compute target).
    Run(Box<run::RunArgs>),
    /// Run a sweep, spelled like `az ml run submit-hyperdrive`.
    SubmitHyperdrive(Box<run::SubmitArgs>),
    /// List a sweep's runs.
    Runs(runs::RunsArgs),
    /// Show a sweep's best run and the command that reproduces it.
    Best(best::BestArgs),
    /// Export a sweep's history.
    Export(export::ExportArgs),
    /// Show one sweep's progress, or list every sweep.
    Status(status::StatusArgs),
    /// List the compute targets, or check one.
    Targets(targets::TargetsArgs),
    /// List or prune the cached managed environments.
    Env(env::EnvArgs),
    /// Write a self-contained HTML report of a sweep (plots, importance, runs).
    Report(report::ReportArgs),
    /// Log a sweep to an MLflow tracking server (a parent run, one child run per run).
    Mlflow(mlflow::MlflowArgs),
    /// Continue a sweep whose `sweep` process was stopped or died.
    Resume(resume::ResumeArgs),
    /// Stop a running sweep from another terminal.
    Cancel(resume::CancelArgs),
}

/// `sweep validate HDCONFIG [-c RUNCONFIG]`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The sweep config: a HyperDrive `hdconfig.yml` or an Azure ML v2 sweep job.
    pub hdconfig: PathBuf,
    /// The run configuration (`*.runconfig`).
    #[arg(short = 'c', long = "run-configuration", value_name = "RUNCONFIG")]
    pub runconfig: Option<PathBuf>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// Resolves `-c RUNCONFIG` the way `az ml` does: a path if it exists, else a name looked up
/// as `.azureml/NAME.runconfig`, `aml_config/NAME.runconfig` or `NAME.runconfig`.
pub fn resolve_runconfig(given: &std::path::Path) -> PathBuf {
    if given.exists() {
        return given.to_path_buf();
    }
    let name = given.to_string_lossy();
    let name = name.trim_end_matches(".runconfig");
    [".azureml", "aml_config", "."]
        .iter()
        .map(|d| std::path::Path::new(d).join(format!("{name}.runconfig")))
        .find(|p| p.exists())
        .unwrap_or_else(|| given.to_path_buf())
}

/// Parses the process arguments and runs the subcommand.
pub fn run() -> CliResult {
    let cli = Cli::parse();
    logging::init(&cli.log)?;
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Run(args) => run::run(*args),
        Command::SubmitHyperdrive(args) => run::run(args.into_run()),
        Command::Runs(args) => runs::run(&args),
        Command::Best(args) => best::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Targets(args) => targets::run(&args),
        Command::Env(args) => env::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Mlflow(args) => mlflow::run(&args),
        Command::Resume(args) => resume::run(&args),
        Command::Cancel(args) => resume::cancel(&args),
    }
}
