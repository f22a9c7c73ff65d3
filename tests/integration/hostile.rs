//! Hostile input to `sweep run`: configs that `validate` accepts never panic the run
//! (limits past any duration, grids of any size), a grid of a billion points with no
//! concurrency limit starts at once and answers SIGTERM, and the source snapshot leaves out
//! other workspaces, refuses to grow past its limits, never blocks on an ignore file, and a
//! sweep whose snapshot fails ends `failed` while `cancel` needs no snapshot.

use crate::support::{
    choice, hd, kill9, local, pid_alive, signal, wait_exit, wait_for, Project, Ran,
};
use std::time::{Duration, Instant};

/// Prints `acc`, records its pid in `outputs/pid`, and sleeps `--sleep` seconds (default 0).
const SCRIPT: &str = r#"
import os, sys, time
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "pid"), "w").write(str(os.getpid()))
print("acc=0.5", flush=True)
time.sleep(float(a.get("--sleep", 0)))
"#;

/// A parameter entry `name` with `expression` and its values as written.
fn param(name: &str, expression: &str, values: &str) -> String {
    format!("  - name: {name}\n    expression: {expression}\n    values: {values}\n")
}

/// Waits up to 30 s for `child` (a FIFO must not make it wait for ever) and keeps its output.
#[track_caller]
fn finish(mut child: std::process::Child, what: &str) -> Ran {
    wait_exit(&mut child, 30, what);
    Ran(child.wait_with_output().unwrap())
}

/// The id of the project's latest sweep (a run id is the sweep id, `_` and a number).
fn sweep_of(p: &Project) -> String {
    let run = p.runs()[0]["id"].as_str().unwrap().to_string();
    run.rsplit_once('_').unwrap().0.to_string()
}

/// The peak resident memory of a live process, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn limits_past_any_duration_and_grids_of_any_size_run() {
    // Each of these passed `validate` and then panicked `sweep run`; the grid's values were
    // built in full (2^63 randint values, 2.4e17 qloguniform multiples).
    let space = [
        param("--n", "randint", "[9223372036854775807]"),
        param("--e", "qloguniform", "[0, 40, 1]"),
        param("--q", "quniform", "[0, 1e18, 1]"),
        param("--sleep", "choice", "[1]"),
    ]
    .concat();
    let p = Project::new()
        .script(SCRIPT)
        .hdconfig(&hd(
            &space,
            "grid",
            "max_total_runs: 2\nmax_duration_minutes: 1e20\n",
        ))
        .runconfig(&local("maxRunDurationSeconds: 1e300\n"))
        .env("SWEEP_STOP_GRACE_SECONDS", "1e300");
    let validated = p
        .sweep(&["validate", "hd.yml", "-c", "t.runconfig"])
        .success();
    validated.stdout_has("grid size:  too large to count (2^64 points or more)");
    let mut child = p.spawn_run(&[]);
    // While the runs sleep, the sweep has made every proposal it will make.
    wait_for(60, "both runs to start", || p.pids("pid").len() == 2);
    let peak = peak_rss_kb(child.id());
    let status = wait_exit(&mut child, 60, "the sweep");
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "{status:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak < 200_000, "sweep run peaked at {peak} kB");
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["params"]["--q"], 1, "{:?}", runs[1]);
    assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:?}");
}

#[test]
fn a_grid_of_a_billion_points_starts_at_once_and_answers_sigterm() {
    // No `max_total_runs`, no `max_concurrent_runs`: both default to the grid's 10^9 points.
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let values = values.join(", ");
    let space = [
        choice("--a", &values),
        choice("--b", &values),
        choice("--c", &values),
    ]
    .concat();
    let p = Project::new()
        .hdconfig(&hd(&space, "grid", ""))
        // A program cheaper than Python: thousands of runs may start before the signal.
        .runconfig("command: [sh, -c, 'echo acc=1', sh]\ntarget: local\n");
    let started = Instant::now();
    let mut child = p.spawn_run(&[]);
    wait_for(30, "the first runs to be recorded", || {
        p.runs_so_far().len() >= 3
    });
    assert!(started.elapsed() < Duration::from_secs(30));
    signal(&child, nix::sys::signal::Signal::SIGTERM);
    let status = wait_exit(&mut child, 30, "the sweep after SIGTERM");
    assert_eq!(status.code(), Some(130));
    let status = p.sweep(&["status", "latest"]).success().stdout();
    assert!(status.contains("canceled"), "{status}");
}

