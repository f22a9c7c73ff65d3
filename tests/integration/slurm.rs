//! Sweeps on the Slurm target against a real single-node Slurm cluster (started with
//! `scripts/env/start-slurm.sh`): parameters arrive intact, metrics stream back, a stop
//! reaches the job's processes, a requeued job keeps its run id and restarts, and
//! `sweep targets check` explains a broken target. The cluster has 2 CPUs, so the sweeps
//! here run one at a time.

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

#[test]
fn slurm_requeue_restarts_the_run_under_the_same_id() {
    let Some(env) = services::slurm() else { return };
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let script = r#"
import os, time
print("start %s" % os.environ.get("SLURM_RESTART_COUNT", "0"), flush=True)
time.sleep(4)
print('@sweep {"metric":"acc","value":%s}' % os.environ.get("SLURM_RESTART_COUNT", "0"), flush=True)
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
    let child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig", "--quiet"])
        .env("SLURM_CONF", &env["SLURM_CONF"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run_dir = PathBuf::new();
    wait_for(60, "the job's first output", || {
        if let Some(d) = p.run_dirs().first() {
            run_dir = d.clone();
            return std::fs::read_to_string(d.join("output.log"))
                .is_ok_and(|s| s.contains("start 0"));
        }
        false
    });
    let run_id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
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
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "a requeue is not a new run: {runs:?}");
    let r = &runs[0];
    assert_eq!(r["id"], run_id.as_str());
    assert_eq!(r["state"], "completed", "{r}");
    // Only the rerun reported (the first attempt was requeued before its report).
    assert_eq!(r["best"], serde_json::json!(1.0), "{r}");
    let log = std::fs::read_to_string(run_dir.join("output.log")).unwrap();
    assert!(log.contains("start 0") && log.contains("start 1"), "{log}");
    assert!(
        log.contains(&format!("[sweep] Slurm restarted job {job} (restart 1)")),
        "{log}"
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
