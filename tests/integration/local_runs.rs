//! End-to-end sweeps on real local processes: the `sweep` binary runs Python scripts written
//! into temporary directories, and the tests read back what the runs saw and what the
//! history recorded.

use crate::support::{
    assert_all_end, choice, hd, local, output, pid_alive, repo, signal, wait_dead, wait_for,
    Project, Ran,
};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const ECHO_ARGV: &str = r#"
import json, os, sys
out = os.environ["SWEEP_OUTPUT_DIR"]
with open(os.path.join(out, "seen.json"), "w") as f:
    json.dump({"argv": sys.argv, "cwd": os.getcwd(),
               "params": json.loads(os.environ["SWEEP_PARAMS"]),
               "run": os.environ["SWEEP_RUN_ID"], "sweep": os.environ["SWEEP_SWEEP_ID"],
               "stop": os.environ["SWEEP_STOP_FILE"], "metrics": os.environ["SWEEP_METRICS_FILE"],
               "secret": os.environ.get("MY_SECRET")}, f)
open("scratch.txt", "w").write(os.environ["SWEEP_RUN_ID"])
print("acc=%s" % (len(sys.argv) / 10.0))
"#;

#[test]
fn params_reach_the_script_exactly_and_runs_never_share_a_directory() {
    let space = choice("--lr", "0.001, 1e-10") + &choice("batch", "4, 64");
    let p = Project::new()
        .script(ECHO_ARGV)
        .hdconfig(&hd(&space, "grid", "max_concurrent_runs: 2\nmax_total_runs: 4\n"))
        .runconfig(&local(
            "arguments: [--fixed, 'a b']\nenvironment:\n  environmentVariables:\n    MY_SECRET: hunter2\n",
        ));
    let out = p.run(&[]).success();
    assert!(
        !out.text().contains("hunter2"),
        "a secret reached the output"
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 4);
    let mut seen_argv = Vec::new();
    let mut dirs = std::collections::HashSet::new();
    for r in &runs {
        let run_dir = PathBuf::from(r["run_dir"].as_str().unwrap());
        let seen: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(run_dir.join("outputs/seen.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            seen["argv"],
            r["argv"].as_array().unwrap()[1..]
                .iter()
                .cloned()
                .collect::<serde_json::Value>()
        );
        assert_eq!(seen["run"], r["id"]);
        assert_eq!(seen["secret"], "hunter2");
        assert_eq!(seen["params"], r["params"]);
        assert!(PathBuf::from(seen["stop"].as_str().unwrap()).starts_with(&run_dir));
        // Each run wrote scratch.txt in its own working directory.
        let cwd = PathBuf::from(seen["cwd"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(cwd.join("scratch.txt")).unwrap(),
            r["id"].as_str().unwrap()
        );
        assert!(dirs.insert(cwd), "two runs shared a working directory");
        seen_argv.push(seen["argv"].clone());
    }
    // Grid order is the parameter-space product; formatting is exact (docs/run-protocol.md).
    let mut got: Vec<Vec<String>> = seen_argv
        .iter()
        .map(|a| {
            a.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    got.sort();
    let mut want: Vec<Vec<String>> = [
        ("0.001", "4"),
        ("0.001", "64"),
        ("1e-10", "4"),
        ("1e-10", "64"),
    ]
    .iter()
    .map(|(lr, b)| {
        ["t.py", "--fixed", "a b", "--lr", lr, "--batch", b]
            .iter()
            .map(|s| s.to_string())
            .collect()
    })
    .collect();
    want.sort();
    assert_eq!(got, want);
    // The secret is not in the history either.
    let db = std::fs::read(p.workspace().join("sweep.db")).unwrap();
    assert!(!db.windows(7).any(|w| w == b"hunter2"));
}

#[test]
fn concurrency_limit_holds_by_the_runs_own_clocks() {
    let script = r#"
import os, time
start = time.time()
time.sleep(0.3)
end = time.time()
open(os.path.join(os.environ["SWEEP_OUTPUT_DIR"], "span"), "w").write("%r %r" % (start, end))
print("acc=1")
"#;
    let space = choice("--i", "1, 2, 3, 4, 5, 6, 7, 8");
    let p = Project::new().script(script).hdconfig(&hd(
        &space,
        "grid",
        "max_concurrent_runs: 3\nmax_total_runs: 8\n",
    ));
    p.run(&[]).success();
    let mut events = Vec::new();
    for r in p.runs() {
        let span = std::fs::read_to_string(p.run_dir(&r).join("outputs/span")).unwrap();
        let (s, e) = span.split_once(' ').unwrap();
        events.push((s.parse::<f64>().unwrap(), 1i32));
        events.push((e.parse::<f64>().unwrap(), -1));
    }
    assert_eq!(events.len(), 16);
    // Ends sort before starts at the same instant.
    events.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let (mut live, mut max) = (0, 0);
    for (_, d) in events {
        live += d;
        max = max.max(live);
    }
    assert!(max <= 3, "{max} runs overlapped");
}

#[test]
fn per_run_timeout_cancels_the_run_with_a_reason() {
    let script = "import time\nprint('acc=0.5', flush=True)\ntime.sleep(60)\n";
    let p = Project::grid(script, "--i", "1, 2", "max_concurrent_runs: 2\n")
        .runconfig(&local("maxRunDurationSeconds: 3\n"));
    p.run(&[]).success();
    for r in p.runs() {
        assert_eq!(r["state"], "canceled", "{r}");
        assert!(r["reason"].as_str().unwrap().starts_with("timeout"), "{r}");
        // Metrics reported before the timeout still count.
        assert_eq!(r["best"], 0.5);
    }
}

#[test]
fn sweep_duration_limit_stops_live_runs_and_ends_canceled() {
    let script = "import time\ntime.sleep(60)\n";
    let p = Project::grid(
        script,
        "--i",
        "1, 2, 3, 4",
        "max_concurrent_runs: 2\nmax_duration_minutes: 0.02\n",
    );
    let out = p.run(&[]).success();
    out.stdout_has("stopping: max_duration_minutes (0.02) reached");
    out.stdout_has(" canceled: see `stopping:` above");
    let runs = p.runs();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["state"], "canceled");
        assert_eq!(r["reason"], "sweep limit: max_duration_minutes reached");
    }
}

/// A run that starts a grandchild ignoring SIGTERM, records both pids, then waits.
const STUBBORN: &str = r#"
import os, signal, subprocess, sys, time
gc = subprocess.Popen([sys.executable, "-c",
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(0.1)"])
out = os.environ["SWEEP_OUTPUT_DIR"]
open(os.path.join(out, "pids.tmp"), "w").write("%d %d" % (os.getpid(), gc.pid))
os.rename(os.path.join(out, "pids.tmp"), os.path.join(out, "pids"))
print("acc=0.25", flush=True)
while True:
    time.sleep(0.1)
"#;

fn interrupted_sweep_leaves_nothing_behind(sig: Signal) {
    let p = Project::grid(STUBBORN, "--i", "1, 2, 3, 4, 5", "max_concurrent_runs: 2\n");
    let child = p.spawn_run(&[]);
    let mut files = Vec::new();
    wait_for(30, "the runs to start", || {
        files = p.outputs("pids");
        files.len() == 2
    });
    let pids: Vec<i32> = files
        .iter()
        .flat_map(|t| {
            t.split(' ')
                .map(|s| s.parse::<i32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    signal(&child, sig);
    let out = Ran::from(child.wait_with_output().unwrap()).code(130);
    out.stderr_has("sweep resume");
    assert_all_end(&pids, "outlived the sweep");
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "no run launched after the interrupt");
    for r in &runs {
        assert_eq!(r["state"], "canceled", "{r}");
        assert_eq!(r["reason"], "user cancel");
        assert!(r["ended"].is_number());
    }
    let status = p.sweep(&["status", "latest"]);
    status.stdout_has(": canceled");
}

#[test]
fn sigint_stops_runs_and_their_stubborn_grandchildren() {
    interrupted_sweep_leaves_nothing_behind(Signal::SIGINT);
}

#[test]
fn sigterm_stops_runs_and_their_stubborn_grandchildren() {
    interrupted_sweep_leaves_nothing_behind(Signal::SIGTERM);
}

#[test]
fn metric_edge_cases_have_the_documented_outcomes() {
    let script = r#"
import sys
mode = sys.argv[sys.argv.index("--mode") + 1]
if mode == "malformed":
    print('@sweep {"metric": "acc", "value": ')
    print('@sweep {"metric": "acc"}')
    print("acc=0.05")
elif mode == "nan":
    print('@sweep {"metric": "acc", "value": NaN}')
elif mode == "inf":
    print('@sweep {"metric": "acc", "value": Infinity}')
elif mode == "missing":
    print('@sweep {"metric": "accuracy", "value": 0.99}')
elif mode == "good":
    print('@sweep {"metric": "acc", "value": 0.1, "step": 7}')
elif mode == "huge":
    sys.stdout.write("x" * 5000000)
    sys.stdout.write("\nacc=0.02\n")
"#;
    let p = Project::grid(
        script,
        "--mode",
        "malformed, nan, inf, missing, good, huge",
        "max_concurrent_runs: 3\n",
    );
    let all = p.run(&[]).success().text();
    assert_eq!(all.matches("malformed metric line").count(), 1, "{all}");
    assert!(
        all.contains(
            "never reported the primary metric \"acc\" (it reported only: accuracy in its output)"
        ),
        "{all}"
    );
    let best = p.json(&["best", "latest", "--json"]);
    assert_eq!(best["value"], 0.1, "{best}");
    assert_eq!(best["params"]["--mode"], "good");
    let by_mode = |m: &str| {
        p.runs()
            .into_iter()
            .find(|r| r["params"]["--mode"] == m)
            .unwrap()
    };
    assert_eq!(by_mode("malformed")["best"], 0.05);
    assert_eq!(by_mode("huge")["best"], 0.02);
    for m in ["nan", "inf"] {
        let r = by_mode(m);
        assert_eq!(r["intervals"], 1, "{r}");
        assert!(r["best"].is_null(), "{r}");
    }
    // NaN and inf are recorded, not dropped.
    let export = p.json(&["export", "latest", "--format", "json"]);
    let values: Vec<String> = export["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["metrics"]["acc"].as_array().cloned().unwrap_or_default())
        .map(|m| m["value"].to_string())
        .collect();
    assert!(values.contains(&"\"NaN\"".to_string()), "{values:?}");
    assert!(values.contains(&"\"Infinity\"".to_string()), "{values:?}");
}

#[test]
fn a_broken_script_fails_fast_and_explains_itself() {
    let script = "import sys\nprint('loading data', flush=True)\nsys.exit('ModuleNotFoundError: no module named torch')\n";
    let p = Project::grid(
        script,
        "--i",
        "1, 2, 3, 4, 5, 6, 7, 8",
        "max_concurrent_runs: 1\n",
    );
    let out = p.run(&[]).code(1);
    // Said once, when the sweep stops; the ending line points at it.
    assert_eq!(
        out.text()
            .matches("first 3 runs all failed the same way (exit code 1)")
            .count(),
        1,
        "{}",
        out.text()
    );
    out.stdout_has(" failed: see `stopping:` above");
    assert_eq!(p.runs().len(), 3);
    let t = p.sweep(&["runs", "latest"]).stdout();
    assert!(
        t.contains("exit code 1") && t.contains("| ModuleNotFoundError: no module named torch"),
        "{t}"
    );
    let best = p.sweep(&["best", "latest"]).code(1);
    best.stderr_has("all 3 runs failed");
}

#[test]
fn readme_example_sweep_finds_a_best_run() {
    // The example as the README runs it: from the repository root, its own files.
    let p = Project::new();
    let out = output(
        p.command(&[
            "run",
            "configs/random.yml",
            "-c",
            "configs/train.runconfig",
            "--quiet",
        ])
        .current_dir(repo()),
    )
    .success();
    out.stdout_has("reproduce: cd ");
    let v = p.sweep(&["best", "latest", "--json"]).success().json();
    assert_eq!(v["metric"], "accuracy");
    let acc = v["value"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&acc), "{v}");
    let params = v["params"].as_object().unwrap();
    for k in [
        "--learning_rate",
        "--batch_size",
        "--optimizer",
        "--momentum",
    ] {
        assert!(params.contains_key(k), "{v}");
    }
    assert_eq!(p.runs().len(), 12);
}

#[test]
fn a_second_interrupt_kills_runs_that_ignore_sigterm_at_once() {
    let script = r#"
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
out = os.environ["SWEEP_OUTPUT_DIR"]
open(os.path.join(out, "pids.tmp"), "w").write(str(os.getpid()))
os.rename(os.path.join(out, "pids.tmp"), os.path.join(out, "pids"))
while True:
    time.sleep(0.1)
"#;
    let p = Project::grid(script, "--i", "1, 2", "max_concurrent_runs: 2\n");
    let child = p
        .run_command(&[])
        // A graceful stop would wait this long for runs that ignore SIGTERM.
        .env("SWEEP_STOP_GRACE_SECONDS", "600")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    wait_for(60, "the runs to start", || {
        pids = p.pids("pids");
        pids.len() == 2
    });
    signal(&child, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(500));
    // Still alive after the first interrupt: they ignore SIGTERM and the grace is long.
    for &r in &pids {
        assert!(pid_alive(r), "run {r} died before the second interrupt");
    }
    signal(&child, Signal::SIGINT);
    let out = Ran::from(child.wait_with_output().unwrap()).code(130);
    out.stderr_has("killing live runs now");
    assert_all_end(&pids, "survived the second interrupt");
    for r in p.runs() {
        assert_eq!(
            (r["state"].as_str(), r["reason"].as_str()),
            (Some("canceled"), Some("user cancel")),
            "{r}"
        );
        assert_eq!(r["signal"], 9, "{r}");
    }
}

#[test]
fn policy_cancels_exactly_the_scripted_laggard_and_stops_its_process() {
    // Three scripted learning curves run at once; the leader reports first.
    let script = r#"
import os, sys, time
curve = sys.argv[sys.argv.index("--curve") + 1]
out = os.environ["SWEEP_OUTPUT_DIR"]
open(os.path.join(out, "pid"), "w").write(str(os.getpid()))
value, pause = {"lead": (0.9, 0.0), "mid": (0.8, 3.0), "lag": (0.5, 3.0)}[curve]
time.sleep(pause)
for i in range(6):
    print("acc=%s" % value, flush=True)
    time.sleep(0.05 if curve != "lag" else 1.0)
"#;
    let policy = "policy:\n  type: BanditPolicy\n  evaluation_interval: 1\n  delay_evaluation: 2\n  slack_amount: 0.2\nmax_concurrent_runs: 3\n";
    let p = Project::grid(script, "--curve", "lead, mid, lag", policy);
    p.run(&[]).success();
    let runs = p.runs();
    let by = |c: &str| {
        runs.iter()
            .find(|r| r["params"]["--curve"] == c)
            .unwrap_or_else(|| panic!("no {c} run: {runs:?}"))
            .clone()
    };
    for c in ["lead", "mid"] {
        assert_eq!(by(c)["state"], "completed", "{}", by(c));
        assert_eq!(by(c)["intervals"], 6);
    }
    let lag = by("lag");
    assert_eq!(
        (lag["state"].as_str(), lag["reason"].as_str()),
        (Some("canceled"), Some("policy:bandit")),
        "{lag}"
    );
    // Decided at the first evaluated interval, against 0.9 - 0.2, with the numbers recorded.
    assert_eq!(lag["detail"]["interval"], 2, "{lag}");
    assert_eq!(lag["detail"]["value"], 0.5, "{lag}");
    let t = lag["detail"]["threshold"].as_f64().unwrap();
    assert!((t - 0.7).abs() < 1e-9, "{lag}");
    assert!(lag["intervals"].as_i64().unwrap() < 6, "{lag}");
    let pid: i32 = std::fs::read_to_string(p.run_dir(&lag).join("outputs/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_dead(pid, 5),
        "the canceled run's process {pid} is still alive"
    );
    // The wide table gives the policy's numbers in full; the default one in short.
    let table = p.sweep(&["runs", "latest", "--wide"]);
    table.stdout_has("policy:bandit at interval 2 (0.500000 vs threshold 0.700000)");
    let short = p.sweep(&["runs", "latest"]);
    short.stdout_has("policy:bandit at 2:");
}

/// Starts two processes that leave the run's process group, both ignoring SIGTERM: one in a
/// group of its own (`setpgid(0, 0)`), one in a session of its own (`setsid`), and writes
/// their pids to `outputs/escaped`. Run 1 then exits; run 2 ignores SIGTERM too and runs
/// until its time limit stops it.
const ESCAPER: &str = r#"
import os, signal, subprocess, sys, time
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
group = subprocess.Popen([sys.executable, "-c", ignore], preexec_fn=lambda: os.setpgid(0, 0))
session = subprocess.Popen([sys.executable, "-c", ignore], start_new_session=True)
out = os.environ["SWEEP_OUTPUT_DIR"]
with open(os.path.join(out, "escaped.tmp"), "w") as f:
    f.write("%d %d" % (group.pid, session.pid))
os.rename(os.path.join(out, "escaped.tmp"), os.path.join(out, "escaped"))
print("acc=0.5", flush=True)
if sys.argv[-1] == "2":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(600)
"#;

#[test]
fn processes_that_leave_a_run_s_group_end_with_the_run_however_it_ends() {
    let p = Project::grid(ESCAPER, "--i", "1, 2", "max_concurrent_runs: 2\n")
        .runconfig(&local("maxRunDurationSeconds: 10\n"));
    let ran = p.run(&[]);
    let pids = p.pids("escaped");
    // Whatever the outcome, nothing of this test is left running.
    let survivors: Vec<i32> = pids.iter().copied().filter(|&p| !wait_dead(p, 5)).collect();
    for &pid in &survivors {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    assert_eq!(pids.len(), 4, "each run wrote its two pids: {}", ran.text());
    ran.success();
    assert!(survivors.is_empty(), "outlived their runs: {survivors:?}");
    let runs = p.runs();
    assert_eq!(runs[0]["state"], "completed", "{}", runs[0]);
    assert_eq!(runs[1]["state"], "canceled", "{}", runs[1]);
    // Killed past its grace period, the program's end is still recorded exactly.
    assert_eq!(runs[1]["signal"], 9, "{}", runs[1]);
}
