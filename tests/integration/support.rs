//! The harness every integration test module uses: a temporary [`Project`] (a script, an
//! hdconfig, a runconfig, any other file, an optional targets file) in which the real `sweep`
//! binary runs with a workspace of its own and an environment that does not depend on the
//! shell the tests were started from; [`Ran`], a finished process with the checks the tests
//! make on it; the config snippets the tests share; and the waits.
//!
//! Starting the real services (sshd, Slurm, MLflow) is `services.rs`'s business, not this
//! file's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::services::Env;

/// The `sweep` binary under test.
pub const SWEEP: &str = env!("CARGO_BIN_EXE_sweep");

/// The repository root (where `configs/`, `examples/` and `scripts/` are).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The runconfig a project starts with: `t.py` on local processes.
pub const LOCAL: &str = "script: t.py\ntarget: local\n";

/// [`LOCAL`] followed by more runconfig keys.
pub fn local(extra: &str) -> String {
    format!("{LOCAL}{extra}")
}

/// A runconfig that runs `t.py` with `python3` on the target named `remote` (an SSH or
/// Slurm entry of the project's targets file), followed by more keys.
pub fn remote(extra: &str) -> String {
    format!("script: t.py\ntarget: remote\nenvironment:\n  python:\n    interpreterPath: python3\n{extra}")
}

/// An hdconfig maximising `acc` over `space` (parameter entries indented for
/// `parameter_space:`) with the `sampling` type, followed by more keys.
pub fn hd(space: &str, sampling: &str, extra: &str) -> String {
    format!(
        "sampling:\n  type: {sampling}\n  parameter_space:\n{space}primary_metric_name: acc\nprimary_metric_goal: Maximize\n{extra}"
    )
}

/// A `choice` parameter entry for [`hd`]'s `space`, its options written as given.
pub fn choice(name: &str, options: &str) -> String {
    format!("  - name: {name}\n    expression: choice\n    values: [{options}]\n")
}

/// A targets-file entry `name` for the hosts of an sshd env file, `slots` runs each.
pub fn ssh_target(name: &str, env: &Env, slots: u32, extra: &str) -> String {
    let mut s = format!(
        "{name}:\n  type: ssh\n  user: {}\n  identity_file: {}\n  known_hosts_file: {}\n  lost_after: 2\n{extra}  hosts:\n",
        env["SWEEP_TEST_SSH_USER"], env["SWEEP_TEST_SSH_KEY"], env["SWEEP_TEST_SSH_KNOWN_HOSTS"]
    );
    for (i, port) in env["SWEEP_TEST_SSH_PORTS"].split(' ').enumerate() {
        s.push_str(&format!(
            "    - {{name: host-{}, address: {}, port: {port}, slots: {slots}}}\n",
            i + 1,
            env["SWEEP_TEST_SSH_ADDR"]
        ));
    }
    s
}

/// A targets-file entry `remote` for the Slurm cluster of a Slurm env file: two runs at once,
/// polled every half second.
pub fn slurm_target(env: &Env) -> String {
    format!(
        "remote:\n  type: slurm\n  partition: {}\n  max_runs: 2\n  poll_seconds: 0.5\n",
        env["SWEEP_TEST_SLURM_PARTITION"]
    )
}

/// `sweep` with no arguments yet, stdin closed, a short stop grace period, and none of the
/// variables through which the caller's shell would change what a test sees.
pub fn sweep_command() -> Command {
    let mut c = Command::new(SWEEP);
    c.stdin(Stdio::null())
        // Runs that ignore SIGTERM are killed after half a second, not ten.
        .env("SWEEP_STOP_GRACE_SECONDS", "0.5");
    for var in [
        "SWEEP_WORKSPACE",
        "SWEEP_TARGETS",
        "SWEEP_ENV_BUILDER",
        "SWEEP_LOG",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_TRACKING_TOKEN",
    ] {
        c.env_remove(var);
    }
    c
}

/// Runs a command to its end and keeps what it left.
pub fn output(cmd: &mut Command) -> Ran {
    Ran(cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}")))
}

/// Starts a command with its output piped.
fn piped(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// A finished process: its exit status and output, with the checks tests make on it. Every
/// failing check prints the whole of [`Ran::text`].
#[derive(Debug)]
pub struct Ran(pub Output);

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran(o)
    }
}

impl Ran {
    /// Checks that the process exited 0.
    #[track_caller]
    pub fn success(self) -> Ran {
        assert!(self.0.status.success(), "{}", self.text());
        self
    }

