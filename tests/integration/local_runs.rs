//! End-to-end sweeps on real local processes: the `sweep` binary runs Python scripts written
//! into temporary directories, and the tests read back what the runs saw and what the
//! history recorded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

/// A temporary project: a script, an hdconfig, a runconfig and a workspace.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new(script: &str, hdconfig: &str, runconfig_extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.py"), script).unwrap();
        std::fs::write(dir.path().join("hd.yml"), hdconfig).unwrap();
        std::fs::write(
            dir.path().join("t.runconfig"),
            format!("script: t.py\ntarget: local\n{runconfig_extra}"),
        )
        .unwrap();
        Project { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn workspace(&self) -> PathBuf {
        self.path().join("ws")
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sweep_bin());
        c.args(args)
            .arg("--workspace")
            .arg(self.workspace())
            .current_dir(self.path())
            .env("SWEEP_STOP_GRACE_SECONDS", "0.5")
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn sweep(&self) -> Output {
        self.command(&["run", "hd.yml", "-c", "t.runconfig"])
            .output()
            .unwrap()
    }

    pub(crate) fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.command(args).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    pub(crate) fn runs(&self) -> Vec<serde_json::Value> {
        self.json(&["runs", "latest", "--format", "json"])
            .as_array()
            .unwrap()
            .clone()
    }
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn hd(space: &str, sampling: &str, extra: &str) -> String {
    format!(
        "sampling:\n  type: {sampling}\n  parameter_space:\n{space}primary_metric_name: acc\nprimary_metric_goal: Maximize\n{extra}"
    )
}

pub(crate) fn pid_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); treat "state Z" as dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub(crate) fn wait_dead(pid: i32) -> bool {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

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
    let space = "  - name: --lr\n    expression: choice\n    values: [0.001, 1e-10]\n  - name: batch\n    expression: choice\n    values: [4, 64]\n";
    let p = Project::new(
        ECHO_ARGV,
        &hd(space, "grid", "max_concurrent_runs: 2\nmax_total_runs: 4\n"),
        "arguments: [--fixed, 'a b']\nenvironment:\n  environmentVariables:\n    MY_SECRET: hunter2\n",
    );
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !text(&out).contains("hunter2"),
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
    // Grid order is the parameter-space product; formatting is exact (DESIGN §4.2).
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
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2, 3, 4, 5, 6, 7, 8]\n";
    let p = Project::new(
        script,
        &hd(space, "grid", "max_concurrent_runs: 3\nmax_total_runs: 8\n"),
        "",
    );
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
    let mut events = Vec::new();
    for r in p.runs() {
        let span = std::fs::read_to_string(
            PathBuf::from(r["run_dir"].as_str().unwrap()).join("outputs/span"),
        )
        .unwrap();
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
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2]\n";
    let p = Project::new(
        script,
        &hd(space, "grid", "max_concurrent_runs: 2\n"),
        "maxRunDurationSeconds: 3\n",
    );
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
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
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2, 3, 4]\n";
    let p = Project::new(
        script,
        &hd(
            space,
            "grid",
            "max_concurrent_runs: 2\nmax_duration_minutes: 0.02\n",
        ),
        "",
    );
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("canceled: max_duration_minutes"),
        "{}",
        text(&out)
    );
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

