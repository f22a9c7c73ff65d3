//! Nothing lost: a `sweep` killed with SIGKILL is resumed by `sweep resume`, which re-adopts
//! the runs still alive, records the real outcome of runs that ended while no sweep was
//! watching, never launches a run twice and continues the sampler's sequence; `sweep cancel`
//! stops a sweep from another process, whether or not its `sweep` is still alive.

use crate::support::{
    assert_all_end, choice, hd, kill9, pid_alive, signal, wait_dead, wait_exit, wait_for, Project,
    Ran,
};
use nix::sys::signal::Signal;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Reports `acc` every 0.3 s for `--steps` intervals, records its pid, and exits with
/// `--code`.
const SLOW: &str = r#"
import json, os, sys, time
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
x, steps, code = float(a["--x"]), int(a.get("--steps", 6)), int(a.get("--code", 0))
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "pid"), "w").write(str(os.getpid()))
for i in range(1, steps + 1):
    time.sleep(0.3)
    print("@sweep " + json.dumps({"metric": "acc", "value": x * i}), flush=True)
sys.exit(code)
"#;

fn project(extra_space: &str, limits: &str) -> Project {
    let space =
        format!("  - name: --x\n    expression: uniform\n    values: [0, 1]\n{extra_space}");
    Project::new()
        .script(SLOW)
        .hdconfig(&hd(&space, "random", &format!("{limits}\n")))
}

fn start(p: &Project, extra: &[&str]) -> Child {
    p.spawn_run(&[&["--seed", "11"], extra].concat())
}

/// Waits until `n` runs have recorded their program's pid and are alive; returns those
/// pids.
fn wait_running(p: &Project, n: usize) -> Vec<i32> {
    let mut pids = Vec::new();
    wait_for(60, "the runs to start", || {
        pids = p
            .pids("pid")
            .into_iter()
            .filter(|&pid| pid_alive(pid))
            .collect();
        pids.len() >= n
    });
    pids
}

/// The JSON lines of `sweep export latest --format jsonl`.
fn metric_points(p: &Project) -> Vec<serde_json::Value> {
    p.sweep(&["export", "latest", "--format", "jsonl"])
        .stdout()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn params(runs: &[serde_json::Value]) -> Vec<String> {
    runs.iter().map(|r| r["params"].to_string()).collect()
}

#[test]
fn a_killed_sweep_resumes_exactly() {
    let p = project("", "max_total_runs: 5\nmax_concurrent_runs: 2");
    let mut child = start(&p, &[]);
    let pids = wait_running(&p, 2);
    kill9(&mut child);
    // The runs outlive their sweep.
    for pid in &pids {
        assert!(pid_alive(*pid), "run {pid} died with its sweep");
    }
    let before = p.runs();
    assert!(before.iter().any(|r| r["state"] == "running"), "{before:?}");
    p.sweep(&["resume", "latest"]).code(0);
    let runs = p.runs();
    assert_eq!(runs.len(), 5, "{runs:?}");
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        assert_eq!(r["exit_code"], 0, "{r}");
        // Every interval exactly once: an adopted run's output is read again from its
        // start, and what was already recorded is not recorded twice.
        assert_eq!(r["intervals"], 6, "{r}");
    }
    let mut per_run: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for m in metric_points(&p) {
        per_run
            .entry(m["run"].as_str().unwrap().to_string())
            .or_default()
            .push(m["interval"].as_i64().unwrap());
    }
    assert_eq!(per_run.len(), 5);
    for (run, mut steps) in per_run {
        steps.sort();
        assert_eq!(steps, (1..=6).collect::<Vec<_>>(), "{run}");
    }
    // The sampler continued its sequence: the same candidates, in the same order, as an
    // uninterrupted sweep with the same seed.
    let q = project("", "max_total_runs: 5\nmax_concurrent_runs: 2");
    q.run(&["--seed", "11"]).code(0);
    assert_eq!(params(&runs), params(&q.runs()));
    let status = p.sweep(&["status", "latest"]);
    status.stdout_has("completed");
}

