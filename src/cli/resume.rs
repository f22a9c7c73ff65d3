//! `sweep resume SWEEP` and `sweep cancel SWEEP`: continue a sweep whose `sweep` process
//! was stopped or died, and stop a sweep from another terminal.
//!
//! Resume rebuilds the engine from what the sweep saved (its spec, seed and history),
//! prepares its managed environment again if it ran in one, re-adopts live runs, records
//! runs that ended meanwhile and goes on. Cancel signals the process running the sweep
//! (found through the sweep's lock file) as a Ctrl-C would; if no process runs it any more,
//! cancel does the controller's work itself: it adopts the live runs, stops them and
//! records the sweep `canceled`.

use super::{CliError, CliResult, Common};
use clap::Args;
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep::engine::{self, resume, EngineOptions};
use sweep::store::{Reader, Store, SweepState};

/// `sweep resume SWEEP`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep resume latest
  sweep resume sw_6b15b8f0_fed0 --quiet")]
pub struct ResumeArgs {
    /// The sweep: its id, its name, or `latest`.
    pub sweep: String,
    /// Print only the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// `sweep cancel SWEEP`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep cancel latest
  sweep cancel my-sweep --wait 30")]
pub struct CancelArgs {
    /// The sweep: its id, its name, or `latest`.
    pub sweep: String,
    /// Seconds to wait for the sweep to record its end.
    #[arg(long, default_value_t = 120)]
    pub wait: u64,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// What [`rebuild`] is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Purpose {
    /// `sweep resume`: runs will be launched, in the sweep's managed environment if it has
    /// one, which is prepared again and leased for as long as the sweep runs.
    Launch { quiet: bool },
    /// `sweep cancel` of a sweep nobody runs: live runs are adopted and stopped, nothing
    /// is launched, so no environment is built.
    Stop,
}

/// A sweep's engine, its history, and the lease on its managed environment.
type Rebuilt = (
    engine::Sweep,
    resume::Recovered,
    Option<sweep::managed_env::Prepared>,
);

/// Builds the engine for a recorded sweep, and the lease on its managed environment (to
/// hold until the sweep ends) when it is resumed to launch runs.
fn rebuild(workspace: &std::path::Path, key: &str, purpose: Purpose) -> Result<Rebuilt, CliError> {
    let (mut saved, rec) = resume::load(workspace, key)?;
    let env_request = saved.restore_environment().map_err(CliError::BadInput)?;
    let seed = rec.sweep.seed.unwrap_or(0) as u64;
    // The same parts `sweep run` built, with the recorded seed.
    let mut spec = saved.spec;
    spec.seed = Some(seed);
    let parts = sweep::study::Parts::new(&spec)?;
    let policy = parts
        .policy
        .map(|p| Box::new(p) as Box<dyn sweep::policy::EarlyStop>);
    let sampler = parts.sampler;
    let built = resume_target(&spec, workspace, &saved.config_files)?;
    let env = match purpose {
        // A completed sweep launches nothing either.
        Purpose::Launch { quiet } if rec.sweep.state != SweepState::Completed => {
            super::env::prepare_again(&mut spec.run, env_request, &rec.sweep.id, quiet)?
        }
        _ => None,
    };
    let warm_start = super::run::warm_start(workspace, &spec, true)?;
    let sweep = engine::Sweep {
        setup: engine::SweepSetup {
            id: rec.sweep.id.clone(),
            name: rec.sweep.name.clone(),
            experiment: rec.sweep.experiment.clone(),
            workspace: workspace.to_path_buf(),
            seed,
            invocation: std::env::args().collect(),
            config_files: saved.config_files,
        },
        target: built.target,
        sampler,
        policy,
        options: EngineOptions {
            stop_grace: super::run::stop_grace(),
            max_retries: saved.max_retries,
            warm_start,
            child_runs: saved.child_runs,
            target_capacity: built.capacity,
            ..EngineOptions::default()
        },
        spec,
    };
    Ok((sweep, rec, env))
}

/// The target a resumed sweep runs on, with its capacity, found as `sweep run` found it:
/// `local`, or its name in the targets file (`$SWEEP_TARGETS`, `targets.yml` beside the
/// sweep config, in the current directory, or in the workspace).
fn resume_target(
    spec: &sweep::spec::SweepSpec,
    workspace: &std::path::Path,
    config_files: &[std::path::PathBuf],
) -> Result<sweep::target::registry::Built, CliError> {
    use sweep::target::registry;
    let name = spec.run.target.as_str();
    let file = if name.is_empty() || name == "local" {
        None
    } else {
        let beside = config_files
            .first()
            .and_then(|p| p.parent())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| ".".into());
        let dirs = [beside, ".".into(), workspace.to_path_buf()];
        registry::load_file(None, &dirs)?
    };
    Ok(registry::build(
        name,
        file.as_ref(),
        registry::shape_of(spec),
    )?)
}