fn interrupted_sweep_leaves_nothing_behind(signal: nix::sys::signal::Signal) {
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2, 3, 4, 5]\n";
    let p = Project::new(STUBBORN, &hd(space, "grid", "max_concurrent_runs: 2\n"), "");
    let child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runs_dir = |ws: &Path| -> Vec<PathBuf> {
        let Ok(sweeps) = std::fs::read_dir(ws.join("sweeps")) else {
            return Vec::new();
        };
        sweeps
            .flatten()
            .flat_map(|s| {
                std::fs::read_dir(s.path().join("runs"))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|r| r.path().join("outputs/pids"))
            .filter(|p| p.exists())
            .collect()
    };
    let until = Instant::now() + Duration::from_secs(30);
    let pid_files = loop {
        let f = runs_dir(&p.workspace());
        if f.len() == 2 {
            break f;
        }
        assert!(Instant::now() < until, "runs did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pids: Vec<i32> = pid_files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .split(' ')
                .map(|s| s.parse::<i32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sweep resume"),
        "{}",
        text(&out)
    );
    for pid in pids {
        assert!(wait_dead(pid), "process {pid} outlived the sweep");
    }
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "no run launched after the interrupt");
    for r in &runs {
        assert_eq!(r["state"], "canceled", "{r}");
        assert_eq!(r["reason"], "user cancel");
        assert!(r["ended"].is_number());
    }
    let status = p.command(&["status", "latest"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&status.stdout).contains(": canceled"),
        "{}",
        text(&status)
    );
}

#[test]
fn sigint_stops_runs_and_their_stubborn_grandchildren() {
    interrupted_sweep_leaves_nothing_behind(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_stops_runs_and_their_stubborn_grandchildren() {
    interrupted_sweep_leaves_nothing_behind(nix::sys::signal::Signal::SIGTERM);
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
    let space = "  - name: --mode\n    expression: choice\n    values: [malformed, nan, inf, missing, good, huge]\n";
    let p = Project::new(script, &hd(space, "grid", "max_concurrent_runs: 3\n"), "");
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert_eq!(all.matches("malformed metric line").count(), 1, "{all}");
    assert!(
        all.contains("never reported the primary metric \"acc\" (it reported only: accuracy)"),
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
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2, 3, 4, 5, 6, 7, 8]\n";
    let p = Project::new(script, &hd(space, "grid", "max_concurrent_runs: 1\n"), "");
    let out = p.sweep();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("first 3 runs all failed the same way (exit code 1)"),
        "{}",
        text(&out)
    );
    assert_eq!(p.runs().len(), 3);
    let table = p.command(&["runs", "latest"]).output().unwrap();
    let t = String::from_utf8_lossy(&table.stdout);
    assert!(
        t.contains("exit code 1") && t.contains("| ModuleNotFoundError: no module named torch"),
        "{t}"
    );
    let best = p.command(&["best", "latest"]).output().unwrap();
    assert_eq!(best.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&best.stderr).contains("all 3 runs failed"),
        "{}",
        text(&best)
    );
}

#[test]
fn readme_example_sweep_finds_a_best_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let out = Command::new(sweep_bin())
        .args([
            "run",
            "configs/random.yml",
            "-c",
            "configs/train.runconfig",
            "--quiet",
            "--workspace",
        ])
        .arg(&ws)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("reproduce: cd "),
        "{}",
        text(&out)
    );
    let best = Command::new(sweep_bin())
        .args(["best", "latest", "--json", "--workspace"])
        .arg(&ws)
        .output()
        .unwrap();
    assert!(best.status.success(), "{}", text(&best));
    let v: serde_json::Value = serde_json::from_slice(&best.stdout).unwrap();
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
    let status = Command::new(sweep_bin())
        .args(["runs", "latest", "--format", "json", "--workspace"])
        .arg(&ws)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 12);
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
    let space = "  - name: --i\n    expression: choice\n    values: [1, 2]\n";
    let p = Project::new(script, &hd(space, "grid", "max_concurrent_runs: 2\n"), "");
    let child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig"])
        // A graceful stop would wait this long for runs that ignore SIGTERM.
        .env("SWEEP_STOP_GRACE_SECONDS", "600")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let pids: Vec<i32> = loop {
        let found: Vec<i32> = std::fs::read_dir(p.workspace().join("sweeps"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|s| {
                std::fs::read_dir(s.path().join("runs"))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .filter_map(|r| std::fs::read_to_string(r.path().join("outputs/pids")).ok())
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        if found.len() == 2 {
            break found;
        }
        assert!(Instant::now() < until, "runs did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Still alive after the first interrupt: they ignore SIGTERM and the grace is long.
    for &r in &pids {
        assert!(pid_alive(r), "run {r} died before the second interrupt");
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("killing live runs now"),
        "{}",
        text(&out)
    );
    for r in pids {
        assert!(wait_dead(r), "run {r} survived the second interrupt");
    }
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
    let space = "  - name: --curve\n    expression: choice\n    values: [lead, mid, lag]\n";
    let policy = "policy:\n  type: BanditPolicy\n  evaluation_interval: 1\n  delay_evaluation: 2\n  slack_amount: 0.2\nmax_concurrent_runs: 3\n";
    let p = Project::new(script, &hd(space, "grid", policy), "");
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
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
    let run_dir = PathBuf::from(lag["run_dir"].as_str().unwrap());
    let run_dir = if run_dir.is_absolute() {
        run_dir
    } else {
        p.path().join(run_dir)
    };
    let pid: i32 = std::fs::read_to_string(run_dir.join("outputs/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_dead(pid),
        "the canceled run's process {pid} is still alive"
    );
    let table = p.command(&["runs", "latest"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&table.stdout)
            .contains("policy:bandit at interval 2 (0.500000 vs threshold 0.700000)"),
        "{}",
        text(&table)
    );
}
