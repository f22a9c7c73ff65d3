//! A run's directory and a run's environment, the same on every target: the local target
//! keeps the directory on this machine, the SSH target on a host (where a script's shell
//! variable holds it), the Slurm target on the cluster's shared filesystem.
//!
//! ```text
//! <run_dir>/
//!   output.log       the program's standard output and error
//!   metrics.jsonl    SWEEP_METRICS_FILE (a Slurm rerun's: metrics.restart-K.jsonl)
//!   stop             SWEEP_STOP_FILE: created when sweep asks the run to stop
//!   outputs/         SWEEP_OUTPUT_DIR
//!   work/            the working directory: a copy of the sweep's source snapshot
//!   python/          first on the run's PYTHONPATH: `azureml.core.Run` and the `sweep:`
//!                    MLflow tracking store (see `pyshim.rs`)
//!   status           local: the supervisor's `pid N`, then how the program ended
//!   exit_status      SSH: how the program ended, written by the run's wrapper
//!                    (local, by sweep versions before `status`: the same; `pid` its pid)
//!   pgid, wrapper_pid, setsid.err   SSH: the wrapper's records while the run lives
//!   job.sh           Slurm: the batch script
//! ```
//!
//! [`run_vars`] is the one list of variables a run gets; each target sets them its own way
//! (a process environment, `sbatch`'s environment, `export` lines of a remote script).

use super::{ExitStatus, LaunchRequest};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The program's output (`--output` of a Slurm job, `>>` of the SSH wrapper).
pub const OUTPUT_LOG: &str = "output.log";
/// The metrics file (`SWEEP_METRICS_FILE`).
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The stop file (`SWEEP_STOP_FILE`).
pub const STOP_FILE: &str = "stop";
/// The outputs directory (`SWEEP_OUTPUT_DIR`).
pub const OUTPUTS_DIR: &str = "outputs";
/// The working directory, a copy of the sweep's source snapshot.
pub const WORK_DIR: &str = "work";
// The records the targets keep beside what the run uses (see the layout above):
// - `status`: the local supervisor's `pid N` (its pid leads the run's process group),
//   written before the program starts so that a run whose launch was interrupted can
//   still be found; then, once the program has ended, `exit_code N`, `signal N` or
//   `unknown …`;
// - `exit_status`: how the program ended (`exit_code N` or `signal N`), written by the
//   SSH wrapper, and with `pid` by the local runs of sweep versions before `status`;
// - `pgid`, `wrapper_pid`, `setsid.err`: the SSH wrapper's record of the program's process
//   group (written before the launch reports a start), its own pid while it lives, and
//   what `setsid -w` says when a signal ended the program;
// - `job.sh`: a Slurm run's batch script.
pub(super) const STATUS_FILE: &str = "status";
pub(super) const EXIT_STATUS_FILE: &str = "exit_status";
pub(super) const OLD_PID_FILE: &str = "pid";
pub(super) const PGID_FILE: &str = "pgid";
pub(super) const WRAPPER_PID_FILE: &str = "wrapper_pid";
pub(super) const SETSID_ERR_FILE: &str = "setsid.err";
pub(super) const JOB_SCRIPT_FILE: &str = "job.sh";

/// The name of the metrics file of the `restart`-th rerun of a Slurm job (0: the first
/// attempt's `metrics.jsonl`), as the batch script derives it from `SWEEP_METRICS_FILE`.
pub fn metrics_file_name(restart: u32) -> String {
    if restart == 0 {
        METRICS_FILE.to_string()
    } else {
        format!("metrics.restart-{restart}.jsonl")
    }
}

