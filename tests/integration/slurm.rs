//! Sweeps on the Slurm target against a real single-node Slurm cluster (started with
//! `scripts/env/start-slurm.sh`): parameters arrive intact, metrics stream back, a stop
//! reaches the job's processes, a requeued job keeps its run id and restarts with fresh
//! metrics (also across a sweep kill and resume), and `sweep targets check` explains a
//! broken target. The cluster has 2 CPUs, so the sweeps here run one at a time.

use super::services::{self, Env};
use super::ssh::{hd, text, wait_for, Project};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

pub(super) static CLUSTER: Mutex<()> = Mutex::new(());

fn slurm_target(env: &Env) -> String {
    format!(
        "remote:\n  type: slurm\n  partition: {}\n  max_runs: 2\n  poll_seconds: 0.5\n",
        env["SWEEP_TEST_SLURM_PARTITION"]
    )
}

fn sweep(p: &Project, env: &Env) -> Output {
    p.command(&["run", "hd.yml", "-c", "t.runconfig"])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .output()
        .unwrap()
}

const ECHO: &str = r#"
import json, os, sys
print("SEEN " + json.dumps({"argv": sys.argv[1:], "params": json.loads(os.environ["SWEEP_PARAMS"]),
      "secret": os.environ.get("MY_SECRET"), "job": os.environ.get("SLURM_JOB_ID"),
      "data": open("data.txt").read()}), flush=True)
print('@sweep {"metric":"acc","value":%d}' % len(sys.argv[-1]), flush=True)
with open(os.environ["SWEEP_METRICS_FILE"], "a") as f:
    f.write('{"metric":"loss","value":0.5}\n')
sys.exit(3 if sys.argv[-1] == "fail me" else 0)
"#;

#[test]
fn slurm_jobs_get_their_parameters_intact_and_report_back() {
    let Some(env) = services::slurm() else { return };
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let names = ["two words", "it's \"q\"", "$HOME;`x` & y", "fail me"];
    let values: Vec<String> = names
        .iter()
        .map(|v| serde_json::to_string(v).unwrap())
        .collect();
    let space = format!(
        "  - name: --name\n    expression: choice\n    values: [{}]\n",
        values.join(", ")
    );
    let p = Project::new(
        ECHO,
        &hd(&space, "max_concurrent_runs: 4\n"),
        "",
        &slurm_target(&env),
    );
    std::fs::write(
        p.path().join("t.runconfig"),
        "script: t.py\ntarget: remote\narguments: [--fixed, 'x y;$z']\nenvironment:\n  environmentVariables:\n    MY_SECRET: \"s3 'cr3t' $PATH\"\n  python:\n    interpreterPath: python3\n",
    )
    .unwrap();
    std::fs::write(p.path().join("data.txt"), "from the snapshot\n").unwrap();
    let out = sweep(&p, &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("cr3t"), "a secret reached the output");
    // max_runs bounds max_concurrent_runs, and says so.
    assert!(
        text(&out).contains("takes 2 run(s) at once"),
        "{}",
        text(&out)
    );
    let runs = p.runs();
    assert_eq!(runs.len(), names.len());
    let mut jobs = std::collections::BTreeSet::new();
    for r in &runs {
        let dir = PathBuf::from(r["run_dir"].as_str().unwrap());
        let log = std::fs::read_to_string(dir.join("output.log")).unwrap();
        let line = log
            .lines()
            .find_map(|l| l.strip_prefix("SEEN "))
            .unwrap_or_else(|| panic!("no SEEN line in {log}"));
        let seen: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = seen["params"]["--name"].as_str().unwrap().to_string();
        assert_eq!(
            seen["argv"],
            serde_json::json!(["--fixed", "x y;$z", "--name", name]),
            "{seen}"
        );
        assert_eq!(seen["secret"], "s3 'cr3t' $PATH");
        assert_eq!(seen["data"], "from the snapshot\n");
        jobs.insert(seen["job"].as_str().unwrap().to_string());
        assert_eq!(r["best"], serde_json::json!(name.len() as f64), "{r}");
        if name == "fail me" {
            assert_eq!(r["state"], "failed", "{r}");
            assert_eq!(r["reason"], "exit code 3", "{r}");
        } else {
            assert_eq!(r["state"], "completed", "{r}");
        }
    }
    assert_eq!(jobs.len(), names.len(), "one job per run: {jobs:?}");
}

