//! `sweep run` (and its `submit-hyperdrive` spelling): load the config, start the engine on
//! the local target, show progress, handle Ctrl-C (once: stop gracefully; twice: kill),
//! and end with a summary naming the best run and the command that reproduces it.

use super::live::{failure_block, show_progress, ProgressView};
use super::term::{errln, escape_controls, outln};
use super::{CliError, CliResult, Common, IoContext};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use sweep::engine::{self, argv::reproduce_command, Control, EngineOptions, Outcome};
use sweep::human::format_duration;
use sweep::store::{Store, SweepState};

/// `sweep run HDCONFIG [-c RUNCONFIG] ... [-- SCRIPT [ARGS...]]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep run hdconfig.yml -c train.runconfig
  sweep run hdconfig.yml -- python3 train.py --epochs 3
  sweep run sweep-job.yml --name lr-search --seed 7 --detach
  sweep run hdconfig.yml -c train --target gpu-pool --targets targets.yml")]
pub struct RunArgs {
    /// The sweep config: a HyperDrive `hdconfig.yml` or an Azure ML v2 sweep job.
    pub hdconfig: PathBuf,
    /// The run configuration (`*.runconfig`).
    #[arg(short = 'c', long = "run-configuration", value_name = "RUNCONFIG")]
    pub runconfig: Option<PathBuf>,
    /// The experiment name (recorded with the sweep).
    #[arg(short = 'e', long = "experiment-name", value_name = "EXPERIMENT")]
    pub experiment: Option<String>,
    /// The sweep's name [default: the config file's stem].
    #[arg(long)]
    pub name: Option<String>,
    /// The sampling seed (overrides the config's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The compute target (overrides the runconfig's `target`): `local`, or a name from
    /// the targets file.
    #[arg(long)]
    pub target: Option<String>,
    /// The targets file [default: $SWEEP_TARGETS, else `targets.yml` beside the sweep
    /// config, in the current directory, or in the workspace].
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Run in the background: validate, start the sweep in its own session, print its id
    /// and return. Its output goes to `<workspace>/sweeps/<id>/sweep.log`.
    #[arg(long)]
    pub detach: bool,
    /// The id to record the sweep under (used by `--detach` for its background process).
    #[arg(long, hide = true)]
    pub sweep_id: Option<String>,
    /// Print only the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Log the sweep to this MLflow tracking server [default: $MLFLOW_TRACKING_URI].
    #[arg(long, value_name = "URI")]
    pub mlflow: Option<String>,
    /// Relaunch a run whose process vanished without an exit status (`Failed: lost`) up
    /// to N times, as new attempts of the same candidate.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_retries: u32,
    /// Stop the sweep (it ends `failed`) when its first N completed runs all ended without
    /// reporting the primary metric: no best run can come. 0 never stops for that.
    #[arg(long, value_name = "N", default_value_t = engine::DEFAULT_NO_METRIC_RUNS)]
    pub stop_without_metric: usize,
    /// Warm-start from an earlier sweep (id or name; repeatable): its runs feed the sampler
    /// and the policy pools. Adds to the config's `resume_from`.
    #[arg(long = "resume-from", value_name = "SWEEP")]
    pub resume_from: Vec<String>,
    /// Run an earlier run again first, with its parameters and `--resume-from <its outputs
    /// directory>` appended, so it continues from its checkpoint (repeatable). Adds to the
    /// config's `resume_child_runs`.
    #[arg(long = "resume-child-run", value_name = "RUN")]
    pub resume_child_runs: Vec<String>,
    /// The program to run and its fixed arguments (without a runconfig).
    #[arg(last = true, value_name = "SCRIPT")]
    pub program: Vec<String>,
    /// The script (and arguments) `submit-hyperdrive` was given, replacing the runconfig's.
    #[arg(skip)]
    pub script_override: Option<sweep::config::ScriptOverride>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

/// `sweep submit-hyperdrive -e EXP -c RUNCONFIG --hyperdrive-configuration-name HDCONFIG
/// [SCRIPT ARGS...]`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sweep submit-hyperdrive -e mnist -c train --hyperdrive-configuration-name hdconfig.yml
  sweep submit-hyperdrive -e iris -c local --hyperdrive-configuration-name hdconfig.yml train_iris.py --kernel rbf")]
pub struct SubmitArgs {
    /// The experiment name.
    #[arg(short = 'e', long = "experiment-name", value_name = "EXP")]
    pub experiment: String,
    /// The run configuration.
    #[arg(short = 'c', long = "run-configuration", value_name = "RUNCONFIG")]
    pub runconfig: PathBuf,
    /// The sweep config: a path, else a file of that name in `.azureml/` or `aml_config/`.
    #[arg(long = "hyperdrive-configuration-name", value_name = "HDCONFIG")]
    pub hdconfig: PathBuf,
    /// Print only the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// A script replacing the runconfig's `script`, and arguments replacing its
    /// `arguments` (when any are given), as `az ml run submit-hyperdrive` takes them.
    #[arg(
        value_name = "SCRIPT",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub script: Vec<String>,
    /// Common options.
    #[command(flatten)]
    pub common: Common,
}

impl SubmitArgs {
    /// The same request in `sweep run` form.
    pub fn into_run(self) -> RunArgs {
        RunArgs {
            hdconfig: resolve_hdconfig(&self.hdconfig),
            runconfig: Some(self.runconfig),
            experiment: Some(self.experiment),
            name: None,
            seed: None,
            target: None,
            targets: None,
            detach: false,
            sweep_id: None,
            quiet: self.quiet,
            mlflow: None,
            max_retries: 0,
            stop_without_metric: engine::DEFAULT_NO_METRIC_RUNS,
            resume_from: Vec::new(),
            resume_child_runs: Vec::new(),
            program: Vec::new(),
            script_override: sweep::config::ScriptOverride::from_words(&self.script),
            common: self.common,
        }
    }
}

/// The sweep config `submit-hyperdrive` names: the path if it exists, else the file of that
/// name in `.azureml/` or `aml_config/` (where `az ml` also looks).
fn resolve_hdconfig(given: &Path) -> PathBuf {
    if given.exists() {
        return given.to_path_buf();
    }
    [".azureml", "aml_config"]
        .iter()
        .map(|d| Path::new(d).join(given))
        .find(|p| p.is_file())
        .unwrap_or_else(|| given.to_path_buf())
}

/// The SIGTERM-to-SIGKILL grace period: `$SWEEP_STOP_GRACE_SECONDS`, else the default;
/// bounded like every time limit (`1e300` means no practical limit, not a panic).
pub(super) fn stop_grace() -> Duration {
    std::env::var("SWEEP_STOP_GRACE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(engine::limit_duration)
        .unwrap_or(engine::DEFAULT_STOP_GRACE)
}

/// Runs `sweep run`.
pub fn run(args: RunArgs) -> CliResult {
    let runconfig = args.runconfig.as_deref().map(super::resolve_runconfig);
    let loaded = sweep::config::load_with(
        &args.hdconfig,
        runconfig.as_deref(),
        args.script_override.as_ref(),
    )
    .map_err(CliError::Config)?;
    super::validate::print_diagnostics(&loaded, args.quiet);
    let mut spec = loaded.spec;
    if !args.program.is_empty() {
        sweep::config::apply_command_line(&mut spec, &args.program).map_err(CliError::BadInput)?;
    }
    if spec.run.script.is_none() && spec.run.arguments.is_empty() {
        return Err(CliError::BadInput(
            "nothing to run: give a runconfig (`-c RUNCONFIG`) or the program after `--`".into(),
        ));
    }
    // Recorded and shown in the reproduce command, so it must not depend on the cwd.
    if let Ok(abs) = spec.run.source_dir.canonicalize() {
        spec.run.source_dir = abs;
    }
    if let Some(t) = &args.target {
        spec.run.target = t.clone();
    }
    // What every run would hit (a missing interpreter, data the snapshot leaves out) is
    // said before anything is recorded.
    let checks = super::preflight::check(&spec);
    for w in &checks.warnings {
        errln(&format!("warning: {w}"));
    }
    if !checks.errors.is_empty() {
        return Err(CliError::BadInput(checks.errors.join("\nerror: ")));
    }
    let trailer: Vec<String> = checks
        .exclusions_line()
        .filter(|_| !checks.excluded.is_empty())
        .map(|l| format!("snapshot {l}"))
        .into_iter()
        .collect();
    let workspace = args.common.workspace_dir();
    let built = build_target(
        &spec.run.target,
        &args,
        &workspace,
        sweep::target::registry::shape_of(&spec),
    )?;
    // The engine bounds live runs by the capacity; the spec keeps the configured limit, so
    // the history records it and `sweep status` can say which of the two is binding.
    if let Some(cap) = built.capacity {
        if cap < spec.limits.max_concurrent_runs && !args.quiet {
            errln(&format!(
                "note: target {} takes {cap} run(s) at once; at most {cap} run(s) will be live (max_concurrent_runs is {})",
                spec.run.target, spec.limits.max_concurrent_runs
            ));
        }
    }
    // Built (or found in the cache) before anything is recorded; held until the sweep ends.
    let _env = super::env::prepare(&mut spec.run, args.quiet)?;
    if let Some(s) = args.seed {
        spec.seed = Some(s);
    }
    spec.resume_from.extend(args.resume_from.iter().cloned());
    let warm_start = warm_start(&workspace, &spec, args.quiet)?;
    spec.resume_child_runs
        .extend(args.resume_child_runs.iter().cloned());
    let child_runs = engine::resume::child_runs(&workspace, &spec.resume_child_runs)?;
    if args.detach {
        return detach(&args.common.workspace_dir());
    }
    // Seed, sampler and policy hook come from the library, so `sweep run` and a `Study`
    // built from the same config sample and stop runs identically.
    let parts = sweep::study::Parts::new(&spec)?;
    let seed = parts.seed;
    let policy = parts
        .policy
        .map(|p| Box::new(p) as Box<dyn sweep::policy::EarlyStop>);
    let name = args.name.clone().unwrap_or_else(|| {
        args.hdconfig
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into())
    });
    let store = Arc::new(Store::open(&workspace)?);
    let sampler = parts.sampler;
    let sweep = engine::Sweep {
        setup: engine::SweepSetup {
            id: args.sweep_id.clone().unwrap_or_else(engine::new_sweep_id),
            name,
            experiment: args.experiment.clone(),
            workspace: workspace.clone(),
            seed,
            invocation: std::env::args().collect(),
            config_files: std::iter::once(args.hdconfig.clone())
                .chain(runconfig.clone())
                .map(|p| p.canonicalize().unwrap_or(p))
                .collect(),
        },
        target: built.target,
        sampler,
        policy,
        options: EngineOptions {
            stop_grace: stop_grace(),
            max_retries: args.max_retries,
            no_metric_runs: args.stop_without_metric,
            warm_start,
            child_runs,
            target_capacity: built.capacity,
            ..EngineOptions::default()
        },
        spec,
    };
    drive(
        sweep,
        None,
        store,
        &workspace,
        args.quiet,
        args.mlflow.as_deref(),
        &trailer,
    )
}

/// `sweep run --detach`: the config is valid (checked by the caller); starts the same
/// command without `--detach` in a new session, its output in the sweep's log, waits until
/// the sweep is recorded and says how to follow and stop it.
fn detach(workspace: &Path) -> CliResult {
    use std::os::unix::process::CommandExt;
    let id = engine::new_sweep_id();
    let dir = workspace.join("sweeps").join(&id);
    std::fs::create_dir_all(&dir).or_io(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join("sweep.log");
    let log = std::fs::File::create(&log_path)
        .or_io(|| format!("cannot create {}", log_path.display()))?;
    let mut argv: Vec<String> = std::env::args().collect();
    argv.retain(|a| a != "--detach");
    let at = argv
        .iter()
        .position(|a| a == "run")
        .map_or(argv.len(), |i| i + 1);
    argv.insert(at, format!("--sweep-id={id}"));
    let exe = std::env::current_exe().or_io(|| "cannot find the sweep executable".into())?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(
            log.try_clone()
                .or_io(|| format!("cannot open {}", log_path.display()))?,
        )
        .stderr(log);
    // SAFETY: setsid is async-signal-safe. A new session: closing this terminal (SIGHUP)
    // does not reach the sweep.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .or_io(|| "cannot start the background sweep".into())?;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let recorded = sweep::store::Reader::open(workspace)
            .and_then(|r| r.resolve(&id))
            .is_ok();
        if recorded {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(CliError::Failure(format!(
                "the background sweep exited ({status}) before it started:\n{}",
                text.trim_end()
            )));
        }
        if std::time::Instant::now() >= until {
            return Err(CliError::Failure(format!(
                "the background sweep (pid {}) has not recorded itself after 30 s; see {}",
                child.id(),
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ws = workspace.display();
    outln(&format!(
        "sweep {id} is running in the background (pid {})",
        child.id()
    ));
    outln(&format!("  follow it: sweep status {id} --workspace {ws}"));
    outln(&format!("  stop it:   sweep cancel {id} --workspace {ws}"));
    outln(&format!("  its log:   {}", log_path.display()));
    Ok(())
}

/// The warm-start observations of `spec.resume_from`, with a note of what they are.
pub(super) fn warm_start(
    workspace: &Path,
    spec: &sweep::spec::SweepSpec,
    quiet: bool,
) -> Result<Vec<engine::resume::WarmRun>, CliError> {
    let (warm, skipped) = engine::resume::warm_start(workspace, spec).map_err(|e| match e {
        // The history itself; what went wrong with one of the sweeps names it already.
        engine::resume::ResumeError::Store(e) => CliError::from(e).context("resume_from"),
        e => e.into(),
    })?;
    if !quiet && !spec.resume_from.is_empty() {
        errln(&format!(
            "warm start from {}: {} earlier runs feed the policy, {} of them the sampler{}",
            spec.resume_from.join(", "),
            warm.len(),
            warm.len() - skipped,
            if skipped > 0 {
                " (the others' parameters are not points of this search space)"
            } else {
                ""
            }
        ));
    }
    Ok(warm)
}

/// The runtime a sweep's engine runs on.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .or_io(|| "cannot start the runtime".into())
}

/// Runs a new or resumed sweep in this process: progress view, signal handling, summary.
pub(super) fn drive(
    sweep: engine::Sweep,
    recovered: Option<engine::resume::Recovered>,
    store: Arc<Store>,
    workspace: &Path,
    quiet: bool,
    mlflow: Option<&str>,
    trailer: &[String],
) -> CliResult {
    let rt = runtime()?;
    let source_dir = sweep.spec.run.source_dir.clone();
    // Reports draw log-scale parameters on log axes; MLflow follows the history as it grows.
    let _ = sweep::report::record_space(workspace, &sweep.setup.id, &sweep.spec.space);
    let mlflow = sweep::mlflow::start_for_run(mlflow, workspace, &sweep.setup.id)
        .map_err(|e| CliError::from(e).context("--mlflow"))?;
    let view = ProgressView::new(
        &sweep.spec.primary_metric,
        sweep.spec.limits.max_total_runs,
        sweep.spec.limits.max_concurrent_runs,
        sweep.spec.limits.max_duration_minutes,
    );
    let metric = sweep.spec.primary_metric.clone();
    let limits = sweep.spec.limits.clone();
    let result = rt.block_on(async move {
        let (ctl_tx, ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (p_tx, p_rx) = tokio::sync::mpsc::unbounded_channel();
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        spawn_signal_handler(ctl_tx, interrupted.clone(), quiet)?;
        let viewer = tokio::spawn(show_progress(view, p_rx, quiet));
        let out = match recovered {
            Some(rec) => engine::resume(sweep, rec, store.clone(), ctl_rx, Some(p_tx)).await,
            None => engine::run(sweep, store.clone(), ctl_rx, Some(p_tx)).await,
        };
        // Under --quiet the view printed nothing: the summary shows the failure and why
        // the sweep stopped.
        let shown = match viewer.await {
            Ok(v) if !quiet => (v.failure_shown(), v.stop_shown()),
            _ => (false, false),
        };
        let _ = store.flush().await;
        Ok::<_, CliError>((
            out,
            interrupted.load(std::sync::atomic::Ordering::SeqCst),
            shown,
        ))
    });
    let (out, interrupted, (failure_shown, stop_shown)) = result?;
    if let Some(f) = mlflow {
        errln(&f.finish().line());
    }
    let out = out?;
    let read = sweep::store::Reader::open(workspace).ok();
    let summary = Summary::read(
        Summary {
            out: &out,
            metric: &metric,
            limits: &limits,
            source_dir: &source_dir,
            workspace,
            reason_shown: stop_shown,
            best_at: None,
            failure: None,
        },
        read.as_ref(),
        !failure_shown,
    );
    for l in summary.lines(super::term::output_width()) {
        outln(&l);
    }
    for l in trailer {
        outln(l);
    }
    if interrupted {
        return Err(CliError::Interrupted {
            sweep: out.sweep_id,
            workspace: workspace.to_path_buf(),
        });
    }
    if out.state == SweepState::Failed {
        return Err(CliError::Failure(format!("sweep {} failed", out.sweep_id)));
    }
    Ok(())
}

/// The target a sweep runs on: `local`, or a name from the targets file (`--targets`,
/// `$SWEEP_TARGETS`, `targets.yml` beside the sweep config, in the current directory, or
/// in the workspace).
fn build_target(
    name: &str,
    args: &RunArgs,
    workspace: &Path,
    shape: sweep::target::slurm::JobShape,
) -> Result<sweep::target::registry::Built, CliError> {
    use sweep::target::registry;
    if name.is_empty() || name == "local" {
        return Ok(registry::build(name, None, shape)?);
    }
    let beside = args
        .hdconfig
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let dirs = [beside, PathBuf::from("."), workspace.to_path_buf()];
    let file = registry::load_file(args.targets.as_deref(), &dirs)?;
    Ok(registry::build(name, file.as_ref(), shape)?)
}

fn spawn_signal_handler(
    ctl: tokio::sync::mpsc::UnboundedSender<Control>,
    flag: Arc<std::sync::atomic::AtomicBool>,
    quiet: bool,
) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let what = || "cannot install signal handlers".to_string();
    let mut int = signal(SignalKind::interrupt()).or_io(what)?;
    let mut term = signal(SignalKind::terminate()).or_io(what)?;
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            count += 1;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            if count == 1 {
                if !quiet {
                    super::live::note("stopping: no new runs; asking live runs to stop (interrupt again to kill them now)");
                }
                let _ = ctl.send(Control::Interrupt);
            } else {
                if !quiet {
                    super::live::note("killing live runs now");
                }
                let _ = ctl.send(Control::Kill);
            }
        }
    });
    Ok(())
}

/// The line that ends a sweep's output: how it ended and its runs by end state.
pub(super) fn print_ending(out: &Outcome) {
    outln(&format!(
        "{} ({} runs: {})",
        ending(out, false),
        out.runs,
        by_state(out)
    ));
}

/// How the sweep ended; the reason is left out when the `stopping:` line already said it (a
/// fail-fast or no-metric reason is a long sentence, not worth reading twice).
fn ending(out: &Outcome, reason_shown: bool) -> String {
    if reason_shown {
        format!(
            "sweep {} {}: see `stopping:` above",
            out.sweep_id,
            out.state.as_str()
        )
    } else {
        format!(
            "sweep {} {}: {}",
            out.sweep_id,
            out.state.as_str(),
            out.reason
        )
    }
}

/// The sweep's runs (every attempt) by end state.
fn by_state(out: &Outcome) -> String {
    format!(
        "{} completed, {} failed, {} canceled",
        out.completed, out.failed, out.canceled
    )
}

/// What `sweep run` prints when the sweep ends: how it ended, the running time and runs it
/// used against its limits, the best run (where its best value was reached and what it ended
/// with) and the command that reproduces it, or the output of the first failed run when
/// nothing was shown yet.
struct Summary<'a> {
    out: &'a Outcome,
    metric: &'a str,
    limits: &'a sweep::spec::Limits,
    source_dir: &'a Path,
    workspace: &'a Path,
    /// The live view printed why the sweep stopped: the ending line does not repeat it.
    reason_shown: bool,
    /// The best value with where it was reached (`0.98 at interval 12 of 20 (final 0.97)`),
    /// from the history; the bare value without one.
    best_at: Option<String>,
    /// The first failed run, whose output is shown when the live view did not show it.
    failure: Option<Failure>,
}

impl<'a> Summary<'a> {
    /// `base` completed with what the history says: where the best value was reached and,
    /// with `show_failure`, the first failed run's output.
    fn read(
        base: Summary<'a>,
        reader: Option<&sweep::store::Reader>,
        show_failure: bool,
    ) -> Summary<'a> {
        let out = base.out;
        let record = reader.and_then(|r| r.resolve(&out.sweep_id).ok().map(|s| (r, s)));
        let Some((r, s)) = record else { return base };
        Summary {
            best_at: out.best.as_ref().map(|b| {
                let at = r.best_at(&s, &b.run_id, b.value).ok().flatten();
                super::best::value_at(b.value, at)
            }),
            failure: (show_failure && out.failed > 0)
                .then(|| first_failure(r, &s))
                .flatten(),
            ..base
        }
    }