#[test]
fn ctrl_c_then_resume_ends_with_the_full_budget_of_runs_completed() {
    let p = project("", "max_total_runs: 4\nmax_concurrent_runs: 2");
    let child = start(&p, &[]);
    wait_running(&p, 2);
    signal(&child, Signal::SIGINT);
    Ran::from(child.wait_with_output().unwrap()).code(130);
    let before = p.runs();
    let interrupted: Vec<&serde_json::Value> = before
        .iter()
        .filter(|r| r["reason"] == "user cancel")
        .collect();
    assert!(!interrupted.is_empty(), "{before:#?}");
    // Time while no process runs the sweep is not elapsed time.
    let downtime = 2.0;
    std::thread::sleep(Duration::from_secs_f64(downtime));
    let resumed = p.sweep(&["resume", "latest"]).code(0);
    resumed.stdout_has("max_total_runs (4) reached");
    let runs = p.runs();
    // Every candidate of the budget completed; the interrupted attempts stay recorded.
    let completed: Vec<&serde_json::Value> =
        runs.iter().filter(|r| r["state"] == "completed").collect();
    assert_eq!(completed.len(), 4, "{runs:#?}");
    assert_eq!(runs.len(), 4 + interrupted.len(), "{runs:#?}");
    for i in &interrupted {
        let retries: Vec<&&serde_json::Value> = completed
            .iter()
            .filter(|r| r["retry_of"] == i["id"])
            .collect();
        assert_eq!(retries.len(), 1, "one retry of {}: {runs:#?}", i["id"]);
        assert_eq!(
            retries[0]["params"], i["params"],
            "a retry runs its candidate"
        );
        assert_eq!(retries[0]["intervals"], 6, "{}", retries[0]);
        // Said as it happens.
        let said = format!(
            "run {} retries run {} (same parameters)",
            retries[0]["id"].as_str().unwrap(),
            i["id"].as_str().unwrap()
        );
        resumed.stdout_has(&said);
    }
    // The summary counts candidates against the budget, the retries apart.
    let retried = match interrupted.len() {
        1 => ", plus 1 retry".to_string(),
        n => format!(", plus {n} retries"),
    };
    resumed.stdout_has(&format!("; runs 4 of 4{retried}: 4 completed"));
    let status = p.json(&["status", "latest", "--format", "json"]);
    let elapsed = status["elapsed"].as_f64().unwrap();
    let wall = status["ended"].as_f64().unwrap() - status["created"].as_f64().unwrap();
    assert!(
        elapsed > 0.0 && elapsed < wall - downtime * 0.9,
        "elapsed {elapsed} s of running time, {wall} s of wall time: {status}"
    );
    // The candidates are the uninterrupted sweep's, in its order.
    let q = project("", "max_total_runs: 4\nmax_concurrent_runs: 2");
    q.run(&["--seed", "11"]).code(0);
    let mut got: Vec<String> = params(&completed.into_iter().cloned().collect::<Vec<_>>());
    let mut want = params(&q.runs());
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn runs_that_end_while_no_sweep_watches_keep_their_real_outcome() {
    // Short runs that fail with exit code 3: they end while the sweep is dead.
    let space = choice("--steps", "2") + &choice("--code", "3");
    let p = project(&space, "max_total_runs: 2\nmax_concurrent_runs: 2");
    let mut child = start(&p, &[]);
    let pids = wait_running(&p, 2);
    kill9(&mut child);
    assert_all_end(&pids, "did not end");
    p.sweep(&["resume", "latest"]).code(0);
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r["state"], "failed", "{r}");
        assert_eq!(r["exit_code"], 3, "{r}");
        assert_eq!(r["reason"], "exit code 3", "{r}");
        assert_eq!(r["intervals"], 2, "{r}");
    }
}

#[test]
fn a_vanished_run_is_lost_and_retried_within_max_retries() {
    let p = project("", "max_total_runs: 1\nmax_concurrent_runs: 1");
    let mut child = start(&p, &["--max-retries", "1"]);
    let pids = wait_running(&p, 1);
    kill9(&mut child);
    // The run and its supervisor vanish without a trace (as in a reboot).
    let run_dir = p.run_dir(&p.runs()[0]);
    // The supervisor's `status` file starts with its pid (the run's process group).
    let status = std::fs::read_to_string(run_dir.join("status")).unwrap();
    let sup: i32 = status
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .unwrap_or_else(|| panic!("no pid line in {status:?}"))
        .parse()
        .unwrap();
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_dead(pids[0], 5));
    p.sweep(&["resume", "latest"]).code(0);
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["state"], "failed");
    let reason = runs[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("lost: "), "{reason}");
    assert_eq!(runs[1]["state"], "completed", "{}", runs[1]);
    assert_eq!(runs[1]["retry_of"], runs[0]["id"]);
    assert_eq!(
        runs[1]["params"], runs[0]["params"],
        "a retry runs the same candidate"
    );
    // The retry is the candidate's observation; the sweep's budget of one candidate held.
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["run"], runs[1]["id"], "{best}");
}