#[test]
fn slurm_stop_reaches_the_jobs_processes() {
    let Some(env) = services::slurm() else { return };
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let script = r#"
import subprocess, time
gc = subprocess.Popen(["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"])
print("GRANDCHILD %d" % gc.pid, flush=True)
print('@sweep {"metric":"acc","value":1}', flush=True)
time.sleep(120)
"#;
    let p = Project::new(
        script,
        &hd(
            "  - name: --x\n    expression: choice\n    values: [1]\n",
            "max_concurrent_runs: 1\n",
        ),
        "maxRunDurationSeconds: 6\n",
        &slurm_target(&env),
    );
    let out = sweep(&p, &env);
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "{}", text(&out));
    let r = &runs[0];
    assert_eq!(r["state"], "canceled", "{r}\n{}", text(&out));
    assert!(r["reason"].as_str().unwrap().starts_with("timeout"), "{r}");
    assert_eq!(r["best"], serde_json::json!(1.0), "{r}");
    let dir = PathBuf::from(r["run_dir"].as_str().unwrap());
    let log = std::fs::read_to_string(dir.join("output.log")).unwrap();
    let gc: i32 = log
        .lines()
        .find_map(|l| l.strip_prefix("GRANDCHILD "))
        .unwrap_or_else(|| panic!("no pid in {log}"))
        .trim()
        .parse()
        .unwrap();
    // SIGTERM is ignored; the scancel after the grace period has Slurm kill the job's
    // processes (SIGKILL after its KillWait of 5 s).
    assert!(
        services::wait_dead(gc, 20),
        "grandchild {gc} survived scancel"
    );
    assert!(dir.join("stop").exists(), "the stop file came first");
}

/// Panics with its output if the sweep `child` has ended.
fn alive(child: &mut std::process::Child) {
    if let Ok(Some(status)) = child.try_wait() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("the sweep ended early ({status}): {err}");
    }
}

