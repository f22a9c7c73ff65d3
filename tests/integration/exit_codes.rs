//! The README's exit-code table, one case per documented code, run through the real `sweep`
//! binary on real processes and a real history: 0 success; 1 a sweep that ended `failed`,
//! `sweep best` with no best run, a history that cannot be read during `resume`; 2 an
//! invalid config (with a located diagnostic), an unknown sweep, wrong arguments; 130 an
//! interrupted sweep. And the library's log events reach stderr: a warning of an SSH target
//! whose host stops answering prints by default, and `SWEEP_LOG=error` silences it.

use crate::services;
use crate::support::{choice, hd, local, output, remote, repo, wait_for, Project, Ran};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A project running `script` with `python3` over the grid parameter `--x` = `values`,
/// metric `acc`, every run at once, on local processes.
fn project(script: &str, values: &str) -> Project {
    Project::new()
        .script(script)
        .hdconfig(&hd(&choice("--x", values), "grid", ""))
        .runconfig(&local(
            "environment:\n  python:\n    interpreterPath: python3\n",
        ))
}

/// Starts `sweep run` with more environment and waits until `runs` of its runs are recorded
/// running.
fn start(p: &Project, env: &[(&str, &str)], runs: usize) -> Child {
    let mut c = p.run_command(&[]);
    c.envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    wait_for(60, "the runs to be recorded running", || {
        p.runs_so_far()
            .iter()
            .filter(|r| r["state"] == "running")
            .count()
            >= runs
    });
    child
}

/// Checks the exit code and that stderr holds `needle`.
#[track_caller]
fn assert_exit(o: &Ran, code: i32, needle: &str) {
    assert_eq!(o.exit_code(), Some(code), "{}", o.text());
    assert!(
        o.stderr().contains(needle),
        "{needle:?} not in stderr\n{}",
        o.text()
    );
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
    let p = project(REPORTS, "1, 3");
    let out = p.run(&[]).success();
    out.stdout_has("best run ");
    p.sweep(&["best", "latest", "--json"]).success();
}

#[test]
fn exit_1_a_sweep_whose_runs_all_fail_and_best_without_a_best_run() {
    let p = project(FAILS, "1, 2, 3");
    let out = p.run(&[]);
    assert_exit(&out, 1, "error: sweep sw_");
    let best = p.sweep(&["best", "latest"]);
    assert_exit(&best, 1, "has no best run: ");
}

#[test]
fn exit_1_a_history_that_cannot_be_read_during_resume() {
    let p = project(REPORTS, "1");
    p.run(&[]).success();
    // The sweep is recorded; then its history file is damaged.
    let db = p.path().join("ws/sweep.db");
    assert!(db.exists());
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    for f in ["sweep.db-wal", "sweep.db-shm"] {
        let _ = std::fs::remove_file(p.path().join("ws").join(f));
    }
    let resume = p.sweep(&["resume", "latest"]);
    assert_exit(&resume, 1, "run history: ");
    // Reading it for `sweep cancel` is the same I/O error.
    let cancel = p.sweep(&["cancel", "latest"]);
    assert_exit(&cancel, 1, "run history: ");
}

#[test]
fn exit_2_an_invalid_config_with_a_located_diagnostic() {
    let bad = "sampling:\n  type: random\n  parameter_space:\n  - name: --lr\n    expression: uniform\n    values: [0.5, 0.01]\nprimary_metric_name: acc\nprimary_metric_goal: maximize\nmax_total_runs: 2\n";
    let p = project(REPORTS, "1").hdconfig(bad);
    for args in [
        &["run", "hd.yml", "-c", "t.runconfig"][..],
        &["validate", "hd.yml", "-c", "t.runconfig"],
    ] {
        let out = p.sweep(args);
        assert_exit(&out, 2, "needs min < max");
        out.stderr_has(" --> hd.yml:6:14");
    }
    assert!(!p.path().join("ws/sweep.db").exists(), "nothing recorded");
}

#[test]
fn exit_2_an_unknown_sweep_whatever_the_subcommand() {
    let p = project(REPORTS, "1");
    p.run(&[]).success();
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
        let out = p.sweep(args);
        assert_exit(&out, 2, "no sweep with id or name \"nosuch\"");
    }
    // A warm start from a sweep that is not there is the same bad input.
    let warm = p.sweep(&[
        "run",
        "hd.yml",
        "-c",
        "t.runconfig",
        "--resume-from",
        "nosuch",
    ]);
    assert_exit(&warm, 2, "resume_from \"nosuch\": no sweep with id or name");
    // A workspace with no history at all.
    let never_ran = project(REPORTS, "1");
    assert_exit(
        &never_ran.sweep(&["runs", "latest"]),
        2,
        "no run history at ",
    );
}

#[test]
fn exit_2_wrong_arguments() {
    let p = project(REPORTS, "1");
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
        let out = p.sweep(args);
        assert_exit(&out, 2, needle);
    }
    let out = output(p.command(&["status"]).env("SWEEP_LOG", "sweep=loud"));
    assert_exit(&out, 2, "SWEEP_LOG=\"sweep=loud\": ");
}

#[test]
fn exit_130_an_interrupted_sweep() {
    let p = project(LONG, "1, 2");
    let child = start(&p, &[], 2);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = Ran(child.wait_with_output().unwrap());
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
    Project::new()
        .script(LONG)
        .hdconfig(&hd(&choice("--x", "1"), "grid", ""))
        .runconfig(&remote(""))
        .targets(&targets)
}

#[test]
fn a_target_warning_reaches_stderr_by_default_and_sweep_log_error_silences_it() {
    let Some(env) = private_host() else { return };
    // Two sweeps with a run on the same host: one with the default log level, one with
    // SWEEP_LOG=error. Then the host stops answering.
    let loud = ssh_project(&env);
    let quiet = ssh_project(&env);
    let loud_child = start(&loud, &[], 1);
    let quiet_child = start(&quiet, &[("SWEEP_LOG", "error")], 1);
    output(
        Command::new(repo().join("scripts/env/stop-sshd.sh"))
            .args(["--host", "1", "--sessions"])
            .env("SWEEP_SSHD_DIR", &env["SWEEP_TEST_SSH_DIR"]),
    )
    .success();
    let loud_out = Ran(loud_child.wait_with_output().unwrap());
    let quiet_out = Ran(quiet_child.wait_with_output().unwrap());
    // The target's warning, as the log subscriber prints it.
    let warning = "warning: host far-host lost: ";
    loud_out.stderr_has(warning);
    assert!(
        !quiet_out.stderr().contains(warning),
        "{}",
        quiet_out.text()
    );
    assert!(
        !quiet_out.stderr().contains("warning:"),
        "{}",
        quiet_out.text()
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