#[test]
fn cancel_stops_a_running_sweep_from_another_process() {
    let p = project(
        &choice("--steps", "200"),
        "max_total_runs: 4\nmax_concurrent_runs: 2",
    );
    let child = start(&p, &[]);
    let pids = wait_running(&p, 2);
    // A second controller is refused while the first runs.
    let second = p.sweep(&["resume", "latest"]).code(2);
    second.stderr_has("already being run");
    // Readers work beside the running sweep.
    for args in [
        &["status", "latest"][..],
        &["runs", "latest"],
        &["export", "latest", "--format", "csv"],
    ] {
        let o = p.sweep(args);
        assert_eq!(o.exit_code(), Some(0), "{args:?}: {}", o.text());
    }
    let out = p.sweep(&["cancel", "latest"]).code(0);
    out.stdout_has("canceled");
    Ran::from(child.wait_with_output().unwrap()).code(130);
    assert_all_end(&pids, "survived the cancel");
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "nothing launched after the cancel");
    for r in &runs {
        assert_eq!(
            (r["state"].as_str(), r["reason"].as_str()),
            (Some("canceled"), Some("user cancel")),
            "{r}"
        );
    }
}

#[test]
fn cancel_of_a_sweep_whose_process_died_stops_its_runs() {
    let p = project(
        &choice("--steps", "200"),
        "max_total_runs: 4\nmax_concurrent_runs: 2",
    );
    let mut child = start(&p, &[]);
    let pids = wait_running(&p, 2);
    kill9(&mut child);
    // Recorded running, with the dead process's last waiting reason (the concurrency cap):
    // status says nothing runs it instead, and --watch does not wait for it forever.
    let status = p.sweep(&["status", "latest"]);
    let shown = status.stdout();
    assert!(
        shown.contains("no process is running this sweep") && shown.contains("sweep resume"),
        "{}",
        status.text()
    );
    assert!(!shown.contains("waiting:"), "{shown}");
    let mut watch = p
        .command(&["status", "latest", "--watch", "--interval", "0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let code = wait_exit(
        &mut watch,
        20,
        "status --watch (watching a sweep no process runs)",
    )
    .code();
    assert_eq!(code, Some(0));
    p.sweep(&["cancel", "latest"]).code(0);
    assert_all_end(&pids, "survived the cancel");
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert_eq!(r["state"], "canceled", "{r}");
    }
    let status = p.sweep(&["status", "latest"]);
    status.stdout_has("canceled");
}

#[test]
fn a_detached_sweep_runs_in_the_background_and_is_canceled() {
    let p = project(
        &choice("--steps", "200"),
        "max_total_runs: 4\nmax_concurrent_runs: 1",
    );
    let stdout = p.run(&["--detach"]).code(0).stdout();
    let id = stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_string();
    assert!(stdout.contains(&format!("sweep cancel {id}")), "{stdout}");
    let pids = wait_running(&p, 1);
    let status = p.sweep(&["status", &id]);
    status.stdout_has("running");
    p.sweep(&["cancel", &id]).code(0);
    assert_all_end(&pids, "survived the cancel");
    let st = p.sweep(&["status", &id]);
    st.stdout_has(": canceled");
    let log = p.workspace().join("sweeps").join(&id).join("sweep.log");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("running"),
        "the background sweep logs its events: {log}"
    );
}

/// Reports `--level` for `--steps` intervals.
const LEVEL: &str = r#"
import sys, time
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
for i in range(int(a.get("--steps", 4))):
    print("acc=%s" % a["--level"], flush=True)
    time.sleep(0.2)
"#;