/// Every path of one run, below its directory. The directory may be on this machine or on
/// a host: a remote run's directory is a path there, named the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// The run directory at `root`, made absolute against the current directory: the path is
    /// handed to processes that start elsewhere (the run itself, a Slurm job).
    pub fn absolute(root: &Path) -> std::io::Result<RunDir> {
        Ok(RunDir::new(std::path::absolute(root)?))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The program's output.
    pub fn output_log(&self) -> PathBuf {
        self.join(OUTPUT_LOG)
    }

    /// The metrics file of the first attempt.
    pub fn metrics(&self) -> PathBuf {
        self.join(METRICS_FILE)
    }

    /// The metrics file of the `restart`-th rerun of a Slurm job (0: the first attempt's),
    /// as the batch script derives it from `SWEEP_METRICS_FILE`.
    pub fn metrics_of_restart(&self, restart: u32) -> PathBuf {
        self.join(&metrics_file_name(restart))
    }

    /// The stop file.
    pub fn stop(&self) -> PathBuf {
        self.join(STOP_FILE)
    }

    /// The outputs directory.
    pub fn outputs(&self) -> PathBuf {
        self.join(OUTPUTS_DIR)
    }

    /// The working directory.
    pub fn work(&self) -> PathBuf {
        self.join(WORK_DIR)
    }

    /// The local supervisor's record.
    pub fn status(&self) -> PathBuf {
        self.join(STATUS_FILE)
    }

    /// The exit status record of the SSH wrapper (and of older local runs).
    pub fn exit_status(&self) -> PathBuf {
        self.join(EXIT_STATUS_FILE)
    }

    /// An older local run's pid file.
    pub fn old_pid(&self) -> PathBuf {
        self.join(OLD_PID_FILE)
    }

    /// A Slurm run's batch script.
    pub fn job_script(&self) -> PathBuf {
        self.join(JOB_SCRIPT_FILE)
    }

    /// A variable's value for this run: text as it is, a run file as its path here.
    pub fn value(&self, v: &Value<'_>) -> OsString {
        self.value_over(v, None)
    }

    /// [`RunDir::value`], for a variable whose value so far (inherited, or set by an
    /// earlier [`Var`]) is `before`: a [`Value::FirstInRunDir`] keeps it after its path.
    pub fn value_over(&self, v: &Value<'_>, before: Option<&std::ffi::OsStr>) -> OsString {
        match v {
            Value::Text(t) => (*t).into(),
            Value::InRunDir(name) => self.join(name).into(),
            Value::FirstInRunDir(name) => {
                let mut out: OsString = self.join(name).into();
                if let Some(b) = before.filter(|b| !b.is_empty()) {
                    out.push(":");
                    out.push(b);
                }
                out
            }
        }
    }
}

/// The value of one of a run's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Text, as it is.
    Text(&'a str),
    /// The path of this entry of the run directory (where the directory is, only the target
    /// knows: see [`RunDir::value`]).
    InRunDir(&'static str),
    /// A search path (`PYTHONPATH`): this run-directory entry first, then the entries the
    /// variable had before, if any.
    FirstInRunDir(&'static str),
}

/// One variable sweep sets for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its value.
    pub value: Value<'a>,
    /// Set only when the environment the run inherits does not have it already.
    pub unless_set: bool,
}

/// The variables a run gets on top of the environment it inherits, in the order they are
/// set (a later one wins over an earlier one of the same name): `PYTHONUNBUFFERED=1` unless
/// set, so a Python script's metric lines reach sweep while it runs rather than when its
/// stdout buffer fills; the run configuration's variables; then `SWEEP_RUN_ID`,
/// `SWEEP_SWEEP_ID`, `SWEEP_PARAMS`, `SWEEP_METRICS_FILE`, `SWEEP_OUTPUT_DIR` and
/// `SWEEP_STOP_FILE`. Before the run configuration's variables (which may replace them),
/// the run's MLflow identity: `MLFLOW_TRACKING_URI` selecting the `sweep:` store,
/// `MLFLOW_RUN_ID` the run id and `MLFLOW_EXPERIMENT_ID` the sweep id, and, unless set,
/// `MLFLOW_DISABLE_TELEMETRY=true` and `MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE=1` (asynchronous
/// logging delivers in order); after them,
/// `PYTHONPATH` with the run's `python/` first (see `pyshim.rs`). The run configuration's
/// values are secrets: never logged.
pub fn run_vars(req: &LaunchRequest) -> Vec<Var<'_>> {
    let var = |name, value| Var {
        name,
        value,
        unless_set: false,
    };
    let mut vars = vec![
        Var {
            name: "PYTHONUNBUFFERED",
            value: Value::Text("1"),
            unless_set: true,
        },
        var(
            "MLFLOW_TRACKING_URI",
            Value::Text(super::pyshim::MLFLOW_URI),
        ),
        var("MLFLOW_RUN_ID", Value::Text(&req.run_id)),
        var("MLFLOW_EXPERIMENT_ID", Value::Text(&req.sweep_id)),
        // MLflow 3 sends usage telemetry from every client; a run reports to sweep only.
        Var {
            name: "MLFLOW_DISABLE_TELEMETRY",
            value: Value::Text("true"),
            unless_set: true,
        },
        // MLflow's asynchronous logging hands its batches to a pool of 10 threads, which
        // deliver them in any order: a run's series would be recorded out of step order.
        // The store's write is one local append, so one thread keeps the order and costs
        // nothing.
        Var {
            name: "MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE",
            value: Value::Text("1"),
            unless_set: true,
        },
    ];
    vars.extend(req.env.iter().map(|(k, v)| var(k, Value::Text(v))));
    vars.push(var("PYTHONPATH", Value::FirstInRunDir(super::pyshim::DIR)));
    vars.extend([
        var("SWEEP_RUN_ID", Value::Text(&req.run_id)),
        var("SWEEP_SWEEP_ID", Value::Text(&req.sweep_id)),
        var("SWEEP_PARAMS", Value::Text(&req.params_json)),
        var("SWEEP_METRICS_FILE", Value::InRunDir(METRICS_FILE)),
        var("SWEEP_OUTPUT_DIR", Value::InRunDir(OUTPUTS_DIR)),
        var("SWEEP_STOP_FILE", Value::InRunDir(STOP_FILE)),
    ]);
    vars
}