/// Runs `sweep resume`.
pub fn run(args: &ResumeArgs) -> CliResult {
    let workspace = args.common.workspace_dir();
    // Held until the sweep ends, so that `sweep env prune` leaves the environment alone.
    let (sweep, rec, _env) = rebuild(
        &workspace,
        &args.sweep,
        Purpose::Launch { quiet: args.quiet },
    )?;
    if rec.sweep.state == SweepState::Completed {
        super::term::outln(&format!(
            "sweep {} already completed ({}); nothing to resume. Start a new sweep, or warm-start one from it with `--resume-from {}`",
            rec.sweep.id,
            rec.sweep.reason.as_deref().unwrap_or("done"),
            rec.sweep.id
        ));
        return Ok(());
    }
    let store = Arc::new(Store::open(&workspace)?);
    if !args.quiet {
        let unfinished = rec.runs.iter().filter(|r| !r.state.is_terminal()).count();
        eprintln!(
            "resuming sweep {} ({}): {} runs recorded, {unfinished} unfinished",
            rec.sweep.id,
            rec.sweep.name,
            rec.runs.len()
        );
    }
    // MLflow logging continues when MLFLOW_TRACKING_URI is set.
    super::run::drive(sweep, Some(rec), store, &workspace, args.quiet, None, &[])
}

/// Runs `sweep cancel`.
pub fn cancel(args: &CancelArgs) -> CliResult {
    let workspace = args.common.workspace_dir();
    let reader = Reader::open(&workspace)?;
    let sw = reader.resolve(&args.sweep)?;
    if sw.state != SweepState::Running {
        super::term::outln(&format!(
            "sweep {} is not running (it is {}); nothing to cancel",
            sw.id, sw.state
        ));
        return Ok(());
    }
    let dir = workspace.join("sweeps").join(&sw.id);
    if sw.target.as_deref() == Some("in-process") {
        // Its trials run inside a program using the library: a signal would stop that
        // program, not the study, and there are no runs for sweep to stop itself.
        let holder = engine::controller_pid(&dir)
            .map(|p| format!(" (open in process {p})"))
            .unwrap_or_default();
        return Err(CliError::BadInput(format!(
            "sweep {} is a library study{holder}; stop it from its program with `Study::stop`",
            sw.id
        )));
    }
    match engine::controller_pid(&dir) {
        Some(pid) => {
            // The controller treats SIGTERM as a first Ctrl-C: stop launching, stop live
            // runs gracefully, record everything.
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            )
            .map_err(|e| CliError::Failure(format!("cannot signal process {pid}: {e}")))?;
            eprintln!("asked process {pid} running sweep {} to stop", sw.id);
            let deadline = Instant::now() + Duration::from_secs(args.wait);
            loop {
                let now = reader.resolve(&sw.id)?;
                if now.state != SweepState::Running {
                    super::term::outln(&format!(
                        "sweep {} {}: {}",
                        now.id,
                        now.state,
                        now.reason.unwrap_or_default()
                    ));
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    return Err(CliError::Failure(format!(
                        "sweep {} has not ended after {} s; its runs may be slow to stop (see `sweep status {}`)",
                        sw.id, args.wait, sw.id
                    )));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        None => {
            // Nobody runs it: adopt its live runs and stop them here.
            let (sweep, rec, _) = rebuild(&workspace, &sw.id, Purpose::Stop)?;
            let store = Arc::new(Store::open(&workspace)?);
            eprintln!(
                "no process is running sweep {}; stopping its live runs and recording it canceled",
                sw.id
            );
            let rt = super::run::runtime()?;
            let out = rt.block_on(async move {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let _ = tx.send(engine::Control::Interrupt);
                let out = engine::resume(sweep, rec, store.clone(), rx, None).await;
                let _ = store.flush().await;
                out
            });
            super::run::print_ending(&out?);
            Ok(())
        }
    }
}