#[test]
fn slurm_requeue_restarts_the_run_under_the_same_id() {
    let Some(env) = services::slurm() else { return };
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    // The first attempt reports three intervals of `acc` (10, 11, 12: better than anything
    // the rerun reports) and a `loss` through the metrics file, then waits to be requeued.
    // The rerun reports a `loss` and `acc` 1, waits for a `go` file in the run directory
    // (the sweep is killed and resumed meanwhile), reports `acc` 2 and exits.
    let script = r#"
import os, time
n = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
print("start %d" % n, flush=True)
with open(os.environ["SWEEP_METRICS_FILE"], "a") as f:
    f.write('{"metric":"loss","value":%d}\n' % (100 + n))
if n == 0:
    for v in (10, 11, 12):
        print('@sweep {"metric":"acc","value":%d}' % v, flush=True)
    time.sleep(300)
else:
    print('@sweep {"metric":"acc","value":1}', flush=True)
    go = os.path.join(os.path.dirname(os.environ["SWEEP_METRICS_FILE"]), "go")
    while not os.path.exists(go):
        time.sleep(0.1)
    print('@sweep {"metric":"acc","value":2}', flush=True)
"#;
    let p = Project::new(
        script,
        &hd(
            "  - name: --x\n    expression: choice\n    values: [1]\n",
            "max_concurrent_runs: 1\n",
        ),
        "",
        &slurm_target(&env),
    );
    let mut child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig", "--quiet"])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first attempt's intervals are recorded before the requeue.
    wait_for(60, "the first attempt's three intervals recorded", || {
        alive(&mut child);
        p.runs_so_far()
            .first()
            .is_some_and(|r| r["intervals"] == serde_json::json!(3))
    });
    let first = p.runs()[0].clone();
    assert_eq!(first["best"], serde_json::json!(12.0), "{first}");
    let run_dir = PathBuf::from(first["run_dir"].as_str().unwrap());
    let run_id = first["id"].as_str().unwrap().to_string();
    let q = Command::new("squeue")
        .args(["-h", "-o", "%i", "-n", &run_id])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .output()
        .unwrap();
    let job = String::from_utf8_lossy(&q.stdout).trim().to_string();
    assert!(!job.is_empty(), "no job named {run_id}: {}", text(&q));
    let rq = Command::new("scontrol")
        .args(["requeue", &job])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .output()
        .unwrap();
    assert!(rq.status.success(), "{}", text(&rq));
    // The rerun's first interval replaces the first attempt's three.
    wait_for(60, "the rerun's first interval recorded", || {
        alive(&mut child);
        p.runs_so_far()
            .first()
            .is_some_and(|r| r["intervals"] == serde_json::json!(1))
    });
    assert_eq!(p.runs()[0]["best"], serde_json::json!(1.0));
    // A sweep killed now and resumed reads the job's output again from the first attempt:
    // the recorded restart is not applied twice, and nothing is recorded twice.
    child.kill().unwrap();
    child.wait().unwrap();
    let resumed = p
        .command(&["resume", "latest", "--quiet"])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(run_dir.join("go"), "").unwrap();
    let out = resumed.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "a requeue is not a new run: {runs:?}");
    let r = &runs[0];
    assert_eq!(r["id"], run_id.as_str());
    assert_eq!(r["state"], "completed", "{r}");
    // The run's metrics are the rerun's alone: its best is 2, not the first attempt's 12,
    // and it has two intervals, not five.
    assert_eq!(r["best"], serde_json::json!(2.0), "{r}");
    assert_eq!(r["intervals"], serde_json::json!(2), "{r}");
    let export = p
        .command(&["export", "latest", "--format", "jsonl"])
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", text(&export));
    let points: Vec<(String, u64, f64)> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["metric"].as_str().unwrap().to_string(),
                v["interval"].as_u64().unwrap(),
                v["value"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut acc: Vec<(u64, f64)> = points
        .iter()
        .filter(|p| p.0 == "acc")
        .map(|p| (p.1, p.2))
        .collect();
    acc.sort_by_key(|a| a.0);
    assert_eq!(acc, [(1, 1.0), (2, 2.0)], "the rerun starts at interval 1");
    let loss: Vec<(u64, f64)> = points
        .iter()
        .filter(|p| p.0 == "loss")
        .map(|p| (p.1, p.2))
        .collect();
    assert_eq!(loss, [(1, 101.0)], "the rerun's metrics file only");
    // The restart is an event of the run, recorded once although the resumed sweep read
    // the job's output again from the start.
    let reader = sweep::store::Reader::open(&p.path().join("ws")).unwrap();
    let sw = reader.resolve("latest").unwrap();
    let events = reader.events(&sw).unwrap();
    let of_kind = |kind: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.2 == kind)
            .map(|e| e.3.clone())
            .collect()
    };
    assert_eq!(
        of_kind("adopted").len(),
        1,
        "the resumed sweep adopted the job"
    );
    let restarted = of_kind("restarted");
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    assert!(
        restarted[0].starts_with(&format!("Slurm restarted job {job} (restart 1)"))
            && restarted[0].contains("3 earlier interval(s) (best 12)"),
        "{restarted:?}"
    );
    let log = std::fs::read_to_string(run_dir.join("output.log")).unwrap();
    assert!(log.contains("start 0") && log.contains("start 1"), "{log}");
    assert!(
        log.contains(&format!("[sweep] Slurm restarted job {job} (restart 1)")),
        "{log}"
    );
    // Each attempt's metrics file is kept.
    assert_eq!(
        std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap(),
        "{\"metric\":\"loss\",\"value\":100}\n"
    );
    assert_eq!(
        std::fs::read_to_string(run_dir.join("metrics.restart-1.jsonl")).unwrap(),
        "{\"metric\":\"loss\",\"value\":101}\n"
    );
}

#[test]
fn slurm_targets_check_explains_a_broken_target() {
    let Some(env) = services::slurm() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("targets.yml"),
        format!(
            "{}nopart:\n  type: slurm\n  partition: no-such-partition\n",
            slurm_target(&env)
        ),
    )
    .unwrap();
    let check = |name: &str, conf: &str| {
        Command::new(env!("CARGO_BIN_EXE_sweep"))
            .args(["targets", "check", name])
            .current_dir(dir.path())
            .env_remove("SWEEP_TARGETS")
            .env("SLURM_CONF", conf)
            .output()
            .unwrap()
    };
    let good = check("remote", &env["SLURM_CONF"]);
    assert!(good.status.success(), "{}", text(&good));
    assert!(
        text(&good).contains("controller up") && text(&good).contains("capacity: 2"),
        "{}",
        text(&good)
    );
    let bad = check("nopart", &env["SLURM_CONF"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("invalid partition") && text(&bad).contains("hint: check `partition`"),
        "{}",
        text(&bad)
    );
    let none = check("remote", "/nonexistent/slurm.conf");
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(
        text(&none).contains("does not answer") && text(&none).contains("hint:"),
        "{}",
        text(&none)
    );
}