    /// Checks that the process exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Ran {
        assert_eq!(self.0.status.code(), Some(code), "{}", self.text());
        self
    }

    /// The exit code (none after a death by signal).
    pub fn exit_code(&self) -> Option<i32> {
        self.0.status.code()
    }

    /// Whether the process exited 0.
    pub fn succeeded(&self) -> bool {
        self.0.status.success()
    }

    /// Standard output, decoded leniently.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Standard error, decoded leniently.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Status, standard output and standard error together: what a failed check shows.
    pub fn text(&self) -> String {
        format!(
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.0.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts that `text` (one or both of its streams) holds `want`, showing everything it
    /// printed when not.
    #[track_caller]
    fn holds(&self, text: &str, want: &str) {
        assert!(text.contains(want), "no {want:?} in {}", self.text());
    }

    /// Asserts that standard output holds `want`.
    #[track_caller]
    pub fn stdout_has(&self, want: &str) {
        self.holds(&self.stdout(), want);
    }

    /// Asserts that standard error holds `want`.
    #[track_caller]
    pub fn stderr_has(&self, want: &str) {
        self.holds(&self.stderr(), want);
    }

    /// Asserts that standard output or standard error holds each of `wants`.
    #[track_caller]
    pub fn says_all(&self, wants: &[&str]) {
        let all = format!("{}{}", self.stdout(), self.stderr());
        for want in wants {
            self.holds(&all, want);
        }
    }

    /// Standard output as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.text()))
    }
}

/// A temporary project directory. It starts with `t.runconfig` = [`LOCAL`]; the builder
/// methods add or replace files, and every `sweep` command runs in the directory with
/// `--workspace <dir>/ws` appended (so arguments after `--` cannot be passed).
pub struct Project {
    dir: tempfile::TempDir,
    env: Vec<(OsString, OsString)>,
}

impl Project {
    /// An empty project but for the local runconfig.
    pub fn new() -> Project {
        Project {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
        .runconfig(LOCAL)
    }

    /// A local project that runs `script` once per option of the `choice` parameter `name`
    /// (`options` as written in YAML), with more hdconfig keys.
    pub fn grid(script: &str, name: &str, options: &str, extra: &str) -> Project {
        Project::new()
            .script(script)
            .hdconfig(&hd(&choice(name, options), "grid", extra))
    }

    /// Writes `name` (relative to the project) with `contents`.
    pub fn file(self, name: &str, contents: &str) -> Project {
        self.write(name, contents);
        self
    }

    /// Writes the training script `t.py`.
    pub fn script(self, contents: &str) -> Project {
        self.file("t.py", contents)
    }

    /// Writes the sweep config `hd.yml`.
    pub fn hdconfig(self, contents: &str) -> Project {
        self.file("hd.yml", contents)
    }

    /// Replaces the runconfig `t.runconfig`.
    pub fn runconfig(self, contents: &str) -> Project {
        self.file("t.runconfig", contents)
    }

    /// Writes the targets file `targets.yml`.
    pub fn targets(self, contents: &str) -> Project {
        self.file("targets.yml", contents)
    }

    /// Runs on the SSH hosts of `env` (the target `remote`, `slots` runs per host), with the
    /// [`remote`] runconfig followed by `runconfig_extra`.
    pub fn on_ssh(self, env: &Env, slots: u32, runconfig_extra: &str) -> Project {
        self.runconfig(&remote(runconfig_extra))
            .targets(&ssh_target("remote", env, slots, ""))
    }

    /// Sets a variable for every command of the project.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Project {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes (or rewrites) a file of the project.
    pub fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path().join(name), contents).unwrap();
    }

    /// Reads a file of the project.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The workspace every command uses.
    pub fn workspace(&self) -> PathBuf {
        self.path().join("ws")
    }

    /// `sweep ARGS --workspace WS`, run in the project.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = sweep_command();
        c.args(args)
            .arg("--workspace")
            .arg(self.workspace())
            .current_dir(self.path());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `sweep ARGS` to its end.
    pub fn sweep(&self, args: &[&str]) -> Ran {
        output(&mut self.command(args))
    }

    /// Starts `sweep ARGS` with its output piped.
    pub fn spawn(&self, args: &[&str]) -> Child {
        piped(self.command(args))
    }

    /// `sweep run hd.yml -c t.runconfig EXTRA`.
    pub fn run_command(&self, extra: &[&str]) -> Command {
        let mut args = vec!["run", "hd.yml", "-c", "t.runconfig"];
        args.extend_from_slice(extra);
        self.command(&args)
    }

    /// Runs the project's sweep to its end.
    pub fn run(&self, extra: &[&str]) -> Ran {
        output(&mut self.run_command(extra))
    }

    /// Starts the project's sweep with its output piped.
    pub fn spawn_run(&self, extra: &[&str]) -> Child {
        piped(self.run_command(extra))
    }

    /// The JSON that `sweep ARGS` prints.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.sweep(args);
        serde_json::from_slice(&out.0.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", out.text()))
    }

    /// The latest sweep's runs (`sweep runs latest --format json`).
    #[track_caller]
    pub fn runs(&self) -> Vec<serde_json::Value> {
        self.json(&["runs", "latest", "--format", "json"])
            .as_array()
            .unwrap()
            .clone()
    }

    /// The runs as [`Project::runs`], or none while the sweep is not recorded yet.
    pub fn runs_so_far(&self) -> Vec<serde_json::Value> {
        serde_json::from_slice::<serde_json::Value>(
            &self.sweep(&["runs", "latest", "--format", "json"]).0.stdout,
        )
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
    }

    /// A run's directory as recorded (`run_dir`), made absolute.
    pub fn run_dir(&self, run: &serde_json::Value) -> PathBuf {
        self.path().join(run["run_dir"].as_str().unwrap())
    }

    /// The run directories of every sweep in the workspace (local mirrors of remote runs),
    /// in path order.
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.workspace().join("sweeps"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|s| {
                std::fs::read_dir(s.path().join("runs"))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|r| r.path())
            .collect();
        v.sort();
        v
    }

    /// The contents of `outputs/<file>` of every run that has written it so far.
    pub fn outputs(&self, file: &str) -> Vec<String> {
        self.run_dirs()
            .into_iter()
            .filter_map(|d| std::fs::read_to_string(d.join("outputs").join(file)).ok())
            .collect()
    }

    /// The pids the runs have written to `outputs/<file>` (whitespace-separated).
    pub fn pids(&self, file: &str) -> Vec<i32> {
        self.outputs(file)
            .iter()
            .flat_map(|t| {
                t.split_whitespace()
                    .filter_map(|s| s.parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect()
    }
}

/// A project on the target `remote` of `targets` whose runs see each of `names` as
/// `--name` (four at once), fixed arguments and a secret in the environment, both with
/// characters a shell would act on, and a `data.txt` beside `t.py` in the snapshot.
pub fn awkward(script: &str, names: &[&str], targets: &str) -> Project {
    let options: Vec<String> = names
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
    Project::grid(script, "--name", &options.join(", "), "max_concurrent_runs: 4\n")
        .runconfig("script: t.py\ntarget: remote\narguments: [--fixed, 'x y;$z']\nenvironment:\n  environmentVariables:\n    MY_SECRET: \"s3 'cr3t' $PATH\"\n  python:\n    interpreterPath: python3\n")
        .file("data.txt", "from the snapshot\n")
        .targets(targets)
}

/// The rest of the first line of `log` that starts with `prefix`.
#[track_caller]
pub fn line_after<'a>(log: &'a str, prefix: &str) -> &'a str {
    log.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {log}"))
}