    /// The lines, laid out for `width` columns: the parameters wrap between parameters;
    /// the reproduce command and a failed run's output lines are kept whole, to be pasted
    /// and read as they are.
    fn lines(&self, width: usize) -> Vec<String> {
        let out = self.out;
        let mut lines = vec![ending(out, self.reason_shown)];
        // As `sweep status` says it: the running time used against `max_duration_minutes`,
        // the candidates against `max_total_runs`, then every attempt by how it ended.
        lines.push(format!(
            "  elapsed {} of {}; runs {} of {}{}: {}",
            format_duration(out.active_seconds),
            format_duration(self.limits.max_duration_minutes * 60.0),
            out.candidates,
            self.limits.max_total_runs,
            sweep::report::retries_note(out.runs.saturating_sub(out.candidates) as usize),
            by_state(out)
        ));
        if let Some(f) = &self.failure {
            lines.extend(failure_block(width, &f.run_id, &f.reason, &f.output));
        }
        match &out.best {
            Some(b) => {
                let at = self
                    .best_at
                    .clone()
                    .unwrap_or_else(|| super::term::sig(b.value, 6));
                lines.push(format!("best run {}: {}={at}", b.run_id, self.metric));
                let params: Vec<String> = b
                    .params
                    .iter()
                    .map(|(n, v)| {
                        escape_controls(&format!("{}={v}", n.trim_start_matches('-'))).into_owned()
                    })
                    .collect();
                lines.extend(super::term::wrap_words("  params: ", &params, width));
                lines.push(format!(
                    "  reproduce: {}",
                    escape_controls(&reproduce_command(
                        &self.source_dir.display().to_string(),
                        &b.argv
                    ))
                ));
            }
            None => lines.push(format!(
                "no best run: see `sweep best {} --workspace {}` for why",
                out.sweep_id,
                self.workspace.display()
            )),
        }
        lines
    }
}

