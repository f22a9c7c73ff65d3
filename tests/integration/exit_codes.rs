//! The README's exit-code table, one case per documented code, run through the real `sweep`
//! binary on real processes and a real history: 0 success; 1 a sweep that ended `failed`,
//! `sweep best` with no best run, a history that cannot be read during `resume`; 2 an
//! invalid config (with a located diagnostic), an unknown sweep, wrong arguments; 130 an
//! interrupted sweep. And the library's log events reach stderr: a warning of an SSH target
//! whose host stops answering prints by default, and `SWEEP_LOG=error` silences it.

use super::services;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

/// A temporary project: `t.py`, `hd.yml` (one grid parameter `--x`), `t.runconfig`, and a
/// workspace `ws`.
struct Project {
    dir: tempfile::TempDir,
}

/// The sweep config of every project here: `--x` over `values`, metric `acc`, every run at
/// once.
fn hd(values: &str) -> String {
    format!(
        "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: {values}\nprimary_metric_name: acc\nprimary_metric_goal: maximize\n"
    )
}

impl Project {
    fn new(script: &str, hdconfig: &str, runconfig_extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.py"), script).unwrap();
        std::fs::write(dir.path().join("hd.yml"), hdconfig).unwrap();
        std::fs::write(
            dir.path().join("t.runconfig"),
            format!(
                "script: t.py\nenvironment:\n  python:\n    interpreterPath: python3\n{runconfig_extra}"
            ),
        )
        .unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `sweep ARGS --workspace ws` in the project, with no inherited log settings.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sweep_bin());
        c.args(args)
            .arg("--workspace")
            .arg(self.path().join("ws"))
            .current_dir(self.path())
            .env("SWEEP_STOP_GRACE_SECONDS", "0.5")
            .env_remove("SWEEP_LOG")
            .env_remove("SWEEP_TARGETS")
            .env_remove("MLFLOW_TRACKING_URI")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run(&self) -> Output {
        self.output(&["run", "hd.yml", "-c", "t.runconfig"])
    }

    /// Starts `sweep run` and waits until `runs` of its runs are recorded running.
    fn start(&self, env: &[(&str, &str)], runs: usize) -> Child {
        let mut c = self.command(&["run", "hd.yml", "-c", "t.runconfig"]);
        c.envs(env.iter().copied());
        let child = c.spawn().unwrap();
        wait_for(60, "the runs to be recorded running", || {
            self.runs()
                .iter()
                .filter(|r| r["state"] == "running")
                .count()
                >= runs
        });
        child
    }