#[test]
fn another_workspace_in_the_source_is_never_copied() {
    let p = Project::grid(SCRIPT, "--x", "1", "");
    std::fs::create_dir_all(p.path().join("other-ws/sweeps/sw_1")).unwrap();
    p.write("other-ws/sweep.db", "");
    p.write("other-ws/big.bin", &"x".repeat(100_000));
    p.run(&[]).success();
    let work = p.run_dir(&p.runs()[0]).join("work");
    assert!(work.join("t.py").is_file(), "{}", work.display());
    assert!(
        !work.join("other-ws").exists(),
        "another workspace was copied"
    );
}

#[test]
fn a_snapshot_over_the_limit_fails_the_sweep_naming_its_largest_entries() {
    let p = Project::grid(SCRIPT, "--x", "1", "");
    std::fs::create_dir_all(p.path().join("data")).unwrap();
    for i in 0..2_000 {
        p.write(&format!("data/{i}.csv"), "1,2\n");
    }
    let out = p.run(&[]).code(1);
    let err = out.stderr();
    assert!(err.contains("the source snapshot of"), "{err}");
    assert!(err.contains("the limit is 2000 files"), "{err}");
    assert!(err.contains("\n  data/ "), "{err}");
    assert!(err.contains(".amlignore` (e.g. `data/`)"), "{err}");
    // Recorded as failed with the reason, not left running.
    let status = p.sweep(&["status", "latest"]).success().stdout();
    assert!(status.contains("failed"), "{status}");
    let cancel = p.sweep(&["cancel", "latest"]).success().stdout();
    assert!(cancel.contains("is not running"), "{cancel}");
    // Leaving the data out is enough.
    p.write(".amlignore", "data/\n");
    p.run(&[]).success();
}

#[test]
fn an_ignore_file_that_is_a_fifo_fails_at_once() {
    let p = Project::grid(SCRIPT, "--x", "1", "");
    nix::unistd::mkfifo(&p.path().join(".amlignore"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = finish(p.spawn_run(&[]), "a sweep whose .amlignore is a FIFO").code(1);
    out.stderr_has(".amlignore` is a FIFO");
}

/// A project whose sweep was SIGKILLed with its one run (sleeping 60 s) alive, and whose
/// snapshot is gone and cannot be made again (its `.amlignore` is a FIFO): the sweep's
/// directory and the run's pid.
fn killed_without_a_snapshot() -> (Project, std::path::PathBuf, i32) {
    let p = Project::grid(SCRIPT, "--sleep", "60", "");
    let mut child = p.spawn_run(&[]);
    wait_for(60, "the run to start", || !p.pids("pid").is_empty());
    let pid = p.pids("pid")[0];
    kill9(&mut child);
    let sweep_dir = p.workspace().join("sweeps").join(sweep_of(&p));
    std::fs::remove_dir_all(sweep_dir.join("snapshot")).unwrap();
    nix::unistd::mkfifo(&p.path().join(".amlignore"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    (p, sweep_dir, pid)
}

#[test]
fn cancel_needs_no_snapshot() {
    let (p, sweep_dir, pid) = killed_without_a_snapshot();
    let cancel = finish(p.spawn(&["cancel", "latest"]), "sweep cancel");
    assert!(cancel.succeeded(), "{}", cancel.text());
    cancel.stdout_has("canceled");
    wait_for(10, "the run to be stopped", || !pid_alive(pid));
    assert_eq!(p.runs()[0]["state"], "canceled");
    assert!(!sweep_dir.join("snapshot").exists());
}

#[test]
fn a_resumed_sweep_whose_snapshot_fails_ends_failed() {
    let (p, _, pid) = killed_without_a_snapshot();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = finish(p.spawn(&["resume", "latest"]), "sweep resume").code(1);
    out.stderr_has("is a FIFO");
    let status = p.sweep(&["status", &sweep_of(&p)]).success().stdout();
    assert!(status.contains("failed"), "{status}");
}