/// What the run in `run_dir` of an [`awkward`] project saw: the JSON its script printed
/// after `SEEN ` in its output, checked for the fixed arguments, the run's own `--name`,
/// the secret and the snapshot's `data.txt`.
#[track_caller]
pub fn awkward_seen(run_dir: PathBuf) -> serde_json::Value {
    let log = std::fs::read_to_string(run_dir.join("output.log")).unwrap();
    let seen: serde_json::Value = serde_json::from_str(line_after(&log, "SEEN ")).unwrap();
    let name = seen["params"]["--name"].as_str().unwrap().to_string();
    assert_eq!(
        seen["argv"],
        serde_json::json!(["--fixed", "x y;$z", "--name", name]),
        "{seen}"
    );
    assert_eq!(seen["secret"], "s3 'cr3t' $PATH");
    assert_eq!(seen["data"], "from the snapshot\n");
    seen
}

/// Waits until `f` holds, polling every 20 ms, or panics after `secs` naming `what`.
#[track_caller]
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// Whether a process is alive (a zombie, which still answers `kill(0)`, counts as dead).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Checks that each of `pids` ends within 5 s.
#[track_caller]
pub fn assert_all_end(pids: &[i32], what: &str) {
    for &pid in pids {
        assert!(wait_dead(pid, 5), "process {pid} {what}");
    }
}

/// Waits up to `secs` for a process to end; whether it did.
pub fn wait_dead(pid: i32, secs: u64) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends a signal to a child (only to it, by its own pid).
pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// SIGKILLs a child (only it: its runs live on, as after a crash) and reaps it.
pub fn kill9(child: &mut Child) {
    signal(child, nix::sys::signal::Signal::SIGKILL);
    child.wait().unwrap();
}

/// Waits up to `secs` for a child to exit, killing it (by its own pid) and panicking with
/// `what` past the deadline.
#[track_caller]
pub fn wait_exit(child: &mut Child, secs: u64, what: &str) -> ExitStatus {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("{what} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
