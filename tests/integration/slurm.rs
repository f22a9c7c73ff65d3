//! Sweeps on the Slurm target against a real single-node Slurm cluster (started with
//! `scripts/env/start-slurm.sh`): parameters arrive intact, metrics stream back, a stop
//! reaches the job's processes, a requeued job keeps its run id and restarts with fresh
//! metrics (also across a sweep kill and resume), and `sweep targets check` explains a
//! broken target. The cluster has 2 CPUs, so the sweeps here run one at a time.

use crate::services::{self, Env};
use crate::support::{
    awkward, awkward_seen, line_after, output, remote, slurm_target, wait_dead, wait_for, Project,
    Ran,
};
use std::process::{Child, Command};

/// A project that runs `script` on the cluster of `env`, one run per option of `--x`.
fn on_cluster(env: &Env, script: &str, runconfig: &str, x: &str, concurrent: u32) -> Project {
    Project::grid(
        script,
        "--x",
        x,
        &format!("max_concurrent_runs: {concurrent}\n"),
    )
    .runconfig(runconfig)
    .targets(&slurm_target(env))
    .env("SLURM_CONF", &env["SLURM_CONF"])
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
    let _turn = services::cluster_turn();
    let names = ["two words", "it's \"q\"", "$HOME;`x` & y", "fail me"];
    let p = awkward(ECHO, &names, &slurm_target(&env)).env("SLURM_CONF", &env["SLURM_CONF"]);
    let out = p.run(&[]).success();
    assert!(!out.text().contains("cr3t"), "a secret reached the output");
    // max_runs bounds max_concurrent_runs, and says so.
    assert!(
        out.text().contains("takes 2 run(s) at once"),
        "{}",
        out.text()
    );
    let runs = p.runs();
    assert_eq!(runs.len(), names.len());
    let mut jobs = std::collections::BTreeSet::new();
    for r in &runs {
        let seen = awkward_seen(p.run_dir(r));
        let name = seen["params"]["--name"].as_str().unwrap().to_string();
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
    let _turn = services::cluster_turn();
    let script = r#"
import subprocess, time
gc = subprocess.Popen(["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"])
print("GRANDCHILD %d" % gc.pid, flush=True)
print('@sweep {"metric":"acc","value":1}', flush=True)
time.sleep(120)
"#;
    let p = on_cluster(&env, script, &remote("maxRunDurationSeconds: 6\n"), "1", 1);
    let out = p.run(&[]);
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "{}", out.text());
    let r = &runs[0];
    assert_eq!(r["state"], "canceled", "{r}\n{}", out.text());
    assert!(r["reason"].as_str().unwrap().starts_with("timeout"), "{r}");
    assert_eq!(r["best"], serde_json::json!(1.0), "{r}");
    let dir = p.run_dir(r);
    let log = std::fs::read_to_string(dir.join("output.log")).unwrap();
    let gc: i32 = line_after(&log, "GRANDCHILD ").trim().parse().unwrap();
    // SIGTERM is ignored; the scancel after the grace period has Slurm kill the job's
    // processes (SIGKILL after its KillWait of 5 s).
    assert!(wait_dead(gc, 20), "grandchild {gc} survived scancel");
    assert!(dir.join("stop").exists(), "the stop file came first");
}

/// Panics with its output if the sweep `child` has ended.
fn alive(child: &mut Child) {
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
    let _turn = services::cluster_turn();
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
    let p = on_cluster(&env, script, &remote(""), "1", 1);
    let mut child = p.spawn_run(&["--quiet"]);
    // The first attempt's intervals are recorded before the requeue.
    wait_for(60, "the first attempt's three intervals recorded", || {
        alive(&mut child);
        p.runs_so_far()
            .first()
            .is_some_and(|r| r["intervals"] == serde_json::json!(3))
    });
    let first = p.runs()[0].clone();
    assert_eq!(first["best"], serde_json::json!(12.0), "{first}");
    let run_dir = p.run_dir(&first);
    let run_id = first["id"].as_str().unwrap().to_string();
    let q = output(
        Command::new("squeue")
            .args(["-h", "-o", "%i", "-n", &run_id])
            .env("SLURM_CONF", &env["SLURM_CONF"]),
    );
    let job = q.stdout().trim().to_string();
    assert!(!job.is_empty(), "no job named {run_id}: {}", q.text());
    output(
        Command::new("scontrol")
            .args(["requeue", &job])
            .env("SLURM_CONF", &env["SLURM_CONF"]),
    )
    .success();
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
    let resumed = p.spawn(&["resume", "latest", "--quiet"]);
    std::fs::write(run_dir.join("go"), "").unwrap();
    Ran::from(resumed.wait_with_output().unwrap()).success();
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "a requeue is not a new run: {runs:?}");
    let r = &runs[0];
    assert_eq!(r["id"], run_id.as_str());
    assert_eq!(r["state"], "completed", "{r}");
    // The run's metrics are the rerun's alone: its best is 2, not the first attempt's 12,
    // and it has two intervals, not five.
    assert_eq!(r["best"], serde_json::json!(2.0), "{r}");
    assert_eq!(r["intervals"], serde_json::json!(2), "{r}");
    let points: Vec<(String, u64, f64)> = p
        .sweep(&["export", "latest", "--format", "jsonl"])
        .success()
        .stdout()
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
    let reader = sweep::store::Reader::open(&p.workspace()).unwrap();
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
    let p = Project::new().targets(&format!(
        "{}nopart:\n  type: slurm\n  partition: no-such-partition\n",
        slurm_target(&env)
    ));
    let check = |name: &str, conf: &str| {
        output(
            p.command(&["targets", "check", name])
                .env("SLURM_CONF", conf),
        )
    };
    let good = check("remote", &env["SLURM_CONF"]).success();
    assert!(
        good.text().contains("controller up") && good.text().contains("capacity: 2"),
        "{}",
        good.text()
    );
    let bad = check("nopart", &env["SLURM_CONF"]).code(2);
    assert!(
        bad.text().contains("invalid partition") && bad.text().contains("hint: check `partition`"),
        "{}",
        bad.text()
    );
    let none = check("remote", "/nonexistent/slurm.conf").code(2);
    assert!(
        none.text().contains("does not answer") && none.text().contains("hint:"),
        "{}",
        none.text()
    );
}

/// TensorBoard event files written by a Slurm job, under its working and outputs
/// directories, are read as it writes them: every scalar at its step.
#[test]
fn slurm_jobs_report_tensorboard_scalars() {
    let Some(env) = services::slurm() else { return };
    let _turn = services::cluster_turn();
    let p = crate::metric_formats::tensorboard_project()
        .hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: [1]\nprimary_metric_name: val/acc\nprimary_metric_goal: Maximize\n",
        )
        .runconfig(&remote(""))
        .targets(&slurm_target(&env))
        .env("SLURM_CONF", &env["SLURM_CONF"]);
    p.run(&[]).success();
    crate::metric_formats::assert_tensorboard_points(&p);
}
