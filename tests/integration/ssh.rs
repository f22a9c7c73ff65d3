//! Sweeps on the SSH target against real sshd "hosts" on loopback (started with
//! `scripts/env/start-sshd.sh`): parameters with awkward characters arrive intact, metrics
//! stream back while runs are alive, a stop reaches the remote process group, a host that
//! goes down marks its runs lost, and `sweep targets check` explains a broken target.

use super::services::{self, Env};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

/// A project whose runconfig targets `target` defined in its own `targets.yml`.
pub(super) struct Project {
    dir: tempfile::TempDir,
}

/// A `targets.yml` entry for the hosts of an sshd env file.
pub(super) fn ssh_target(name: &str, env: &Env, slots: u32, extra: &str) -> String {
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

impl Project {
    pub(super) fn new(
        script: &str,
        hdconfig: &str,
        runconfig_extra: &str,
        targets: &str,
    ) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.py"), script).unwrap();
        std::fs::write(dir.path().join("hd.yml"), hdconfig).unwrap();
        std::fs::write(
            dir.path().join("t.runconfig"),
            format!(
                "script: t.py\ntarget: remote\nenvironment:\n  python:\n    interpreterPath: python3\n{runconfig_extra}"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("targets.yml"), targets).unwrap();
        Project { dir }
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(sweep_bin());
        c.args(args)
            .arg("--workspace")
            .arg(self.path().join("ws"))
            .current_dir(self.path())
            .env("SWEEP_STOP_GRACE_SECONDS", "0.5")
            .env_remove("SWEEP_TARGETS")
            .stdin(Stdio::null());
        c
    }

    pub(super) fn sweep(&self) -> Output {
        self.command(&["run", "hd.yml", "-c", "t.runconfig"])
            .output()
            .unwrap()
    }

    pub(super) fn runs(&self) -> Vec<serde_json::Value> {
        let out = self
            .command(&["runs", "latest", "--format", "json"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
            .as_array()
            .unwrap()
            .clone()
    }

    /// The runs as [`Project::runs`], or none while the sweep is not recorded yet.
    pub(super) fn runs_so_far(&self) -> Vec<serde_json::Value> {
        let out = self
            .command(&["runs", "latest", "--format", "json"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// The local run directories (mirrors of the remote output), by run id.
    pub(super) fn run_dirs(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        let Ok(sweeps) = std::fs::read_dir(self.path().join("ws/sweeps")) else {
            return v;
        };
        for s in sweeps {
            let runs = s.unwrap().path().join("runs");
            if let Ok(rd) = std::fs::read_dir(runs) {
                v.extend(rd.map(|r| r.unwrap().path()));
            }
        }
        v.sort();
        v
    }
}

pub(super) fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(super) fn hd(space: &str, extra: &str) -> String {
    format!(
        "sampling:\n  type: grid\n  parameter_space:\n{space}primary_metric_name: acc\nprimary_metric_goal: Maximize\n{extra}"
    )
}

const AWKWARD: &[&str] = &[
    "two words",
    "it's",
    "\"dq\" and `bt`",
    "$HOME;echo pwned",
    "a\\b & c | d > e",
];

const ECHO: &str = r#"
import json, os, sys
print("SEEN " + json.dumps({"argv": sys.argv[1:], "params": json.loads(os.environ["SWEEP_PARAMS"]),
      "secret": os.environ.get("MY_SECRET"), "host": os.environ.get("SWEEP_TEST_SSH_HOST_NAME"),
      "cwd": os.getcwd(), "data": open("data.txt").read()}), flush=True)
print('@sweep {"metric":"acc","value":%d}' % len(sys.argv[-1]), flush=True)
with open(os.environ["SWEEP_METRICS_FILE"], "a") as f:
    f.write('{"metric":"loss","value":0.5}\n')
"#;

#[test]
fn ssh_awkward_parameters_and_environment_arrive_intact() {
    let Some(env) = services::sshd() else { return };
    let values: Vec<String> = AWKWARD
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
        &ssh_target("remote", &env, 2, ""),
    );
    std::fs::write(
        p.path().join("t.runconfig"),
        "script: t.py\ntarget: remote\narguments: [--fixed, 'x y;$z']\nenvironment:\n  environmentVariables:\n    MY_SECRET: \"s3 'cr3t' $PATH\"\n  python:\n    interpreterPath: python3\n",
    )
    .unwrap();
    std::fs::write(p.path().join("data.txt"), "from the snapshot\n").unwrap();
    let out = p.sweep();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("cr3t"), "a secret reached the output");
    let runs = p.runs();
    assert_eq!(runs.len(), AWKWARD.len());
    let mut seen_names = Vec::new();
    let mut hosts = std::collections::BTreeSet::new();
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
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
        assert!(seen["cwd"].as_str().unwrap().ends_with("/work"), "{seen}");
        hosts.insert(seen["host"].as_str().unwrap().to_string());
        // The metric came back from the output line (length of the name) and the file.
        assert_eq!(r["best"], serde_json::json!(name.len() as f64), "{r}");
        let mf = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        assert_eq!(mf, "{\"metric\":\"loss\",\"value\":0.5}\n");
        seen_names.push(name);
    }
    seen_names.sort();
    let mut want: Vec<String> = AWKWARD.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen_names, want);
    assert_eq!(hosts.len(), 2, "both hosts took runs: {hosts:?}");
}

/// Waits until `f` holds, or panics with `what`.
pub(super) fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn ssh_metrics_stream_back_while_the_run_is_alive() {
    let Some(env) = services::sshd() else { return };
    // The run reports, then waits for a `go` file beside its metrics file that the test
    // creates only after it has seen the report recorded.
    let script = r#"
import os, time
print('@sweep {"metric":"acc","value":0.25,"step":1}', flush=True)
print("waiting", flush=True)
go = os.path.join(os.path.dirname(os.environ["SWEEP_METRICS_FILE"]), "go")
for _ in range(600):
    if os.path.exists(go):
        break
    time.sleep(0.05)
print('@sweep {"metric":"acc","value":0.75,"step":2}', flush=True)
"#;
    let p = Project::new(
        script,
        &hd(
            "  - name: --x\n    expression: choice\n    values: [1]\n",
            "max_concurrent_runs: 1\n",
        ),
        "",
        &ssh_target("remote", &env, 1, ""),
    );
    let child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run_dir = PathBuf::new();
    wait_for(30, "the run's first output in the local mirror", || {
        if let Some(d) = p.run_dirs().first() {
            run_dir = d.clone();
            return std::fs::read_to_string(d.join("output.log"))
                .is_ok_and(|s| s.contains("waiting"));
        }
        false
    });
    wait_for(10, "the first metric recorded while the run waits", || {
        p.runs()
            .first()
            .is_some_and(|r| r["best"] == serde_json::json!(0.25) && r["state"] == "running")
    });
    let run_id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
    let sweep_id = run_id.rsplit_once('_').unwrap().0.to_string();
    let remote = PathBuf::from(format!(
        "/home/{}/.sweep-remote/{sweep_id}/runs/{run_id}",
        env["SWEEP_TEST_SSH_USER"]
    ));
    assert!(
        remote.join("metrics.jsonl").exists(),
        "{}",
        remote.display()
    );
    std::fs::write(remote.join("go"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let r = &p.runs()[0];
    assert_eq!(r["state"], "completed");
    assert_eq!(r["best"], serde_json::json!(0.75));
    assert_eq!(r["intervals"], serde_json::json!(2), "{r}");
}

#[test]
fn ssh_stop_reaches_the_remote_process_group() {
    let Some(env) = services::sshd() else { return };
    // A grandchild that ignores SIGTERM: only the group-wide SIGKILL after the grace period
    // ends it. Its pid is printed; the "host" is this machine, so the test can look.
    let script = r#"
import os, subprocess, sys, time
gc = subprocess.Popen(["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"])
print("GRANDCHILD %d" % gc.pid, flush=True)
print("PGID %d SELF %d" % (os.getpgid(0), os.getpid()), flush=True)
time.sleep(60)
"#;
    let p = Project::new(
        script,
        &hd(
            "  - name: --x\n    expression: choice\n    values: [1, 2]\n",
            "max_concurrent_runs: 2\n",
        ),
        "maxRunDurationSeconds: 3\n",
        &ssh_target("remote", &env, 1, ""),
    );
    let out = p.sweep();
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "{}", text(&out));
    for r in &runs {
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(reason.starts_with("timeout"), "{r}\n{}", text(&out));
        let log = std::fs::read_to_string(
            PathBuf::from(r["run_dir"].as_str().unwrap()).join("output.log"),
        )
        .unwrap();
        let gc: i32 = log
            .lines()
            .find_map(|l| l.strip_prefix("GRANDCHILD "))
            .unwrap_or_else(|| panic!("no pid in {log}"))
            .trim()
            .parse()
            .unwrap();
        let pg_line = log.lines().find_map(|l| l.strip_prefix("PGID ")).unwrap();
        let (pgid, me) = pg_line.split_once(" SELF ").unwrap();
        assert_eq!(pgid, me, "the run leads its own process group on the host");
        assert!(
            services::wait_dead(gc, 10),
            "grandchild {gc} of run {} survived the stop",
            r["id"]
        );
    }
    // The stop file was created on the host before the signals.
    let run_id = runs[0]["id"].as_str().unwrap();
    let sweep_id = run_id.rsplit_once('_').unwrap().0;
    let remote = format!(
        "/home/{}/.sweep-remote/{sweep_id}/runs/{run_id}",
        env["SWEEP_TEST_SSH_USER"]
    );
    assert!(Path::new(&remote).join("stop").exists(), "{remote}");
}

/// Two more hosts of their own (own state dir and ports), so stopping one does not disturb
/// the other tests.
fn private_hosts() -> Option<(Env, Vec<(&'static str, &'static str)>)> {
    let vars = vec![
        ("SWEEP_SSHD_DIR", "/tmp/sweep-test-env/sshd-loss"),
        ("SWEEP_SSHD_PORT", "2232"),
    ];
    let r = services::start(
        "start-sshd.sh",
        Path::new("/tmp/sweep-test-env/sshd-loss/env"),
        &vars,
    );
    services::require("private sshd hosts for the host-loss test", &r).map(|e| (e, vars))
}

#[test]
fn ssh_host_going_down_marks_its_runs_lost_and_leaves_rotation() {
    let Some((env, vars)) = private_hosts() else {
        return;
    };
    let script = r#"
import os, time, sys
print("ON %s" % os.environ.get("SWEEP_TEST_SSH_HOST_NAME"), flush=True)
for i in range(int(sys.argv[-1])):
    print('@sweep {"metric":"acc","value":%d}' % i, flush=True)
    time.sleep(0.5)
"#;
    // Run 0 and 1 start at once (one per host) and last ~6 s; the later ones are short.
    let p = Project::new(
        script,
        &hd(
            "  - name: --n\n    expression: choice\n    values: [12, 13, 2, 3]\n",
            "max_concurrent_runs: 2\n",
        ),
        "",
        &ssh_target("remote", &env, 1, ""),
    );
    let child = p
        .command(&["run", "hd.yml", "-c", "t.runconfig", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both first runs alive, one per host.
    wait_for(30, "two runs printing on two hosts", || {
        let dirs = p.run_dirs();
        dirs.len() >= 2
            && dirs.iter().take(2).all(|d| {
                std::fs::read_to_string(d.join("output.log")).is_ok_and(|s| s.contains("acc"))
            })
    });
    let mut stop =
        Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/env/stop-sshd.sh"));
    stop.args(["--host", "2", "--sessions"]);
    for (k, v) in &vars {
        stop.env(k, v);
    }
    let so = stop.output().unwrap();
    assert!(so.status.success(), "{}", text(&so));
    let out = child.wait_with_output().unwrap();
    // Bring the host back for the next run of this test.
    let back = services::start(
        "start-sshd.sh",
        Path::new("/tmp/sweep-test-env/sshd-loss/env"),
        &vars,
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 4, "{}", text(&out));
    let mut lost = 0;
    for r in &runs {
        let log = std::fs::read_to_string(
            PathBuf::from(r["run_dir"].as_str().unwrap()).join("output.log"),
        )
        .unwrap_or_default();
        let reason = r["reason"].as_str().unwrap_or("");
        if reason.starts_with("lost: ") {
            lost += 1;
            assert_eq!(r["state"], "failed", "{r}");
            assert!(reason.contains("host-2"), "{reason}");
            assert!(log.contains("ON sweep-host-2"), "{log}");
        } else {
            assert_eq!(r["state"], "completed", "{r}\n{}", text(&out));
            if r["seq"].as_u64().unwrap() >= 2 {
                // Launched after the loss: only host 1 is in rotation.
                assert!(log.contains("ON sweep-host-1"), "{r}: {log}");
            }
        }
    }
    assert_eq!(lost, 1, "{runs:#?}\n{}", text(&out));
    back.expect("the stopped host came back");
}

#[test]
fn targets_check_explains_a_broken_target() {
    let Some(env) = services::sshd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let other_key = dir.path().join("other_key");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .output()
        .unwrap();
    assert!(kg.status.success(), "{}", text(&kg));
    let targets = format!(
        "{}wrong-port:\n  type: ssh\n  known_hosts_file: {kh}\n  hosts: [{{address: 127.0.0.1, port: 2299, user: {u}, identity_file: {k}}}]\nwrong-key:\n  type: ssh\n  known_hosts_file: {kh}\n  hosts: [{{address: 127.0.0.1, port: {p}, user: {u}, identity_file: {ok}}}]\n",
        ssh_target("good", &env, 3, ""),
        kh = env["SWEEP_TEST_SSH_KNOWN_HOSTS"],
        u = env["SWEEP_TEST_SSH_USER"],
        k = env["SWEEP_TEST_SSH_KEY"],
        p = env["SWEEP_TEST_SSH_PORT"],
        ok = other_key.display(),
    );
    std::fs::write(dir.path().join("targets.yml"), targets).unwrap();
    let check = |name: &str| {
        Command::new(sweep_bin())
            .args(["targets", "check", name])
            .current_dir(dir.path())
            .env_remove("SWEEP_TARGETS")
            .output()
            .unwrap()
    };
    let good = check("good");
    assert!(good.status.success(), "{}", text(&good));
    assert!(
        String::from_utf8_lossy(&good.stdout).contains("capacity: 6 run(s) at once"),
        "{}",
        text(&good)
    );
    let port = check("wrong-port");
    assert_eq!(port.status.code(), Some(2), "{}", text(&port));
    let t = text(&port);
    assert!(
        t.contains("Connection refused")
            && t.contains("hint: nothing accepts ssh connections on 127.0.0.1:2299"),
        "{t}"
    );
    let key = check("wrong-key");
    assert_eq!(key.status.code(), Some(2), "{}", text(&key));
    let t = text(&key);
    assert!(
        t.contains("Permission denied") && t.contains("hint:") && t.contains("identity_file"),
        "{t}"
    );
    let unknown = check("nope");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).contains("defines: good, wrong-port, wrong-key"));
    let list = Command::new(sweep_bin())
        .args(["targets", "list"])
        .current_dir(dir.path())
        .env_remove("SWEEP_TARGETS")
        .output()
        .unwrap();
    let t = text(&list);
    assert!(
        list.status.success() && t.contains("wrong-key") && t.contains("local"),
        "{t}"
    );
}