#[test]
fn a_warm_start_feeds_earlier_runs_to_the_policy_and_checks_the_goal() {
    let weak = choice("--level", "0.5, 0.4");
    let bandit = "policy:\n  type: BanditPolicy\n  evaluation_interval: 1\n  delay_evaluation: 1\n  slack_amount: 0.1\nmax_total_runs: 2\nmax_concurrent_runs: 2\n";
    let p = Project::grid(LEVEL, "--level", "0.9", bandit)
        .file("weak.yml", &hd(&weak, "grid", bandit))
        // A sweep with another goal.
        .file(
            "min.yml",
            &hd(&weak, "grid", bandit).replace("Maximize", "Minimize"),
        );
    p.run(&["--name", "strong"]).code(0);
    // Without a warm start the weaker runs only meet each other: nobody is cut.
    p.sweep(&["run", "weak.yml", "-c", "t.runconfig", "--seed", "1"])
        .code(0);
    assert!(p.runs().iter().all(|r| r["state"] == "completed"));
    // With it, they are compared with the earlier sweep's 0.9 and cut at interval 1.
    let warm = p
        .sweep(&[
            "run",
            "weak.yml",
            "-c",
            "t.runconfig",
            "--seed",
            "1",
            "--resume-from",
            "strong",
        ])
        .code(0);
    warm.stderr_has(
        "warm start from strong: 1 earlier runs feed the policy, 0 of them the sampler",
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r["reason"], "policy:bandit", "{r}");
        assert_eq!(r["detail"]["interval"], 1, "{r}");
        assert!(
            (r["detail"]["threshold"].as_f64().unwrap() - 0.8).abs() < 1e-9,
            "{r}"
        );
    }
    // A sweep with another goal cannot warm-start from it.
    let bad = p
        .sweep(&[
            "run",
            "min.yml",
            "-c",
            "t.runconfig",
            "--resume-from",
            "strong",
        ])
        .code(2);
    bad.stderr_has("same primary metric and goal");
}

/// Prints a flood of `acc` reports (`x * i` for i = 1..=FLOOD), after recording its start.
const FLOOD: &str = r#"
import os, sys, time
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
x = float(a["--x"])
with open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "starts"), "a") as f:
    f.write("%d\n" % os.getpid())
out = sys.stdout
for i in range(1, 301):
    out.write('@sweep {"metric":"acc","value":%r}\n' % (x * i))
    if i % 50 == 0:
        out.flush()
        time.sleep(0.02)
out.flush()
time.sleep(0.6)
"#;

#[test]
fn killed_at_twenty_points_the_sweep_still_ends_exactly_as_an_uninterrupted_one() {
    const TOTAL: usize = 60;
    let space = "  - name: --x\n    expression: uniform\n    values: [0, 1]\n";
    // A policy that never stops anyone: its pools are rebuilt at every resume all the same.
    let limits = format!(
        "max_total_runs: {TOTAL}\nmax_concurrent_runs: 4\npolicy:\n  type: BanditPolicy\n  evaluation_interval: 50\n  slack_amount: 1000\n"
    );
    let flood = || {
        Project::new()
            .script(FLOOD)
            .hdconfig(&hd(space, "random", &limits))
    };
    let p = flood();
    let pauses = [0.05, 0.3, 0.6, 0.15, 0.9, 0.45, 0.2, 1.2, 0.1, 0.7];
    let mut kills = 0;
    let mut round = 0;
    while kills < 20 {
        let started = p.sweep(&["status", "latest"]).succeeded();
        let mut child = if started {
            p.command(&["resume", "latest", "--quiet"])
        } else {
            p.run_command(&["--seed", "5", "--quiet"])
        }
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        if !started {
            // A kill before the sweep is recorded leaves nothing to resume (and is no kill
            // point of a sweep): on a loaded machine the first start can take seconds.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !p.sweep(&["status", "latest"]).succeeded()
                && child.try_wait().unwrap().is_none()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        std::thread::sleep(Duration::from_secs_f64(pauses[round % pauses.len()]));
        round += 1;
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            // Finished before the kill: only if every run is done.
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            break;
        }
        kill9(&mut child);
        kills += 1;
    }
    assert_eq!(
        kills, 20,
        "the sweep must still be running at every kill point"
    );
    p.sweep(&["resume", "latest"]).success();
    let runs = p.runs();
    assert_eq!(runs.len(), TOTAL, "exactly max_total_runs runs");
    let ids: std::collections::BTreeSet<_> = runs.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids.len(), TOTAL, "no duplicated run");
    // Every run recorded exactly what it printed, once.
    let mut got: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for m in metric_points(&p) {
        got.entry(m["run"].as_str().unwrap().to_string())
            .or_default()
            .push((
                m["interval"].as_i64().unwrap(),
                m["value"].as_f64().unwrap(),
            ));
    }
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        let id = r["id"].as_str().unwrap();
        let x = r["params"]["--x"].as_f64().unwrap();
        let mut recorded = got.remove(id).unwrap_or_default();
        recorded.sort_by_key(|(i, _)| *i);
        let printed: Vec<(i64, f64)> = (1..=300).map(|i| (i, x * i as f64)).collect();
        assert_eq!(recorded, printed, "{id}");
        // Launched once: a run alive at a kill was re-adopted, never started again.
        let starts = std::fs::read_to_string(p.run_dir(r).join("outputs/starts")).unwrap();
        assert_eq!(starts.lines().count(), 1, "{id} started {starts:?}");
    }
    // The same candidates, in the same order, as an uninterrupted sweep with the seed.
    let q = flood();
    q.run(&["--seed", "5", "--quiet"]).success();
    assert_eq!(params(&runs), params(&q.runs()));
}

