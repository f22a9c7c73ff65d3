//! Sweeps on the SSH target against real sshd "hosts" on loopback (started with
//! `scripts/env/start-sshd.sh`): parameters with awkward characters arrive intact, metrics
//! stream back while runs are alive, a stop reaches the remote process group, a host that
//! goes down marks its runs lost, and `sweep targets check` explains a broken target.

use crate::services;
use crate::support::{
    awkward, awkward_seen, line_after, output, ssh_target, wait_dead, wait_for, Project, Ran,
};
use std::path::{Path, PathBuf};
use std::process::Command;

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
    let p = awkward(ECHO, AWKWARD, &ssh_target("remote", &env, 2, ""));
    let out = p.run(&[]).success();
    assert!(!out.text().contains("cr3t"), "a secret reached the output");
    let runs = p.runs();
    assert_eq!(runs.len(), AWKWARD.len());
    let mut seen_names = Vec::new();
    let mut hosts = std::collections::BTreeSet::new();
    for r in &runs {
        assert_eq!(r["state"], "completed", "{r}");
        let dir = p.run_dir(r);
        let seen = awkward_seen(p.run_dir(r));
        let name = seen["params"]["--name"].as_str().unwrap().to_string();
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
    let p = Project::grid(script, "--x", "1", "max_concurrent_runs: 1\n").on_ssh(&env, 1, "");
    let child = p.spawn_run(&["--quiet"]);
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
    Ran::from(child.wait_with_output().unwrap()).success();
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
    let p = Project::grid(script, "--x", "1, 2", "max_concurrent_runs: 2\n").on_ssh(
        &env,
        1,
        "maxRunDurationSeconds: 3\n",
    );
    let out = p.run(&[]);
    let runs = p.runs();
    assert_eq!(runs.len(), 2, "{}", out.text());
    for r in &runs {
        let reason = r["reason"].as_str().unwrap_or("");
        assert!(reason.starts_with("timeout"), "{r}\n{}", out.text());
        let log = std::fs::read_to_string(p.run_dir(r).join("output.log")).unwrap();
        let gc: i32 = line_after(&log, "GRANDCHILD ").trim().parse().unwrap();
        let pg_line = line_after(&log, "PGID ");
        let (pgid, me) = pg_line.split_once(" SELF ").unwrap();
        assert_eq!(pgid, me, "the run leads its own process group on the host");
        assert!(
            wait_dead(gc, 10),
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

/// Starts a child that moves to a process group of its own (`setpgid(0, 0)`) and ignores
/// SIGTERM, prints its pid, reports and exits: the run ends by itself, the child is still
/// in the run's session.
pub(crate) const LEAVES_ITS_GROUP: &str = r#"
import os, signal, subprocess, sys
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
c = subprocess.Popen([sys.executable, "-c", ignore], preexec_fn=lambda: os.setpgid(0, 0))
print("ESCAPED %d" % c.pid, flush=True)
print('@sweep {"metric":"acc","value":1}', flush=True)
"#;

#[test]
fn ssh_a_process_that_left_the_run_s_group_ends_with_the_run() {
    let Some(env) = services::sshd() else { return };
    let p = Project::grid(LEAVES_ITS_GROUP, "--x", "1", "").on_ssh(&env, 1, "");
    let out = p.run(&[]);
    let runs = p.runs();
    assert_eq!(runs.len(), 1, "{}", out.text());
    assert_eq!(runs[0]["state"], "completed", "{}\n{}", runs[0], out.text());
    escaped_process_ended(&p.run_dir(&runs[0]));
}

/// Asserts that the process a [`LEAVES_ITS_GROUP`] run printed (on this machine) ends
/// within 10 s; kills it if not, so the test leaves nothing running.
pub(crate) fn escaped_process_ended(run_dir: &Path) {
    let log = std::fs::read_to_string(run_dir.join("output.log")).unwrap();
    let pid: i32 = line_after(&log, "ESCAPED ").trim().parse().unwrap();
    let dead = wait_dead(pid, 10);
    if !dead {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        dead,
        "process {pid} left the run's group and outlived the run"
    );
}

#[test]
fn ssh_host_going_down_marks_its_runs_lost_and_leaves_rotation() {
    // Two hosts of its own, so that stopping one does not disturb the other tests.
    let Some(env) = services::require(
        "private sshd hosts for the host-loss test",
        &services::private_sshd(),
    ) else {
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
    let p = Project::grid(script, "--n", "12, 13, 2, 3", "max_concurrent_runs: 2\n")
        .on_ssh(&env, 1, "");
    let child = p.spawn_run(&["--quiet"]);
    // Both first runs alive, one per host.
    wait_for(30, "two runs printing on two hosts", || {
        let dirs = p.run_dirs();
        dirs.len() >= 2
            && dirs.iter().take(2).all(|d| {
                std::fs::read_to_string(d.join("output.log")).is_ok_and(|s| s.contains("acc"))
            })
    });
    services::stop_private_sshd_host(2).success();
    let out = Ran::from(child.wait_with_output().unwrap());
    // Bring the host back for the next run of this test.
    let back = services::private_sshd();
    let runs = p.runs();
    assert_eq!(runs.len(), 4, "{}", out.text());
    let mut lost = 0;
    for r in &runs {
        let log = std::fs::read_to_string(p.run_dir(r).join("output.log")).unwrap_or_default();
        let reason = r["reason"].as_str().unwrap_or("");
        if reason.starts_with("lost: ") {
            lost += 1;
            assert_eq!(r["state"], "failed", "{r}");
            assert!(reason.contains("host-2"), "{reason}");
            assert!(log.contains("ON sweep-host-2"), "{log}");
        } else {
            assert_eq!(r["state"], "completed", "{r}\n{}", out.text());
            if r["seq"].as_u64().unwrap() >= 2 {
                // Launched after the loss: only host 1 is in rotation.
                assert!(log.contains("ON sweep-host-1"), "{r}: {log}");
            }
        }
    }
    assert_eq!(lost, 1, "{runs:#?}\n{}", out.text());
    back.expect("the stopped host came back");
}

#[test]
fn targets_check_explains_a_broken_target() {
    let Some(env) = services::sshd() else { return };
    let p = Project::new();
    let other_key = p.path().join("other_key");
    output(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other_key),
    )
    .success();
    let targets = format!(
        "{}wrong-port:\n  type: ssh\n  known_hosts_file: {kh}\n  hosts: [{{address: 127.0.0.1, port: 2299, user: {u}, identity_file: {k}}}]\nwrong-key:\n  type: ssh\n  known_hosts_file: {kh}\n  hosts: [{{address: 127.0.0.1, port: {p}, user: {u}, identity_file: {ok}}}]\n",
        ssh_target("good", &env, 3, ""),
        kh = env["SWEEP_TEST_SSH_KNOWN_HOSTS"],
        u = env["SWEEP_TEST_SSH_USER"],
        k = env["SWEEP_TEST_SSH_KEY"],
        p = env["SWEEP_TEST_SSH_PORT"],
        ok = other_key.display(),
    );
    let p = p.targets(&targets);
    let check = |name: &str| p.sweep(&["targets", "check", name]);
    let good = check("good").success();
    good.stdout_has("capacity: 6 run(s) at once");
    let t = check("wrong-port").code(2).text();
    assert!(
        t.contains("Connection refused")
            && t.contains("hint: nothing accepts ssh connections on 127.0.0.1:2299"),
        "{t}"
    );
    let t = check("wrong-key").code(2).text();
    assert!(
        t.contains("Permission denied") && t.contains("hint:") && t.contains("identity_file"),
        "{t}"
    );
    let unknown = check("nope").code(2);
    assert!(unknown
        .text()
        .contains("defines: good, wrong-port, wrong-key"));
    let list = p.sweep(&["targets", "list"]);
    let t = list.text();
    assert!(
        list.succeeded() && t.contains("wrong-key") && t.contains("local"),
        "{t}"
    );
}

/// Keras, Lightning/tqdm and Hugging Face output printed on SSH hosts is read as locally.
#[test]
fn ssh_runs_report_through_the_library_formats() {
    let Some(env) = services::sshd() else { return };
    let p = crate::metric_formats::formats_project().on_ssh(&env, 2, "");
    let out = p.run(&[]).success().text();
    crate::metric_formats::assert_formats_read(&p, &out);
}

/// TensorBoard event files a run writes on an SSH host, under its working and outputs
/// directories, are fetched as they grow: every scalar at its step, each once.
#[test]
fn ssh_runs_report_tensorboard_scalars() {
    let Some(env) = services::sshd() else { return };
    let p = crate::metric_formats::tensorboard_project()
        .hdconfig(
            "sampling:\n  type: grid\n  parameter_space:\n  - name: --x\n    expression: choice\n    values: [1]\nprimary_metric_name: val/acc\nprimary_metric_goal: Maximize\n",
        )
        .on_ssh(&env, 1, "");
    p.run(&[]).success();
    crate::metric_formats::assert_tensorboard_points(&p);
}
