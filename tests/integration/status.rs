//! `sweep status` beside a running `sweep` process says why candidates wait: the concurrency
//! cap on local runs, the target's capacity on the SSH hosts (`scripts/env/start-sshd.sh`);
//! once the sweep has ended, its end and no waiting reason. Runs wait for a `go` file the
//! test creates, so nothing depends on how fast the machine is; every wait has a generous
//! deadline that only a broken build reaches.

use crate::local_runs::{hd, text, Project};
use crate::services;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Reports once, after `<sweep dir>/go` exists (two levels above the run's metrics file,
/// locally and on an SSH host alike).
const WAIT_FOR_GO: &str = r#"
import os, time
go = os.path.join(os.path.dirname(os.environ["SWEEP_METRICS_FILE"]), "..", "..", "go")
for _ in range(4800):
    if os.path.exists(go):
        break
    time.sleep(0.05)
print("acc=1", flush=True)
"#;

const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `status` (a `sweep status …` command) until its output contains `want`; returns it.
fn poll_status(mut status: impl FnMut() -> Command, want: &str, child: &mut Child) -> String {
    let until = Instant::now() + DEADLINE;
    let mut last = String::new();
    while Instant::now() < until {
        let out = status().output().unwrap();
        last = text(&out);
        if String::from_utf8_lossy(&out.stdout).contains(want) {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the sweep ended ({st}) before status said {want:?}; last status:\n{last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("status never said {want:?}; last status:\n{last}");
}

/// Polls `sweep status` until it says `want` with both of the sweep's runs started (the
/// reason holds from the moment both slots are taken, before the launches return), and
/// returns that output.
fn status_with_both_running(
    mut status: impl FnMut() -> Command,
    want: &str,
    child: &mut Child,
) -> String {
    poll_status(&mut status, want, child);
    poll_status(&mut status, "starting 0  running 2", child);
    poll_status(status, want, child)
}

/// The sweep id on the first line of `sweep status SWEEP` (`sweep <id> (<name>): <state>`).
fn sweep_id(status: &str) -> String {
    status
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("sweep "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sweep id in {status}"))
        .to_string()
}

/// Waits for a child to exit, killing it (by its own pid) past the deadline.
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("{what} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn release(sweep_dir: &Path) {
    std::fs::write(sweep_dir.join("go"), "").unwrap();
}

#[test]
fn status_and_watch_say_the_concurrency_cap_holds_candidates_back() {
    let space = "  - name: --x\n    expression: choice\n    values: [1, 2, 3, 4, 5]\n";
    let p = Project::new(
        WAIT_FOR_GO,
        &hd(space, "grid", "max_concurrent_runs: 2\nmax_total_runs: 5\n"),
        "",
    );
    let mut sweep = p
        .command(&["run", "hd.yml", "-c", "t.runconfig", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let want = "waiting: max_concurrent_runs (2 of 2 running)";
    let shown = status_with_both_running(|| p.command(&["status", "latest"]), want, &mut sweep);
    assert!(shown.contains(": running"), "{shown}");
    assert!(shown.contains("running 2"), "{shown}");
    let id = sweep_id(&shown);

    // `--watch` prints the same line while the sweep waits, and follows it to its end.
    let mut watch = p
        .command(&["status", &id, "--watch", "--interval", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut watched = Vec::new();
    loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(l) => {
                let seen = l.contains(want);
                watched.push(l);
                if seen {
                    break;
                }
            }
            Err(e) => panic!("--watch never said {want:?} ({e}): {watched:#?}"),
        }
    }
    release(&p.workspace().join("sweeps").join(&id));
    let st = wait_exit(&mut sweep, "the sweep");
    assert!(st.success(), "{}", text(&sweep.wait_with_output().unwrap()));
    assert!(wait_exit(&mut watch, "sweep status --watch").success());
    reader.join().unwrap();
    watched.extend(rx.try_iter());
    // The last block is the ended sweep's: its state, no waiting reason.
    let last_block: Vec<&String> = watched
        .iter()
        .rev()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        last_block
            .last()
            .is_some_and(|l| l.ends_with(": completed")),
        "{watched:#?}"
    );
    assert!(
        !last_block.iter().any(|l| l.contains("waiting:")),
        "{watched:#?}"
    );

    let out = p.command(&["status", &id]).output().unwrap();
    let after = String::from_utf8_lossy(&out.stdout);
    assert!(after.contains(": completed"), "{}", text(&out));
    assert!(!after.contains("waiting:"), "{}", text(&out));
    assert_eq!(p.runs().len(), 5);
}

#[test]
fn status_says_the_ssh_target_is_full_below_max_concurrent_runs() {
    let Some(env) = services::sshd() else { return };
    // Two hosts with one slot each, four runs allowed at once by the config.
    let space = "  - name: --x\n    expression: choice\n    values: [1, 2, 3, 4]\n";
    let p = crate::ssh::Project::new(
        WAIT_FOR_GO,
        &crate::ssh::hd(space, "max_concurrent_runs: 4\n"),
        "",
        &crate::ssh::ssh_target("remote", &env, 1, ""),
    );
    let mut sweep = p
        .command(&["run", "hd.yml", "-c", "t.runconfig"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let want = "waiting: target full (remote: 2 of 2 slots)";
    let shown = status_with_both_running(|| p.command(&["status", "latest"]), want, &mut sweep);
    // The configured limit is what the history records; the target's is the binding one.
    assert!(shown.contains("(max 4 at once)"), "{shown}");
    assert!(shown.contains("running 2"), "{shown}");
    let id = sweep_id(&shown);
    // The runs wait in the sweep's directory on the hosts (this machine).
    let remote = format!("/home/{}/.sweep-remote/{id}", env["SWEEP_TEST_SSH_USER"]);
    release(Path::new(&remote));
    let st = wait_exit(&mut sweep, "the sweep");
    let out = sweep.wait_with_output().unwrap();
    assert!(st.success(), "{}", crate::ssh::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("target remote takes 2 run(s) at once"),
        "{}",
        crate::ssh::text(&out)
    );
    let runs = p.runs();
    assert_eq!(runs.len(), 4);
    assert!(runs.iter().all(|r| r["state"] == "completed"), "{runs:#?}");
    let after = p.command(&["status", &id]).output().unwrap();
    assert!(
        !String::from_utf8_lossy(&after.stdout).contains("waiting:"),
        "{}",
        crate::ssh::text(&after)
    );
}