#[test]
fn readers_in_a_loop_beside_a_running_sweep_never_see_an_error() {
    let p = project("", "max_total_runs: 8\nmax_concurrent_runs: 4");
    let mut child = start(&p, &[]);
    wait_running(&p, 1);
    let mut reads = 0;
    while child.try_wait().unwrap().is_none() {
        for args in [
            &["status", "latest"][..],
            &["runs", "latest", "--format", "json"],
            &["best", "latest", "--json"],
            &["export", "latest", "--format", "jsonl"],
        ] {
            let o = p.sweep(args);
            // `best` exits 1 while no run has a value yet; it must still answer cleanly.
            let code = o.exit_code();
            assert!(
                code == Some(0) || (args[0] == "best" && code == Some(1)),
                "{args:?}: {}",
                o.text()
            );
            let err = o.stderr();
            assert!(
                !err.contains("locked") && !err.contains("busy"),
                "{args:?}: {err}"
            );
            reads += 1;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        reads >= 8,
        "only {reads} reads happened while the sweep ran"
    );
}

const BOWL: &str = r#"
import sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
x, y = float(a["--x"]), float(a["--y"])
print("loss=%r" % ((x - 0.3) ** 2 + (y - 0.7) ** 2))
"#;

fn bowl_config(runs: u64) -> String {
    format!(
        "sampling:\n  type: bayesian\n  parameter_space:\n  - name: --x\n    expression: uniform\n    values: [0, 1]\n  - name: --y\n    expression: uniform\n    values: [0, 1]\nprimary_metric_name: loss\nprimary_metric_goal: Minimize\nmax_total_runs: {runs}\nmax_concurrent_runs: 1\n"
    )
}

/// How many runs a sweep took to get below `target` (`runs + 1` if it never did).
fn runs_to_target(p: &Project, sweep: &str, target: f64) -> usize {
    let runs = p.json(&["runs", sweep, "--format", "json"]);
    let runs = runs.as_array().unwrap();
    runs.iter()
        .position(|r| r["best"].as_f64().is_some_and(|v| v < target))
        .map_or(runs.len() + 1, |i| i + 1)
}

#[test]
fn a_warm_started_bayesian_sweep_reaches_the_target_in_fewer_new_runs() {
    const RUNS: u64 = 16;
    const TARGET: f64 = 0.002;
    let (mut cold_total, mut warm_total) = (0, 0);
    for seed in [1u64, 2, 3] {
        let p = Project::new().script(BOWL).hdconfig(&bowl_config(RUNS));
        let run = |name: &str, seed: u64, extra: &[&str]| {
            let s = seed.to_string();
            p.run(&[&["--quiet", "--name", name, "--seed", &s], extra].concat())
                .success();
        };
        run("earlier", seed, &[]);
        run("cold", seed + 100, &[]);
        run("warm", seed + 100, &["--resume-from", "earlier"]);
        let cold = runs_to_target(&p, "cold", TARGET);
        let warm = runs_to_target(&p, "warm", TARGET);
        eprintln!("seed {seed}: {cold} runs cold, {warm} warm");
        assert!(warm <= cold, "seed {seed}: warm {warm} runs, cold {cold}");
        cold_total += cold;
        warm_total += warm;
    }
    assert!(
        warm_total < cold_total,
        "warm start took {warm_total} new runs in all, cold {cold_total}"
    );
}

/// Trains two "epochs" past its checkpoint (`--resume-from DIR`), then saves one.
const CHECKPOINTED: &str = r#"
import os, sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
start = 0
if "--resume-from" in a:
    start = int(open(os.path.join(a["--resume-from"], "ckpt")).read())
for epoch in range(start + 1, start + 3):
    print("acc=%d" % epoch, flush=True)
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "ckpt"), "w").write(str(start + 2))
"#;