    /// The runs of the latest sweep (none while it is not recorded yet).
    fn runs(&self) -> Vec<serde_json::Value> {
        let out = self.output(&["runs", "latest", "--format", "json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code and that stderr holds `needle`.
fn assert_exit(o: &Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(
        stderr(o).contains(needle),
        "{needle:?} not in stderr\n{}",
        text(o)
    );
}

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Reports `acc` = `--x` and exits 0.
const REPORTS: &str = "import sys\nprint('acc=%s' % sys.argv[-1], flush=True)\n";

/// Exits 1 without reporting anything.
const FAILS: &str = "import sys\nprint('no data', file=sys.stderr)\nsys.exit(1)\n";

/// Reports every 0.2 s for 20 s (stopped, or its host lost, long before that).
const LONG: &str =
    "import time\nfor i in range(100):\n    print('acc=%d' % i, flush=True)\n    time.sleep(0.2)\n";

#[test]
fn exit_0_a_sweep_that_completes() {
    let p = Project::new(REPORTS, &hd("[1, 3]"), "");
    let out = p.run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("best run "),
        "{}",
        text(&out)
    );
    let best = p.output(&["best", "latest", "--json"]);
    assert_eq!(best.status.code(), Some(0), "{}", text(&best));
}

#[test]
fn exit_1_a_sweep_whose_runs_all_fail_and_best_without_a_best_run() {
    let p = Project::new(FAILS, &hd("[1, 2, 3]"), "");
    let out = p.run();
    assert_exit(&out, 1, "sweep failed: ");
    let best = p.output(&["best", "latest"]);
    assert_exit(&best, 1, "has no best run: ");
}

#[test]
fn exit_1_a_history_that_cannot_be_read_during_resume() {
    let p = Project::new(REPORTS, &hd("[1]"), "");
    let out = p.run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The sweep is recorded; then its history file is damaged.
    let db = p.path().join("ws/sweep.db");
    assert!(db.exists());
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    for f in ["sweep.db-wal", "sweep.db-shm"] {
        let _ = std::fs::remove_file(p.path().join("ws").join(f));
    }
    let resume = p.output(&["resume", "latest"]);
    assert_exit(&resume, 1, "run history: ");
    // Reading it for `sweep cancel` is the same I/O error.
    let cancel = p.output(&["cancel", "latest"]);
    assert_exit(&cancel, 1, "run history: ");
}

#[test]
fn exit_2_an_invalid_config_with_a_located_diagnostic() {
    let bad = "sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: uniform\n    values: [0.5, 0.01]\nprimary_metric_name: acc\nprimary_metric_goal: maximize\nmax_total_runs: 2\n";
    let p = Project::new(REPORTS, bad, "");
    for args in [
        &["run", "hd.yml", "-c", "t.runconfig"][..],
        &["validate", "hd.yml", "-c", "t.runconfig"],
    ] {
        let out = p.output(args);
        assert_exit(&out, 2, "needs min < max");
        assert!(stderr(&out).contains(" --> hd.yml:6:14"), "{}", text(&out));
    }
    assert!(!p.path().join("ws/sweep.db").exists(), "nothing recorded");
}

#[test]
fn exit_2_an_unknown_sweep_whatever_the_subcommand() {
    let p = Project::new(REPORTS, &hd("[1]"), "");
    let out = p.run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for args in [
        &["status", "nosuch"][..],
        &["runs", "nosuch"],
        &["best", "nosuch"],
        &["export", "nosuch", "--format", "csv"],
        &["report", "nosuch", "--out", "r.html"],
        &["mlflow", "nosuch", "--uri", "http://127.0.0.1:9"],
        &["resume", "nosuch"],
        &["cancel", "nosuch"],
    ] {
        let out = p.output(args);
        assert_exit(&out, 2, "no sweep with id or name \"nosuch\"");
    }
    // A warm start from a sweep that is not there is the same bad input.
    let warm = p.output(&[
        "run",
        "hd.yml",
        "-c",
        "t.runconfig",
        "--resume-from",
        "nosuch",
    ]);
    assert_exit(&warm, 2, "resume_from \"nosuch\": no sweep with id or name");
    // A workspace with no history at all.
    let never_ran = Project::new(REPORTS, &hd("[1]"), "");
    assert_exit(
        &never_ran.output(&["runs", "latest"]),
        2,
        "no run history at ",
    );
}

#[test]
fn exit_2_wrong_arguments() {
    let p = Project::new(REPORTS, &hd("[1]"), "");
    for (args, needle) in [
        (
            &["frobnicate"][..],
            "error: unrecognized subcommand 'frobnicate'",
        ),
        (&["run"], "error: the following required arguments"),
        (
            &["export", "latest", "--format", "xml"],
            "error: invalid value 'xml'",
        ),
        (
            &["status", "--log-level", "loud"],
            "error: invalid value 'loud'",
        ),
        (&["status", "--watch"], "--watch needs a sweep"),
    ] {
        let out = p.output(args);
        assert_exit(&out, 2, needle);
    }
    let out = p
        .command(&["status"])
        .env("SWEEP_LOG", "sweep=loud")
        .output()
        .unwrap();
    assert_exit(&out, 2, "SWEEP_LOG=\"sweep=loud\": ");
}

#[test]
fn exit_130_an_interrupted_sweep() {
    let p = Project::new(LONG, &hd("[1, 2]"), "");
    let child = p.start(&[], 2);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_exit(
        &out,
        130,
        "interrupted: live runs were stopped and everything is recorded; resume with `sweep resume sw_",
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["state"] == "canceled"), "{runs:?}");
}

/// An SSH host of its own (own state directory and port), so stopping it disturbs no other
/// test.
fn private_host() -> Option<services::Env> {
    let vars = [
        ("SWEEP_SSHD_DIR", "/tmp/sweep-test-env/sshd-exit-codes"),
        ("SWEEP_SSHD_PORT", "2242"),
        ("SWEEP_SSHD_HOSTS", "1"),
    ];
    let r = services::start(
        "start-sshd.sh",
        Path::new("/tmp/sweep-test-env/sshd-exit-codes/env"),
        &vars,
    );
    services::require("a private sshd host for the log tests", &r)
}

/// A project whose one run is alive on the private SSH host.
fn ssh_project(env: &services::Env) -> Project {
    let targets = format!(
        "remote:\n  type: ssh\n  user: {}\n  identity_file: {}\n  known_hosts_file: {}\n  lost_after: 1\n  hosts:\n    - {{name: far-host, address: {}, port: {}}}\n",
        env["SWEEP_TEST_SSH_USER"],
        env["SWEEP_TEST_SSH_KEY"],
        env["SWEEP_TEST_SSH_KNOWN_HOSTS"],
        env["SWEEP_TEST_SSH_ADDR"],
        env["SWEEP_TEST_SSH_PORT"],
    );
    let p = Project::new(LONG, &hd("[1]"), "target: remote\n");
    std::fs::write(p.path().join("targets.yml"), targets).unwrap();
    p
}

#[test]
fn a_target_warning_reaches_stderr_by_default_and_sweep_log_error_silences_it() {
    let Some(env) = private_host() else { return };
    // Two sweeps with a run on the same host: one with the default log level, one with
    // SWEEP_LOG=error. Then the host stops answering.
    let loud = ssh_project(&env);
    let quiet = ssh_project(&env);
    let loud_child = loud.start(&[], 1);
    let quiet_child = quiet.start(&[("SWEEP_LOG", "error")], 1);
    let stop = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/env/stop-sshd.sh"))
        .args(["--host", "1", "--sessions"])
        .env("SWEEP_SSHD_DIR", &env["SWEEP_TEST_SSH_DIR"])
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", text(&stop));
    let loud_out = loud_child.wait_with_output().unwrap();
    let quiet_out = quiet_child.wait_with_output().unwrap();
    // The target's warning, as the log subscriber prints it.
    let warning = "warning: host far-host lost: ";
    assert!(stderr(&loud_out).contains(warning), "{}", text(&loud_out));
    assert!(
        !stderr(&quiet_out).contains(warning),
        "{}",
        text(&quiet_out)
    );
    assert!(
        !stderr(&quiet_out).contains("warning:"),
        "{}",
        text(&quiet_out)
    );
    // The host was lost for both sweeps alike: only the log level differs.
    for p in [&loud, &quiet] {
        let runs = p.runs();
        assert_eq!(runs.len(), 1, "{runs:?}");
        let reason = runs[0]["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("lost: host far-host stopped answering"),
            "{reason}"
        );
    }
}