/// Parses one exit status record, `exit_code N` or `signal N`, as the local supervisor and
/// the SSH wrapper write it.
pub fn parse_exit(s: &str) -> Option<ExitStatus> {
    let (k, v) = s.trim().split_once(' ')?;
    match k {
        "exit_code" => v.trim().parse().ok().map(ExitStatus::Code),
        "signal" => v.trim().parse().ok().map(ExitStatus::Signal),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> LaunchRequest {
        LaunchRequest {
            sweep_id: "s".into(),
            run_id: "s_0".into(),
            argv: vec!["true".into()],
            env: vec![
                ("SECRET".into(), "x y".into()),
                ("PYTHONUNBUFFERED".into(), "0".into()),
            ],
            params_json: r#"{"--lr":0.1}"#.into(),
            snapshot: "/snap".into(),
            run_dir: "/ws/runs/s_0".into(),
            primary_metric: "acc".into(),
            output_dirs: Vec::new(),
            pattern: None,
        }
    }

    #[test]
    fn the_run_vars_are_the_runconfigs_then_sweeps_with_paths_in_the_run_dir() {
        let r = req();
        let dir = RunDir::new(&r.run_dir);
        let vars = run_vars(&r);
        let shown: Vec<(&str, String, bool)> = vars
            .iter()
            .map(|v| {
                let value = dir.value(&v.value).to_string_lossy().into_owned();
                (v.name, value, v.unless_set)
            })
            .collect();
        let s = |n: &'static str, v: &str| (n, v.to_string(), false);
        assert_eq!(
            shown,
            [
                ("PYTHONUNBUFFERED", "1".to_string(), true),
                s("MLFLOW_TRACKING_URI", "sweep:run"),
                s("MLFLOW_RUN_ID", "s_0"),
                s("MLFLOW_EXPERIMENT_ID", "s"),
                ("MLFLOW_DISABLE_TELEMETRY", "true".to_string(), true),
                (
                    "MLFLOW_ASYNC_LOGGING_THREADPOOL_SIZE",
                    "1".to_string(),
                    true
                ),
                s("SECRET", "x y"),
                s("PYTHONUNBUFFERED", "0"),
                s("PYTHONPATH", "/ws/runs/s_0/python"),
                s("SWEEP_RUN_ID", "s_0"),
                s("SWEEP_SWEEP_ID", "s"),
                s("SWEEP_PARAMS", r#"{"--lr":0.1}"#),
                s("SWEEP_METRICS_FILE", "/ws/runs/s_0/metrics.jsonl"),
                s("SWEEP_OUTPUT_DIR", "/ws/runs/s_0/outputs"),
                s("SWEEP_STOP_FILE", "/ws/runs/s_0/stop"),
            ]
        );
    }

    #[test]
    fn the_python_path_puts_the_runs_files_before_what_it_had() {
        let dir = RunDir::new("/r");
        let v = Value::FirstInRunDir("python");
        assert_eq!(dir.value_over(&v, None), "/r/python");
        assert_eq!(dir.value_over(&v, Some("".as_ref())), "/r/python");
        assert_eq!(
            dir.value_over(&v, Some("/a:/b".as_ref())),
            "/r/python:/a:/b"
        );
    }

    #[test]
    fn paths_of_the_layout() {
        let d = RunDir::new("/r");
        assert_eq!(d.output_log(), Path::new("/r/output.log"));
        assert_eq!(d.metrics_of_restart(0), Path::new("/r/metrics.jsonl"));
        assert_eq!(
            d.metrics_of_restart(3),
            Path::new("/r/metrics.restart-3.jsonl")
        );
        assert_eq!(d.work(), Path::new("/r/work"));
        assert_eq!(d.status(), Path::new("/r/status"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            RunDir::absolute(Path::new("runs/a")).unwrap().stop(),
            cwd.join("runs/a/stop")
        );
    }

    #[test]
    fn exit_records() {
        assert_eq!(parse_exit("exit_code 3\n"), Some(ExitStatus::Code(3)));
        assert_eq!(parse_exit("signal 15"), Some(ExitStatus::Signal(15)));
        assert_eq!(parse_exit("exit_code x"), None);
        assert_eq!(parse_exit("pid 12"), None);
        assert_eq!(parse_exit(""), None);
    }
}