#[test]
fn resume_child_runs_continue_earlier_runs_from_their_checkpoints_first() {
    let space = "  - name: --x\n    expression: uniform\n    values: [0, 1]\n";
    let p = Project::new()
        .script(CHECKPOINTED)
        .hdconfig(&hd(space, "random", "max_total_runs: 1\n"))
        .file(
            "more.yml",
            &hd(
                space,
                "random",
                "max_total_runs: 2\nmax_concurrent_runs: 1\n",
            ),
        );
    p.run(&["--seed", "4", "--quiet"]).success();
    let earlier = p.runs()[0].clone();
    let earlier_id = earlier["id"].as_str().unwrap().to_string();
    p.sweep(&[
        "run",
        "more.yml",
        "-c",
        "t.runconfig",
        "--seed",
        "4",
        "--quiet",
        "--resume-child-run",
        &earlier_id,
    ])
    .success();
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    // First: the earlier run again, same parameters, from its checkpoint (epochs 3 and 4).
    assert_eq!(runs[0]["params"], earlier["params"]);
    let argv: Vec<String> = serde_json::from_value(runs[0]["argv"].clone()).unwrap();
    let n = argv.len();
    assert_eq!(argv[n - 2], "--resume-from");
    assert!(
        argv[n - 1].ends_with(&format!("{earlier_id}/outputs")),
        "{argv:?}"
    );
    assert_eq!(runs[0]["best"], 4.0, "{}", runs[0]);
    assert_eq!(runs[0]["intervals"], 2);
    // Then the sampler's own first candidate: the rerun did not advance its sequence.
    assert_eq!(runs[1]["params"], earlier["params"]);
    assert_eq!(runs[1]["best"], 2.0);
    // An unknown run is bad input.
    p.sweep(&[
        "run",
        "more.yml",
        "-c",
        "t.runconfig",
        "--resume-child-run",
        "sw_nope_0",
    ])
    .code(2);
}

/// Reports `acc` 1 on its output, 2 in `$SWEEP_METRICS_FILE`, then 3 on its output, 0.15 s
/// apart, and exits.
const MIXED: &str = r#"
import json, os, time
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "pid"), "w").write(str(os.getpid()))
time.sleep(0.1)
print("@sweep " + json.dumps({"metric": "acc", "value": 1, "step": 1}), flush=True)
time.sleep(0.15)
with open(os.environ["SWEEP_METRICS_FILE"], "a") as f:
    f.write(json.dumps({"metric": "acc", "value": 2, "step": 2}) + "\n")
time.sleep(0.15)
print("acc=3 step=3", flush=True)
time.sleep(0.1)
"#;

/// A run reporting through both channels, its sweep SIGKILLed at 20 points of its life and
/// resumed: every report is recorded exactly once. Half the resumes find the run still
/// alive (its files are read again while it writes), half find it ended (both files are
/// read again whole, the output before the metrics file, another interleaving than the
/// run's own).
#[test]
fn a_run_reporting_through_both_channels_is_recorded_exactly_once_after_any_kill() {
    for point in 0..20u64 {
        let p = Project::new().script(MIXED).hdconfig(&hd(
            &choice("--x", "1"),
            "grid",
            "max_total_runs: 1\n",
        ));
        let mut child = p.spawn_run(&[]);
        let pid = wait_running(&p, 1)[0];
        std::thread::sleep(Duration::from_millis(30 * point));
        kill9(&mut child);
        if point % 2 == 0 {
            assert!(wait_dead(pid, 10), "the run did not end");
        }
        p.sweep(&["resume", "latest"]).code(0);
        let mut values: Vec<(i64, f64)> = metric_points(&p)
            .iter()
            .map(|m| {
                (
                    m["interval"].as_i64().unwrap(),
                    m["value"].as_f64().unwrap(),
                )
            })
            .collect();
        values.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let intervals: Vec<i64> = values.iter().map(|v| v.0).collect();
        let mut seen: Vec<f64> = values.iter().map(|v| v.1).collect();
        seen.sort_by(f64::total_cmp);
        assert_eq!(intervals, [1, 2, 3], "killed at point {point}: {values:?}");
        assert_eq!(seen, [1.0, 2.0, 3.0], "killed at point {point}: {values:?}");
        assert_eq!(p.runs()[0]["intervals"], 3, "killed at point {point}");
    }
}