/// A failed run as the summary shows it: its id, why it failed, its last output lines.
struct Failure {
    run_id: String,
    reason: String,
    output: Vec<String>,
}

/// The sweep's first failed run (by end time) that kept its output.
fn first_failure(
    reader: &sweep::store::Reader,
    sweep: &sweep::store::SweepRecord,
) -> Option<Failure> {
    let runs = reader.runs(sweep).ok()?;
    let r = runs
        .iter()
        .filter(|r| r.state == sweep::store::RunState::Failed && r.last_output.is_some())
        .min_by(|a, b| a.ended.unwrap_or(0.0).total_cmp(&b.ended.unwrap_or(0.0)))?;
    let out: Vec<String> = r
        .last_output
        .as_deref()
        .unwrap_or("")
        .lines()
        .map(String::from)
        .collect();
    Some(Failure {
        run_id: r.id.clone(),
        reason: r
            .reason
            .as_ref()
            .map_or_else(|| "failed".to_string(), ToString::to_string),
        output: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep::engine::BestRun;
    use sweep::space::{Params, Value};

    fn outcome(state: SweepState, reason: &str, best: Option<BestRun>) -> Outcome {
        Outcome {
            sweep_id: "sw_6b15cc4b_7919".into(),
            state,
            reason: reason.into(),
            best,
            runs: 22,
            completed: 18,
            failed: 1,
            canceled: 3,
            candidates: 20,
            active_seconds: 754.2,
        }
    }

    fn best() -> BestRun {
        let params = Params(vec![
            ("--learning_rate".into(), Value::Float(0.000123456789)),
            ("--batch_size".into(), Value::Int(64)),
            (
                "--optimizer".into(),
                Value::Str("sgd-with-nesterov-momentum".into()),
            ),
            ("--weight_decay".into(), Value::Float(0.00031415926535)),
            ("--dropout".into(), Value::Float(0.25)),
            ("--warmup_steps".into(), Value::Int(1000)),
        ]);
        let mut argv = vec!["python3".to_string(), "train.py".to_string()];
        for (n, v) in &params.0 {
            argv.push(n.clone());
            argv.push(v.to_string());
        }
        BestRun {
            run_id: "sw_6b15cc4b_7919_12".into(),
            value: 0.98521234,
            params,
            argv,
        }
    }

    fn summary<'a>(
        out: &'a Outcome,
        limits: &'a sweep::spec::Limits,
        reason_shown: bool,
    ) -> Summary<'a> {
        Summary {
            out,
            metric: "accuracy",
            limits,
            source_dir: Path::new("/home/me/project"),
            workspace: Path::new("/home/me/project/.sweep"),
            reason_shown,
            best_at: Some(super::super::best::value_at(
                0.98521234,
                Some(sweep::store::BestAt {
                    interval: 3,
                    of: 4,
                    last: 0.9685123456,
                }),
            )),
            failure: Some(Failure {
                run_id: "sw_6b15cc4b_7919_3".into(),
                reason: "exit code 1".into(),
                output: vec![
                    "Traceback (most recent call last):".into(),
                    "FileNotFoundError: [Errno 2] No such file or directory: 'data/train.csv'"
                        .into(),
                ],
            }),
        }
    }

    fn limits() -> sweep::spec::Limits {
        sweep::spec::Limits {
            max_total_runs: 20,
            max_concurrent_runs: 4,
            max_duration_minutes: 60.0,
            max_run_duration_seconds: None,
        }
    }

    #[test]
    fn the_final_summary_at_100_columns() {
        let out = outcome(
            SweepState::Completed,
            "max_total_runs (20) reached",
            Some(best()),
        );
        let limits = limits();
        let lines = summary(&out, &limits, false).lines(100);
        // Everything but the command to paste and the run's own output fits.
        for l in lines
            .iter()
            .filter(|l| !l.starts_with("  reproduce: ") && !l.starts_with("  | "))
        {
            assert!(
                super::super::term::width(l) <= 100,
                "{} columns: {l}",
                super::super::term::width(l)
            );
        }
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn a_stop_reason_the_view_printed_is_not_repeated() {
        let why = "the first 3 runs all failed the same way (exit code 1); stopping so a broken script does not burn the budget";
        let out = outcome(SweepState::Failed, why, None);
        let limits = limits();
        let shown = summary(&out, &limits, true).lines(100);
        assert_eq!(
            shown[..2],
            [
                "sweep sw_6b15cc4b_7919 failed: see `stopping:` above",
                "  elapsed 12m34s of 1h00m00s; runs 20 of 20, plus 2 retries: 18 completed, 1 failed, 3 canceled"
            ]
        );
        assert!(!shown.join("\n").contains(why), "{shown:#?}");
        // Under --quiet nothing printed it: the summary does.
        let quiet = summary(&out, &limits, false).lines(100);
        assert!(quiet[0].contains(why), "{quiet:#?}");
    }

    #[test]
    fn parameters_wrap_between_parameters_and_a_long_one_stays_whole() {
        let words: Vec<String> = ["a=1", "bb=22", "c=333", &"x".repeat(30)]
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(
            super::super::term::wrap_words("  params: ", &words, 22),
            [
                "  params: a=1 bb=22",
                "          c=333",
                &format!("          {}", "x".repeat(30)),
            ]
        );
    }
}
